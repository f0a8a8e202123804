// Verdicts proven by the kernel: requeue (with and without bypass), repeat, stop, priority.
// Evidence: delivery counters (mangle INPUT), iptables counters, /proc queue rows, tc class counters.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { consumerLines, startConsumer } from '../../support/consumer.js';
import { countDelivered, sendUdp, type Child } from '../../support/netns.js';

let ns: Ns;
const procs: Child[] = [];

beforeAll(() => {
  ns = new Ns('v');
});
afterAll(async () => {
  await ns?.destroy();
});

describe('verdicts', () => {
  it('requeue: a packet requeued from queue 1 arrives at the consumer of queue 2; with bypass and nobody on the target it reaches the sink', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5001', '-m', 'comment', '--comment', 'rq1', '-j', 'NFQUEUE', '--queue-num', '1');
    const delivered = countDelivered(ns.netns, 5001);
    const c1 = await startConsumer(ns.netns, { report: true, queues: 1, verdict: { verdict: 'queue', queue: 2, bypass: true } });
    const c2 = await startConsumer(ns.netns, { report: true, queues: 2 });
    procs.push(c1, c2);
    await sendUdp(ns.netns, '127.0.0.1', 5001, { count: 5, payloadPrefix: 'rq-' });
    await eventually(() => delivered.pkts() === 5, 'delivered: the 5 requeued packets');
    const seen2 = (await consumerLines<Json>(c2)).filter((l) => l.pkt).map((l) => l.pkt);
    expect(seen2).toHaveLength(5);
    expect(seen2.every((p) => p.queue === 2)).toBe(true);
    // Kernel side: queue 2 really had 5 packets queued to it.
    expect(ns.row(2)?.lastId).toBe(5);
    expect(ns.row(1)?.lastId).toBe(5);

    // Nobody on queue 2 now: bypass lets the packets through.
    c2.write('close\n');
    await c2.exited;
    await eventually(() => ns.row(2) === undefined, 'queue 2 unbound');
    await sendUdp(ns.netns, '127.0.0.1', 5001, { count: 5, payloadPrefix: 'bypass-' });
    await eventually(() => delivered.pkts() === 10, 'delivered: the 5 bypassed packets');
    expect(ns.count('mangle', 'OUTPUT', 'rq1')).toBe(10);
    c1.write('close\n');
    await c1.exited;
  });

  it('requeue without bypass to a queue nobody serves drops the packet', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5002', '-m', 'comment', '--comment', 'rq4', '-j', 'NFQUEUE', '--queue-num', '4');
    const delivered = countDelivered(ns.netns, 5002);
    const c = await startConsumer(ns.netns, { report: true, queues: 4, verdict: { verdict: 'queue', queue: 3 } });
    await sendUdp(ns.netns, '127.0.0.1', 5002, { count: 5 });
    await eventually(() => ns.row(4)?.lastId === 5 && ns.row(4)?.waiting === 0, 'all 5 answered');
    expect(ns.count('mangle', 'OUTPUT', 'rq4')).toBe(5);
    await new Promise((r) => setTimeout(r, 300));
    expect(delivered.pkts()).toBe(0);
    c.write('close\n');
    await c.exited;
  });

  it('repeat: the packet goes through the hook again, and the mark set by the first verdict is seen by the second pass', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5003', '-m', 'comment', '--comment', 'rep-q', '-j', 'NFQUEUE', '--queue-num', '5');
    ns.ipt('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '5003', '-m', 'mark', '--mark', '0x7', '-m', 'comment', '--comment', 'rep-mark');
    const delivered = countDelivered(ns.netns, 5003);
    const c = await startConsumer(ns.netns, { report: true, queues: 5, policy: 'repeat-mark', mark: 7 });
    await sendUdp(ns.netns, '127.0.0.1', 5003, { count: 5 });
    await eventually(() => delivered.pkts() === 5, 'delivered: 5');
    expect(ns.count('mangle', 'OUTPUT', 'rep-q')).toBe(10); // each packet queued twice
    expect(ns.count('mangle', 'POSTROUTING', 'rep-mark')).toBe(5);
    // The consumer's report lines travel through a pipe and may trail the packets themselves.
    await eventually(() => c.json<Json>().filter((l) => l.pkt).length === 10, 'consumer reported 10 callbacks');
    const marks = c.json<Json>().filter((l) => l.pkt).map((l) => l.pkt.mark ?? 0);
    expect(marks.filter((m) => m === 7)).toHaveLength(5);
    expect(marks.filter((m) => m === 0)).toHaveLength(5);
    c.write('close\n');
    await c.exited;
  });

  it('stop: accepted without the later hooks of the same hook point (filter OUTPUT skipped); accept does not skip them', async () => {
    for (const [port, q, tag] of [
      ['5004', '8', 'stop'],
      ['5005', '9', 'acc'],
    ] as const) {
      ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', port, '-j', 'NFQUEUE', '--queue-num', q);
      ns.ipt('-t', 'filter', '-A', 'OUTPUT', '-p', 'udp', '--dport', port, '-m', 'comment', '--comment', `${tag}-filter`);
      ns.ipt('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', port, '-m', 'comment', '--comment', `${tag}-post`);
    }
    const s4 = countDelivered(ns.netns, 5004);
    const s5 = countDelivered(ns.netns, 5005);
    const c = await startConsumer(ns.netns, { report: true, queues: 8, verdict: 'stop' });
    const a = await startConsumer(ns.netns, { report: true, queues: 9, verdict: 'accept' });
    await sendUdp(ns.netns, '127.0.0.1', 5004, { count: 5 });
    await sendUdp(ns.netns, '127.0.0.1', 5005, { count: 5 });
    await eventually(() => s4.pkts() === 5 && s5.pkts() === 5, '5 delivered to each port');
    expect(ns.count('filter', 'OUTPUT', 'stop-filter')).toBe(0);
    expect(ns.count('mangle', 'POSTROUTING', 'stop-post')).toBe(5);
    expect(ns.count('filter', 'OUTPUT', 'acc-filter')).toBe(5);
    expect(ns.count('mangle', 'POSTROUTING', 'acc-post')).toBe(5);
    c.write('close\n');
    a.write('close\n');
    await Promise.all([c.exited, a.exited]);
  });

  it('priority in a verdict sets skb->priority: HTB puts the packets in class 1:3', async () => {
    ns.htbOnLo();
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5006', '-j', 'NFQUEUE', '--queue-num', '10');
    const delivered = countDelivered(ns.netns, 5006);
    const before = ns.htbPackets(3);
    const c = await startConsumer(ns.netns, { report: true, queues: 10, verdict: { verdict: 'accept', priority: 0x10003 } });
    await sendUdp(ns.netns, '127.0.0.1', 5006, { count: 5 });
    await eventually(() => delivered.pkts() === 5, 'delivered: 5');
    expect(ns.htbPackets(3) - before).toBe(5);
    c.write('close\n');
    await c.exited;
  });
});
