import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  LINKTYPE_NETLINK,
  LINKTYPE_RAW,
  PcapFormatError,
  PcapWriter,
  decodeNetlinkCooked,
  encodeNetlinkCooked,
  readPcap,
} from '../../src/pcap/index.js';
import { Bytes, concat, ngBlock, shbBody } from '../support/pcap.js';

/** Run `fn`; any exception other than PcapFormatError fails the property. */
function onlyFormatErrors(fn: () => unknown): boolean {
  try {
    fn();
  } catch (err) {
    if (!(err instanceof PcapFormatError)) throw err;
  }
  return true;
}

function validPcap(nanosecond: boolean, bigEndian: boolean): Uint8Array {
  const w = new PcapWriter(LINKTYPE_NETLINK, { nanosecond });
  const bytes = concat(
    w.header(),
    w.record(encodeNetlinkCooked('out', 12, Uint8Array.of(16, 0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0)), 1n),
    w.record(Uint8Array.of(1, 2, 3), { sec: 2, nsec: 3 }),
    w.record(new Uint8Array(0), 5n),
  );
  if (!bigEndian) return bytes;
  // swap every 32-bit header field (and the two 16-bit version fields) by hand
  const v = new DataView(bytes.buffer);
  const swap32 = (o: number) => v.setUint32(o, v.getUint32(o, true), false);
  [0, 8, 12, 16, 20].forEach(swap32);
  v.setUint16(4, 2, false);
  v.setUint16(6, 4, false);
  let off = 24;
  while (off < bytes.length) {
    const incl = v.getUint32(off + 8, true);
    [0, 4, 8, 12].forEach((k) => swap32(off + k));
    off += 16 + incl;
  }
  return bytes;
}

function validPcapng(le: boolean): Uint8Array {
  const b = () => new Bytes(le);
  return concat(
    ngBlock(le, 0x0a0d0d0a, shbBody(le)),
    ngBlock(le, 1, b().u16(LINKTYPE_NETLINK).u16(0).u32(0).u16(9).u16(1).u8(9).pad4().u16(0).u16(0).done()),
    ngBlock(le, 1, b().u16(LINKTYPE_RAW).u16(0).u32(4).u16(9).u16(1).u8(0x8a).pad4().done()),
    ngBlock(le, 6, b().u32(1).u32(0).u32(1000).u32(3).u32(3).raw([1, 2, 3]).pad4().done()),
    ngBlock(le, 0x40000bad, b().u32(7).done()),
    ngBlock(le, 3, b().u32(5).raw([1, 2, 3, 4, 5]).pad4().done()),
    ngBlock(le, 2, b().u16(0).u16(0).u32(0).u32(1).u32(0).u32(0).done()),
    // a second section in the other byte order
    ngBlock(!le, 0x0a0d0d0a, shbBody(!le)),
    ngBlock(!le, 1, new Bytes(!le).u16(LINKTYPE_RAW).u16(0).u32(0).done()),
    ngBlock(!le, 6, new Bytes(!le).u32(0).u32(0).u32(9).u32(1).u32(1).raw([7]).pad4().done()),
  );
}

const seeds = [
  validPcap(false, false),
  validPcap(true, false),
  validPcap(false, true),
  validPcap(true, true),
  validPcapng(true),
  validPcapng(false),
];

/** Mutations of a valid file: byte overwrites, 32-bit overwrites, then an optional cut. */
const mutated = fc
  .record({
    seed: fc.constantFrom(...seeds),
    bytes: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 255 })), { maxLength: 6 }),
    words: fc.array(fc.tuple(fc.nat(), fc.integer({ min: 0, max: 0xffffffff })), { maxLength: 3 }),
    cut: fc.option(fc.nat(), { nil: undefined }),
  })
  .map(({ seed, bytes, words, cut }) => {
    const out = seed.slice();
    const v = new DataView(out.buffer);
    for (const [pos, val] of bytes) out[pos % out.length] = val;
    for (const [pos, val] of words) {
      if (out.length >= 4) v.setUint32(pos % (out.length - 3), val, pos % 2 === 0);
    }
    return cut === undefined ? out : out.subarray(0, cut % (out.length + 1));
  });

/** Random bytes, optionally behind one of the five valid magic numbers. */
const random = fc
  .tuple(
    fc.constantFrom<number[]>(
      [],
      [0xd4, 0xc3, 0xb2, 0xa1, 2, 0, 4, 0],
      [0x4d, 0x3c, 0xb2, 0xa1, 2, 0, 4, 0],
      [0xa1, 0xb2, 0xc3, 0xd4, 0, 2, 0, 4],
      [0xa1, 0xb2, 0x3c, 0x4d, 0, 2, 0, 4],
      [0x0a, 0x0d, 0x0d, 0x0a],
    ),
    fc.uint8Array({ maxLength: 200 }),
  )
  .map(([prefix, rest]) => concat(Uint8Array.from(prefix), rest));

/** Well-framed pcapng blocks of interesting types with random bodies (framing always valid). */
const framedPcapng = fc
  .record({
    le: fc.boolean(),
    idb: fc.boolean(),
    blocks: fc.array(
      fc.record({
        type: fc.constantFrom(1, 2, 3, 4, 5, 6, 0x0a0d0d0a),
        // bodies often start with a small interface id so packet blocks get past the lookup
        head: fc.option(fc.integer({ min: 0, max: 1 }), { nil: undefined }),
        body: fc.uint8Array({ maxLength: 40 }),
      }),
      { maxLength: 5 },
    ),
  })
  .map(({ le, idb, blocks }) =>
    concat(
      ngBlock(le, 0x0a0d0d0a, shbBody(le)),
      idb ? ngBlock(le, 1, new Bytes(le).u16(LINKTYPE_RAW).u16(0).u32(0).done()) : new Uint8Array(0),
      ...blocks.map((b) =>
        ngBlock(le, b.type, b.head === undefined ? b.body : concat(new Bytes(le).u32(b.head).done(), b.body)),
      ),
    ),
  );

describe('fuzz: malformed input only raises PcapFormatError', () => {
  it('seeds are valid', () => {
    for (const s of seeds) expect(readPcap(s).records.length).toBeGreaterThan(0);
  });

  it('random and mutated bytes (readPcap)', { timeout: 120_000 }, () => {
    fc.assert(
      fc.property(fc.oneof(mutated, random, framedPcapng), (bytes) => onlyFormatErrors(() => readPcap(bytes))),
      { numRuns: 20_000 },
    );
  });

  it('random records (decodeNetlinkCooked)', { timeout: 60_000 }, () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 40 }), (bytes) =>
        onlyFormatErrors(() => decodeNetlinkCooked(bytes)),
      ),
      { numRuns: 5_000 },
    );
  });

  it('write then read returns the same records', { timeout: 60_000 }, () => {
    const rec = fc.record({
      data: fc.uint8Array({ maxLength: 64 }),
      ns: fc.bigInt({ min: 0n, max: 0xffffffffn * 1_000_000_000n + 999_999_999n }),
    });
    fc.assert(
      fc.property(fc.boolean(), fc.array(rec, { maxLength: 8 }), (nanosecond, recs) => {
        const w = new PcapWriter(LINKTYPE_RAW, { nanosecond });
        const cap = readPcap(concat(w.header(), ...recs.map((r) => w.record(r.data, r.ns))));
        expect(cap.records.map((r) => [Array.from(r.data), r.timestampNs])).toEqual(
          recs.map((r) => [Array.from(r.data), nanosecond ? r.ns : (r.ns / 1000n) * 1000n]),
        );
      }),
      { numRuns: 2_000 },
    );
  });
});
