/**
 * Mistakes a new user made, each answered with a message that names what it got and what
 * to do: a Promise of a queue used as the queue (a missing `await` in plain JavaScript), and
 * a verdict of `[promise]` from a callback, seen through the test kit as a user would.
 */
import { describe, it, expect } from 'vitest';
import { openQueue, CallbackError } from '../../src/index.js';
import { createTestQueue, udpPacket } from '../../src/testing/index.js';
import { TestKernel } from '../../src/testing/index.js';

describe('a missing await on openQueue', () => {
  it('for await over the Promise says to await it, not "is not async iterable"', async () => {
    const pending = openQueue(0, { transport: new TestKernel() });
    let err: unknown;
    try {
      for await (const packet of pending as unknown as AsyncIterable<unknown>) void packet;
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(TypeError);
    expect((err as Error).message).toBe('openQueue() returns a Promise of the Queue: await it first (const queue = await openQueue(...)), then iterate or use the queue');
    expect(() => (pending as unknown as { close(): void }).close()).toThrow(/await it first/);
    const queue = await pending; // the Promise itself is unharmed
    expect(typeof queue.close).toBe('function');
    await queue.close();
  });
});

describe('a verdict of [promise]', () => {
  it('is a CallbackError that says an array holding a Promise is not a verdict, and the packet gets the default', async () => {
    const kit = await createTestQueue(() => [Promise.resolve('drop')] as unknown as 'drop');
    try {
      const v = await kit.send(udpPacket({ dstPort: 53 }));
      expect(v.verdict).toBe('accept');
      expect(v.error).toBeInstanceOf(CallbackError);
      expect(v.error!.message).toMatch(/got an array of 1 \(a Promise\): return the Promise itself \(an async callback\), not an array holding it/);
      expect(v.error!.message).not.toMatch(/undefined/);
    } finally {
      await kit.close();
    }
  });
});
