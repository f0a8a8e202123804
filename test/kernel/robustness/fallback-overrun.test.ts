/**
 * The `netlink` package's socket (the fallback when the native addon cannot load) aborts the
 * process on a receive-buffer overrun. The library keeps that socket from overflowing by
 * bounding the kernel queue (QUEUE_MAXLEN) to what the receive buffer holds: under a flood,
 * the packets beyond the bound are queue_dropped by the kernel, the process lives on, and
 * the library said so once.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { flood, countDelivered, createNetns, sendUdp, type Netns } from '../../support/netns.js';
import { startConsumer, consumerStats, stopConsumer, fatalLines, waitRow, type ConsumerLine } from '../../support/consumer.js';
import { overrunSafeMaxLen, packetMessageCost } from '../../../src/queue/overrun-bound.js';

let ns: Netns;
beforeAll(() => {
  ns = createNetns('rbfall');
});
afterAll(async () => {
  await ns?.destroy();
});

describe('overrun bound (pure)', () => {
  it('a whole-packet message costs a rounded-up 64 KiB copy; metadata only a little', () => {
    expect(packetMessageCost(2, 0xffff)).toBeGreaterThan(0xffff);
    expect(packetMessageCost(1, 0xffff)).toBeLessThan(2048);
    expect(packetMessageCost(2, 100)).toBeLessThan(2048);
    expect(overrunSafeMaxLen(131072, 2, 0xffff)).toBe(1);
    expect(overrunSafeMaxLen(8 << 20, 2, 1500)).toBeGreaterThan(1000);
    expect(overrunSafeMaxLen(0, 1, 0)).toBe(1);
  });
});

describe('flood over the netlink package socket', () => {
  it('survives a 5 s flood into a 64 KiB receive buffer: drops counted by the kernel, nothing waits, later traffic passes', { timeout: 120_000 }, async () => {
    const Q = 11;
    for (const p of [9200, 9201]) ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(p), '-j', 'NFQUEUE', '--queue-num', String(Q), '-m', 'comment', '--comment', `q${p}`);
    const consumer = await startConsumer(ns, { queues: Q, overrunEvents: true, options: { receiveBufferSize: 65536 } }, { env: { NFQUEUE_TRANSPORT: 'netlink' } });
    const portId = consumer.json<ConsumerLine>().find((j) => j.ready)?.portId;

    const sent = await flood(ns, '127.0.0.1', 9200, { seconds: 5 });
    expect(sent.sent).toBeGreaterThan(0);
    const drained = await waitRow(ns, Q, (r) => r?.waiting === 0);
    expect(drained?.waiting).toBe(0);
    expect(drained?.portid).toBe(portId); // the same socket: the process never died

    // The queue still serves: sent slowly into a queue of one, every later datagram either
    // passes or is counted by the kernel as queue_dropped (a stall of the loaded machine can
    // overlap two), and most pass.
    const droppedBefore = ns.queueRow(Q)!.queueDropped;
    const delivered = countDelivered(ns, 9201);
    const later = await sendUdp(ns, '127.0.0.1', 9201, { count: 100, rate: 100 });
    expect(later.sent).toBe(100);
    const settled = (): number => delivered.pkts() + ns.queueRow(Q)!.queueDropped - droppedBefore;
    for (const until = Date.now() + 30_000; settled() < 100 && Date.now() < until; ) await new Promise((r) => setTimeout(r, 50));
    expect(settled()).toBe(100);
    expect(delivered.pkts()).toBeGreaterThan(50);

    const { stats } = await consumerStats(consumer);
    const row = ns.queueRow(Q)!;
    const queued = ns.counter('filter', 'OUTPUT', 'q9200').pkts + ns.counter('filter', 'OUTPUT', 'q9201').pkts;
    // The kernel's books: no overrun at all; the packets beyond the bound were queue_dropped.
    expect(row.userDropped).toBe(0);
    expect(row.queueDropped).toBeGreaterThan(0);
    expect(row.lastId + row.queueDropped).toBe(queued);
    expect(stats.received).toBe(row.lastId);
    expect(stats.verdicts.accept).toBe(stats.received);
    expect(stats.overruns).toBe(0);

    const closed = await stopConsumer(consumer);
    expect(closed.stats.pending).toBe(0);
    expect(fatalLines(consumer)).toEqual([]);
    // Said once, with a command that works in a consumer project.
    const warnings = consumer.stderr().match(/NFQUEUE_MAXLEN_BOUNDED/g) ?? [];
    expect(warnings).toHaveLength(1);
    expect(consumer.stderr()).toMatch(/holds at most 1 packet.*npm rebuild netfilter-queue/);
  });
});

describe('nfq-dump on the netlink package socket', () => {
  it('says the bound once, in its own option names', () => {
    const cli = fileURLToPath(new URL('../../../dist/cli/nfq-dump.js', import.meta.url));
    const r = spawnSync('ip', ['netns', 'exec', ns.name, 'timeout', '-s', 'INT', '3', process.execPath, cli, '-q', '12'], {
      encoding: 'utf8',
      timeout: 20_000,
      env: { ...process.env, NFQUEUE_TRANSPORT: 'netlink' },
    });
    const warnings = r.stderr.split('\n').filter((l) => l.includes('holds at most'));
    expect(warnings, r.stderr).toHaveLength(1);
    expect(warnings[0]).toMatch(/^nfq-dump: warning: .*dropped by the kernel \(accepted with --fail-open\)\. Raise --buffer-size, lower --copy-range, or get the native socket: npm rebuild netfilter-queue$/);
  });
});
