/**
 * for await at its edges, over the test kit's kernel fed datagrams of many packets each (as
 * the native socket's batches are; injected, they arrive paused or not, as datagrams a read
 * already took in): maxOutstanding is a strict bound however large the burst already read,
 * held packets come out in order as room frees, the verdicts of a batch leave in one send,
 * answers given outside the loop's pace still leave, and a loop that leaves a packet
 * unanswered for long is reported once.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { openQueue } from '../../src/open-queue.js';
import type { Queue, UnansweredInfo } from '../../src/queue/queue.js';
import type { QueuedPacket } from '../../src/queue/queued-packet.js';
import { VerdictStateError } from '../../src/queue/errors.js';
import { concat } from '../support/bytes.js';
import { outputPacket } from '../support/kernel-packet.js';
import { TestKernel } from '../../src/testing/index.js';

const ACCEPT = 1;
const DROP = 0;

let nextId = 1;
/** Datagrams of up to 64 packet messages, `n` packets in all, ids counting up from nextId. */
function burst(n: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let done = 0; done < n; ) {
    const k = Math.min(64, n - done);
    out.push(concat(...Array.from({ length: k }, () => outputPacket(nextId++, new Uint8Array([0x45, 0, 0, 20])))));
    done += k;
  }
  return out;
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Pulls from `it` until a next() stays pending over a few event-loop turns; returns that next() (boxed, so it is not awaited). */
async function drainAvailable(it: AsyncIterator<QueuedPacket>, into: QueuedPacket[]): Promise<{ next: Promise<IteratorResult<QueuedPacket>> }> {
  for (;;) {
    const next = it.next();
    const r = await Promise.race([next, tick().then(tick).then(() => undefined)]);
    if (r === undefined || r.done === true) return { next };
    into.push(r.value);
  }
}

const queues: Queue[] = [];
afterEach(async () => {
  await Promise.all(queues.splice(0).map((q) => q.close()));
});

async function open(options: Parameters<typeof openQueue>[1] & object, kernel = new TestKernel()): Promise<{ q: Queue; kernel: TestKernel }> {
  const q = await openQueue(0, { transport: kernel, ...options });
  queues.push(q);
  return { q, kernel };
}

describe('maxOutstanding is a bound', () => {
  it.each([20, 200, 2000])('a burst of %i packets already read hands out exactly maxOutstanding to a loop that does not answer', async (n) => {
    const { q, kernel } = await open({ maxOutstanding: 4, unansweredWarning: 0 });
    const first = nextId;
    for (const d of burst(n)) kernel.inject(d);
    expect(kernel.isPaused).toBe(true); // the rest waits in the kernel from here on
    const it = q[Symbol.asyncIterator]();
    const got: QueuedPacket[] = [];
    const pending = await drainAvailable(it, got);
    expect(got.map((p) => p.id)).toEqual([first, first + 1, first + 2, first + 3]);
    expect(q.stats().pending).toBe(n);
    // Answer one: exactly one more comes out, the next in order.
    got[1]!.drop();
    const fifth = await pending.next;
    expect(fifth.value?.id).toBe(first + 4);
    const more: QueuedPacket[] = [];
    const pending2 = await drainAvailable(it, more);
    expect(more).toEqual([]);
    // Answer everything handed out, in any order, and keep going: all come out, in order.
    const seen = [first, first + 1, first + 2, first + 3, first + 4];
    for (const p of [got[3]!, got[0]!, got[2]!, fifth.value!]) p.accept();
    let r = await pending2.next;
    while (r.done !== true) {
      seen.push(r.value.id);
      r.value.accept();
      if (seen.length === n) break;
      r = await it.next();
    }
    expect(seen).toEqual(Array.from({ length: n }, (_, i) => first + i));
    await tick();
    const vs = kernel.verdicts;
    expect(vs).toHaveLength(n);
    expect(vs.filter((v) => v.word === DROP).map((v) => v.id)).toEqual([first + 1]);
    expect(kernel.isPaused).toBe(false);
    expect(q.stats().pending).toBe(0);
  });

  it('closes with every held and handed-out packet answered by the default verdict, in arrival order', async () => {
    const { q, kernel } = await open({ maxOutstanding: 4, defaultVerdict: 'drop', unansweredWarning: 0 });
    const first = nextId;
    for (const d of burst(300)) kernel.inject(d);
    const it = q[Symbol.asyncIterator]();
    const a = (await it.next()).value as QueuedPacket;
    const b = (await it.next()).value as QueuedPacket;
    b.accept();
    await it.return!();
    expect(() => a.accept()).toThrow(VerdictStateError);
    const vs = kernel.verdicts;
    expect(vs.map((v) => v.id)).toEqual([first + 1, first, ...Array.from({ length: 298 }, (_, i) => first + 2 + i)]);
    expect(vs.filter((v) => v.word === ACCEPT).map((v) => v.id)).toEqual([first + 1]);
  });

  it('setVerdict and batchVerdict answer held packets too; those are skipped when handing out', async () => {
    const { q, kernel } = await open({ maxOutstanding: 2, unansweredWarning: 0 });
    const first = nextId;
    for (const d of burst(10)) kernel.inject(d);
    const it = q[Symbol.asyncIterator]();
    const p1 = (await it.next()).value as QueuedPacket;
    q.setVerdict(0, first + 2, 'drop'); // held: never handed out
    q.batchVerdict(0, first + 4, 'accept'); // covers p1, first+1 (held) and first+3..4
    expect(() => p1.accept()).toThrow(VerdictStateError);
    const rest: number[] = [];
    for (let r = await it.next(); r.done !== true; r = await it.next()) {
      rest.push(r.value.id);
      r.value.accept();
      if (rest.length === 5) break;
    }
    expect(rest).toEqual([first + 5, first + 6, first + 7, first + 8, first + 9]);
    expect(q.stats().pending).toBe(0);
    await tick();
    expect(kernel.verdicts.filter((v) => !v.batch && v.word === DROP).map((v) => v.id)).toEqual([first + 2]);
  });

  it('keeps 3000 packets in order behind one it never answers (the answered ones behind it are compacted away)', async () => {
    const { q, kernel } = await open({ maxOutstanding: 64, unansweredWarning: 0 });
    const first = nextId;
    for (const d of burst(3000)) kernel.inject(d);
    const ids: number[] = [];
    let stuck: QueuedPacket | undefined;
    for await (const p of q) {
      ids.push(p.id);
      if (stuck === undefined) stuck = p;
      else p.accept();
      if (ids.length === 3000) break;
    }
    expect(ids).toEqual(Array.from({ length: 3000 }, (_, i) => first + i));
    expect(kernel.verdicts.map((v) => v.id)).toEqual([...ids.slice(1), first]);
  });
});

describe('verdictTimeout under for await', () => {
  it('gives the default verdict to handed-out and held packets past it, and reports each', async () => {
    const errors: Error[] = [];
    const { q, kernel } = await open({ maxOutstanding: 2, verdictTimeout: 30, defaultVerdict: 'drop', unansweredWarning: 0, onError: (e) => void errors.push(e) });
    const first = nextId;
    kernel.inject(burst(5)[0]!);
    const it = q[Symbol.asyncIterator]();
    const a = (await it.next()).value!;
    (await it.next()).value!.accept();
    const c = (await it.next()).value!; // room again after the accept
    await new Promise((r) => setTimeout(r, 80));
    expect(() => a.accept()).toThrow(VerdictStateError);
    expect(() => c.accept()).toThrow(VerdictStateError);
    expect(q.stats()).toMatchObject({ pending: 0, timedOut: 4 });
    expect(errors.map((e) => e.name)).toEqual(['VerdictTimeoutError', 'VerdictTimeoutError', 'VerdictTimeoutError', 'VerdictTimeoutError']);
    expect(errors[0]!.message).toContain(`packet ${first} on queue 0 waited 30 ms for its answer`);
    await tick();
    const vs = kernel.verdicts;
    expect(vs.map((v) => [v.id, v.word])).toEqual([
      [first + 1, ACCEPT],
      [first, DROP],
      [first + 2, DROP],
      [first + 3, DROP],
      [first + 4, DROP],
    ]);
  });
});

describe('verdicts leave in batches', () => {
  it('a loop answering a 64-packet datagram sends its 64 verdicts in one datagram', async () => {
    const { q, kernel } = await open({});
    const before = kernel.sent.length;
    let n = 0;
    const loop = (async () => {
      for await (const p of q) {
        p.accept();
        if (++n === 128) break;
      }
    })();
    kernel.inject(burst(64)[0]!);
    await tick();
    kernel.inject(burst(64)[0]!);
    await loop;
    const vs = kernel.verdicts.filter((v) => v.datagram >= before);
    expect(vs).toHaveLength(128);
    expect(new Set(vs.slice(0, 64).map((v) => v.datagram)).size).toBe(1);
    expect(new Set(vs.map((v) => v.datagram)).size).toBe(2);
  });

  it('answers given later, outside the loop, are sent within an event-loop turn', async () => {
    const { q, kernel } = await open({});
    const first = nextId;
    kernel.inject(burst(3)[0]!);
    const it = q[Symbol.asyncIterator]();
    const held = [(await it.next()).value!, (await it.next()).value!, (await it.next()).value!] as QueuedPacket[];
    void it.next(); // the loop waits for more
    await new Promise((r) => setTimeout(r, 5));
    held[2]!.drop();
    held[0]!.accept();
    await tick();
    expect(kernel.verdicts.map((v) => [v.id, v.word])).toEqual([
      [first + 2, DROP],
      [first, ACCEPT],
    ]);
  });
});

describe('a packet left unanswered', () => {
  it('is reported once, with an event, after unansweredWarning ms', async () => {
    const { q, kernel } = await open({ unansweredWarning: 40 });
    const first = nextId;
    kernel.inject(burst(3)[0]!);
    const events: UnansweredInfo[] = [];
    q.on('unanswered', (info: UnansweredInfo) => events.push(info));
    const it = q[Symbol.asyncIterator]();
    const a = (await it.next()).value!;
    (await it.next()).value!.accept();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, 30));
    expect(events).toEqual([]);
    while (events.length === 0 && performance.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
    expect(performance.now() - t0).toBeGreaterThanOrEqual(39);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ queue: 0, id: first, outstanding: 1 });
    expect(events[0]!.waitedMs).toBeGreaterThanOrEqual(40);
    await new Promise((r) => setTimeout(r, 120));
    expect(events).toHaveLength(1); // once
    a.accept();
  });

  it('without a listener, is a process warning with code NFQUEUE_UNANSWERED; a loop that answers raises none', async () => {
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on('warning', onWarning);
    try {
      const quick = await open({ unansweredWarning: 20 });
      const slow = await open({ unansweredWarning: 20 });
      for (const d of burst(200)) quick.kernel.inject(d);
      const slowFirst = nextId;
      slow.kernel.inject(burst(1)[0]!);
      let n = 0;
      for await (const p of quick.q) {
        p.accept();
        if (++n % 20 === 0) await new Promise((r) => setTimeout(r, 5));
        if (n === 200) break;
      }
      const it = slow.q[Symbol.asyncIterator]();
      await it.next();
      const t0 = performance.now();
      while (warnings.length === 0 && performance.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 5));
      expect(warnings).toHaveLength(1);
      expect((warnings[0] as Error & { code?: string }).code).toBe('NFQUEUE_UNANSWERED');
      expect(warnings[0]!.message).toContain(`packet ${slowFirst} on queue 0`);
    } finally {
      process.off('warning', onWarning);
    }
  });

  it('unansweredWarning is checked: an integer, and for iteration only', async () => {
    await expect(openQueue(0, { transport: new TestKernel(), unansweredWarning: -1 })).rejects.toThrow(RangeError);
    await expect(openQueue(0, () => 'accept', { transport: new TestKernel(), unansweredWarning: 10 })).rejects.toThrow(/for await iteration/);
  });
});
