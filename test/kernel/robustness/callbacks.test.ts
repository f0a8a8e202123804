/**
 * Slow, hung, throwing and double-answering callbacks on the real kernel. The referee is the
 * kernel: its queue row (packets waiting) and the UDP sink behind the queue (what was
 * accepted), plus iptables counters for what was dropped.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { countDelivered, createNetns, sendUdp, type Netns } from '../../support/netns.js';
import { startConsumer, consumerStats, stopConsumer, fatalLines, waitRow } from '../../support/consumer.js';

let ns: Netns;
beforeAll(() => {
  ns = createNetns('rbcb');
});
afterAll(async () => {
  await ns?.destroy();
});

function queuePort(port: number, queue: number): void {
  ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue));
}

describe('callbacks that hang, throw or answer twice', () => {
  it('a hung callback: verdictTimeout gives every packet the default verdict (accept); nothing stays waiting', async () => {
    queuePort(9201, 21);
    const c = await startConsumer(ns, { queues: 21, overrunEvents: true, policy: 'hold', options: { verdictTimeout: 300 } });
    const delivered = countDelivered(ns, 9201);
    await sendUdp(ns, '127.0.0.1', 9201, { count: 60, rate: 600 });
    expect(await delivered.waitFor(60, 30_000)).toBe(60);
    expect((await waitRow(ns, 21, (r) => r?.waiting === 0))?.waiting).toBe(0);
    const { stats, errorsByName } = await consumerStats(c);
    expect(stats.received).toBe(60);
    expect(stats.timedOut).toBe(60);
    expect(stats.verdicts.accept).toBe(60);
    expect(stats.pending).toBe(0);
    expect(errorsByName).toEqual({ VerdictTimeoutError: 60 });
    expect(stats.verdictErrors).toBe(0); // no second verdict reached the kernel (no ENOENT)
    await stopConsumer(c);
    expect(fatalLines(c)).toEqual([]);
  });

  it('a hung callback with default drop: every packet is dropped after the timeout, none gets through', async () => {
    queuePort(9202, 22);
    ns.iptables('-A', 'INPUT', '-p', 'udp', '--dport', '9202', '-m', 'comment', '--comment', 'in9202');
    const c = await startConsumer(ns, { queues: 22, overrunEvents: true, policy: 'hold', options: { verdictTimeout: 200, defaultVerdict: 'drop' } });
    await sendUdp(ns, '127.0.0.1', 9202, { count: 30, rate: 600 });
    expect((await waitRow(ns, 22, (r) => r?.lastId === 30 && r.waiting === 0))?.waiting).toBe(0);
    const { stats } = await consumerStats(c);
    expect(stats.timedOut).toBe(30);
    expect(stats.verdicts.drop).toBe(30);
    expect(ns.counter('filter', 'INPUT', 'in9202').pkts).toBe(0);
    await stopConsumer(c);
  });

  it('throwing callbacks: each failing packet gets the default verdict and is reported; the queue keeps serving', async () => {
    queuePort(9203, 23);
    const c = await startConsumer(ns, { queues: 23, overrunEvents: true, policy: 'throw-every', every: 3 });
    const delivered = countDelivered(ns, 9203);
    await sendUdp(ns, '127.0.0.1', 9203, { count: 90, rate: 1000 });
    expect(await delivered.waitFor(90, 30_000)).toBe(90);
    const { stats, errorsByName } = await consumerStats(c);
    expect(stats.received).toBe(90);
    expect(stats.callbackErrors).toBe(30);
    expect(errorsByName).toEqual({ CallbackError: 30 });
    expect(stats.verdicts.accept).toBe(90);
    expect(ns.queueRow(23)?.waiting).toBe(0);
    await stopConsumer(c);
    expect(fatalLines(c)).toEqual([]);
  });

  it('maxInFlight: beyond the cap packets get the default verdict at once; the rest wait until close', async () => {
    queuePort(9204, 24);
    const c = await startConsumer(ns, { queues: 24, overrunEvents: true, policy: 'hold', options: { maxInFlight: 10 } });
    const delivered = countDelivered(ns, 9204);
    await sendUdp(ns, '127.0.0.1', 9204, { count: 50, rate: 1000 });
    const row = await waitRow(ns, 24, (r) => r?.lastId === 50 && r.waiting === 10);
    // The kernel holds exactly the 10 in flight; the other 40 passed.
    expect(row?.waiting).toBe(10);
    expect(await delivered.waitFor(40, 5_000)).toBe(40);
    const { stats } = await consumerStats(c);
    expect(stats.overflowed).toBe(40);
    expect(stats.pending).toBe(10);
    const closed = await stopConsumer(c);
    // close() answered the 10 hung ones: all 50 arrive, nothing waits.
    expect(closed.stats.verdicts.accept).toBe(50);
    expect(await delivered.waitFor(50, 10_000)).toBe(50);
    expect(ns.queueRow(24)).toBeUndefined();
  });

  it('a verdict given twice is refused (VerdictStateError) and never sent: no kernel error, every packet passes once', async () => {
    queuePort(9205, 25);
    const c = await startConsumer(ns, { queues: 25, overrunEvents: true, policy: 'double' });
    const delivered = countDelivered(ns, 9205);
    await sendUdp(ns, '127.0.0.1', 9205, { count: 40, rate: 1000 });
    expect(await delivered.waitFor(40, 30_000)).toBe(40);
    const line = await consumerStats(c);
    expect(line.doubleRefused).toBe(40);
    expect(line.doubleOther).toBe(0);
    // One verdict per packet; the callback's late 'drop' was ignored; the kernel saw no
    // second verdict (it would answer ENOENT, counted as a verdict error).
    expect(line.stats.verdicts).toMatchObject({ accept: 40, drop: 0 });
    expect(line.stats.verdictErrors).toBe(0);
    expect(ns.queueRow(25)?.waiting).toBe(0);
    await stopConsumer(c);
    expect(delivered.pkts()).toBe(40); // each passed once: a second pass would be counted
    expect(fatalLines(c)).toEqual([]);
  });
});
