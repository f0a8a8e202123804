// `nfq-dump --check -q N` against the real kernel: in a namespace of this file's own, a rule
// written by iptables-nft (an nf_tables rule with the compat NFQUEUE target), one written by
// iptables-legacy, and an nft-native `queue` rule where the kernel has that expression; a
// queue held by an nfq-dump started for the purpose. The report must name each rule, its
// bypass, and the holder's pid (checked against the pid we started).
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createNetns, kernelTestsUnavailable, type Child, type Netns } from '../../support/netns.js';
import { CLI, ensureBuilt } from '../../support/cli.js';
import { nfqDumpStarter } from './dump-process.js';

const skip = kernelTestsUnavailable();
const NODE = process.execPath;

describe.skipIf(skip !== undefined)('nfq-dump --check (kernel, root)', () => {
  let ns: Netns;
  let other: Netns;
  const startDump = nfqDumpStarter(() => ns);

  beforeAll(() => {
    ensureBuilt();
    ns = createNetns('clichk');
    other = createNetns('clichko');
  });

  afterAll(async () => {
    await ns?.destroy();
    await other?.destroy();
  });

  /** An nfq-dump holding `queue` in the namespace, once bound. */
  function holder(queue: number): Promise<Child> {
    return startDump(['-q', String(queue)], queue);
  }

  function check(queue: number, extra: string[] = []): { status: number | null; stdout: string; stderr: string } {
    return ns.run([NODE, CLI, '--check', '-q', String(queue), ...extra], { timeoutMs: 20_000 });
  }

  it('an iptables-nft rule: read from the nf_tables dump, with its bypass and the holder', async () => {
    ns.exec(['iptables-nft', '-w', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5601', '-j', 'NFQUEUE', '--queue-num', '21', '--queue-bypass']);
    const h = await holder(21);
    const r = check(21);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`queue 21: held by process ${h.pid} (node), netlink port ${ns.queueRow(21)!.portid}`);
    expect(r.stdout).toMatch(/^ {2}nft: ip filter OUTPUT handle \d+ \(output hook\): NFQUEUE target, queue 21 bypass$/m);
    expect(r.stdout).not.toMatch(/no-bypass|not-bound|no-rule/);
    const j = check(21, ['--json']);
    expect(j.status).toBe(0);
    const d = JSON.parse(j.stdout) as { queues: { queue: number; holder: { pid: number }; rules: { source: string; via: string; bypass: boolean; first: number; last: number }[] }[] };
    expect(d.queues).toHaveLength(1);
    expect(d.queues[0]!.holder.pid).toBe(h.pid);
    expect(d.queues[0]!.rules).toEqual([expect.objectContaining({ source: 'nftables', via: 'NFQUEUE', bypass: true, first: 21, last: 21 })]);
  });

  it('an iptables-legacy rule: its iptables-save line, its missing bypass, and the holder', async () => {
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', '5602', '-j', 'NFQUEUE', '--queue-num', '22');
    const h = await holder(22);
    const r = check(22);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`queue 22: held by process ${h.pid} (node)`);
    expect(r.stdout).toContain('  iptables -t filter -A OUTPUT -p udp -m udp --dport 5602 -j NFQUEUE --queue-num 22   <- no bypass\n');
    expect(r.stdout).toMatch(/no-bypass: the rule in iptables-legacy ip filter OUTPUT sends to queue 22 without bypass: .*add --queue-bypass/);
    expect(r.stdout).toMatch(/read: iptables-legacy-save, .*nf_tables dump/);
  });

  it('an nft-native queue rule, where the kernel has the queue expression', async (ctx) => {
    const probe = ns.run(['nft', '-f', '-'], {
      input: 'table inet clichk {\n chain out {\n  type filter hook output priority 0;\n  udp dport 5603 queue num 23 bypass\n }\n}\n',
    });
    if (probe.status !== 0 && /No such file or directory/.test(probe.stderr)) {
      ctx.skip('this kernel has no nft queue expression (CONFIG_NFT_QUEUE unset: nft answers ENOENT); the qemu kernel matrix runs this on Debian 6.1');
    }
    expect(probe.status, probe.stderr).toBe(0);
    const h = await holder(23);
    const r = check(23);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`queue 23: held by process ${h.pid} (node)`);
    expect(r.stdout).toMatch(/^ {2}nft: inet clichk out handle \d+ \(output hook\): queue num 23 bypass$/m);
  });

  it("nfq-dump's own managed rule: the owned table, and the process owning it", async () => {
    const h = await startDump(['-q', '25', 'udp', 'dport', '5625'], 25);
    for (let i = 0; i < 200 && !/installed in table/.test(h.stderr()); i++) await new Promise((r) => setTimeout(r, 25));
    const r = check(25);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain(`queue 25: held by process ${h.pid} (node)`);
    expect(r.stdout).toMatch(new RegExp(`^ {2}nft: inet nfqueue_${h.pid}_q25 \\S+ handle \\d+ \\(output hook\\): (NFQUEUE target, queue 25|queue num 25) bypass, in a table owned by netlink port \\d+ \\(a managed rule: it goes when that socket closes\\) \\(process ${h.pid}, node\\)$`, 'm'));
  });

  it('a queue that no rule feeds: exit 1, not held, and the rule of another namespace named', () => {
    other.exec(['iptables-nft', '-w', '-A', 'INPUT', '-j', 'NFQUEUE', '--queue-num', '24', '--queue-bypass']);
    const r = check(24);
    expect(r.status).toBe(1);
    expect(r.stdout).toContain('queue 24: not held by any program');
    expect(r.stdout).toContain(`no-rule: no rule in this network namespace sends packets to queue 24`);
    expect(r.stdout).toContain(`  in network namespace ${other.name}: nft: ip filter INPUT handle`);
    expect(r.stdout).toMatch(new RegExp(`rule-in-other-namespace: a rule in network namespace ${other.name} sends to queue 24`));
  });
});
