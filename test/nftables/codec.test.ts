/**
 * The nf_tables codecs: every expression kind and every object kind decodes back to what
 * was encoded (property tests over random values), re-encoding gives the same bytes, and
 * random or mutated bytes give only NetlinkDecodeError (or an `other` expression), never a
 * crash.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { MessageWriter } from '../../src/netlink/writer.js';
import { NetlinkDecodeError } from '../../src/netlink/errors.js';
import { MessageCursor } from '../../src/netlink/message.js';
import * as C from '../../src/nftables/constants.js';
import { decodeExprList, encodeExpr, type Expr } from '../../src/nftables/expressions.js';
import { decodeChain, decodeRule, decodeTable, encodeNewChain, encodeNewRule, encodeNewTable, encodeBatchBegin, encodeBatchEnd, type NftChain, type NftRule, type NftTable } from '../../src/nftables/messages.js';

const u32 = fc.nat({ max: 0xffffffff });
const u16 = fc.nat({ max: 0xffff });
const reg = fc.oneof(fc.integer({ min: 0, max: 4 }), fc.integer({ min: 8, max: 23 }));
const bytes = fc.uint8Array({ minLength: 1, maxLength: 16 });
const name = fc.stringMatching(/^[A-Za-z0-9_]{1,20}$/);
const opt = <T>(a: fc.Arbitrary<T>) => fc.option(a, { nil: undefined });

/** Drops undefined fields, as a decoder never sets them. */
function defined<T extends object>(o: T): T {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;
}

export const exprArb: fc.Arbitrary<Expr> = fc.oneof(
  fc.record({ type: fc.constant('meta' as const), key: fc.nat({ max: 40 }), dreg: opt(reg), sreg: opt(reg) }).map(defined),
  fc.record({ type: fc.constant('payload' as const), base: fc.nat({ max: 3 }), offset: fc.nat({ max: 255 }), len: fc.integer({ min: 1, max: 16 }), dreg: opt(reg), sreg: opt(reg), csumType: opt(fc.nat({ max: 2 })), csumOffset: opt(fc.nat({ max: 64 })), csumFlags: opt(fc.nat({ max: 1 })) }).map(defined),
  fc.record({ type: fc.constant('cmp' as const), sreg: reg, op: fc.nat({ max: 5 }), data: bytes }),
  fc.record({ type: fc.constant('range' as const), sreg: reg, op: fc.nat({ max: 1 }), from: bytes, to: bytes }),
  fc.record({ type: fc.constant('bitwise' as const), sreg: reg, dreg: reg, len: fc.integer({ min: 1, max: 16 }), op: opt(fc.nat({ max: 2 })), mask: opt(bytes), xor: opt(bytes), data: opt(bytes) }).map(defined),
  fc.record({ type: fc.constant('ct' as const), key: fc.nat({ max: 20 }), dreg: opt(reg), sreg: opt(reg), direction: opt(fc.nat({ max: 1 })) }).map(defined),
  fc.record({ type: fc.constant('immediate' as const), dreg: fc.constant(0), verdict: fc.oneof(fc.record({ code: fc.constantFrom(0, 1, -1, -2, -5) }), fc.record({ code: fc.constantFrom(-3, -4), chain: name })) }),
  fc.record({ type: fc.constant('immediate' as const), dreg: reg.filter((r) => r !== 0), data: bytes }),
  fc.record({ type: fc.constant('counter' as const), packets: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }), bytes: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  fc.record({ type: fc.constant('queue' as const), num: opt(u16), total: opt(u16), flags: opt(fc.nat({ max: 3 })), sregQnum: opt(reg) }).map(defined),
  fc.record({ type: fc.constantFrom('target' as const, 'match' as const), name, rev: fc.nat({ max: 255 }), info: fc.uint8Array({ maxLength: 40 }) }),
  fc.record({ type: fc.constant('other' as const), name: name.map((n) => `x${n}`), data: opt(fc.constant(Uint8Array.of(8, 0, 1, 0, 0, 0, 0, 7))) }).map(defined),
);

function encodeList(list: readonly Expr[]): Uint8Array {
  const w = new MessageWriter();
  w.beginNest(C.NFTA_RULE_EXPRESSIONS);
  for (const e of list) encodeExpr(w, e);
  w.endNest();
  return w.finishCopy();
}

function decodeList(b: Uint8Array): Expr[] {
  return decodeExprList(b, 4, b.length);
}

const tableArb: fc.Arbitrary<NftTable> = fc.record({ family: fc.constantFrom(1, 2, 10), name, flags: opt(u32), use: opt(u32), handle: opt(fc.bigInt({ min: 0n, max: (1n << 64n) - 1n })), userdata: opt(fc.uint8Array({ maxLength: 20 })), owner: opt(u32) }).map(defined);
const chainArb: fc.Arbitrary<NftChain> = fc
  .record({
    family: fc.constantFrom(1, 2, 10),
    table: name,
    name,
    handle: opt(fc.bigInt({ min: 0n, max: 1000n })),
    hook: opt(fc.record({ hooknum: fc.nat({ max: 4 }), priority: fc.integer({ min: -0x80000000, max: 0x7fffffff }) })),
    policy: opt(fc.nat({ max: 1 })),
    use: opt(u32),
    type: opt(fc.constantFrom('filter', 'nat', 'route')),
    counters: opt(fc.record({ packets: fc.bigInt({ min: 0n, max: 1000n }), bytes: fc.bigInt({ min: 0n, max: 1000n }) })),
    flags: opt(u32),
    userdata: opt(fc.uint8Array({ maxLength: 8 })),
  })
  .map(defined);
const ruleArb: fc.Arbitrary<NftRule> = fc
  .record({
    family: fc.constantFrom(1, 2, 10),
    table: name,
    chain: name,
    handle: opt(fc.bigInt({ min: 0n, max: 1000n })),
    position: opt(fc.bigInt({ min: 0n, max: 1000n })),
    userdata: opt(fc.uint8Array({ maxLength: 8 })),
    expressions: fc.array(exprArb, { maxLength: 8 }),
    compat: opt(fc.record({ proto: fc.nat({ max: 255 }), flags: fc.nat({ max: 1 }) })),
  })
  .map(defined);

function oneMessage(write: (w: MessageWriter) => void): Uint8Array {
  const w = new MessageWriter();
  write(w);
  return w.finishCopy();
}

describe('nf_tables codecs', () => {
  it('every expression decodes back to itself, and re-encodes to the same bytes', () => {
    fc.assert(
      fc.property(fc.array(exprArb, { maxLength: 10 }), (list) => {
        const b = encodeList(list);
        const back = decodeList(b);
        expect(back).toEqual(list);
        expect(encodeList(back)).toEqual(b);
      }),
      { numRuns: 1500 },
    );
  });

  it('tables, chains and rules decode back to themselves', () => {
    fc.assert(
      fc.property(tableArb, chainArb, ruleArb, fc.nat({ max: 0xffffff }), (t, c, r, seq) => {
        const tb = oneMessage((w) => encodeNewTable(w, t, { seq }));
        expect(decodeTable(tb, 0, tb.length)).toEqual(t);
        const cb = oneMessage((w) => encodeNewChain(w, c, { seq }));
        expect(decodeChain(cb, 0, cb.length)).toEqual(c);
        const rb = oneMessage((w) => encodeNewRule(w, r, { seq }));
        const back = decodeRule(rb, 0, rb.length);
        expect(back).toEqual(r);
        expect(oneMessage((w) => encodeNewRule(w, back, { seq }))).toEqual(rb);
      }),
      { numRuns: 800 },
    );
  });

  it('the batch delimiters carry the nf_tables subsystem id in res_id (big-endian)', () => {
    const b = oneMessage((w) => {
      encodeBatchBegin(w, { seq: 7 });
      encodeBatchEnd(w, { seq: 8 });
    });
    const cur = new MessageCursor().reset(b);
    const seen: number[][] = [];
    while (cur.next()) seen.push([cur.type, cur.flags, cur.seq, ...b.subarray(cur.offset + 16, cur.offset + 20)]);
    expect(seen).toEqual([
      [0x10, 1, 7, 0, 0, 0, 10],
      [0x11, 1, 8, 0, 0, 0, 10],
    ]);
  });

  it('a chain priority is signed (-300 stays -300) and a jump keeps its chain', () => {
    const c: NftChain = { family: 1, table: 't', name: 'c', hook: { hooknum: 1, priority: -300 }, type: 'filter', policy: 1 };
    const b = oneMessage((w) => encodeNewChain(w, c, { seq: 1 }));
    expect(decodeChain(b, 0, b.length).hook).toEqual({ hooknum: 1, priority: -300 });
    const l = decodeList(encodeList([{ type: 'immediate', dreg: 0, verdict: { code: C.NFT_JUMP, chain: 'next' } }]));
    expect(l).toEqual([{ type: 'immediate', dreg: 0, verdict: { code: -3, chain: 'next' } }]);
  });

  it('random and mutated bytes give NetlinkDecodeError or a decoded rule, nothing else', () => {
    const valid = fc.tuple(ruleArb, fc.array(fc.tuple(fc.nat(), fc.nat({ max: 255 })), { minLength: 1, maxLength: 6 })).map(([r, flips]) => {
      const b = oneMessage((w) => encodeNewRule(w, r, { seq: 1 }));
      for (const [at, v] of flips) b[20 + (at % Math.max(1, b.length - 20))] = v;
      return b;
    });
    fc.assert(
      fc.property(fc.oneof(valid, fc.uint8Array({ maxLength: 200 })), (b) => {
        for (const decode of [decodeRule, decodeTable, decodeChain]) {
          try {
            const r = decode(b, 0, b.length);
            expect(typeof r).toBe('object');
          } catch (e) {
            if (!(e instanceof NetlinkDecodeError)) throw e;
          }
        }
        try {
          decodeExprList(b, 0, b.length);
        } catch (e) {
          if (!(e instanceof NetlinkDecodeError)) throw e;
        }
      }),
      { numRuns: 3000 },
    );
  });
});
