/** fast-check arbitraries for packets, verdicts, datagrams and byte mutations. */
import fc from 'fast-check';
import { attr, concat, le16, le32, nlmsg, readLe16 } from './bytes.js';
import { encodeKernelPacket, type PacketSpec } from './kernel-packet.js';
import type { Verdict } from '../../src/nfqueue/verdict.js';

const u32 = fc.nat({ max: 0xffffffff }).map((x) => x >>> 0);
const u16 = fc.nat({ max: 0xffff });
const opt = <T>(a: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(a, { nil: undefined, freq: 2 });
const small = (max: number): fc.Arbitrary<Uint8Array> => fc.uint8Array({ maxLength: max });

/** Drops the keys whose value is undefined. */
function compact<T extends object>(o: T): T {
  for (const k of Object.keys(o) as (keyof T)[]) if (o[k] === undefined) delete o[k];
  return o;
}

/** Any packet the kernel could describe (fields absent at random). */
export const packetSpecArb: fc.Arbitrary<PacketSpec> = fc
  .record({
    queue: u16,
    family: fc.constantFrom(0, 1, 2, 3, 5, 7, 10, 255),
    id: u32,
    hwProtocol: u16,
    hook: fc.nat({ max: 255 }),
    mark: opt(u32),
    timestamp: opt(fc.record({ sec: fc.nat({ max: Number.MAX_SAFE_INTEGER }), usec: fc.nat({ max: 999999 }) })),
    indev: opt(u32),
    outdev: opt(u32),
    physindev: opt(u32),
    physoutdev: opt(u32),
    hwaddr: opt(small(8)),
    payload: opt(small(300)),
    ct: opt(small(40)),
    ctInfo: opt(u32),
    capLen: opt(u32),
    skbInfo: opt(u32),
    exp: opt(small(20)),
    uid: opt(u32),
    gid: opt(u32),
    secctx: opt(fc.string({ unit: 'grapheme', maxLength: 30 }).filter((s) => !s.includes('\0'))),
    vlan: opt(fc.record({ proto: u16, tci: u16 })),
    l2hdr: opt(small(30)),
    priority: opt(u32),
    cgroupClassid: opt(u32),
    unknown: opt(
      fc.array(
        fc.record({
          type: fc.oneof(fc.integer({ min: 23, max: 0x3fff }), fc.constant(2)).chain((t) => fc.constantFrom(t, t | 0x8000, t | 0x4000)),
          value: small(24),
        }),
        { minLength: 1, maxLength: 3 },
      ),
    ),
  })
  .map(compact);

/** A valid verdict built from random options. */
export const verdictArb: fc.Arbitrary<Verdict> = fc
  .record({
    verdict: fc.constantFrom('accept', 'drop', 'repeat', 'stop', 'queue') as fc.Arbitrary<Verdict['verdict']>,
    queue: u16,
    bypass: opt(fc.boolean()),
    mark: opt(u32),
    connmark: opt(u32),
    priority: opt(u32),
    payload: opt(small(200)),
    vlan: opt(fc.record({ proto: u16, tci: u16 })),
    l2hdr: opt(small(20)),
  })
  .map((r) => {
    const v = compact({ ...r }) as Verdict;
    if (v.verdict !== 'queue') {
      delete v.queue;
      delete v.bypass;
    }
    return v;
  });

/** A valid kernel packet message. */
export const packetMessageArb: fc.Arbitrary<{ spec: PacketSpec; bytes: Uint8Array }> = packetSpecArb.map((spec) => ({ spec, bytes: encodeKernelPacket(spec) }));

/** Offsets of the attribute headers of a message (after nlmsghdr + nfgenmsg), walked test-side. */
export function attributeOffsets(msg: Uint8Array, start = 20): number[] {
  const out: number[] = [];
  let off = start;
  while (off + 4 <= msg.length) {
    const len = readLe16(msg, off);
    if (len < 4) break;
    out.push(off);
    off += (len + 3) & ~3;
  }
  return out;
}

/** One mutation of a byte string. */
export type Mutation =
  | { kind: 'flip'; at: number; bit: number }
  | { kind: 'set'; at: number; value: number }
  | { kind: 'truncate'; keep: number; fixLength: boolean }
  | { kind: 'attrLength'; which: number; value: number }
  | { kind: 'msgLength'; value: number }
  | { kind: 'insert'; at: number; bytes: Uint8Array; fixLength: boolean };

const interestingLength = fc.oneof(
  fc.integer({ min: 0, max: 16 }),
  fc.integer({ min: 0, max: 0xffff }),
  fc.constantFrom(0xfffc, 0xfffd, 0xfffe, 0xffff, 0x8000),
);

export const mutationArb: fc.Arbitrary<Mutation> = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.nat({ max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), keep: fc.nat(), fixLength: fc.boolean() }),
  fc.record({ kind: fc.constant('attrLength' as const), which: fc.nat(), value: interestingLength }),
  fc.record({ kind: fc.constant('msgLength' as const), value: fc.oneof(interestingLength, fc.nat({ max: 0xffffffff })) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), bytes: fc.uint8Array({ minLength: 1, maxLength: 12 }), fixLength: fc.boolean() }),
);

/**
 * Applies mutations to a copy of one netlink message. `from` keeps the first bytes intact
 * (e.g. 32 to keep nlmsghdr, nfgenmsg and a leading PACKET_HDR readable); with `keepFraming`
 * the nlmsg_len always matches the message's bytes.
 */
export function mutate(msg: Uint8Array, muts: readonly Mutation[], opts: { from?: number; keepFraming?: boolean } = {}): Uint8Array {
  const from = opts.from ?? 0;
  let b: Uint8Array = msg.slice();
  const fixLen = (): void => {
    if (b.length >= 4) new DataView(b.buffer, b.byteOffset, b.byteLength).setUint32(0, b.length, true);
  };
  for (const m of muts) {
    const span = b.length - from;
    switch (m.kind) {
      case 'flip':
        if (span > 0) b[from + (m.at % span)]! ^= 1 << m.bit;
        break;
      case 'set':
        if (span > 0) b[from + (m.at % span)] = m.value;
        break;
      case 'truncate': {
        const keep = from + (span > 0 ? m.keep % (span + 1) : 0);
        b = b.slice(0, Math.max(keep, Math.min(from, b.length)));
        if (m.fixLength || opts.keepFraming === true) fixLen();
        break;
      }
      case 'attrLength': {
        const offs = attributeOffsets(b).filter((o) => o >= from);
        if (offs.length > 0) {
          const o = offs[m.which % offs.length]!;
          b[o] = m.value & 0xff;
          b[o + 1] = (m.value >> 8) & 0xff;
        }
        break;
      }
      case 'msgLength':
        if (opts.keepFraming !== true && from === 0 && b.length >= 4) new DataView(b.buffer, b.byteOffset).setUint32(0, m.value >>> 0, true);
        break;
      case 'insert': {
        const at = from + (span > 0 ? m.at % (span + 1) : 0);
        b = concat(b.subarray(0, at), m.bytes, b.subarray(at));
        if (m.fixLength || opts.keepFraming === true) fixLen();
        break;
      }
    }
  }
  if (opts.keepFraming === true) fixLen();
  return b;
}

/** A random attribute: any type (flag bits too), a value of random length, a length field sometimes wrong. */
const rawAttrArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.oneof(fc.integer({ min: 0, max: 25 }), u16), fc.uint8Array({ maxLength: 24 }), fc.oneof({ weight: 5, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: interestingLength }))
  .map(([type, value, len]) => {
    const a = attr(type, value);
    if (len >= 0) a.set(le16(len), 0);
    return a;
  });

/** A random message: a plausible type, a random nfgenmsg and attribute list, sometimes a bad length. */
export const rawMessageArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.oneof(fc.constantFrom(0x0300, 0x0300, 0x0300, 2, 2, 1, 3, 4, 0x0301, 0x10), u16),
    fc.uint8Array({ minLength: 0, maxLength: 4 }),
    fc.array(rawAttrArb, { maxLength: 8 }),
    fc.oneof({ weight: 6, arbitrary: fc.constant(-1) }, { weight: 1, arbitrary: fc.nat({ max: 0xffffffff }) }),
    fc.nat({ max: 0xffff }),
  )
  .map(([type, gen, attrs, len, flags]) => {
    const m = nlmsg({ type, flags, seq: 0, pid: 0 }, gen, ...attrs);
    if (len >= 0) m.set(le32(len), 0);
    return m;
  });

/** An NLMSG_ERROR with a random errno, echo and TLVs (sometimes malformed). */
export const errorMessageArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(fc.integer({ min: -200, max: 200 }), fc.uint8Array({ maxLength: 40 }), fc.array(rawAttrArb, { maxLength: 3 }), fc.nat({ max: 0x3ff }), fc.nat({ max: 0xffffffff }))
  .map(([err, echoBody, tlvs, flags, seq]) => {
    const echoed = nlmsg({ type: 0x0302, flags: 5, seq, pid: 1 }, echoBody);
    return nlmsg({ type: 2, flags }, le32(err >>> 0), (flags & 0x100) !== 0 ? echoed.subarray(0, 16) : echoed, ...tlvs);
  });

/** Valid kernel packet messages sampled once (generating a full packet spec per run is slow). */
export const PACKET_POOL: readonly { spec: PacketSpec; bytes: Uint8Array }[] = fc.sample(packetMessageArb, { numRuns: 300, seed: 11 });

/** A valid packet message from the pool. */
export const pooledPacketArb: fc.Arbitrary<{ spec: PacketSpec; bytes: Uint8Array }> = fc.nat({ max: PACKET_POOL.length - 1 }).map((i) => PACKET_POOL[i]!);

/** A datagram: one or more messages, random or valid, sometimes with trailing garbage. */
export const datagramArb: fc.Arbitrary<Uint8Array> = fc
  .tuple(
    fc.array(fc.oneof(rawMessageArb, errorMessageArb, pooledPacketArb.map((p) => p.bytes)), { minLength: 1, maxLength: 4 }),
    fc.oneof({ weight: 8, arbitrary: fc.constant(new Uint8Array(0)) }, { weight: 1, arbitrary: fc.uint8Array({ minLength: 1, maxLength: 20 }) }),
  )
  .map(([msgs, tail]) => concat(...msgs, tail));
