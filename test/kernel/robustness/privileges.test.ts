/**
 * Privileges: without CAP_NET_ADMIN, openQueue() rejects with a typed EPERM error whose
 * message says what is missing; as a non-root user holding only CAP_NET_ADMIN (ambient),
 * everything works: bind, packets, verdicts, close. (The kernel's /proc table is root-only, so
 * such a user gets no kernel counters: see README, Robustness.)
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { flood, countDelivered, createNetns, sendUdp, type Netns } from '../../support/netns.js';
import { spawnConsumer, stopConsumer, consumerStats, type ConsumerLine } from '../../support/consumer.js';

let ns: Netns;
beforeAll(() => {
  ns = createNetns('rbpriv');
});
afterAll(async () => {
  await ns?.destroy();
});

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

describe('privileges', () => {
  it('without CAP_NET_ADMIN: a QueueKernelError EPERM at bind that names the capability, exit without a crash', async () => {
    const c = spawnConsumer(ns, { queues: 40 }, { prefix: [...NOBODY, '--inh-caps=-all', '--bounding-set=-net_admin'] });
    const line = await c.waitForJson<ConsumerLine>((j) => j.openError !== undefined || j.ready === true, 15_000);
    expect(line.ready).toBeUndefined();
    expect(line.openError).toMatchObject({ name: 'QueueKernelError', code: 'EPERM', step: 'bind' });
    expect(line.openError?.message).toMatch(/CAP_NET_ADMIN/);
    expect((await c.waitForExit(10_000)).code).toBe(1);
    expect(c.stderr()).not.toMatch(/Error:|at .*\.js/);
    expect(ns.queueRow(40)).toBeUndefined();
  });

  it('a non-root user with only CAP_NET_ADMIN: binds, passes 200 packets, closes', async () => {
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', '9401', '-j', 'NFQUEUE', '--queue-num', '41');
    const c = spawnConsumer(ns, { queues: 41 }, { prefix: [...NOBODY, '--inh-caps=-all,+net_admin', '--ambient-caps=+net_admin', '--bounding-set=-all,+net_admin'] });
    const ready = await c.waitForJson<ConsumerLine>((j) => j.openError !== undefined || j.ready === true, 15_000);
    expect(ready.openError).toBeUndefined();
    expect(ready.uid).toBe(65534);
    await ns.waitForQueueBound(41, 10_000, { copyMode: 2 });
    const delivered = countDelivered(ns, 9401);
    await sendUdp(ns, '127.0.0.1', 9401, { count: 200, rate: 2000 });
    expect(await delivered.waitFor(200)).toBe(200);
    const { stats } = await consumerStats(c);
    expect(stats.verdicts.accept).toBe(200);
    expect(ns.queueRow(41)?.waiting).toBe(0);
    // /proc/net/netfilter/nfnetlink_queue is root-only (0440): the library's kernel view is
    // empty for this user, and says so by omission rather than failing.
    expect(stats.kernel).toEqual([]);
    const closed = await stopConsumer(c);
    expect(closed.stats.received).toBe(200);
    expect(ns.queueRow(41)).toBeUndefined();
  });

  it('a non-root CAP_NET_ADMIN user still hears of overruns: /proc is unreadable, so the socket keeps ENOBUFS', async () => {
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', '9402', '-j', 'NFQUEUE', '--queue-num', '42');
    const c = spawnConsumer(ns, { queues: 42, policy: 'slow', slowUs: 300, overrunEvents: true, options: { receiveBufferSize: 32768, maxLen: 100000 } }, {
      prefix: [...NOBODY, '--inh-caps=-all,+net_admin', '--ambient-caps=+net_admin', '--bounding-set=-all,+net_admin'],
    });
    const ready = await c.waitForJson<ConsumerLine>((j) => j.openError !== undefined || j.ready === true, 15_000);
    expect(ready.openError).toBeUndefined();
    await ns.waitForQueueBound(42, 10_000, { copyMode: 2 });
    await flood(ns, '127.0.0.1', 9402, { seconds: 3, size: 200 });
    // The kernel (read as root) counted deliveries it could not make to the full socket…
    const userDropped = ns.queueRow(42)?.userDropped ?? 0;
    expect(userDropped).toBeGreaterThan(0);
    // The socket keeps being served after the overrun: fresh traffic passes.
    const delivered = countDelivered(ns, 9402);
    await sendUdp(ns, '127.0.0.1', 9402, { count: 50, rate: 500 });
    expect(await delivered.waitFor(50, 25_000)).toBe(50);
    const closed = await stopConsumer(c);
    // …and the library, which cannot read that table, heard of them through ENOBUFS.
    expect(closed.stats.kernel).toEqual([]);
    expect(closed.stats.overruns).toBeGreaterThan(0);
    expect(c.json<ConsumerLine & { error?: { message: string } }>().filter((j) => j.error).map((j) => j.error?.message)).toEqual([]);
    expect(closed.stats.socketErrors).toBe(0);
    expect(c.json<ConsumerLine & { overrun?: { code?: string } }>().some((j) => j.overrun?.code === 'ENOBUFS')).toBe(true);
  });
});
