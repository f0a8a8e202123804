/**
 * The core library against the real kernel: each scenario in its own queue inside one
 * network namespace made for this file, with an iptables-legacy NFQUEUE rule, a consumer
 * child (test/support/consumers/consumer.mjs, built library) and UDP traffic to 127.0.0.1 / ::1.
 * What got through is counted by an iptables rule on mangle INPUT (countDelivered), not by a
 * receiving socket, whose buffer would drop datagrams on a loaded machine.
 */

/** Rules counting the datagrams whose `seq=N;` payload has an odd N. */
const ODD_SEQ = ['1;', '3;', '5;', '7;', '9;'].map((end) => ['-m', 'string', '--algo', 'bm', '--string', end]);
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { countDelivered, createNetns, sendUdp, type Netns, type Child } from '../support/netns.js';
import { consumerLines, consumerOpened, spawnConsumer, startConsumer, stopConsumer, type ConsumerConfig, type ConsumerLine } from '../support/consumer.js';

let ns: Netns;

beforeAll(() => {
  ns = createNetns('core');
});
afterAll(async () => {
  await ns?.destroy();
});

let transport = 'native';

async function startQueueConsumer(config: ConsumerConfig): Promise<Child> {
  // The netlink package's socket gets a queue no longer than its receive buffer holds (see
  // fallback-overrun.test.ts); these scenarios' small datagrams need only a small copy range,
  // which lets that bound (~130 packets in the default buffer) hold their bursts.
  const copyRange = transport === 'netlink' ? { copyRange: 256 } : {};
  const c = await startConsumer(ns, { ...config, options: { ...config.options, ...copyRange } }, { env: { NFQUEUE_TRANSPORT: transport } });
  // NFQUEUE_TRANSPORT=native fails instead of falling back, so this proves the addon ran.
  expect(c.json<ConsumerLine>().find((j) => j.ready)?.transport).toBe(transport);
  return c;
}

/**
 * Send rate: the netlink socket's queue is bounded to what its receive buffer holds (~130
 * packets here), so a stall of the consumer longer than that many packets' time drops the
 * rest; at 1,000 packets/s that takes a 130 ms stall. The native socket's queue is long.
 */
const rateFor = (kind: string, rate: number): number => (kind === 'netlink' ? Math.min(rate, 1000) : rate);

function queueUdpPort(port: number, queue: number, family: 4 | 6 = 4): void {
  const args = ['-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue)];
  if (family === 6) ns.ip6tables(...args);
  else ns.iptables(...args);
}

// Every scenario runs on both transports: the native addon (the default) and the `netlink`
// package's socket (the fallback where the addon cannot be built). Queue numbers differ per
// transport so the two runs never share kernel state.
describe.each([
  ['native', 0],
  ['netlink', 20],
] as const)('core library on the kernel (%s transport)', (kind, base) => {
  beforeAll(() => {
    transport = kind;
  });

  it('passes 1,000 UDP datagrams through OUTPUT, all accepted and all received', async () => {
    queueUdpPort(7001 + base * 10, 1 + base);
    const consumer = await startQueueConsumer({ queues: 1 + base });
    const delivered = countDelivered(ns, 7001 + base * 10);
    const sent = await sendUdp(ns, '127.0.0.1', 7001 + base * 10, { count: 1000, rate: rateFor(kind, 5000) });
    expect(sent.sent).toBe(1000);
    expect(await delivered.waitFor(1000, 30_000)).toBe(1000);
    const closed = await stopConsumer(consumer);
    expect(closed.stats?.received).toBe(1000);
    expect(closed.stats?.verdicts.accept).toBe(1000);
    // The kernel lost nothing and the queue is gone after close().
    expect(ns.queueRow(1 + base)).toBeUndefined();
  });

  it('accepts odd and drops even datagrams: exactly the odd ones get through', async () => {
    queueUdpPort(7002 + base * 10, 2 + base);
    const consumer = await startQueueConsumer({ queues: 2 + base, policy: 'oddeven' });
    const delivered = countDelivered(ns, 7002 + base * 10);
    const odd = countDelivered(ns, 7002 + base * 10, { alternatives: ODD_SEQ });
    await sendUdp(ns, '127.0.0.1', 7002 + base * 10, { count: 200, rate: rateFor(kind, 4000) });
    expect(await delivered.waitFor(100)).toBe(100);
    const closed = await stopConsumer(consumer);
    expect(closed.stats?.verdicts.accept).toBe(100);
    expect(closed.stats?.verdicts.drop).toBe(100);
    // Every verdict given: nothing more arrives, and what arrived is the odd half.
    expect(delivered.pkts()).toBe(100);
    expect(odd.pkts()).toBe(100);
  });

  it('sets a mark with the verdict that a later -m mark rule counts', async () => {
    queueUdpPort(7003 + base * 10, 3 + base);
    // ACCEPT resumes at the next hook: count the mark in mangle POSTROUTING.
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(7003 + base * 10), '-m', 'mark', '--mark', '0x2a', '-m', 'comment', '--comment', `marked42-${kind}`);
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(7003 + base * 10), '-m', 'mark', '--mark', '0', '-m', 'comment', '--comment', `unmarked-${kind}`);
    const consumer = await startQueueConsumer({ queues: 3 + base, policy: 'mark', mark: 42 });
    const delivered = countDelivered(ns, 7003 + base * 10);
    await sendUdp(ns, '127.0.0.1', 7003 + base * 10, { count: 150, rate: rateFor(kind, 4000) });
    expect(await delivered.waitFor(150)).toBe(150);
    expect(ns.counter('mangle', 'POSTROUTING', `marked42-${kind}`).pkts).toBe(150);
    expect(ns.counter('mangle', 'POSTROUTING', `unmarked-${kind}`).pkts).toBe(0);
    await stopConsumer(consumer);
  });

  it('works the same over IPv6 (::1)', async () => {
    queueUdpPort(7004 + base * 10, 4 + base, 6);
    const consumer = await startQueueConsumer({ queues: 4 + base, policy: 'oddeven' });
    const delivered = countDelivered(ns, 7004 + base * 10, { family: 6 });
    const odd = countDelivered(ns, 7004 + base * 10, { family: 6, alternatives: ODD_SEQ });
    await sendUdp(ns, '::1', 7004 + base * 10, { family: 6, count: 300, rate: rateFor(kind, 4000) });
    expect(await delivered.waitFor(150)).toBe(150);
    const closed = await stopConsumer(consumer);
    expect(closed.stats?.received).toBe(300);
    expect(delivered.pkts()).toBe(150);
    expect(odd.pkts()).toBe(150);
  });

  it('rejects binding a queue another socket holds with a typed EBUSY error', async () => {
    const holder = await startQueueConsumer({ queues: 5 + base });
    const second = spawnConsumer(ns, { queues: 5 + base }, { env: { NFQUEUE_TRANSPORT: kind } });
    const line = await consumerOpened(second);
    expect(line.ready).toBeUndefined();
    expect(line.openError?.name).toBe('QueueKernelError');
    expect(line.openError?.code).toBe('EBUSY');
    expect(line.openError?.step).toBe('bind');
    expect(line.openError?.message).toMatch(new RegExp(`queue ${5 + base} is already bound`));
    expect((await second.waitForExit(5_000)).code).toBe(1);
    // The holder is untouched and still owns the queue.
    const row = ns.queueRow(5 + base);
    expect(row?.portid).toBe((holder.json<ConsumerLine>().find((j) => j.ready)?.portId));
    await stopConsumer(holder);
  });

  it('close() gives every waiting packet the default verdict and leaves none waiting', async () => {
    queueUdpPort(7006 + base * 10, 6 + base);
    const consumer = await startQueueConsumer({ queues: 6 + base, policy: 'hold' });
    const delivered = countDelivered(ns, 7006 + base * 10);
    await sendUdp(ns, '127.0.0.1', 7006 + base * 10, { count: 40 });
    // All 40 wait in the kernel for a verdict the callback never gives.
    for (let i = 0; i < 100 && (ns.queueRow(6 + base)?.waiting ?? 0) < 40; i++) await new Promise((r) => setTimeout(r, 50));
    expect(ns.queueRow(6 + base)?.waiting).toBe(40);
    expect(delivered.pkts()).toBe(0);
    const closed = await stopConsumer(consumer);
    expect(closed.stats?.verdicts.accept).toBe(40);
    expect(await delivered.waitFor(40, 10_000)).toBe(40);
    expect(ns.queueRow(6 + base)).toBeUndefined();
  });

  it('close() with default drop: every held packet is dropped, none gets through', async () => {
    queueUdpPort(7008 + base * 10, 8 + base);
    ns.iptables('-A', 'INPUT', '-p', 'udp', '--dport', String(7008 + base * 10), '-m', 'comment', '--comment', `in7008-${kind}`);
    const consumer = await startQueueConsumer({ queues: 8 + base, policy: 'hold', options: { defaultVerdict: 'drop' } });
    await sendUdp(ns, '127.0.0.1', 7008 + base * 10, { count: 25 });
    for (let i = 0; i < 100 && (ns.queueRow(8 + base)?.waiting ?? 0) < 25; i++) await new Promise((r) => setTimeout(r, 50));
    expect(ns.queueRow(8 + base)?.waiting).toBe(25);
    const closed = await stopConsumer(consumer);
    expect(closed.stats?.verdicts.drop).toBe(25);
    expect(ns.counter('filter', 'INPUT', `in7008-${kind}`).pkts).toBe(0);
  });

  it('a throwing callback costs only that packet its own verdict: default applied, queue lives on', async () => {
    queueUdpPort(7007 + base * 10, 7 + base);
    const consumer = await startQueueConsumer({ queues: 7 + base, policy: 'throw-every', every: 3 });
    const delivered = countDelivered(ns, 7007 + base * 10);
    await sendUdp(ns, '127.0.0.1', 7007 + base * 10, { count: 300, rate: rateFor(kind, 4000) });
    expect(await delivered.waitFor(300, 30_000)).toBe(300);
    const errors = (await consumerLines(consumer)).filter((j) => j.error !== undefined);
    expect(errors.length).toBe(100);
    expect(errors.every((e) => e.error?.name === 'CallbackError' && /policy throws/.test(e.error.message))).toBe(true);
    const closed = await stopConsumer(consumer);
    expect(closed.stats?.callbackErrors).toBe(100);
    expect(closed.stats?.verdicts.accept).toBe(300);
  });

  it('a rejecting async callback gets the default verdict too', async () => {
    queueUdpPort(7009 + base * 10, 9 + base);
    const consumer = await startQueueConsumer({ queues: 9 + base, policy: 'reject-every', every: 4, options: { defaultVerdict: 'drop' } });
    const delivered = countDelivered(ns, 7009 + base * 10);
    await sendUdp(ns, '127.0.0.1', 7009 + base * 10, { count: 200, rate: rateFor(kind, 4000) });
    // Callbacks 4, 8, … reject and their packets are dropped: 150 arrive.
    expect(await delivered.waitFor(150)).toBe(150);
    const closed = await stopConsumer(consumer);
    expect(delivered.pkts()).toBe(150);
    expect(closed.stats?.callbackErrors).toBe(50);
    expect(closed.stats?.verdicts.drop).toBe(50);
  });
});
