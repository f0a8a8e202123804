// openQueuePool against the kernel, from the built package (dist/): queues 0..3 with
// `--queue-balance 0:3` on 2 workers, traffic from many 127.0.0.x sources (the balance hash
// covers addresses, not ports). Each worker serves its queues and the per-queue counts equal
// /proc's ids; a worker that dies comes back and packets flow again; close() under a flood
// loses nothing to the unbind.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { startPoolConsumer, type PoolConsumerConfig } from '../../support/consumer.js';
import { countDelivered, floodSummary, sendUdp, startFlood, type Child } from '../../support/netns.js';
import { promtoolCheck } from '../../support/promtool.js';

const ACCEPT = fileURLToPath(new URL('../../support/consumers/pool-handlers/accept.mjs', import.meta.url));
const GUARDED = fileURLToPath(new URL('../../support/consumers/pool-handlers/guarded.mjs', import.meta.url));
const SOURCES = Array.from({ length: 24 }, (_, i) => `127.0.0.${i + 2}`);

let ns: Ns;
beforeAll(() => {
  ns = new Ns('pool');
});
afterAll(async () => {
  await ns?.destroy();
});

async function startPool(config: PoolConsumerConfig): Promise<Child> {
  return startPoolConsumer(ns.netns, config);
}

async function stats(p: Child): Promise<Json> {
  const n = p.json<Json>().length;
  p.write('stats\n');
  await p.untilJson<Json>((lines) => lines.slice(n).some((j) => j.stats !== undefined));
  return p.json<Json>().slice(n).find((j) => j.stats !== undefined)!.stats as Json;
}

async function send(port: number, sources: string[], each: number): Promise<number> {
  return (await sendUdp(ns.netns, '127.0.0.1', port, { count: each, from: sources })).sent;
}

describe('openQueuePool', () => {
  it('4 queues on 2 workers: each worker serves its queues; per-queue counts equal /proc ids', async () => {
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '9501', '-m', 'comment', '--comment', 'bal1', '-j', 'NFQUEUE', '--queue-balance', '0:3');
    const p = await startPool({ queues: '0:3', workers: 2, handler: ACCEPT });
    expect(p.json<Json>().find((j) => j.ready)!.assignment).toEqual([
      [0, 2],
      [1, 3],
    ]);
    const delivered = countDelivered(ns.netns, 9501);
    expect(await send(9501, SOURCES, 3)).toBe(72);
    await eventually(() => delivered.pkts() === 72, 'delivered: 72');
    expect(ns.count('filter', 'OUTPUT', 'bal1')).toBe(72);

    const s = await stats(p);
    expect(s.received).toBe(72);
    expect(s.verdicts.accept).toBe(72);
    // The flows spread over several queues, and so over both workers.
    expect(s.queues.filter((q: Json) => q.received > 0).length).toBeGreaterThan(1);
    for (const q of s.queues) {
      expect(q.worker).toBe(q.queue % 2);
      expect(q.received).toBe(ns.row(q.queue)!.lastId);
      expect(q.verdicts.accept).toBe(q.received);
    }
    for (const w of s.workers) {
      expect(w.state).toBe('running');
      expect(w.threadId).toBeGreaterThan(0); // a worker thread, not the main thread
      const mine = s.queues.filter((q: Json) => q.worker === w.worker);
      expect(mine.map((q: Json) => q.queue)).toEqual(w.queues);
      expect(w.received).toBe(mine.reduce((a: number, q: Json) => a + q.received, 0));
    }
    expect(new Set(s.workers.map((w: Json) => w.threadId)).size).toBe(2);
    // Each worker holds its own sockets: four distinct port ids, none of them 0.
    expect(new Set(ns.queueRows().map((r) => r.portid)).size).toBe(4);

    // The same stats as Prometheus text, checked by promtool.
    p.write('metrics\n');
    const metrics = (await p.waitForJson<Json>((j) => j.metrics !== undefined)).metrics as string;
    expect(promtoolCheck(metrics)).toEqual({ status: 0, output: '' });
    for (const q of s.queues) expect(metrics).toContain(`nfqueue_packets_received_total{queue="${q.queue}",worker="${q.worker}"} ${q.received}\n`);
    expect(metrics).toMatch(/^nfqueue_pool_worker_up\{worker="1"\} 1$/m);

    p.write('close\n');
    const closed = (await p.waitForJson<Json>((j) => j.closed === true)).stats as Json;
    expect(closed.received).toBe(72);
    expect(closed.workers.map((w: Json) => w.state)).toEqual(['closed', 'closed']);
    await p.exited;
    expect(ns.queueRows().filter((r) => r.queue <= 3)).toEqual([]);
  });

  it("keeps a single queue's guarantees: a throwing or hanging callback gets the default verdict", async () => {
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '9505', '-j', 'NFQUEUE', '--queue-balance', '6:7');
    ns.ipt('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '9505', '-m', 'mark', '--mark', '0x7', '-m', 'comment', '--comment', 'default9505');
    const p = await startPool({ queues: '6:7', workers: 2, handler: GUARDED, options: { defaultVerdict: { verdict: 'accept', mark: 7 }, verdictTimeout: 200 } });
    const delivered = countDelivered(ns.netns, 9505);
    for (const [prefix, src] of [['boom;', '127.0.0.3'], ['hang;', '127.0.0.4'], ['fine;', '127.0.0.5']]) {
      expect((await sendUdp(ns.netns, '127.0.0.1', 9505, { count: 4, payloadPrefix: prefix!, bind: src! })).sent).toBe(4);
    }
    await eventually(() => delivered.pkts() === 12, 'delivered: all 12');
    const s = await stats(p);
    expect(s).toMatchObject({ received: 12, callbackErrors: 4, timedOut: 4, pending: 0 });
    expect(s.verdicts.accept).toBe(12);
    // The 8 that failed got the default verdict, with its mark.
    expect(ns.count('mangle', 'POSTROUTING', 'default9505')).toBe(8);
    // The callback errors reached the main thread too (names and messages kept).
    expect(p.json<Json>().filter((j) => j.error !== undefined).map((j) => j.error.name)).toContain('CallbackError');
    p.write('close\n');
    await p.waitForJson<Json>((j) => j.closed === true);
    await p.exited;
  });

  it('a worker that dies is restarted at once, rebinds its queues, and packets flow again', async () => {
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '9502', '-m', 'comment', '--comment', 'bal2', '-j', 'NFQUEUE', '--queue-balance', '0:3');
    const p = await startPool({ queues: [0, 1, 2, 3], workers: 2, handler: ACCEPT });
    const delivered = countDelivered(ns.netns, 9502);
    const before = new Map(ns.queueRows().map((r) => [r.queue, r.portid]));
    // The handler ends its worker thread (process.exit(7)) on a "die!" datagram.
    await sendUdp(ns.netns, '127.0.0.1', 9502, { count: 1, payloadPrefix: 'die!' });
    const exit = (await p.waitForJson<Json>((j) => j.workerExit !== undefined)).workerExit as Json;
    expect(exit.reason).toBe('exit code 7');
    const restart = (await p.waitForJson<Json>((j) => j.workerRestart !== undefined)).workerRestart as Json;
    expect(restart).toMatchObject({ worker: exit.worker, queues: exit.queues, restarts: 1 });
    // Back within a second (the first restart is immediate: starting a thread and binding).
    const gapMs = restart.at - exit.at;
    console.log(`pool worker restart gap: ${gapMs.toFixed(0)} ms`);
    expect(gapMs).toBeLessThan(1000);
    // Its queues are bound again (by new sockets, which may reuse a freed port id); the
    // other worker's are untouched.
    const after = new Map(ns.queueRows().map((r) => [r.queue, r.portid]));
    for (const q of [0, 1, 2, 3]) {
      expect(after.get(q)).toBeGreaterThan(0);
      if (!(exit.queues as number[]).includes(q)) expect(after.get(q)).toBe(before.get(q));
    }
    // Packets flow again, through every queue.
    expect(await send(9502, SOURCES, 2)).toBe(48);
    await eventually(() => delivered.pkts() === 48, 'delivered: 48 after the restart');
    const s = await stats(p);
    expect(s.received).toBe(48);
    const restarted = s.workers.find((w: Json) => w.worker === exit.worker);
    expect(restarted).toMatchObject({ state: 'running', restarts: 1 });
    expect(restarted.received).toBeGreaterThan(0);
    p.write('close\n');
    await p.waitForJson<Json>((j) => j.closed === true);
    await p.exited;
  });

  it("while a worker is down its queues are unbound: packets follow the rule's --queue-bypass", async () => {
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '9506', '-j', 'NFQUEUE', '--queue-balance', '8:9', '--queue-bypass');
    // restart: false keeps the gap open, so what happens in it can be seen.
    const p = await startPool({ queues: '8:9', workers: 2, handler: ACCEPT, restart: false });
    const delivered = countDelivered(ns.netns, 9506);
    await sendUdp(ns.netns, '127.0.0.1', 9506, { count: 1, payloadPrefix: 'die!' });
    const exit = (await p.waitForJson<Json>((j) => j.workerExit !== undefined)).workerExit as Json;
    const down = exit.queues[0] as number;
    const up = down === 8 ? 9 : 8;
    expect((await p.waitForJson<Json>((j) => j.error?.name === 'PoolWorkerError')).error.message).toMatch(/restarts are off/);
    expect(ns.row(down)).toBeUndefined();
    const idsBefore = ns.row(up)!.lastId;
    expect(await send(9506, SOURCES, 2)).toBe(48);
    // Every datagram arrives: through the live worker's queue, or past the unbound one.
    await eventually(() => delivered.pkts() === 48, 'delivered: 48');
    const s = await stats(p);
    const live = s.workers.find((w: Json) => w.state === 'running');
    expect(s.workers.find((w: Json) => w.worker === exit.worker).state).toBe('failed');
    expect(live.received).toBe(ns.row(up)!.lastId - idsBefore);
    expect(live.received).toBeGreaterThan(0);
    expect(live.received).toBeLessThan(48);
    p.write('close\n');
    await p.waitForJson<Json>((j) => j.closed === true);
    await p.exited;
  });

  it('gives up on a worker that keeps dying: an error event, not a restart loop', async () => {
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '9503', '-j', 'NFQUEUE', '--queue-balance', '4:5');
    const p = await startPool({ queues: '4:5', workers: 2, handler: ACCEPT, restart: { maxRestarts: 1 } });
    // A "die!" datagram from each of 8 sources reaches both queues, so both workers.
    const kill = async (): Promise<void> => {
      await sendUdp(ns.netns, '127.0.0.1', 9503, { count: 1, payloadPrefix: 'die!', from: SOURCES.slice(0, 8) });
    };
    await kill();
    await p.untilJson<Json>((lines) => lines.some((j) => j.workerRestart !== undefined));
    await kill();
    const err = (await p.waitForJson<Json>((j) => j.error?.name === 'PoolWorkerError')).error as Json;
    expect(err.message).toMatch(/is not restarted: it was restarted 1 time within 60000 ms and died again/);
    const s = await stats(p);
    expect(s.workers.some((w: Json) => w.state === 'failed')).toBe(true);
    p.write('close\n');
    await p.waitForJson<Json>((j) => j.closed === true);
    await p.exited;
  });

  it('close() under a flood: every queue drains before it unbinds; nothing is lost to the unbind', async () => {
    // --queue-bypass: once a queue is unbound, packets pass (and are counted) instead of vanishing.
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '9504', '-m', 'comment', '--comment', 'q9504', '-j', 'NFQUEUE', '--queue-balance', '0:3', '--queue-bypass');
    ns.ipt('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '9504', '-m', 'comment', '--comment', 'post9504');
    const p = await startPool({ queues: '0:3', workers: 2, handler: ACCEPT, options: { maxLen: 100000 } });
    const flood = startFlood(ns.netns, '127.0.0.1', 9504, { seconds: 20, from: SOURCES });
    // Let the flood reach every queue.
    await eventually(() => ns.queueRows().filter((r) => r.queue <= 3 && r.lastId > 2000).length === 4, 'flood reached all 4 queues', 30_000);
    p.write('close\n');
    const closed = (await p.waitForJson<Json>((j) => j.closed === true, 60_000)).stats as Json;
    flood.kill('SIGTERM');
    await floodSummary(flood);
    expect(ns.queueRows().filter((r) => r.queue <= 3)).toEqual([]);
    expect(closed.pending).toBe(0);
    expect(closed.verdicts.accept).toBe(closed.received);
    expect(closed.verdictErrors).toBe(0);
    expect(p.json<Json>().filter((j) => j.fatal !== undefined || j.workerExit !== undefined)).toEqual([]);
    // Kernel referee: every packet queued either went on (our verdicts, fail-open during the
    // drain, bypass after the unbind) or never reached a socket (user_dropped).
    const queued = ns.count('filter', 'OUTPUT', 'q9504');
    const passed = ns.count('mangle', 'POSTROUTING', 'post9504');
    expect(passed).toBeGreaterThanOrEqual(closed.received);
    expect(queued).toBe(passed + closed.userDropped);
    await p.exited;
  });
});
