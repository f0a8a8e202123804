/**
 * Hostile bytes, the parts the codec tests (test/netlink, test/nfqueue, test/pcap fuzz) do
 * not cover: the remaining public decoders (parseAttributes, decodeConntrack,
 * parseEthernetHeader, parseIpPacket, parseKernelQueueStats, describeMessage) and the
 * queue-level guarantee: a malformed datagram is counted, reported and skipped, and the very
 * next good packet is served as usual (sync and async callbacks, with verdictTimeout).
 *
 * Each property: only the library's own documented error (or none), no other exception, no
 * hang (a watchdog thread kills a stuck process), bounded memory. FUZZ_SCALE=N multiplies
 * the case counts (scripts/fuzz-nightly.mjs runs these with millions); FUZZ_SEED fixes the
 * seed. CI: ~110,000 cases here.
 */
import fc from 'fast-check';
import { describe, it, expect, afterAll } from 'vitest';
import { openQueue, NetfilterQueueError, type Queue, type Packet } from '../../src/index.js';
import { NetlinkDecodeError } from '../../src/netlink/index.js';
import { parseEthernetHeader, parseIpPacket } from '../../src/packet/index.js';
import { decodeConntrack, describeMessage, PacketDecodeError } from '../../src/nfqueue/index.js';
import { parseKernelQueueStats } from '../../src/queue/proc.js';
import { parseAttributes } from '../../src/netlink/index.js';
import { withWatchdog } from '../support/watchdog.js';
import { TestKernel } from '../../src/testing/index.js';
import { concat } from '../support/bytes.js';
import { outputPacket } from '../support/kernel-packet.js';

/** A kernel-shaped packet message for queue `queue`, packet `id`. */
const packetMessage = (queue: number, id: number): Uint8Array => outputPacket(id, new Uint8Array(20), { queue });

const SCALE = Math.max(0.01, Number(process.env.FUZZ_SCALE ?? 1));
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const runs = (n: number): number => Math.max(1, Math.round(n * SCALE));
const params = (n: number): fc.Parameters<unknown> => (SEED === undefined ? { numRuns: runs(n) } : { numRuns: runs(n), seed: SEED });
const WATCHDOG_MS = Math.max(120_000, 120_000 * SCALE);

/** Calls fn; an exception that is not an instance of one of `allowed` fails the property. */
function only(allowed: readonly (abstract new (...a: never[]) => Error)[], fn: () => unknown): void {
  try {
    fn();
  } catch (e) {
    if (!allowed.some((c) => e instanceof c)) throw e;
  }
}

// ------------------------------------------------------------------ byte generators

/** A netlink attribute with a plausible header (length may lie) and random value. */
const attrArb = fc
  .record({ type: fc.integer({ min: 0, max: 0xffff }), value: fc.uint8Array({ maxLength: 40 }), lie: fc.integer({ min: -8, max: 8 }), nest: fc.boolean() })
  .map(({ type, value, lie, nest }) => {
    const len = Math.max(0, Math.min(0xffff, 4 + value.length + (lie % 3 === 0 ? lie : 0)));
    const out = new Uint8Array((4 + value.length + 3) & ~3);
    const v = new DataView(out.buffer);
    v.setUint16(0, len, true);
    v.setUint16(2, nest ? type | 0x8000 : type, true);
    out.set(value, 4);
    return out;
  });
const attrsArb = fc.array(attrArb, { maxLength: 8 }).map((a) => concat(...a));
/** Nested attribute trees up to three levels deep (conntrack tuples are nests of nests). */
const nestedArb: fc.Arbitrary<Uint8Array> = fc.letrec((tie) => ({
  node: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    attrArb,
    fc.record({ type: fc.integer({ min: 0, max: 20 }), kids: fc.array(tie('node'), { maxLength: 4 }) }).map(({ type, kids }) => {
      const body = concat(...(kids as Uint8Array[]));
      const out = new Uint8Array(4 + body.length);
      new DataView(out.buffer).setUint16(0, Math.min(0xffff, out.length), true);
      new DataView(out.buffer).setUint16(2, type | 0x8000, true);
      out.set(body, 4);
      return out;
    }),
  ),
})).node as fc.Arbitrary<Uint8Array>;
const treeArb = fc.array(nestedArb, { maxLength: 5 }).map((a) => concat(...a));

/** Byte flips, truncation and splices on a valid input. */
function mutated(base: fc.Arbitrary<Uint8Array>): fc.Arbitrary<Uint8Array> {
  return fc.tuple(base, fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }), fc.option(fc.nat(), { nil: undefined })).map(([b, flips, cut]) => {
    const out = b.slice();
    for (const [i, x] of flips) if (out.length > 0) out[i % out.length] = x;
    return cut === undefined || out.length === 0 ? out : out.subarray(0, cut % (out.length + 1));
  });
}

/** IPv4/IPv6 headers with random transport headers and lying length fields. */
const ipArb = fc
  .record({
    v6: fc.boolean(),
    proto: fc.constantFrom(6, 17, 1, 58, 0, 43, 44, 51, 60, 132, 136, 33, 59, 255),
    ihl: fc.integer({ min: 0, max: 15 }),
    totLen: fc.integer({ min: 0, max: 0xffff }),
    frag: fc.integer({ min: 0, max: 0xffff }),
    rest: fc.uint8Array({ maxLength: 120 }),
  })
  .map(({ v6, proto, ihl, totLen, frag, rest }) => {
    const h = new Uint8Array(v6 ? 40 : 20);
    const v = new DataView(h.buffer);
    if (v6) {
      h[0] = 0x60;
      v.setUint16(4, totLen, false);
      h[6] = proto;
    } else {
      h[0] = 0x40 | ihl;
      v.setUint16(2, totLen, false);
      v.setUint16(6, frag, false);
      h[9] = proto;
    }
    return concat(h, rest);
  });

const procLine = fc
  .array(fc.oneof(fc.nat().map(String), fc.constant('-1'), fc.constant('x'), fc.constant('1e999'), fc.constant(''), fc.string({ maxLength: 6 })), { maxLength: 11 })
  .map((f) => f.join(' '));

// ------------------------------------------------------------------ decoders

describe('public decoders on hostile bytes', () => {
  it('parseAttributes: flat and nested, random and mutated: only NetlinkDecodeError, results inside the input', async () => {
    await withWatchdog('parseAttributes fuzz', WATCHDOG_MS, (wd) => {
      const prop = (b: Uint8Array, start: number, end: number): void => {
        wd.note(b);
        const s = b.length === 0 ? 0 : start % (b.length + 1);
        const e = s + (end % (b.length - s + 1));
        only([NetlinkDecodeError], () => {
          const list = parseAttributes(b, s, e);
          let total = 0;
          for (const a of list) {
            expect(a.value.buffer).toBe(b.buffer); // views, never copies
            total += a.value.length + 4;
          }
          expect(total).toBeLessThanOrEqual(e - s);
        });
      };
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), fc.nat(), fc.nat(), prop), params(8000));
      fc.assert(fc.property(attrsArb, fc.constant(0), fc.constant(1 << 30), prop), params(8000));
      fc.assert(fc.property(mutated(treeArb), fc.constant(0), fc.constant(1 << 30), prop), params(8000));
    });
  });

  it('decodeConntrack: nested trees, random and mutated: only NetlinkDecodeError', async () => {
    await withWatchdog('decodeConntrack fuzz', WATCHDOG_MS, (wd) => {
      const prop = (b: Uint8Array): void => {
        wd.note(b);
        only([NetlinkDecodeError], () => decodeConntrack(b));
      };
      fc.assert(fc.property(fc.uint8Array({ maxLength: 200 }), prop), params(6000));
      fc.assert(fc.property(treeArb, prop), params(10000));
      fc.assert(fc.property(mutated(treeArb), prop), params(10000));
    });
  });

  it('parseIpPacket / parseEthernetHeader: random and lying headers: no exception (RangeError only for < 14 Ethernet bytes)', async () => {
    await withWatchdog('IP/Ethernet fuzz', WATCHDOG_MS, (wd) => {
      fc.assert(
        fc.property(fc.oneof(ipArb, mutated(ipArb), fc.uint8Array({ maxLength: 100 })), fc.option(fc.nat({ max: 1 << 20 }), { nil: undefined }), (b, wire) => {
          wd.note(b);
          const info = parseIpPacket(b, wire);
          if (info !== undefined) JSON.stringify(info, (_k, v: unknown) => (typeof v === 'bigint' ? String(v) : v));
        }),
        params(20000),
      );
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 60 }), (b) => {
          wd.note(b);
          if (b.length < 14) expect(() => parseEthernetHeader(b)).toThrow(RangeError);
          else expect(parseEthernetHeader(b).length).toBeLessThanOrEqual(b.length);
        }),
        params(8000),
      );
    });
  });

  it('parseKernelQueueStats / describeMessage: garbage text and bytes never throw', async () => {
    await withWatchdog('proc/describe fuzz', WATCHDOG_MS, (wd) => {
      fc.assert(
        fc.property(fc.array(procLine, { maxLength: 6 }), (lines) => {
          for (const r of parseKernelQueueStats(lines.join('\n'))) {
            for (const v of Object.values(r)) expect(Number.isFinite(v)).toBe(true);
          }
        }),
        params(10000),
      );
      fc.assert(
        fc.property(fc.oneof(fc.uint8Array({ maxLength: 80 }), mutated(fc.nat({ max: 1 << 20 }).map((id) => packetMessage(id & 0xffff, id)))), (b) => {
          wd.note(b);
          expect(typeof describeMessage(b)).toBe('string');
        }),
        params(10000),
      );
    });
  });
});

// ------------------------------------------------------------------ the queue

describe('the queue on hostile datagrams: counted, reported, skipped, still serving', () => {
  const opened: Queue[] = [];
  afterAll(async () => {
    for (const q of opened) await q.close();
  });

  /** Random datagrams around the shapes the kernel sends: packet messages, errors, junk. */
  const hostileArb = fc.oneof(
    fc.uint8Array({ maxLength: 120 }),
    mutated(fc.nat({ max: 0xffffff }).map((id) => packetMessage(5, id + 1))),
    mutated(fc.tuple(fc.nat({ max: 0xffff }), fc.nat({ max: 0xffff })).map(([a, b]) => concat(packetMessage(5, a + 1), packetMessage(5, b + 1)))),
    // A header claiming a huge length: must not allocate or read past the datagram.
    fc.tuple(fc.constantFrom(0xffffffff, 0x7fffffff, 1 << 20), fc.uint8Array({ maxLength: 40 })).map(([len, rest]) => {
      const b = concat(new Uint8Array(16), rest);
      new DataView(b.buffer).setUint32(0, len, true);
      new DataView(b.buffer).setUint16(4, 0x0300, true);
      return b;
    }),
  );

  for (const mode of ['sync', 'async'] as const) {
    it(`${mode} callbacks: after each hostile datagram the next good packet gets its callback and its verdict`, async () => {
      const t = new TestKernel();
      const errors: Error[] = [];
      const seen: number[] = [];
      let q!: Queue;
      const cb = (p: Packet): 'accept' | Promise<'accept'> => {
        if (p.queue === 9) seen.push(p.id);
        return mode === 'sync' ? 'accept' : Promise.resolve('accept');
      };
      q = await openQueue(9, cb, { transport: t, keepAlive: false, onError: (e) => errors.push(e), ...(mode === 'async' ? { verdictTimeout: 50 } : {}) });
      opened.push(q);
      // Queue 5's packets are the hostile ones (injected, they reach the queue anyway);
      // queue 9 carries the probes.
      let probe = 0;
      let hostileDecodeErrors = 0;
      const heapBefore = process.memoryUsage().heapUsed;
      await withWatchdog(`queue ${mode} fuzz`, WATCHDOG_MS, async (wd) => {
        await fc.assert(
          fc.asyncProperty(hostileArb, async (b) => {
            wd.note(b);
            const before = q.stats().decodeErrors;
            const errsBefore = errors.length;
            t.inject(b); // must not throw
            const counted = q.stats().decodeErrors - before;
            hostileDecodeErrors += counted;
            // Every decode error counted is reported, as a library error.
            const reported = errors.slice(errsBefore).filter((e) => e instanceof NetlinkDecodeError || e instanceof PacketDecodeError).length;
            expect(reported).toBe(counted);
            for (const e of errors.slice(errsBefore)) expect(e).toBeInstanceOf(NetfilterQueueError);
            // The queue goes on serving.
            const id = ++probe;
            const sentBefore = t.sent.length;
            t.inject(packetMessage(9, id));
            if (mode === 'async') await Promise.resolve().then(() => undefined);
            await new Promise((r) => setImmediate(r));
            expect(seen[seen.length - 1]).toBe(id);
            const v = t.verdicts.some((v) => v.datagram >= sentBefore && v.queue === 9 && v.id === id && v.word === 1);
            expect(v).toBe(true);
            errors.length = 0;
            t.sent.length = 0;
            t.verdicts.length = 0;
          }),
          params(mode === 'sync' ? 6000 : 3000),
        );
      });
      expect(hostileDecodeErrors).toBeGreaterThan(0);
      expect(q.isClosed).toBe(false);
      expect(q.stats().pending).toBe(0);
      expect(q.stats().received).toBeGreaterThanOrEqual(probe);
      // Bounded memory: nothing per datagram is kept (generous bound; GC may lag).
      expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(256 * 1024 * 1024);
    });
  }
});
