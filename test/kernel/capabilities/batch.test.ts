// Batch verdicts proven by the kernel: 64 queued packets released by ONE batch message
// with a mark and a priority; a batch that drops; the kernel's "no such packet" answer.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { startConsumer } from '../../support/consumer.js';
import { countDelivered, sendUdp } from '../../support/netns.js';

let ns: Ns;
beforeAll(() => {
  ns = new Ns('b');
  ns.htbOnLo();
});
afterAll(async () => {
  await ns?.destroy();
});

describe('batch verdicts', () => {
  it('releases 64 waiting packets with one batch message, setting mark and priority on each', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '6001', '-m', 'comment', '--comment', 'bq', '-j', 'NFQUEUE', '--queue-num', '1');
    ns.ipt('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '6001', '-m', 'mark', '--mark', '0x42', '-m', 'comment', '--comment', 'bmark');
    const delivered = countDelivered(ns.netns, 6001);
    const c = await startConsumer(ns.netns, { queues: 1, policy: 'batch', batch: { verdict: 'accept', mark: 0x42, priority: 0x10003 } });
    const htbBefore = ns.htbPackets(3);
    await sendUdp(ns.netns, '127.0.0.1', 6001, { count: 64, payloadPrefix: 'b-' });
    // All 64 wait in the kernel, none was delivered.
    const row = await ns.waitRow(1, (r) => r.waiting === 64);
    expect(row.lastId).toBe(64);
    expect(delivered.pkts()).toBe(0);

    c.write('batch\n');
    const b = await c.waitForJson<Json>((j) => j.batch === true);
    expect(b).toMatchObject({ maxId: 64, n: 64, batches: 1 });
    await eventually(() => delivered.pkts() === 64, 'delivered: 64');
    expect(ns.row(1)?.waiting).toBe(0);
    expect(ns.count('mangle', 'POSTROUTING', 'bmark')).toBe(64);
    // Priority in a batch verdict: every packet landed in HTB class 1:3.
    expect(ns.htbPackets(3) - htbBefore).toBe(64);
    c.write('stats\n');
    const st = (await c.waitForJson<Json>((j) => j.stats !== undefined)).stats;
    expect(st.received).toBe(64);
    expect(st.verdicts.accept).toBe(1); // one message for 64 packets

    // The same batch again: nothing is waiting, the kernel answers ENOENT, reported in words.
    c.write('batch-again\n');
    const err = (await c.waitForJson<Json>((j) => j.error !== undefined)).error;
    expect(err).toMatchObject({ code: 'ENOENT', step: 'batch-verdict', packetId: 64 });
    expect(err.message).toMatch(/no such packet/);

    // The queue still works after the error.
    await sendUdp(ns.netns, '127.0.0.1', 6001, { count: 3, payloadPrefix: 'after-' });
    await ns.waitRow(1, (r) => r.waiting === 3);
    c.write('batch\n');
    await eventually(() => delivered.pkts() === 67, 'delivered: 3 more');
    c.write('close\n');
    await c.exited;
  });

  it('a drop batch drops every waiting packet', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '6002', '-m', 'comment', '--comment', 'bd', '-j', 'NFQUEUE', '--queue-num', '2');
    const delivered = countDelivered(ns.netns, 6002);
    const c = await startConsumer(ns.netns, { queues: 2, policy: 'batch', batch: { verdict: 'drop' } });
    await sendUdp(ns.netns, '127.0.0.1', 6002, { count: 10 });
    await ns.waitRow(2, (r) => r.waiting === 10);
    c.write('batch\n');
    await ns.waitRow(2, (r) => r.waiting === 0);
    expect(ns.count('mangle', 'OUTPUT', 'bd')).toBe(10);
    await new Promise((r) => setTimeout(r, 300));
    expect(delivered.pkts()).toBe(0);
    c.write('close\n');
    await c.exited;
  });
});
