// diagnoseQueues() against the real kernel, as a library program would call it when its
// queue stays quiet: a rule missing, a rule in another namespace, a rule without bypass, and
// the holder of a queue this process opened. Namespaces of this file's own; the rules are
// written by iptables-nft and iptables-legacy (the nf_tables dump reads the former, the
// legacy tool the latter).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue } from '../../../src/index.js';
import { diagnoseQueues } from '../../../src/diagnosis/index.js';
import { createNetns, kernelTestsUnavailable, type Netns } from '../../support/netns.js';

const skip = kernelTestsUnavailable();

describe.skipIf(skip !== undefined)('diagnoseQueues (kernel, root)', () => {
  let ns: Netns;
  let other: Netns;
  const path = (n: Netns): string => `/run/netns/${n.name}`;

  beforeAll(() => {
    ns = createNetns('clidiag');
    other = createNetns('clidiago');
  });

  afterAll(async () => {
    await ns?.destroy();
    await other?.destroy();
  });

  it('no rule feeds the queue: no-rule, and nothing else to blame', async () => {
    const d = await diagnoseQueues(31, { netns: path(ns), searchNamespaces: false });
    expect(d.problems).toEqual([]);
    expect(d.sources).toContain('nf_tables dump');
    expect(d.queues).toEqual([{ queue: 31, rules: [], elsewhere: [] }]);
    expect(d.findings.map((f) => f.code)).toEqual(['no-rule']);
    expect(d.findings[0]!.message).toBe(`no rule in network namespace ${path(ns)} sends packets to queue 31`);
  });

  it('the rule is in another namespace: rule-in-other-namespace names it', async () => {
    other.exec(['iptables-nft', '-w', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5632', '-j', 'NFQUEUE', '--queue-num', '32', '--queue-bypass']);
    const d = await diagnoseQueues([32], { netns: path(ns) });
    const found = d.findings.filter((f) => f.code === 'rule-in-other-namespace' && f.namespace?.path === path(other));
    expect(found).toHaveLength(1);
    expect(found[0]!.rule).toMatchObject({ source: 'nftables', family: 'ip', table: 'filter', chain: 'OUTPUT', first: 32, last: 32, bypass: true, via: 'NFQUEUE' });
    expect(found[0]!.message).toContain(`a rule in network namespace ${other.name} sends to queue 32`);
    expect(d.findings.some((f) => f.code === 'no-rule')).toBe(true);
  });

  it('a rule lacks bypass: no-bypass names that one only; not-bound says what happens to its packets', async () => {
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', '5633', '-j', 'NFQUEUE', '--queue-num', '33');
    ns.exec(['iptables-nft', '-w', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5634', '-j', 'NFQUEUE', '--queue-balance', '33:34', '--queue-bypass']);
    const d = await diagnoseQueues(33, { netns: path(ns), searchNamespaces: false });
    expect(d.queues[0]!.rules.map((r) => [r.source, r.bypass])).toEqual([
      ['iptables-legacy', false],
      ['nftables', true],
    ]);
    const noBypass = d.findings.filter((f) => f.code === 'no-bypass');
    expect(noBypass).toHaveLength(1);
    expect(noBypass[0]!.rule!.source).toBe('iptables-legacy');
    expect(noBypass[0]!.message).toMatch(/add --queue-bypass to the rule$/);
    expect(d.findings.find((f) => f.code === 'not-bound')!.message).toBe('no program holds queue 33: the packets its rules match are dropped, but for those of the rules with bypass (accepted unseen)');
  });

  it('a queue this process holds: the holder is this process, through its socket inode', async () => {
    ns.exec(['iptables-nft', '-w', '-A', 'INPUT', '-j', 'NFQUEUE', '--queue-num', '35', '--queue-bypass']);
    const queue = await openQueue(35, () => 'accept', { netns: path(ns) });
    try {
      const d = await diagnoseQueues(queue, { netns: path(ns), searchNamespaces: false });
      expect(d.queues[0]!.kernel?.portId).toBe(queue.portId);
      expect(d.queues[0]!.holder).toEqual({ portId: queue.portId, pid: process.pid, command: expect.any(String) });
      expect(d.findings).toEqual([]);
    } finally {
      await queue.close();
    }
  });
});
