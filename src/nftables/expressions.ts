/**
 * nf_tables expressions: one typed object per expression, an encoder that writes it as an
 * NFTA_LIST_ELEM of a rule's NFTA_RULE_EXPRESSIONS, and a decoder that is its exact inverse.
 * An expression this file does not know (or a known one with an attribute it does not know)
 * decodes as `{ type: 'other' }` with its raw data, and encodes back to the same bytes.
 * Attribute order follows libnftnl's, so our messages compare byte for byte with its.
 */
import { AttributeDecoder } from '../netlink/attributes.js';
import { NLA_F_NESTED } from '../netlink/constants.js';
import { NetlinkDecodeError } from '../netlink/errors.js';
import type { MessageWriter } from '../netlink/writer.js';
import * as C from './constants.js';

/** The verdict an `immediate` writes into the verdict register. */
export interface Verdict {
  /** NF_ACCEPT (1), NF_DROP (0), or NFT_JUMP/GOTO/RETURN/CONTINUE/BREAK (negative). */
  code: number;
  /** The target chain of a jump or goto. */
  chain?: string;
}

/** `meta load KEY => reg DREG`, or `meta set KEY with reg SREG`. */
export interface MetaExpr {
  type: 'meta';
  key: number;
  dreg?: number;
  sreg?: number;
}

/** `payload load LEN b @ BASE header + OFFSET => reg DREG` (or a write from SREG with checksum fixing). */
export interface PayloadExpr {
  type: 'payload';
  base: number;
  offset: number;
  len: number;
  dreg?: number;
  sreg?: number;
  csumType?: number;
  csumOffset?: number;
  csumFlags?: number;
}

/** `cmp OP reg SREG DATA`. */
export interface CmpExpr {
  type: 'cmp';
  sreg: number;
  op: number;
  data: Uint8Array;
}

/** `range OP reg SREG FROM TO` (inclusive, compared as big-endian bytes). */
export interface RangeExpr {
  type: 'range';
  sreg: number;
  op: number;
  from: Uint8Array;
  to: Uint8Array;
}

/** `bitwise reg DREG = (reg SREG & MASK) ^ XOR` over LEN bytes (or a shift: `op` with `data`). */
export interface BitwiseExpr {
  type: 'bitwise';
  sreg: number;
  dreg: number;
  len: number;
  op?: number;
  mask?: Uint8Array;
  xor?: Uint8Array;
  data?: Uint8Array;
}

/** `ct load KEY => reg DREG`, or `ct set KEY with reg SREG`. */
export interface CtExpr {
  type: 'ct';
  key: number;
  dreg?: number;
  sreg?: number;
  direction?: number;
}

/** `immediate reg DREG DATA`, or a verdict into register 0. */
export interface ImmediateExpr {
  type: 'immediate';
  dreg: number;
  data?: Uint8Array;
  verdict?: Verdict;
}

/** `counter`: packets and bytes so far (zero when a rule is created). */
export interface CounterExpr {
  type: 'counter';
  packets: bigint;
  bytes: bigint;
}

/** The native `queue num NUM[-NUM+TOTAL-1] [bypass] [fanout]` (CONFIG_NFT_QUEUE). */
export interface QueueExpr {
  type: 'queue';
  num?: number;
  total?: number;
  flags?: number;
  sregQnum?: number;
}

/** An xtables extension through nft_compat: `target` (e.g. NFQUEUE) or `match`; `info` is the xt_* struct. */
export interface XtExpr {
  type: 'target' | 'match';
  name: string;
  rev: number;
  info: Uint8Array;
}

/** Any other expression, kept as its name and raw NFTA_EXPR_DATA bytes. */
export interface OtherExpr {
  type: 'other';
  name: string;
  /** The NFTA_EXPR_DATA value (attributes), or undefined when the expression had none. */
  data?: Uint8Array;
}

/** One expression of a rule. */
export type Expr = MetaExpr | PayloadExpr | CmpExpr | RangeExpr | BitwiseExpr | CtExpr | ImmediateExpr | CounterExpr | QueueExpr | XtExpr | OtherExpr;

function dataValue(w: MessageWriter, type: number, value: Uint8Array): void {
  w.beginNest(type).attrBytes(C.NFTA_DATA_VALUE, value).endNest();
}

/** Writes the body (the NFTA_EXPR_DATA attributes) of a known expression. */
function writeBody(w: MessageWriter, e: Exclude<Expr, OtherExpr>): void {
  switch (e.type) {
    case 'meta':
      w.attrBe32(C.NFTA_META_KEY, e.key);
      if (e.dreg !== undefined) w.attrBe32(C.NFTA_META_DREG, e.dreg);
      if (e.sreg !== undefined) w.attrBe32(C.NFTA_META_SREG, e.sreg);
      return;
    case 'payload':
      if (e.sreg !== undefined) w.attrBe32(C.NFTA_PAYLOAD_SREG, e.sreg);
      if (e.dreg !== undefined) w.attrBe32(C.NFTA_PAYLOAD_DREG, e.dreg);
      w.attrBe32(C.NFTA_PAYLOAD_BASE, e.base);
      w.attrBe32(C.NFTA_PAYLOAD_OFFSET, e.offset);
      w.attrBe32(C.NFTA_PAYLOAD_LEN, e.len);
      if (e.csumType !== undefined) w.attrBe32(C.NFTA_PAYLOAD_CSUM_TYPE, e.csumType);
      if (e.csumOffset !== undefined) w.attrBe32(C.NFTA_PAYLOAD_CSUM_OFFSET, e.csumOffset);
      if (e.csumFlags !== undefined) w.attrBe32(C.NFTA_PAYLOAD_CSUM_FLAGS, e.csumFlags);
      return;
    case 'cmp':
      w.attrBe32(C.NFTA_CMP_SREG, e.sreg);
      w.attrBe32(C.NFTA_CMP_OP, e.op);
      dataValue(w, C.NFTA_CMP_DATA, e.data);
      return;
    case 'range':
      w.attrBe32(C.NFTA_RANGE_SREG, e.sreg);
      w.attrBe32(C.NFTA_RANGE_OP, e.op);
      dataValue(w, C.NFTA_RANGE_FROM_DATA, e.from);
      dataValue(w, C.NFTA_RANGE_TO_DATA, e.to);
      return;
    case 'bitwise':
      w.attrBe32(C.NFTA_BITWISE_SREG, e.sreg);
      w.attrBe32(C.NFTA_BITWISE_DREG, e.dreg);
      if (e.op !== undefined) w.attrBe32(C.NFTA_BITWISE_OP, e.op);
      w.attrBe32(C.NFTA_BITWISE_LEN, e.len);
      if (e.mask !== undefined) dataValue(w, C.NFTA_BITWISE_MASK, e.mask);
      if (e.xor !== undefined) dataValue(w, C.NFTA_BITWISE_XOR, e.xor);
      if (e.data !== undefined) dataValue(w, C.NFTA_BITWISE_DATA, e.data);
      return;
    case 'ct':
      w.attrBe32(C.NFTA_CT_KEY, e.key);
      if (e.dreg !== undefined) w.attrBe32(C.NFTA_CT_DREG, e.dreg);
      if (e.direction !== undefined) w.attrU8(C.NFTA_CT_DIRECTION, e.direction);
      if (e.sreg !== undefined) w.attrBe32(C.NFTA_CT_SREG, e.sreg);
      return;
    case 'immediate':
      w.attrBe32(C.NFTA_IMMEDIATE_DREG, e.dreg);
      if (e.verdict !== undefined) {
        w.beginNest(C.NFTA_IMMEDIATE_DATA).beginNest(C.NFTA_DATA_VERDICT);
        w.attrBe32(C.NFTA_VERDICT_CODE, e.verdict.code);
        if (e.verdict.chain !== undefined) w.attrString(C.NFTA_VERDICT_CHAIN, e.verdict.chain);
        w.endNest().endNest();
      } else if (e.data !== undefined) dataValue(w, C.NFTA_IMMEDIATE_DATA, e.data);
      return;
    case 'counter':
      w.attrBe64(C.NFTA_COUNTER_BYTES, e.bytes);
      w.attrBe64(C.NFTA_COUNTER_PACKETS, e.packets);
      return;
    case 'queue':
      if (e.num !== undefined) w.attrBe16(C.NFTA_QUEUE_NUM, e.num);
      if (e.total !== undefined) w.attrBe16(C.NFTA_QUEUE_TOTAL, e.total);
      if (e.flags !== undefined) w.attrBe16(C.NFTA_QUEUE_FLAGS, e.flags);
      if (e.sregQnum !== undefined) w.attrBe32(C.NFTA_QUEUE_SREG_QNUM, e.sregQnum);
      return;
    case 'target':
    case 'match':
      w.attrString(C.NFTA_TARGET_NAME, e.name);
      w.attrBe32(C.NFTA_TARGET_REV, e.rev);
      w.attrBytes(C.NFTA_TARGET_INFO, e.info);
      return;
  }
}

/** Writes `e` as one NFTA_LIST_ELEM (name and data) into the open NFTA_RULE_EXPRESSIONS nest. */
export function encodeExpr(w: MessageWriter, e: Expr): void {
  w.beginNest(C.NFTA_LIST_ELEM);
  w.attrString(C.NFTA_EXPR_NAME, e.type === 'other' ? e.name : e.type);
  if (e.type === 'other') {
    if (e.data !== undefined) w.attrBytes(C.NFTA_EXPR_DATA | NLA_F_NESTED, e.data);
  } else {
    w.beginNest(C.NFTA_EXPR_DATA);
    writeBody(w, e);
    w.endNest();
  }
  w.endNest();
}

/** Thrown inside a body decoder when the body holds something this file cannot represent exactly. */
class NotRepresentable extends Error {}

function nestedValue(ad: AttributeDecoder, inner: number): Uint8Array {
  const d = ad.nestedDecoder();
  let out: Uint8Array | undefined;
  while (d.next()) {
    if (d.type === inner && out === undefined) out = d.bytes().slice();
    else throw new NotRepresentable();
  }
  d.throwIfError();
  if (out === undefined) throw new NotRepresentable();
  return out;
}

function verdictOf(ad: AttributeDecoder): Verdict {
  const data = ad.nestedDecoder();
  if (!data.next() || data.type !== C.NFTA_DATA_VERDICT) throw new NotRepresentable();
  const v = data.nestedDecoder();
  const out: Verdict = { code: 0 };
  let sawCode = false;
  while (v.next()) {
    if (v.type === C.NFTA_VERDICT_CODE && !sawCode) {
      out.code = v.be32() | 0;
      sawCode = true;
    } else if (v.type === C.NFTA_VERDICT_CHAIN && out.chain === undefined) out.chain = v.string();
    else throw new NotRepresentable();
  }
  v.throwIfError();
  if (data.next() || !sawCode) throw new NotRepresentable();
  data.throwIfError();
  return out;
}

type Fields = Record<string, number | bigint | Uint8Array | string | Verdict>;

/** Reads a known expression's attributes into named fields, refusing duplicates and strangers. */
function readBody(name: string, ad: AttributeDecoder): Fields {
  const f: Fields = {};
  const set = (k: string, v: number | bigint | Uint8Array | string | Verdict): void => {
    if (k in f) throw new NotRepresentable();
    f[k] = v;
  };
  const be32 = (k: string): void => {
    if (ad.valueLength !== 4) throw new NotRepresentable();
    set(k, ad.be32() >>> 0);
  };
  while (ad.next()) {
    const t = ad.type;
    switch (name) {
      case 'meta':
        if (t === C.NFTA_META_KEY) be32('key');
        else if (t === C.NFTA_META_DREG) be32('dreg');
        else if (t === C.NFTA_META_SREG) be32('sreg');
        else throw new NotRepresentable();
        break;
      case 'payload':
        if (t === C.NFTA_PAYLOAD_SREG) be32('sreg');
        else if (t === C.NFTA_PAYLOAD_DREG) be32('dreg');
        else if (t === C.NFTA_PAYLOAD_BASE) be32('base');
        else if (t === C.NFTA_PAYLOAD_OFFSET) be32('offset');
        else if (t === C.NFTA_PAYLOAD_LEN) be32('len');
        else if (t === C.NFTA_PAYLOAD_CSUM_TYPE) be32('csumType');
        else if (t === C.NFTA_PAYLOAD_CSUM_OFFSET) be32('csumOffset');
        else if (t === C.NFTA_PAYLOAD_CSUM_FLAGS) be32('csumFlags');
        else throw new NotRepresentable();
        break;
      case 'cmp':
        if (t === C.NFTA_CMP_SREG) be32('sreg');
        else if (t === C.NFTA_CMP_OP) be32('op');
        else if (t === C.NFTA_CMP_DATA) set('data', nestedValue(ad, C.NFTA_DATA_VALUE));
        else throw new NotRepresentable();
        break;
      case 'range':
        if (t === C.NFTA_RANGE_SREG) be32('sreg');
        else if (t === C.NFTA_RANGE_OP) be32('op');
        else if (t === C.NFTA_RANGE_FROM_DATA) set('from', nestedValue(ad, C.NFTA_DATA_VALUE));
        else if (t === C.NFTA_RANGE_TO_DATA) set('to', nestedValue(ad, C.NFTA_DATA_VALUE));
        else throw new NotRepresentable();
        break;
      case 'bitwise':
        if (t === C.NFTA_BITWISE_SREG) be32('sreg');
        else if (t === C.NFTA_BITWISE_DREG) be32('dreg');
        else if (t === C.NFTA_BITWISE_OP) be32('op');
        else if (t === C.NFTA_BITWISE_LEN) be32('len');
        else if (t === C.NFTA_BITWISE_MASK) set('mask', nestedValue(ad, C.NFTA_DATA_VALUE));
        else if (t === C.NFTA_BITWISE_XOR) set('xor', nestedValue(ad, C.NFTA_DATA_VALUE));
        else if (t === C.NFTA_BITWISE_DATA) set('data', nestedValue(ad, C.NFTA_DATA_VALUE));
        else throw new NotRepresentable();
        break;
      case 'ct':
        if (t === C.NFTA_CT_KEY) be32('key');
        else if (t === C.NFTA_CT_DREG) be32('dreg');
        else if (t === C.NFTA_CT_SREG) be32('sreg');
        else if (t === C.NFTA_CT_DIRECTION && ad.valueLength === 1) set('direction', ad.u8());
        else throw new NotRepresentable();
        break;
      case 'immediate':
        if (t === C.NFTA_IMMEDIATE_DREG) be32('dreg');
        else if (t === C.NFTA_IMMEDIATE_DATA) {
          const peek = ad.nestedDecoder();
          if (peek.next() && peek.type === C.NFTA_DATA_VERDICT) set('verdict', verdictOf(ad));
          else set('data', nestedValue(ad, C.NFTA_DATA_VALUE));
        } else throw new NotRepresentable();
        break;
      case 'counter':
        if ((t === C.NFTA_COUNTER_BYTES || t === C.NFTA_COUNTER_PACKETS) && ad.valueLength === 8) set(t === C.NFTA_COUNTER_BYTES ? 'bytes' : 'packets', ad.be64());
        else throw new NotRepresentable();
        break;
      case 'queue':
        if ((t === C.NFTA_QUEUE_NUM || t === C.NFTA_QUEUE_TOTAL || t === C.NFTA_QUEUE_FLAGS) && ad.valueLength === 2) {
          set(t === C.NFTA_QUEUE_NUM ? 'num' : t === C.NFTA_QUEUE_TOTAL ? 'total' : 'flags', ad.be16());
        } else if (t === C.NFTA_QUEUE_SREG_QNUM) be32('sregQnum');
        else throw new NotRepresentable();
        break;
      case 'target':
      case 'match':
        if (t === C.NFTA_TARGET_NAME) set('name', ad.string());
        else if (t === C.NFTA_TARGET_REV) be32('rev');
        else if (t === C.NFTA_TARGET_INFO) set('info', ad.bytes().slice());
        else throw new NotRepresentable();
        break;
      default:
        throw new NotRepresentable();
    }
  }
  if (ad.error !== undefined) throw new NotRepresentable();
  return f;
}

const REQUIRED: Record<string, readonly string[]> = {
  meta: ['key'],
  payload: ['base', 'offset', 'len'],
  cmp: ['sreg', 'op', 'data'],
  range: ['sreg', 'op', 'from', 'to'],
  bitwise: ['sreg', 'dreg', 'len'],
  ct: ['key'],
  immediate: ['dreg'],
  counter: ['bytes', 'packets'],
  queue: [],
  target: ['name', 'rev', 'info'],
  match: ['name', 'rev', 'info'],
};

/**
 * Decodes one NFTA_LIST_ELEM value (`buffer[start, end)`: the expression's name and data).
 * Throws NetlinkDecodeError for malformed attributes or a missing name.
 */
export function decodeExpr(buffer: Uint8Array, start: number, end: number): Expr {
  const ad = new AttributeDecoder(buffer, start, end);
  let name: string | undefined;
  let dataStart = -1;
  let dataEnd = -1;
  while (ad.next()) {
    if (ad.type === C.NFTA_EXPR_NAME && name === undefined) name = ad.string();
    else if (ad.type === C.NFTA_EXPR_DATA && dataStart < 0) {
      dataStart = ad.valueOffset;
      dataEnd = ad.valueOffset + ad.valueLength;
    } else throw new NetlinkDecodeError(`expression attribute ${ad.type} is unexpected`, ad.valueOffset - 4);
  }
  ad.throwIfError();
  if (name === undefined) throw new NetlinkDecodeError('expression without NFTA_EXPR_NAME', start);
  const other = (): OtherExpr => (dataStart < 0 ? { type: 'other', name: name! } : { type: 'other', name: name!, data: buffer.slice(dataStart, dataEnd) });
  const required = REQUIRED[name];
  if (required === undefined || dataStart < 0) return other();
  let f: Fields;
  try {
    f = readBody(name, new AttributeDecoder(buffer, dataStart, dataEnd));
  } catch (e) {
    if (e instanceof NotRepresentable) return other();
    throw e;
  }
  if (!required.every((k) => k in f)) return other();
  return { type: name, ...f } as Expr;
}

/** Decodes the value of NFTA_RULE_EXPRESSIONS (a list of NFTA_LIST_ELEM). */
export function decodeExprList(buffer: Uint8Array, start: number, end: number): Expr[] {
  const ad = new AttributeDecoder(buffer, start, end);
  const out: Expr[] = [];
  while (ad.next()) {
    if (ad.type !== C.NFTA_LIST_ELEM) throw new NetlinkDecodeError(`expression list holds attribute ${ad.type}, not NFTA_LIST_ELEM`, ad.valueOffset - 4);
    out.push(decodeExpr(buffer, ad.valueOffset, ad.valueOffset + ad.valueLength));
  }
  ad.throwIfError();
  return out;
}
