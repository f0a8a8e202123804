// One process serving a range of queues: `--queue-balance 0:3` spreads flows over queues
// 0..3 by address hash; every packet tells which queue it came from, and the per-queue
// counts match the kernel's per-queue ids in /proc.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { consumerLines, startConsumer } from '../../support/consumer.js';
import { countDelivered, sendUdp } from '../../support/netns.js';

let ns: Ns;
beforeAll(() => {
  ns = new Ns('m');
});
afterAll(async () => {
  await ns?.destroy();
});

describe('several queues', () => {
  it('serves --queue-balance 0:3 from one process; packet.queue matches the kernel per queue', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9200', '-m', 'comment', '--comment', 'bal', '-j', 'NFQUEUE', '--queue-balance', '0:3');
    const c = await startConsumer(ns.netns, { report: true, queues: [0, 1, 2, 3] });
    const delivered = countDelivered(ns.netns, 9200);
    // 24 source addresses (the balance hash covers addresses, not ports), 2 datagrams each.
    const sources = Array.from({ length: 24 }, (_, i) => `127.0.0.${i + 2}`);
    expect(await sendUdp(ns.netns, '127.0.0.1', 9200, { count: 2, from: sources })).toMatchObject({ sent: 48 });
    await eventually(() => delivered.pkts() === 48, 'delivered: 48');
    expect(ns.count('mangle', 'OUTPUT', 'bal')).toBe(48);

    const pkts = (await consumerLines<Json>(c)).filter((l) => l.pkt).map((l) => l.pkt as Json);
    expect(pkts).toHaveLength(48);
    const perQueue = new Map<number, number>();
    const queueOfSource = new Map<string, Set<number>>();
    for (const x of pkts) {
      expect([0, 1, 2, 3]).toContain(x.queue);
      perQueue.set(x.queue, (perQueue.get(x.queue) ?? 0) + 1);
      const src = /from=([\d.]+);/.exec(x.data)![1]!;
      if (!queueOfSource.has(src)) queueOfSource.set(src, new Set());
      queueOfSource.get(src)!.add(x.queue);
    }
    // The kernel spread the flows over several queues...
    expect(perQueue.size).toBeGreaterThan(1);
    // ...each packet's queue agrees with the kernel's count of packets queued there...
    for (const q of [0, 1, 2, 3]) expect(ns.row(q)?.lastId ?? 0).toBe(perQueue.get(q) ?? 0);
    // ...and one flow always lands in the same queue.
    for (const qs of queueOfSource.values()) expect(qs.size).toBe(1);
    c.write('stats\n');
    const st = (await c.waitForJson<Json>((j) => j.stats !== undefined)).stats;
    expect(st.received).toBe(48);
    expect(st.kernel.map((r: Json) => r.queue).sort()).toEqual([0, 1, 2, 3]);
    c.write('close\n');
    await c.exited;
  });
});
