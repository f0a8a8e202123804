// nfq-dump with a filter against the real kernel, in an empty namespace of this file's own:
// no iptables rule is written by the test. nfq-dump installs its own nf_tables rule (read
// back through the library's dump while it runs), exactly the matching datagrams are queued
// (its lines and /proc's last id), the others pass untouched (a receiver counts them), and
// when it exits, by --count or by kill -9, the ruleset is empty again.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRuleset } from '../../../src/nftables-runtime/index.js';
import { createNetns, kernelTestsUnavailable, sendUdp, sinkSummary, startUdpSink, type Child, type Netns } from '../../support/netns.js';
import { CLI, ensureBuilt, jsonLines } from '../../support/cli.js';
import { nfqDumpStarter } from './dump-process.js';

const skip = kernelTestsUnavailable();
const NODE = process.execPath;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip !== undefined)('nfq-dump with a filter (kernel, root)', () => {
  let ns: Netns;
  const startDump = nfqDumpStarter(() => ns);
  const ruleset = () => listRuleset({ netns: `/run/netns/${ns.name}` });

  beforeAll(() => {
    ensureBuilt();
    ns = createNetns('clifilt');
  });

  afterAll(async () => {
    await ns?.destroy();
  });

  async function start(args: string[], queue: number): Promise<Child> {
    const c = await startDump(args, queue);
    // The rule follows the bind: wait for its banner line.
    for (let i = 0; i < 200 && !/installed in table/.test(c.stderr()); i++) await sleep(25);
    expect(c.stderr(), c.transcript()).toMatch(/installed in table/);
    return c;
  }

  it('nfq-dump -c 5 --hook output udp dport 9998: five packets, only the matching ones, and no rule left', async () => {
    expect((await ruleset()).tables).toEqual([]);
    const c = await start(['-c', '5', '--json', '--hook', 'output', 'udp', 'dport', '9998'], 0);
    expect(c.stderr()).toContain(`rule 'udp dport 9998' at output installed in table inet nfqueue_${c.pid}_q0 (`);
    // The kernel's view: one table, flagged owner (NFT_TABLE_F_OWNER), named after nfq-dump's pid.
    const live = await ruleset();
    expect(live.tables.map((t) => [t.name, (t.flags ?? 0) & 2])).toEqual([[`nfqueue_${c.pid}_q0`, 2]]);
    expect(live.tables[0]!.owner).toBeGreaterThan(0);
    const other = await startUdpSink(ns, 9997, { quiet: true, timeoutMs: 4_000 });
    await sendUdp(ns, '127.0.0.1', 9997, { count: 4 });
    await sendUdp(ns, '127.0.0.1', 9998, { count: 5 });
    expect((await c.waitForExit(15_000)).code, c.transcript()).toBe(0);
    const pkts = jsonLines(c.lines().join('\n'));
    expect(pkts).toHaveLength(5);
    expect(pkts.every((p) => p['dport'] === 9998 && p['hook'] === 'output' && p['verdict'] === 'accept')).toBe(true);
    expect(c.stderr()).toContain('5 packets seen on queue 0');
    // Datagrams to 9997 were never queued: all arrived.
    expect((await sinkSummary(other)).received).toBe(4);
    await ns.waitForQueueUnbound(0);
    expect((await ruleset()).tables).toEqual([]);
  });

  it('-q 3 --hook input with an or: both alternatives queued, on queue 3', async () => {
    const c = await start(['-q', '3', '--json', '-c', '2', '--hook', 'input', 'udp dport 9101 or udp dport 9102'], 3);
    const rs = await ruleset();
    expect(rs.rules.length).toBeGreaterThanOrEqual(2);
    await sendUdp(ns, '127.0.0.1', 9101, { count: 1 });
    await sendUdp(ns, '127.0.0.1', 9102, { count: 1 });
    expect((await c.waitForExit(15_000)).code, c.transcript()).toBe(0);
    const pkts = jsonLines(c.lines().join('\n'));
    expect(pkts.map((p) => [p['queue'], p['hook'], p['dport']])).toEqual([
      [3, 'input', 9101],
      [3, 'input', 9102],
    ]);
    await ns.waitForQueueUnbound(3);
    expect((await ruleset()).tables).toEqual([]);
  });

  it('kill -9: the kernel removes the rule with the socket, and traffic passes', async () => {
    const c = await start(['udp', 'dport', '9103'], 0);
    expect((await ruleset()).tables).toHaveLength(1);
    c.kill('SIGKILL');
    await c.exited;
    for (let i = 0; i < 40 && (await ruleset()).tables.length > 0; i++) await sleep(25);
    expect((await ruleset()).tables).toEqual([]);
    const sink = await startUdpSink(ns, 9103, { quiet: true, timeoutMs: 3_000 });
    await sendUdp(ns, '127.0.0.1', 9103, { count: 3 });
    expect((await sinkSummary(sink)).received).toBe(3);
  });

  it('a filter the hook cannot match is a usage error, and nothing is bound', () => {
    const r = ns.run([NODE, CLI, '--hook', 'output', 'iifname', 'lo'], { timeoutMs: 15_000 });
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/the filter cannot be installed as written: iif: there is no input interface at hook output \(choose the hook with --hook\)/);
    expect(ns.queueProc()).toEqual([]);
  });
});
