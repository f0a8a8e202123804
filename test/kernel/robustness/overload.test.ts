/**
 * Overload: a UDP flood far above what a deliberately slow consumer can answer, into a small
 * receive buffer. The kernel's own counters (/proc/net/netfilter/nfnetlink_queue and the
 * iptables rule) are the referee: every packet the kernel queued either reached the consumer
 * and got a verdict, or is counted as user_dropped, and the library reported exactly that
 * number through its 'overrun' event and counters. Afterwards the queue serves normally.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { flood, countDelivered, createNetns, sendUdp, type Netns } from '../../support/netns.js';
import { startConsumer, consumerStats, stopConsumer, fatalLines, waitRow, type ConsumerLine } from '../../support/consumer.js';

let ns: Netns;
beforeAll(() => {
  ns = createNetns('rbover');
});
afterAll(async () => {
  await ns?.destroy();
});

function rules(queue: number, floodPort: number, laterPort: number): void {
  for (const p of [floodPort, laterPort]) ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(p), '-j', 'NFQUEUE', '--queue-num', String(queue), '-m', 'comment', '--comment', `q${p}`);
}

describe('overload', () => {
  it('survives a 30 s flood into a slow consumer: overruns counted and reported, nothing waits, later traffic passes', { timeout: 120_000 }, async () => {
    const Q = 10;
    rules(Q, 9100, 9101);
    // ~200 µs per packet: at most ~5,000 packets/s; a 64 KiB receive buffer; a long kernel
    // queue so that the receive buffer, not QUEUE_MAXLEN, is what overflows.
    const consumer = await startConsumer(ns, { queues: Q, policy: 'slow', slowUs: 200, overrunEvents: true, options: { receiveBufferSize: 65536, maxLen: 100000 } });
    const portId = consumer.json<ConsumerLine>().find((j) => j.ready)?.portId;

    // 20,000 datagrams/s: four times what the consumer can answer, at a fraction of a core,
    // so that this file runs beside the others instead of after them.
    const sent = await flood(ns, '127.0.0.1', 9100, { seconds: 30, rate: 20_000 });
    const during = await consumerStats(consumer);
    // Well above capacity: most of the flood could not be delivered.
    expect(sent.sent).toBeGreaterThan(2 * during.stats.received);

    // Recovery by itself: the consumer drains what reached it; the kernel holds nothing.
    const drained = await waitRow(ns, Q, (r) => r?.waiting === 0);
    expect(drained?.waiting).toBe(0);
    expect(drained?.portid).toBe(portId); // same socket, still bound: it never died

    // Later traffic passes normally, every datagram.
    const delivered = countDelivered(ns, 9101);
    const later = await sendUdp(ns, '127.0.0.1', 9101, { count: 500, rate: 1000 });
    expect(later.sent).toBe(500);
    expect(await delivered.waitFor(500, 30_000)).toBe(500);

    expect((await waitRow(ns, Q, (r) => r?.waiting === 0))?.waiting).toBe(0);
    const { stats, overrunEvents, rss } = await consumerStats(consumer);
    const row = ns.queueRow(Q)!;
    const queued = ns.counter('filter', 'OUTPUT', 'q9100').pkts + ns.counter('filter', 'OUTPUT', 'q9101').pkts;

    // The kernel's books: every packet the NFQUEUE rule saw got an id (nothing queue_dropped),
    // and every id was either delivered to us or counted as user_dropped.
    expect(row.queueDropped).toBe(0);
    expect(row.lastId).toBe(queued);
    expect(row.userDropped).toBeGreaterThan(0);
    expect(stats.received + row.userDropped).toBe(row.lastId);
    // Ours: every packet that reached the process got exactly one verdict, none pending.
    expect(stats.verdicts.accept).toBe(stats.received);
    expect(stats.pending).toBe(0);
    expect(stats.decodeErrors + stats.socketErrors + stats.verdictErrors).toBe(0);
    // The overruns were reported as events and counters, with the kernel's exact loss.
    expect(stats.userDropped).toBe(row.userDropped);
    expect(stats.overruns).toBeGreaterThan(0);
    expect(overrunEvents).toBe(stats.overruns);
    const firstOverrun = consumer.json<ConsumerLine>().find((j) => j.overrun)?.overrun;
    expect(firstOverrun?.code).toBe('ENOBUFS');
    expect(firstOverrun?.message).toMatch(/receive buffer overrun.*raise receiveBufferSize/);
    // Memory stayed bounded through the flood.
    expect(rss!.max).toBeLessThan(256 * 1024 * 1024);

    const closed = await stopConsumer(consumer);
    expect(closed.stats.verdicts.accept).toBe(closed.stats.received);
    expect(fatalLines(consumer)).toEqual([]);
    expect(ns.queueRow(Q)).toBeUndefined();
  });
  // The `netlink` package's socket aborts on an overrun: the library bounds its queue so it
  // never overruns instead (fallback-overrun.test.ts).
});
