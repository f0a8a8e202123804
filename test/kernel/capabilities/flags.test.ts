// Queue flags and limits proven by the kernel: QUEUE_MAXLEN (queue_dropped in /proc, and
// stats()), FAIL_OPEN (packets reach the sink while the consumer stalls), UID_GID, GSO,
// SECCTX (accepted, nothing emitted without an LSM), CONNTRACK (refused by kernels without the glue).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { consumerLines, startConsumer } from '../../support/consumer.js';
import { countDelivered, sendTcp, sendUdp, startTcpSink, type Child } from '../../support/netns.js';
import { kernelFeatures } from '../../../src/diagnosis/index.js';

let ns: Ns;
beforeAll(() => {
  ns = new Ns('f');
});
afterAll(async () => {
  await ns?.destroy();
});

const pkts = async (c: Child): Promise<Json[]> => (await consumerLines<Json>(c)).filter((l) => l.pkt).map((l) => l.pkt as Json);
function queueUdp(port: number, q: number): void {
  ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(q));
}

describe('queue flags', () => {
  it('QUEUE_MAXLEN: beyond maxLen the kernel drops and counts queue_dropped; stats() shows both sides', async () => {
    queueUdp(8001, 1);
    const delivered = countDelivered(ns.netns, 8001);
    const c = await startConsumer(ns.netns, { report: true, queues: 1, policy: 'hold', options: { maxLen: 4 } });
    await sendUdp(ns.netns, '127.0.0.1', 8001, { count: 20 });
    const row = await ns.waitRow(1, (r) => r.waiting === 4 && r.queueDropped === 16);
    expect(row.lastId).toBe(4);
    expect(delivered.pkts()).toBe(0);
    c.write('stats\n');
    const st = (await c.waitForJson<Json>((j) => j.stats !== undefined)).stats;
    expect(st).toMatchObject({ received: 4, pending: 4, overruns: 0 });
    expect(st.kernel).toEqual([expect.objectContaining({ queue: 1, waiting: 4, queueDropped: 16, userDropped: 0, lastId: 4, copyMode: 2 })]);
    // Graceful close gives the 4 waiting packets the default verdict (accept).
    c.write('close\n');
    await c.exited;
    await eventually(() => delivered.pkts() === 4, 'the 4 waiting packets were accepted on close');
  });

  it('receive-buffer overrun: the kernel counts user_dropped, stats() counts the overrun, the queue keeps working', async () => {
    queueUdp(8008, 8);
    const delivered = countDelivered(ns.netns, 8008);
    const dir = mkdtempSync(join(tmpdir(), 'nfq-overrun-'));
    const flag = join(dir, 'go');
    try {
      const c = await startConsumer(ns.netns, { queues: 8, blockUntil: flag, options: { receiveBufferSize: 4096 } });
      await sendUdp(ns.netns, '127.0.0.1', 8008, { count: 1 });
      await c.waitForJson<Json>((j) => j.blocking === true);
      // While the consumer reads nothing, 200 more packets overflow its socket buffer.
      await sendUdp(ns.netns, '127.0.0.1', 8008, { count: 200, size: 1000 });
      const during = await ns.waitRow(8, (r) => r.userDropped > 0);
      writeFileSync(flag, '');
      await c.untilJson<Json>((lines) => lines.some((l) => l.error?.code === 'ENOBUFS'));
      await ns.waitRow(8, (r) => r.waiting === 0);
      c.write('stats\n');
      const st = (await c.waitForJson<Json>((j) => j.stats !== undefined)).stats;
      expect(st.overruns).toBeGreaterThanOrEqual(1);
      const k = st.kernel[0];
      expect(k.userDropped).toBeGreaterThanOrEqual(during.userDropped);
      // Every packet the kernel did deliver got a verdict and was delivered.
      expect(k.lastId).toBe(201);
      expect(st.received).toBe(201 - k.userDropped);
      await eventually(() => delivered.pkts() === 201 - k.userDropped, 'delivered: every delivered packet');
      // And the queue still works.
      await sendUdp(ns.netns, '127.0.0.1', 8008, { count: 3 });
      await eventually(() => delivered.pkts() === 204 - k.userDropped, 'delivered: 3 more');
      c.write('close\n');
      await c.exited;
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('FAIL_OPEN: with a stalled consumer and maxLen 4, the other packets still reach the sink', async () => {
    queueUdp(8002, 2);
    const delivered = countDelivered(ns.netns, 8002);
    const c = await startConsumer(ns.netns, { report: true, queues: 2, policy: 'hold', options: { maxLen: 4, flags: { failOpen: true } } });
    await sendUdp(ns.netns, '127.0.0.1', 8002, { count: 20 });
    await eventually(() => delivered.pkts() === 16, 'delivered: the 16 packets beyond maxLen');
    const row = ns.row(2)!;
    expect(row).toMatchObject({ waiting: 4, queueDropped: 0 });
    c.write('close\n');
    await c.exited;
    await eventually(() => delivered.pkts() === 20, 'all 20 delivered');
  });

  it('UID_GID: traffic from a process run as uid 1234 / gid 2345 reports them', async () => {
    queueUdp(8003, 3);
    const delivered = countDelivered(ns.netns, 8003);
    const c = await startConsumer(ns.netns, { report: true, queues: 3, options: { flags: { uidGid: true } } });
    const s = await sendUdp(ns.netns, '127.0.0.1', 8003, { count: 2, uid: 1234, gid: 2345 });
    expect(s).toMatchObject({ uid: 1234, gid: 2345 });
    await sendUdp(ns.netns, '127.0.0.1', 8003, { count: 1 }); // as root
    await eventually(() => delivered.pkts() === 3, 'delivered: 3');
    const p = await pkts(c);
    expect(p.filter((x) => x.uid === 1234 && x.gid === 2345)).toHaveLength(2);
    expect(p.filter((x) => x.uid === 0 && x.gid === 0)).toHaveLength(1);
    c.write('close\n');
    await c.exited;
  });

  it('GSO: large TCP writes on loopback (mtu 1500) reach the callback whole, SKB_INFO reports GSO; without the flag they are segmented', async () => {
    ns.ip('link', 'set', 'lo', 'mtu', '1500');
    for (const [port, q] of [
      [8004, 4],
      [8005, 5],
    ]) {
      ns.ipt('-A', 'OUTPUT', '-p', 'tcp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(q));
    }
    const gso = await startConsumer(ns.netns, { report: true, queues: 4, options: { flags: { gso: true } } });
    const seg = await startConsumer(ns.netns, { report: true, queues: 5 });
    for (const [port, c] of [
      [8004, gso],
      [8005, seg],
    ] as const) {
      const sink = await startTcpSink(ns.netns, port, { host: '127.0.0.1' });
      expect(await sendTcp(ns.netns, '127.0.0.1', port, { bytes: 1 << 20, timeoutMs: 30_000 })).toMatchObject({ done: true, sent: 1 << 20 });
      const conn = await sink.waitForJson((j) => j.conn === true, 30_000);
      expect(conn).toMatchObject({ bytes: 1 << 20, patternOk: true });
      sink.kill();
      void c;
    }
    const big = (await pkts(gso)).filter((p) => p.len > 1500);
    expect(big.length).toBeGreaterThan(0);
    expect(big.every((p) => (p.skbInfo & 2) === 2)).toBe(true);
    const segments = await pkts(seg);
    expect(segments.length).toBeGreaterThan(0);
    expect(segments.every((p) => p.len <= 1500)).toBe(true);
    gso.write('close\n');
    seg.write('close\n');
    await Promise.all([gso.exited, seg.exited]);
  });

  it('SECCTX: the kernel accepts the flag but emits no security context here (no LSM)', async () => {
    queueUdp(8006, 6);
    const delivered = countDelivered(ns.netns, 8006);
    const c = await startConsumer(ns.netns, { report: true, queues: 6, options: { flags: { secctx: true } } });
    expect(c.json<Json>().find((l) => l.openError)).toBeUndefined();
    await sendUdp(ns.netns, '127.0.0.1', 8006, { count: 2 });
    await eventually(() => delivered.pkts() === 2, 'delivered: 2');
    const p = await pkts(c);
    expect(p).toHaveLength(2);
    // The context comes from skb->secmark, which only an active LSM with secmark (SELinux,
    // Smack) sets. Here /proc/self/attr/current answers EINVAL: no such LSM is active.
    const lsmActive = ns.run('cat', '/proc/self/attr/current').status === 0;
    if (!lsmActive) expect(p.every((x) => x.secctx === undefined)).toBe(true);
    c.write('close\n');
    await c.exited;
  });

  it('CONNTRACK: a kernel without the conntrack glue refuses the flag with EOPNOTSUPP, said in plain words', async () => {
    const c = await startConsumer(ns.netns, { report: true, queues: 7, options: { flags: { conntrack: true } } }, { mayFail: true });
    if ((await kernelFeatures({ netns: `/run/netns/${ns.name}` })).conntrack) {
      // Kernels with the glue (the kernel matrix's): test/kernel/conntrack proves the flag.
      expect(c.json<Json>().find((l) => l.openError)).toBeUndefined();
      c.write('close\n');
      await c.exited;
      return;
    }
    const e = c.json<Json>().find((l) => l.openError)?.openError;
    expect(e).toMatchObject({ code: 'EOPNOTSUPP', step: 'flags' });
    expect(e.message).toMatch(/conntrack/i);
    // The failed open left nothing bound.
    expect(ns.row(7)).toBeUndefined();
  });
});
