/**
 * for await iteration against the kernel: a consumer child (test/support/consumers/consumer.mjs, `iterate`)
 * iterates a queue in this file's namespace, an iptables-legacy NFQUEUE rule queues UDP to
 * 127.0.0.1. Order is kept and every packet answered; while the loop holds maxOutstanding
 * packets the socket is not read and the rest waits in the kernel; a break in the middle of
 * the burst gives every packet the default verdict and leaves nothing waiting. The packet
 * loop and the batch loop (`queue.batches()`) both.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { countDelivered, createNetns, sendUdp, type Netns, type Child } from '../support/netns.js';
import { startConsumer } from '../support/consumer.js';
let ns: Netns;

beforeAll(() => {
  ns = createNetns('iter');
});
afterAll(async () => {
  await ns?.destroy();
});

interface Line {
  ready?: boolean;
  batchSizes?: number[];
  transport?: string;
  holding?: number;
  closed?: boolean;
  closedQueue?: boolean;
  held?: number;
  seqs?: number[];
  ids?: number[];
  stats?: { received: number; pending: number; verdicts: Record<string, number> };
  error?: { message: string };
}

type Loop = true | 'batches';

async function start(queue: number, transport: string, policy: 'oddeven' | 'hold', options: { maxOutstanding: number; maxLen?: number }, loop: Loop = true): Promise<Child> {
  const c = await startConsumer(
    ns,
    {
      queues: queue,
      iterate: loop,
      policy,
      options: {
        // Held packets stay in the socket's receive buffer: make room for the test's burst.
        receiveBufferSize: 8 << 20,
        // The test's datagrams are small. A short copy range keeps the netlink package's
        // socket, whose queue is bounded to what its receive buffer holds, able to hold the
        // whole burst.
        copyRange: 1024,
        ...options,
      },
    },
    { env: { NFQUEUE_TRANSPORT: transport } },
  );
  expect(c.json<Line>().find((j) => j.ready)?.transport).toBe(transport);
  return c;
}

function queueUdpPort(port: number, queue: number): void {
  ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue));
}

describe.each([
  ['native', 0, true],
  ['netlink', 10, true],
  ['native', 20, 'batches'],
] as const)('for await over a kernel queue (%s transport, loop %s)', (transport, base, loop) => {
  it('keeps the order and answers every packet from the loop', async () => {
    const port = 7300 + base;
    queueUdpPort(port, 1 + base);
    const c = await start(1 + base, transport, 'oddeven', { maxOutstanding: 16 }, loop);
    const delivered = countDelivered(ns, port);
    expect((await sendUdp(ns, '127.0.0.1', port, { count: 1000, rate: 5000 })).sent).toBe(1000);
    expect(await delivered.waitFor(500, 30_000)).toBe(500);
    c.kill('SIGTERM');
    const end = await c.waitForJson<Line>((j) => j.closed === true, 15_000);
    expect((await c.waitForExit(5_000)).code).toBe(0);
    expect(end.seqs).toEqual(Array.from({ length: 1000 }, (_, i) => i));
    expect(end.ids).toEqual(Array.from({ length: 1000 }, (_, i) => i + 1));
    if (loop === 'batches') {
      expect(end.batchSizes!.reduce((s, x) => s + x, 0)).toBe(1000);
      expect(Math.max(...end.batchSizes!)).toBeLessThanOrEqual(16);
    }
    expect(end.stats).toMatchObject({ received: 1000, pending: 0, verdicts: { accept: 500, drop: 500 } });
    expect(delivered.pkts()).toBe(500);
    expect(ns.queueRow(1 + base)).toBeUndefined();
  });

  it('break in the middle of a burst: the held packets and those still in the kernel get the default verdict, none left waiting', async () => {
    const port = 7301 + base;
    const queue = 2 + base;
    const max = 32;
    queueUdpPort(port, queue);
    const c = await start(queue, transport, 'hold', { maxOutstanding: max }, loop);
    // Accepted packets are counted in a later hook (a UDP sink would drop some of a burst
    // this sudden, overflowing its socket buffer).
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', `passed${port}`);
    // Four sockets: a socket's queued datagrams count against its send buffer until answered,
    // so one socket would block after ~250 of them.
    expect((await sendUdp(ns, '127.0.0.1', port, { count: 100, rate: 20_000, from: Array(4).fill('127.0.0.1') })).sent).toBe(400);
    // Every datagram is queued and none answered: they wait in the kernel or in the loop.
    await waitFor(() => ns.queueRow(queue)?.waiting === 400, () => JSON.stringify(ns.queueRow(queue)));
    c.kill('SIGUSR1');
    const holding = (await c.waitForJson<Line>((j) => j.holding !== undefined, 10_000)).holding!;
    // maxOutstanding is a bound: the native socket pauses there (what it read beyond waits in
    // the library); the netlink package's socket cannot pause and reads everything, which
    // waits in the library too.
    expect(holding).toBe(max);
    expect(ns.counter('mangle', 'POSTROUTING', `passed${port}`).pkts).toBe(0);
    // Accept the held packets, then break at the next one: the rest of the burst is still
    // queued, and gets the default verdict (accept) from the loop's close.
    c.kill('SIGUSR2');
    // The loop breaks at its next packet: one held in the library (the netlink socket read
    // every queued packet already) or, for the paused native socket, still in the kernel.
    const end = await c.waitForJson<Line>((j) => j.closed === true, 20_000);
    expect(end.closedQueue).toBe(true);
    expect((await c.waitForExit(5_000)).code).toBe(0);
    // The loop breaks at its next packet: the first of the next batch, for a batch loop.
    expect(end.seqs).toHaveLength(max + 1);
    expect(ns.counter('mangle', 'POSTROUTING', `passed${port}`).pkts, JSON.stringify(end.stats)).toBe(400);
    expect(end.stats).toMatchObject({ pending: 0, verdicts: { drop: 0 } });
    if (transport === 'netlink') expect(end.stats).toMatchObject({ received: 400, verdicts: { accept: 400 } });
    expect(ns.queueRow(queue)).toBeUndefined();
  });
});

describe('maxOutstanding against kernel bursts (native transport)', () => {
  it.each([
    [20, true],
    [200, true],
    [2000, true],
    [2000, 'batches'],
  ] as const)('a loop that answers nothing gets exactly maxOutstanding (4) of a %i-datagram burst (loop %s)', async (n, loop) => {
    const port = 7400 + n / 10 + (loop === 'batches' ? 1 : 0);
    const queue = 30 + String(n).length + (loop === 'batches' ? 5 : 0);
    queueUdpPort(port, queue);
    const c = await start(queue, 'native', 'hold', { maxOutstanding: 4, maxLen: 4096 }, loop);
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', `passed${port}`);
    // Several sockets: a socket's queued datagrams count against its send buffer until answered.
    const sockets = Math.ceil(n / 200);
    expect((await sendUdp(ns, '127.0.0.1', port, { count: n / sockets, rate: 50_000, from: Array(sockets).fill('127.0.0.1') })).sent).toBe(n);
    await waitFor(() => ns.queueRow(queue)?.waiting === n, () => JSON.stringify(ns.queueRow(queue)));
    // Let the socket deliver what it will: a few receive turns.
    await new Promise((r) => setTimeout(r, 300));
    c.kill('SIGUSR1');
    expect((await c.waitForJson<Line>((j) => j.holding !== undefined, 10_000)).holding).toBe(4);
    expect(ns.queueRow(queue)).toMatchObject({ waiting: n, userDropped: 0 });
    expect(ns.counter('mangle', 'POSTROUTING', `passed${port}`).pkts).toBe(0);
    // Closing gives every packet, handed out, held or in the kernel, the default verdict.
    c.kill('SIGTERM');
    const end = await c.waitForJson<Line>((j) => j.closed === true, 20_000);
    expect((await c.waitForExit(5_000)).code).toBe(0);
    expect(end.seqs).toHaveLength(4);
    expect(ns.counter('mangle', 'POSTROUTING', `passed${port}`).pkts).toBe(n);
    // The loop ends as the close begins (its stats are taken then); the close answers what
    // the library holds and drains the rest from the kernel (close-drain.ts): every packet
    // passed, as counted above, and nothing waits.
    expect(end.stats).toMatchObject({ verdicts: { drop: 0 } });
    expect(end.stats!.received).toBeGreaterThanOrEqual(4);
    expect(ns.queueRow(queue)).toBeUndefined();
  });
});

async function waitFor(cond: () => boolean, state: () => string, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`condition not met in time: ${state()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
