/**
 * for await iteration over a queue opened without a callback, on the in-memory kernel:
 * order, the answer methods, backpressure (the socket is paused at maxOutstanding and the
 * rest waits in the kernel), and leaving the loop (break, throw, abort, await using) gives
 * every unanswered packet the default verdict and closes the queue.
 */
import { describe, it, expect } from 'vitest';
import { openQueue } from '../../src/open-queue.js';
import { VerdictStateError, type QueuedPacket } from '../../src/index.js';
import { createTestQueue, udpPacket, TestKernel, type TestVerdict } from '../../src/testing/index.js';

const burst = (kit: Awaited<ReturnType<typeof createTestQueue>>, n: number): Promise<TestVerdict>[] =>
  Array.from({ length: n }, (_, i) => kit.send(udpPacket({ payload: `p${i}` }), { mark: i }));

describe('for await (const packet of queue)', () => {
  it('hands out packets in order; packet.accept/drop/verdict and setVerdict answer them', async () => {
    const kit = await createTestQueue();
    const sent = burst(kit, 8);
    const marks: number[] = [];
    for await (const p of kit.queue) {
      marks.push(p.mark!);
      if (p.mark! % 4 === 0) p.accept({ mark: 100 });
      else if (p.mark! % 4 === 1) p.drop();
      else if (p.mark! % 4 === 2) p.verdict({ verdict: 'repeat', mark: 5 });
      else kit.queue.setVerdict(p.queue, p.id, 'drop');
      expect(() => p.accept()).toThrow(VerdictStateError);
      if (marks.length === 8) break;
    }
    expect(marks).toEqual([0, 1, 2, 3, 4, 5, 6, 7]);
    const vs = await Promise.all(sent);
    expect(vs.map((v) => v.verdict)).toEqual(['accept', 'drop', 'repeat', 'drop', 'accept', 'drop', 'repeat', 'drop']);
    expect(vs[0]!.mark).toBe(100);
    expect(kit.queue.isClosed).toBe(true);
  });

  it('stops reading at maxOutstanding, so the rest waits in the kernel, and reads again as packets are answered', async () => {
    const kit = await createTestQueue({ maxOutstanding: 4 });
    const sent = burst(kit, 20);
    const held: QueuedPacket[] = [];
    const it = kit.queue[Symbol.asyncIterator]();
    for (let i = 0; i < 4; i++) held.push((await it.next()).value as QueuedPacket);
    expect(kit.queue.stats().pending).toBe(4);
    expect(kit.kernel.heldCount).toBe(16);
    // Answering two leaves 2 <= 4/2 outstanding: reading resumes, up to the bound again.
    held.shift()!.accept();
    held.shift()!.accept();
    await new Promise((r) => setImmediate(r));
    expect(kit.queue.stats().pending).toBe(4);
    expect(kit.kernel.heldCount).toBe(14);
    let answered = 2;
    for (const p of held) p.accept(), answered++;
    for await (const p of { [Symbol.asyncIterator]: () => it }) {
      p.drop();
      if (++answered === 20) break;
    }
    const vs = await Promise.all(sent);
    expect(vs.map((v) => v.id)).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    expect(vs.filter((v) => v.verdict === 'accept')).toHaveLength(4);
  });

  it('break in the middle of a burst: every unanswered packet, handed out or not, gets the default verdict', async () => {
    const kit = await createTestQueue({ maxOutstanding: 8, defaultVerdict: 'drop' });
    const sent = burst(kit, 50);
    let n = 0;
    for await (const p of kit.queue) {
      if (n++ % 2 === 0) p.accept();
      if (n === 12) break; // 6 answered, 6 handed out unanswered, the rest buffered or in the kernel
    }
    const vs = await Promise.all(sent);
    expect(vs.filter((v) => v.verdict === 'accept')).toHaveLength(6);
    expect(vs.filter((v) => v.verdict === 'drop')).toHaveLength(44);
    expect(kit.kernel.waitingCount).toBe(0);
    expect(kit.queue.isClosed).toBe(true);
    expect(kit.queue.stats()).toMatchObject({ received: 50, pending: 0 });
  });

  it('throw in the loop closes the queue and the error goes on', async () => {
    const kit = await createTestQueue();
    const sent = burst(kit, 3);
    await expect(
      (async () => {
        for await (const p of kit.queue) throw new Error(`bad packet ${p.id}`);
      })(),
    ).rejects.toThrow('bad packet 1');
    expect((await Promise.all(sent)).map((v) => v.verdict)).toEqual(['accept', 'accept', 'accept']);
    expect(kit.queue.isClosed).toBe(true);
  });

  it('an abort signal ends the loop; close() from elsewhere too', async () => {
    const ac = new AbortController();
    const kit = await createTestQueue({ signal: ac.signal });
    const sent = burst(kit, 2);
    const got: number[] = [];
    for await (const p of kit.queue) {
      got.push(p.id);
      if (got.length === 2) ac.abort();
    }
    expect(got).toEqual([1, 2]);
    expect((await Promise.all(sent)).map((v) => v.verdict)).toEqual(['accept', 'accept']);
    const kit2 = await createTestQueue();
    const loop = (async () => {
      for await (const p of kit2.queue) p.accept();
      return 'ended';
    })();
    setTimeout(() => void kit2.close(), 10);
    expect(await loop).toBe('ended');
  });

  it('a close from elsewhere ends the loop at once: buffered packets are not handed out, they get the default verdict', async () => {
    const kit = await createTestQueue({ defaultVerdict: 'drop' });
    const sent = burst(kit, 5);
    const got: number[] = [];
    for await (const p of kit.queue) {
      got.push(p.id);
      p.accept();
      void kit.close();
    }
    expect(got).toEqual([1]);
    expect((await Promise.all(sent)).map((v) => v.verdict)).toEqual(['accept', 'drop', 'drop', 'drop', 'drop']);
  });

  it('has a single reader, and a closed queue iterates to its end at once', async () => {
    const kit = await createTestQueue();
    const it = kit.queue[Symbol.asyncIterator]();
    expect(kit.queue[Symbol.asyncIterator]()).toBe(it);
    const first = it.next();
    await expect(it.next()).rejects.toThrow(/one next\(\) at a time/);
    const sent = kit.send(udpPacket());
    const p = (await first).value as QueuedPacket;
    p.drop();
    expect((await sent).verdict).toBe('drop');
    await kit.close();
    expect(await it.next()).toEqual({ value: undefined, done: true });
    for await (const _ of kit.queue) throw new Error('a closed queue hands out nothing');
  });

  it('await using closes the queue at the end of the scope', async () => {
    const kernel = new TestKernel();
    {
      await using queue = await openQueue(0, { transport: kernel });
      expect(kernel.queues.has(0)).toBe(true);
      expect(queue.isClosed).toBe(false);
    }
    expect(kernel.queues.has(0)).toBe(false);
    const kit = await createTestQueue(() => 'accept');
    await kit.queue[Symbol.asyncDispose]();
    expect(kit.queue.isClosed).toBe(true);
  });

  it('refuses to iterate a callback queue, and packet answers in callback mode', async () => {
    let error: unknown;
    await using kit = await createTestQueue((p) => {
      try {
        (p as QueuedPacket).accept(); // plain JavaScript can call it: the packet is a QueuedPacket
      } catch (e) {
        error = e;
      }
      return 'drop';
    });
    expect(() => kit.queue[Symbol.asyncIterator]()).toThrow(/opened with a callback/);
    expect((await kit.send(udpPacket())).verdict).toBe('drop');
    expect(error).toBeInstanceOf(VerdictStateError);
    await expect(openQueue(0, () => 'accept', { transport: new TestKernel(), maxOutstanding: 3 })).rejects.toThrow(/maxOutstanding/);
    await expect(openQueue(0, { transport: new TestKernel(), maxOutstanding: 0 })).rejects.toThrow(RangeError);
    await expect(openQueue(0, 'x' as never, {})).rejects.toThrow(/callback must be a function/);
  });
});
