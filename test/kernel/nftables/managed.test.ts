/**
 * Managed rules on the kernel: openQueue(num, cb, { rule }) installs its own nf_tables rule
 * in a table owned by its socket, in a namespace of the test's. Judged by the kernel (the
 * queue's /proc row, `nft list ruleset`) and by receivers: exactly the matching datagrams
 * are queued, the others pass untouched; close() leaves an empty ruleset and traffic passes;
 * a `kill -9` of the holding process empties the ruleset within a second; bad rules and a
 * refused batch leave nothing behind. No iptables rule is written by these tests.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue } from '../../../src/open-queue.js';
import { nativeTransportUnavailable } from '../../../src/netlink/native-transport.js';
import { RuleError, NftablesKernelError } from '../../../src/nftables/errors.js';
import { listRuleset } from '../../../src/nftables-runtime/nft-socket.js';
import { findQueueRules } from '../../../src/nftables/queue-rules.js';
import { createNetns, kernelTestsUnavailable, sendUdp, sinkSummary, startUdpSink, type Netns } from '../../support/netns.js';
import { spawnConsumer } from '../../support/consumer.js';

const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();

/** Polls `f` every 10 ms until it returns true or `ms` pass; resolves to how long it took, or -1. */
async function within(ms: number, f: () => boolean): Promise<number> {
  const start = Date.now();
  while (Date.now() - start <= ms) {
    if (f()) return Date.now() - start;
    await new Promise((r) => setTimeout(r, 10));
  }
  return -1;
}

describe.skipIf(skip !== undefined)('managed rules on the kernel', () => {
  let ns: Netns;
  const netns = (): string => `/run/netns/${ns.name}`;
  const ruleset = (): string => ns.exec(['nft', 'list', 'ruleset']).trim();

  beforeAll(() => {
    ns = createNetns('nftmgd');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it('queues exactly the matching datagrams, the others pass; after close() the ruleset is empty and traffic passes', async () => {
    const seen: number[] = [];
    const q = await openQueue(3, (p) => {
      seen.push(p.id);
      return 'accept';
    }, { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9998, daddr: '127.0.0.0/8' } });
    try {
      const info = q.stats().rule!;
      expect(info.tables).toEqual([`inet nfqueue_${process.pid}_q3`]);
      expect(['queue', 'compat']).toContain(info.backend);
      expect(info.queues).toEqual({ first: 3, total: 1, bypass: true });
      const text = ruleset();
      expect(text).toContain(`table inet nfqueue_${process.pid}_q3`);
      expect(text).toContain('flags owner');
      expect(text).toMatch(/comment "netfilter-queue: pid \d+/);
      expect(text).toMatch(/udp dport 9998 ip daddr 127\.0\.0\.0\/8 counter packets 0 bytes 0 queue num 3 bypass/);
      const rs = await listRuleset({ netns: netns() });
      expect(findQueueRules(rs, 3)).toEqual([expect.objectContaining({ owned: true, target: expect.objectContaining({ first: 3, total: 1, bypass: true, backend: info.backend }) })]);

      const matching = await startUdpSink(ns, 9998, { count: 5, timeoutMs: 8000 });
      const other = await startUdpSink(ns, 9997, { count: 4, timeoutMs: 8000 });
      await sendUdp(ns, '127.0.0.1', 9998, { count: 5, rate: 200 });
      await sendUdp(ns, '127.0.0.1', 9997, { count: 4, rate: 200 });
      expect((await sinkSummary(matching)).received).toBe(5);
      expect((await sinkSummary(other)).received).toBe(4);
      expect(seen).toHaveLength(5);
      expect(ns.queueRow(3)?.lastId).toBe(5); // the kernel queued 5 packets, no more
    } finally {
      await q.close();
    }
    expect(ruleset()).toBe('');
    expect(ns.queueRow(3)).toBeUndefined();
    const after = await startUdpSink(ns, 9998, { count: 3, timeoutMs: 8000 });
    await sendUdp(ns, '127.0.0.1', 9998, { count: 3, rate: 200 });
    expect((await sinkSummary(after)).received).toBe(3);
  });

  it('IPv6 and interfaces: a rule on daddr ::1 and oif lo queues the IPv6 datagrams only, not the IPv4 ones to the same port', async () => {
    let calls = 0;
    const q = await openQueue(9, () => {
      calls++;
      return 'accept';
    }, { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9985, daddr: '::1', oif: 'lo' } });
    try {
      expect(ruleset()).toMatch(/udp dport 9985 ip6 daddr ::1 oifname "lo" counter packets 0 bytes 0 queue num 9 bypass/);
      const v6 = await startUdpSink(ns, 9985, { family: 6, host: '::1', count: 4, timeoutMs: 8000 });
      const v4 = await startUdpSink(ns, 9985, { family: 4, host: '127.0.0.1', count: 3, timeoutMs: 8000 });
      await sendUdp(ns, '::1', 9985, { family: 6, count: 4, rate: 200 });
      await sendUdp(ns, '127.0.0.1', 9985, { count: 3, rate: 200 });
      expect((await sinkSummary(v6)).received).toBe(4);
      expect((await sinkSummary(v4)).received).toBe(3);
      expect(calls).toBe(4);
      expect(ns.queueRow(9)?.lastId).toBe(4);
    } finally {
      await q.close();
    }
  });

  it('kill -9 of the process holding the queue: the kernel empties the ruleset within a second, and traffic passes', async () => {
    // A process that holds queue 5 with a managed rule until it is killed.
    const holder = spawnConsumer(ns, { queues: 5, options: { rule: { hook: 'output', protocol: 'udp', dport: 9994 } } });
    const ready = await holder.waitForJson<{ ready?: boolean; rule?: { tables?: string[] } }>((j) => j.ready === true, 15_000);
    expect(ready.rule?.tables).toEqual([`inet nfqueue_${holder.pid}_q5`]);
    expect(ruleset()).toContain(`nfqueue_${holder.pid}_q5`);
    holder.kill('SIGKILL');
    await holder.waitForExit(5000);
    const took = await within(1000, () => ruleset() === '');
    expect(took, 'the owned table outlived its process by more than a second').toBeGreaterThanOrEqual(0);
    const sink = await startUdpSink(ns, 9994, { count: 3, timeoutMs: 8000 });
    await sendUdp(ns, '127.0.0.1', 9994, { count: 3, rate: 200 });
    expect((await sinkSummary(sink)).received).toBe(3);
  });

  it('a bad rule is a RuleError before anything is bound or installed', async () => {
    const bad: unknown[] = [
      { hook: 'output', saddr: '10.0.0.1/8' },
      { hook: 'sideways' },
      { hook: 'output', dport: 53 },
      { hook: 'output', protocol: 'udp', dport: [20, 10] },
      { hook: 'input', oif: 'lo' },
      { hook: 'output', mark: { value: 3, mask: 1 } },
      { hook: 'output', family: 'ip', daddr: '::1' },
      { hook: 'output', colour: 'red' },
    ];
    for (const rule of bad) {
      const err = await openQueue(6, () => 'accept', { netns: netns(), rule: rule as never }).then(() => undefined, (e: unknown) => e);
      expect(err, JSON.stringify(rule)).toBeInstanceOf(RuleError);
    }
    expect(await openQueue([6, 8], () => 'accept', { netns: netns(), rule: { hook: 'output' } }).then(() => undefined, (e: unknown) => e)).toBeInstanceOf(RuleError);
    expect(ns.queueRow(6)).toBeUndefined();
    expect(ruleset()).toBe('');
  });

  it('a batch the kernel refuses (the table name is taken) closes the queue again and leaves nothing of ours', async () => {
    const name = `nfqueue_${process.pid}_q7`;
    ns.exec(['nft', 'add', 'table', 'inet', name]);
    try {
      const err = await openQueue(7, () => 'accept', { netns: netns(), rule: { hook: 'output', protocol: 'udp' } }).then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(NftablesKernelError);
      expect((err as NftablesKernelError).code).toBe('EEXIST');
      expect((err as Error).message).toMatch(new RegExp(`NEWTABLE inet ${name}.*already exists`));
      expect(ns.queueRow(7)).toBeUndefined();
      expect(ruleset()).toBe(`table inet ${name} {\n}`);
    } finally {
      ns.exec(['nft', 'delete', 'table', 'inet', name]);
    }
  });
});
