/**
 * Bad arguments: each is a TypeError or RangeError that names the argument, thrown (or
 * rejected) before anything reaches the kernel. The test kit's kernel proves "before
 * anything": it keeps every datagram sent, and for openQueue() it is not even started.
 */
import { describe, it, expect, vi } from 'vitest';
import { openQueue, accept, requeue, VerdictStateError } from '../../src/index.js';
import { normalizeVerdict, MAX_VERDICT_PAYLOAD } from '../../src/nfqueue/index.js';
import { TestKernel } from '../../src/testing/index.js';
import { outputPacket } from '../support/kernel-packet.js';

const cb = (): 'accept' => 'accept';

type Bad = [label: string, call: (t: TestKernel) => Promise<unknown>, type: typeof TypeError | typeof RangeError, names: RegExp];

const bad: Bad[] = [
  ['queue -1', (t) => openQueue(-1, cb, { transport: t }), RangeError, /queue number/],
  ['queue 65536', (t) => openQueue(65536, cb, { transport: t }), RangeError, /queue number.*0\.\.65535/],
  ['queue 1.5', (t) => openQueue(1.5, cb, { transport: t }), RangeError, /queue number/],
  // A newcomer's mistake: named as a string, with what to pass instead (not "got 1").
  ['queue "1"', (t) => openQueue('1' as unknown as number, cb, { transport: t }), TypeError, /^queue number must be a number, got the string "1": pass 1 \(e\.g\. Number\(process\.argv\[2\]\)\)$/],
  ['queue "x"', (t) => openQueue('x' as unknown as number, cb, { transport: t }), RangeError, /^queue number must be an integer in 0\.\.65535, got the string "x"$/],
  ['queue NaN', (t) => openQueue(NaN, cb, { transport: t }), RangeError, /queue number/],
  ['no queues', (t) => openQueue([], cb, { transport: t }), RangeError, /queue number/],
  ['queues repeated', (t) => openQueue([1, 1], cb, { transport: t }), RangeError, /queue numbers must be distinct/],
  ['callback missing', (t) => openQueue(0, undefined as unknown as typeof cb, { transport: t }), TypeError, /callback/],
  ['options null', () => openQueue(0, cb, null as unknown as object), TypeError, /options/],
  ['options a string', () => openQueue(0, cb, 'fast' as unknown as object), TypeError, /options/],
  ['copyMode', (t) => openQueue(0, cb, { transport: t, copyMode: 'all' as 'packet' }), RangeError, /copy mode/],
  ['copyRange 65536', (t) => openQueue(0, cb, { transport: t, copyRange: 65536 }), RangeError, /copyRange/],
  ['copyRange -1', (t) => openQueue(0, cb, { transport: t, copyRange: -1 }), RangeError, /copyRange/],
  ['copyRange "100"', (t) => openQueue(0, cb, { transport: t, copyRange: '100' as unknown as number }), RangeError, /copyRange/],
  ['maxLen 0', (t) => openQueue(0, cb, { transport: t, maxLen: 0 }), RangeError, /maxLen/],
  ['maxLen 2^32', (t) => openQueue(0, cb, { transport: t, maxLen: 2 ** 32 }), RangeError, /maxLen/],
  ['receiveBufferSize "8M"', (t) => openQueue(0, cb, { transport: t, receiveBufferSize: '8M' as unknown as number }), RangeError, /receiveBufferSize/],
  ['receiveBufferSize 0', (t) => openQueue(0, cb, { transport: t, receiveBufferSize: 0 }), RangeError, /receiveBufferSize/],
  ['requestTimeout -5', (t) => openQueue(0, cb, { transport: t, requestTimeout: -5 }), RangeError, /requestTimeout/],
  ['verdictTimeout 0', (t) => openQueue(0, cb, { transport: t, verdictTimeout: 0 }), RangeError, /verdictTimeout/],
  ['verdictTimeout Infinity', (t) => openQueue(0, cb, { transport: t, verdictTimeout: Infinity }), RangeError, /verdictTimeout/],
  ['maxInFlight 0', (t) => openQueue(0, cb, { transport: t, maxInFlight: 0 }), RangeError, /maxInFlight/],
  ['flags a number', (t) => openQueue(0, cb, { transport: t, flags: 1 as unknown as object }), TypeError, /flags/],
  ['flags value not boolean', (t) => openQueue(0, cb, { transport: t, flags: { failOpen: 'yes' as unknown as boolean } }), TypeError, /flags\.failOpen/],
  ['flags unknown name', (t) => openQueue(0, cb, { transport: t, flags: { failopen: true } as object }), TypeError, /flags\.failopen/],
  ['defaultVerdict', (t) => openQueue(0, cb, { transport: t, defaultVerdict: 'pass' as 'accept' }), RangeError, /verdict 'pass'/],
  ['defaultVerdict mark', (t) => openQueue(0, cb, { transport: t, defaultVerdict: { verdict: 'accept', mark: 2 ** 32 } }), RangeError, /mark/],
  ['onError', (t) => openQueue(0, cb, { transport: t, onError: 'log' as unknown as () => void }), TypeError, /onError/],
  ['signal', (t) => openQueue(0, cb, { transport: t, signal: {} as AbortSignal }), TypeError, /signal/],
  ['keepAlive', (t) => openQueue(0, cb, { transport: t, keepAlive: 'no' as unknown as boolean }), TypeError, /keepAlive/],
  ['transport', () => openQueue(0, cb, { transport: 42 as unknown as TestKernel }), TypeError, /transport/],
  ['record', (t) => openQueue(0, cb, { transport: t, record: 7 as unknown as string }), TypeError, /record/],
];

describe('bad arguments to openQueue(): typed errors naming the argument, nothing sent', () => {
  it.each(bad)('%s', async (_label, call, type, names) => {
    const t = new TestKernel();
    const start = vi.spyOn(t, 'start');
    const err = await call(t).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toMatch(names);
    expect(t.sent).toEqual([]);
    expect(start).not.toHaveBeenCalled();
  });
});

describe('bad verdicts: typed errors naming the field', () => {
  const cases: [string, () => unknown, typeof TypeError | typeof RangeError, RegExp][] = [
    ['unknown name', () => normalizeVerdict('acept'), RangeError, /unknown verdict 'acept'/],
    ['not a verdict', () => normalizeVerdict(42), TypeError, /verdict must be/],
    ['unknown name in an object', () => normalizeVerdict({ verdict: 'pass' }), RangeError, /unknown verdict "pass"/],
    ['mark -1', () => normalizeVerdict(accept({ mark: -1 })), RangeError, /mark/],
    ['mark 2^32', () => normalizeVerdict(accept({ mark: 2 ** 32 })), RangeError, /mark/],
    ['mark 1.5', () => normalizeVerdict(accept({ mark: 1.5 })), RangeError, /mark/],
    ['priority', () => normalizeVerdict(accept({ priority: -1 })), RangeError, /priority/],
    ['requeue target', () => normalizeVerdict(requeue(65536)), RangeError, /requeue target queue/],
    ['payload too large', () => normalizeVerdict(accept({ payload: new Uint8Array(MAX_VERDICT_PAYLOAD + 1) })), RangeError, /payload of \d+ bytes exceeds/],
    ['payload not bytes', () => normalizeVerdict(accept({ payload: 'abc' as unknown as Uint8Array })), TypeError, /payload/],
  ];
  it.each(cases)('%s', (_l, call, type, names) => {
    let err: unknown;
    try {
      call();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(type);
    expect((err as Error).message).toMatch(names);
  });

  it('the largest payload the protocol allows is accepted', () => {
    expect(normalizeVerdict(accept({ payload: new Uint8Array(MAX_VERDICT_PAYLOAD) })).payload?.length).toBe(MAX_VERDICT_PAYLOAD);
  });
});

describe('bad arguments to a live queue: refused, nothing sent, the packet still pending', () => {
  it('setVerdict / batchVerdict', async () => {
    const t = new TestKernel();
    let resolve: ((v: 'drop') => void) | undefined;
    const q = await openQueue(3, () => new Promise<'drop'>((r) => (resolve = r)), { transport: t, keepAlive: false });
    t.inject(outputPacket(17, new Uint8Array(20), { queue: 3 }));
    const sentBefore = t.sent.length;
    expect(q.stats().pending).toBe(1);
    expect(() => q.setVerdict(3, 17, 'acept' as 'accept')).toThrow(RangeError);
    expect(() => q.setVerdict(3, 17, accept({ mark: 2 ** 32 }))).toThrow(/mark/);
    expect(() => q.setVerdict(3, 17, accept({ payload: new Uint8Array(MAX_VERDICT_PAYLOAD + 1) }))).toThrow(/payload/);
    expect(() => q.setVerdict(70_000, 17, 'accept')).toThrow(RangeError);
    expect(() => q.setVerdict(3, 18, 'accept')).toThrow(VerdictStateError); // never seen
    expect(() => q.batchVerdict(3, -1, 'accept')).toThrow(RangeError);
    expect(() => q.batchVerdict(3, 2 ** 32, 'accept')).toThrow(RangeError);
    expect(() => q.batchVerdict(3, 5, 'maybe' as 'accept')).toThrow(RangeError);
    expect(t.sent.length).toBe(sentBefore);
    expect(q.stats().pending).toBe(1);
    // A good verdict still works, once; the second is refused and not sent.
    q.setVerdict(3, 17, 'accept');
    expect(() => q.setVerdict(3, 17, 'accept')).toThrow(VerdictStateError);
    resolve?.('drop'); // ignored: already answered
    await new Promise((r) => setTimeout(r, 5));
    expect(t.verdicts.map((v) => [v.queue, v.id, v.word])).toEqual([[3, 17, 1]]);
    await q.close();
  });
});
