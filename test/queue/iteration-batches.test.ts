/**
 * `for await (const batch of queue.batches())` on the test kit's kernel fed datagrams of
 * many packets (as the native socket's reads are): a waiting loop gets all the packets of
 * a read in one batch, in order; the verdicts of a batch leave in one send when the loop
 * asks for the next; maxOutstanding bounds every batch; a handed-out array never changes;
 * leaving the loop or closing the queue gives every unanswered packet the default verdict.
 * Also the iterator's array of packets, which both loops share: a loop that lags behind
 * keeps it near its live size.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openQueue } from '../../src/open-queue.js';
import type { Queue } from '../../src/queue/queue.js';
import type { QueuedPacket } from '../../src/queue/queued-packet.js';
import { VerdictStateError } from '../../src/queue/errors.js';
import { concat } from '../support/bytes.js';
import { outputPacket } from '../support/kernel-packet.js';
import { TestKernel, createTestQueue, udpPacket } from '../../src/testing/index.js';

const ACCEPT = 1;
const DROP = 0;

let nextId = 1;
/** One datagram of `n` packet messages, ids counting up from nextId. */
function datagram(n: number): Uint8Array {
  return concat(...Array.from({ length: n }, () => outputPacket(nextId++, new Uint8Array([0x45, 0, 0, 20]))));
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));
const ids = (batch: readonly QueuedPacket[]): number[] => batch.map((p) => p.id);
const range = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** The batch next() gives within a few event-loop turns, or 'pending'. */
async function within(next: Promise<IteratorResult<QueuedPacket[]>>): Promise<IteratorResult<QueuedPacket[]> | 'pending'> {
  return Promise.race([next, tick().then(tick).then(() => 'pending' as const)]);
}

const queues: Queue[] = [];
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close()));
});

async function open(options: Parameters<typeof openQueue>[1] & object = {}): Promise<{ q: Queue; kernel: TestKernel }> {
  const kernel = new TestKernel();
  const q = await openQueue(0, { transport: kernel, unansweredWarning: 0, ...options });
  queues.push(q);
  return { q, kernel };
}

describe('for await (const batch of queue.batches())', () => {
  it('a waiting loop gets every packet of a read in one batch, in order; their verdicts leave in one send', async () => {
    const { q, kernel } = await open();
    const first = nextId;
    const before = kernel.sent.length;
    const batches: number[][] = [];
    const loop = (async () => {
      for await (const batch of q.batches()) {
        batches.push(ids(batch));
        for (const p of batch) {
          if (p.id % 3 === 0) p.drop();
          else p.accept({ mark: 7 });
        }
        if (batches.flat().length === 100) break;
      }
    })();
    await tick();
    // Two datagrams read in one wake-up (as one recvmmsg brings them) make one batch.
    kernel.inject(datagram(40));
    kernel.inject(datagram(24));
    await tick();
    kernel.inject(datagram(36));
    await loop;
    expect(batches).toEqual([range(first, 64), range(first + 64, 36)]);
    const vs = kernel.verdicts.filter((v) => v.datagram >= before);
    expect(vs.map((v) => v.id)).toEqual(range(first, 100));
    expect(vs.filter((v) => v.word === DROP).map((v) => v.id)).toEqual(range(first, 100).filter((id) => id % 3 === 0));
    expect(vs.filter((v) => v.word === ACCEPT).every((v) => v.verdict.mark === 7)).toBe(true);
    // The first batch's 64 verdicts left together, when the loop asked for its second batch.
    expect(new Set(vs.slice(0, 64).map((v) => v.datagram)).size).toBe(1);
    expect(vs[64]!.datagram).not.toBe(vs[0]!.datagram);
    expect(q.isClosed).toBe(true);
  });

  it('at most maxOutstanding handed out: packets already read wait, and come out as answers make room', async () => {
    const { q, kernel } = await open({ maxOutstanding: 4 });
    const first = nextId;
    kernel.inject(datagram(50));
    expect(kernel.isPaused).toBe(true); // the rest would wait in the kernel
    const it = q.batches();
    const a = (await it.next()).value as QueuedPacket[];
    expect(ids(a)).toEqual(range(first, 4));
    const pending = it.next();
    expect(await within(pending)).toBe('pending'); // 4 handed out, none answered: nothing more
    a[2]!.accept();
    a[0]!.drop();
    const b = await pending;
    expect(ids(b.value as QueuedPacket[])).toEqual([first + 4, first + 5]);
    for (const p of [a[1]!, a[3]!, ...(b.value as QueuedPacket[])]) p.accept();
    const c = (await it.next()).value as QueuedPacket[];
    expect(ids(c)).toEqual(range(first + 6, 4));
    for (const p of c) p.accept();
    // Keep going to the end of the burst: every packet once, in order.
    const seen = [...ids(a), ...ids(b.value as QueuedPacket[]), ...ids(c)];
    while (seen.length < 50) {
      const r = await it.next();
      expect((r.value as QueuedPacket[]).length).toBeLessThanOrEqual(4);
      for (const p of r.value as QueuedPacket[]) {
        seen.push(p.id);
        p.accept();
      }
    }
    expect(seen).toEqual(range(first, 50));
    await tick();
    expect(kernel.verdicts.filter((v) => v.word === DROP).map((v) => v.id)).toEqual([first]);
    expect(kernel.verdicts).toHaveLength(50);
    expect(q.stats().pending).toBe(0);
    expect(kernel.isPaused).toBe(false);
  });

  it('a batch answered concurrently (Promise.all over lookups that take time): every verdict is sent, the loop goes on', async () => {
    const { q, kernel } = await open();
    const first = nextId;
    const lookup = (p: QueuedPacket): Promise<'accept' | 'drop'> => new Promise((r) => setTimeout(() => r(p.id % 2 === 0 ? 'drop' : 'accept'), 5 + (p.id % 3)));
    let answered = 0;
    const loop = (async () => {
      for await (const batch of q.batches()) {
        await Promise.all(batch.map(async (p) => p.verdict(await lookup(p))));
        answered += batch.length;
        if (answered === 20) break;
      }
    })();
    await tick();
    kernel.inject(datagram(12));
    await new Promise((r) => setTimeout(r, 2));
    kernel.inject(datagram(8));
    await loop;
    const vs = kernel.verdicts.filter((v) => v.id >= first);
    expect(vs.map((v) => v.id).sort((a, b) => a - b)).toEqual(range(first, 20));
    expect(vs.filter((v) => v.word === DROP).map((v) => v.id).sort((a, b) => a - b)).toEqual(range(first, 20).filter((id) => id % 2 === 0));
    expect(q.stats()).toMatchObject({ received: 20, pending: 0 });
  });

  it('a batch handed out never changes, whatever arrives after', async () => {
    const { q, kernel } = await open();
    const first = nextId;
    kernel.inject(datagram(3));
    const it = q.batches();
    const a = (await it.next()).value as QueuedPacket[];
    kernel.inject(datagram(5));
    await tick();
    expect(ids(a)).toEqual(range(first, 3));
    const pending = it.next(); // flushes a's verdicts (none yet) and takes the 5 held
    const b = (await pending).value as QueuedPacket[];
    expect(ids(b)).toEqual(range(first + 3, 5));
    for (const p of [...a, ...b]) p.accept();
    const c = it.next();
    kernel.inject(datagram(2));
    const cv = (await c).value as QueuedPacket[];
    kernel.inject(datagram(2));
    await tick();
    expect(ids(cv)).toEqual(range(first + 8, 2));
  });

  it('break with packets unanswered, in the batch and still held: each gets the default verdict, the queue closes', async () => {
    const { q, kernel } = await open({ maxOutstanding: 8, defaultVerdict: 'drop' });
    const first = nextId;
    kernel.inject(datagram(30));
    for await (const batch of q.batches()) {
      batch[0]!.accept();
      batch[5]!.accept();
      break;
    }
    expect(q.isClosed).toBe(true);
    const vs = kernel.verdicts;
    expect(vs).toHaveLength(30);
    expect(vs.filter((v) => v.word === ACCEPT).map((v) => v.id)).toEqual([first, first + 5]);
    expect(kernel.waitingCount).toBe(0);
  });

  it('throw in the loop closes the queue and the error goes on; a close from elsewhere ends the loop', async () => {
    const kit = await createTestQueue();
    const sent = [kit.send(udpPacket()), kit.send(udpPacket())];
    await expect(
      (async () => {
        for await (const batch of kit.queue.batches()) throw new Error(`bad batch of ${batch.length}`);
      })(),
    ).rejects.toThrow(/bad batch of [12]/);
    expect((await Promise.all(sent)).map((v) => v.verdict)).toEqual(['accept', 'accept']);
    expect(kit.queue.isClosed).toBe(true);

    const kit2 = await createTestQueue();
    const loop = (async () => {
      let n = 0;
      for await (const batch of kit2.queue.batches()) n += batch.length;
      return n;
    })();
    setTimeout(() => void kit2.close(), 10);
    expect(await loop).toBe(0);
  });

  it('setVerdict and batchVerdict answer held packets, which are then left out of batches', async () => {
    const { q, kernel } = await open({ maxOutstanding: 2 });
    const first = nextId;
    kernel.inject(datagram(10));
    const it = q.batches();
    const a = (await it.next()).value as QueuedPacket[];
    expect(ids(a)).toEqual([first, first + 1]);
    q.setVerdict(0, first + 2, 'drop');
    q.batchVerdict(0, first + 4, 'accept'); // a's two, first+3 and first+4
    expect(() => a[0]!.accept()).toThrow(VerdictStateError);
    const rest: number[] = [];
    while (rest.length < 5) {
      for (const p of (await it.next()).value as QueuedPacket[]) {
        rest.push(p.id);
        p.accept();
      }
    }
    expect(rest).toEqual(range(first + 5, 5));
    expect(q.stats().pending).toBe(0);
  });

  it('has a single reader: one batches() per queue, one next() at a time, not beside a packet loop', async () => {
    const { q, kernel } = await open();
    const it = q.batches();
    expect(q.batches()).toBe(it);
    const waiting = it.next();
    await expect(it.next()).rejects.toThrow(/one next\(\) at a time/);
    await expect(q[Symbol.asyncIterator]().next()).rejects.toThrow(/one next\(\) at a time/);
    kernel.inject(datagram(1));
    expect((await waiting).value).toHaveLength(1);
    const cb = await openQueue(1, () => 'accept', { transport: new TestKernel() });
    queues.push(cb);
    expect(() => cb.batches()).toThrow(/opened with a callback/);
  });

  it('a packet loop and a batch loop may take turns on one queue', async () => {
    const { q, kernel } = await open();
    const first = nextId;
    kernel.inject(datagram(4));
    const one = (await q[Symbol.asyncIterator]().next()).value as QueuedPacket;
    const rest = (await q.batches().next()).value as QueuedPacket[];
    expect([one.id, ...ids(rest)]).toEqual(range(first, 4));
  });

  it('a loop that always keeps one packet back does not grow the iterator array of packets without bound', async () => {
    const { q, kernel } = await open({ maxOutstanding: 64 });
    const first = nextId;
    // White box: the iterator's arrival array (see packet-iterator.ts), whose answered head
    // is dropped from time to time.
    const arrivals = (): number => (q as unknown as { iteration: { arrivals: unknown[] } }).iteration.arrivals.length;
    let lengthMax = 0;
    let previous: QueuedPacket | undefined;
    const seen: number[] = [];
    const it = q[Symbol.asyncIterator]();
    for (let d = 0; d < 100; d++) {
      kernel.inject(datagram(50));
      for (let i = 0; i < 50; i++) {
        const p = (await it.next()).value as QueuedPacket;
        seen.push(p.id);
        previous?.accept();
        previous = p;
        lengthMax = Math.max(lengthMax, arrivals());
      }
    }
    previous!.accept();
    expect(seen).toEqual(range(first, 5000));
    expect(lengthMax).toBeGreaterThan(1000); // it did grow past the threshold…
    expect(lengthMax).toBeLessThan(2200); // …and was cut back each time
    await tick();
    expect(kernel.verdicts).toHaveLength(5000);
    expect(arrivals()).toBe(0);
  });
});
