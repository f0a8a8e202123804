/**
 * Edges of for await iteration on the in-memory kernel: thousands of buffered packets come
 * out in order across the buffer's compaction, and iterator.throw() settles only once the
 * queue is closed (every unanswered packet answered, the queue unbound).
 */
import { describe, it, expect } from 'vitest';
import type { QueuedPacket } from '../../src/index.js';
import { createTestQueue, udpPacket, type TestVerdict } from '../../src/testing/index.js';

const burst = (kit: Awaited<ReturnType<typeof createTestQueue>>, from: number, n: number): Promise<TestVerdict>[] =>
  Array.from({ length: n }, (_, i) => kit.send(udpPacket({ payload: `p${from + i}` }), { mark: from + i }));

describe('for await edges', () => {
  it('3,000 buffered packets, read while more arrive, come out in order, each once', async () => {
    await using kit = await createTestQueue({ maxOutstanding: 10_000 });
    const sent = burst(kit, 0, 3000);
    const it = kit.queue[Symbol.asyncIterator]();
    const marks: number[] = [];
    const take = async (n: number): Promise<void> => {
      for (let i = 0; i < n; i++) {
        const p = (await it.next()).value as QueuedPacket;
        marks.push(p.mark!);
        if (p.mark! % 2 === 0) p.accept();
        else p.drop();
      }
    };
    // Past the compaction threshold (1,024 read and more than half the buffer), then more arrive.
    await take(1700);
    sent.push(...burst(kit, 3000, 1000));
    await take(1299);
    sent.push(...burst(kit, 4000, 5));
    await take(1006);
    expect(marks).toEqual(Array.from({ length: 4005 }, (_, i) => i));
    const verdicts = await Promise.all(sent);
    expect(verdicts.map((v) => v.id)).toEqual(Array.from({ length: 4005 }, (_, i) => i + 1));
    expect(verdicts.every((v, i) => v.verdict === (i % 2 === 0 ? 'accept' : 'drop'))).toBe(true);
    expect(kit.queue.stats().pending).toBe(0);
  });

  it('iterator.throw() settles after the queue closed: the unanswered packets have their verdicts', async () => {
    const kit = await createTestQueue({ defaultVerdict: 'drop' });
    const sent = burst(kit, 0, 5);
    const it = kit.queue[Symbol.asyncIterator]();
    const first = (await it.next()).value as QueuedPacket;
    first.accept();
    const boom = new Error('boom');
    // What is true the moment throw() settles: the close had finished, unbound, nothing waiting.
    const atSettle = await it.throw!(boom).then(
      () => 'resolved',
      (e: unknown) => ({ error: e, bound: kit.kernel.queues.has(0), waiting: kit.kernel.waitingCount }),
    );
    expect(atSettle).toEqual({ error: boom, bound: false, waiting: 0 });
    expect(kit.queue.isClosed).toBe(true);
    expect((await Promise.all(sent)).map((v) => v.verdict)).toEqual(['accept', 'drop', 'drop', 'drop', 'drop']);
    expect(await it.next()).toEqual({ value: undefined, done: true });
  });
});
