/**
 * Verdicts: the user-facing verdict values, their validation, and the encoders of
 * NFQNL_MSG_VERDICT and NFQNL_MSG_VERDICT_BATCH. Encoders write into a MessageWriter so that
 * several verdicts share one datagram.
 */
import { NLM_F_REQUEST, NLM_F_ACK } from '../netlink/constants.js';
import type { MessageWriter } from '../netlink/writer.js';
import * as C from './constants.js';
import { CTA_MARK } from './conntrack.js';
import { beginQueueMessage, type RequestHeader } from './header.js';

/** Verdict names a callback may return. */
export type VerdictName = 'accept' | 'drop' | 'repeat' | 'stop' | 'queue';

/** A verdict with its options. */
export interface Verdict {
  /** What to do with the packet. `'queue'` needs `queue`. */
  verdict: VerdictName;
  /** Target queue for `'queue'` (requeue), 0..65535. */
  queue?: number;
  /** With `'queue'`: accept instead of drop when nobody listens on the target queue. */
  bypass?: boolean;
  /** New packet mark (NFQA_MARK), u32. */
  mark?: number;
  /** New connection mark (CTA_MARK inside NFQA_CT); needs conntrack support in the kernel. */
  connmark?: number;
  /** Replacement packet bytes, from the network header on. Checksums are not fixed for you. */
  payload?: Uint8Array;
  /** New skb->priority (NFQA_PRIORITY), u32. */
  priority?: number;
  /** New VLAN tag (bridge family). */
  vlan?: { proto: number; tci: number };
  /** Replacement link-layer header (bridge family). */
  l2hdr?: Uint8Array;
  /**
   * With 'accept' or 'drop': the rest of this packet's connection gets the same verdict in
   * the kernel, without being queued again (flow verdicts: needs a queue opened with a
   * managed `rule` and the `flow` option).
   */
  flow?: boolean;
}

/** What a packet callback may answer: a name or a Verdict object. */
export type VerdictInput = VerdictName | Verdict;

/** Largest payload a verdict can carry: a netlink attribute's 16-bit length minus its header. */
export const MAX_VERDICT_PAYLOAD = 0xffff - 4;

/** Accept, optionally with a mark or other options. */
export function accept(options: Omit<Verdict, 'verdict' | 'queue' | 'bypass'> = {}): Verdict {
  return { ...options, verdict: 'accept' };
}
/** Drop the packet. */
export function drop(): Verdict {
  return { verdict: 'drop' };
}
/** Accept the packet and the rest of its connection, which is no longer queued (flow verdict). */
export function acceptFlow(options: Omit<Verdict, 'verdict' | 'queue' | 'bypass' | 'flow'> = {}): Verdict {
  return { ...options, verdict: 'accept', flow: true };
}
/** Drop the packet and the rest of its connection, which is no longer queued (flow verdict). */
export function dropFlow(): Verdict {
  return { verdict: 'drop', flow: true };
}
/** Send the packet through the current hook again (optionally with a new mark). */
export function repeat(options: Omit<Verdict, 'verdict' | 'queue' | 'bypass'> = {}): Verdict {
  return { ...options, verdict: 'repeat' };
}
/** Accept and stop traversing further hooks' rules of this family. */
export function stop(options: Omit<Verdict, 'verdict' | 'queue' | 'bypass'> = {}): Verdict {
  return { ...options, verdict: 'stop' };
}
/** Requeue the packet to queue `target`; with `bypass`, accept when nobody listens there. */
export function requeue(target: number, options: Omit<Verdict, 'verdict' | 'queue'> = {}): Verdict {
  return { ...options, verdict: 'queue', queue: target };
}

function checkU32(name: string, v: unknown): void {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`verdict ${name} must be an integer in 0..4294967295, got ${String(v)}`);
  }
}

/**
 * The 32-bit verdict word for a verdict: the NF_* code, plus for requeue the target queue
 * in the upper 16 bits and the bypass flag.
 */
export function verdictWord(v: Verdict): number {
  switch (v.verdict) {
    case 'accept':
      return C.NF_ACCEPT;
    case 'drop':
      return C.NF_DROP;
    case 'repeat':
      return C.NF_REPEAT;
    case 'stop':
      return C.NF_STOP;
    case 'queue': {
      const q = v.queue;
      if (typeof q !== 'number' || !Number.isInteger(q) || q < 0 || q > 0xffff) {
        throw new RangeError(`requeue target queue must be an integer in 0..65535, got ${String(q)}`);
      }
      return ((q << C.NF_VERDICT_QBITS) | (v.bypass === true ? C.NF_VERDICT_FLAG_QUEUE_BYPASS : 0) | C.NF_QUEUE) >>> 0;
    }
    default: {
      const name = (v as { verdict: unknown }).verdict;
      if (name === undefined) throw new TypeError(`a verdict object needs its verdict field, e.g. { verdict: 'accept' }; got ${shortForm(v)}`);
      throw new RangeError(`unknown verdict ${JSON.stringify(name) ?? String(name)}: use accept, drop, repeat, stop or queue`);
    }
  }
}

/**
 * Checks a callback's answer and returns it as a Verdict; throws TypeError/RangeError
 * naming the bad field. Strings are interned verdict objects (no allocation).
 */
export function normalizeVerdict(input: unknown): Verdict {
  if (typeof input === 'string') {
    const v = NAMED[input];
    if (v === undefined) throw new RangeError(`unknown verdict '${input}': use 'accept', 'drop', 'repeat' or 'stop' (or requeue(n))`);
    return v;
  }
  if (input === null || typeof input !== 'object' || Array.isArray(input) || isThenable(input)) {
    throw new TypeError(`a verdict must be 'accept', 'drop', 'repeat', 'stop' or a verdict object such as { verdict: 'accept' }, got ${shortForm(input)}${hint(input)}`);
  }
  const v = input as Verdict;
  verdictWord(v); // validates the name and the requeue target
  if (v.mark !== undefined) checkU32('mark', v.mark);
  if (v.flow !== undefined) {
    if (typeof v.flow !== 'boolean') throw new TypeError(`verdict flow must be a boolean, got ${typeof v.flow}`);
    if (v.flow && v.verdict !== 'accept' && v.verdict !== 'drop') throw new RangeError(`a flow verdict is 'accept' or 'drop', got '${v.verdict}'`);
  }
  if (v.connmark !== undefined) checkU32('connmark', v.connmark);
  if (v.priority !== undefined) checkU32('priority', v.priority);
  if (v.payload !== undefined) {
    if (!(v.payload instanceof Uint8Array)) throw new TypeError('verdict payload must be a Uint8Array or Buffer');
    if (v.payload.byteLength > MAX_VERDICT_PAYLOAD) {
      throw new RangeError(`verdict payload of ${v.payload.byteLength} bytes exceeds the ${MAX_VERDICT_PAYLOAD}-byte netlink limit`);
    }
  }
  if (v.l2hdr !== undefined && !(v.l2hdr instanceof Uint8Array)) throw new TypeError('verdict l2hdr must be a Uint8Array or Buffer');
  if (v.vlan !== undefined) {
    if (typeof v.vlan !== 'object' || v.vlan === null) throw new TypeError('verdict vlan must be { proto, tci }');
    for (const k of ['proto', 'tci'] as const) {
      const x = v.vlan[k];
      if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffff) throw new RangeError(`verdict vlan.${k} must be an integer in 0..65535`);
    }
  }
  return v;
}

function isThenable(x: unknown): boolean {
  return typeof (x as { then?: unknown } | null)?.then === 'function';
}

/** A value as a message shows it: `null`, `an array of 1 (a Promise)`, `{ mark: 1 }`… */
function shortForm(x: unknown): string {
  if (x === null || x === undefined) return String(x);
  if (Array.isArray(x)) return `an array of ${x.length}${x.length > 0 ? ` (${x.map((e) => (isThenable(e) ? 'a Promise' : typeof e)).join(', ')})` : ''}`;
  if (isThenable(x)) return 'a Promise';
  if (typeof x !== 'object') return `${typeof x} ${String(x)}`;
  const keys = Object.keys(x);
  return keys.length === 0 ? '{}' : `an object with ${keys.slice(0, 5).join(', ')}`;
}

/** What to do about a verdict of the wrong shape. */
function hint(x: unknown): string {
  if (Array.isArray(x) && x.some(isThenable)) return ': return the Promise itself (an async callback), not an array holding it';
  if (isThenable(x)) return ': a callback may return a Promise, but here the verdict must be given now';
  return '';
}

const NAMED: Readonly<Record<string, Verdict>> = Object.freeze({
  accept: Object.freeze({ verdict: 'accept' }) as Verdict,
  drop: Object.freeze({ verdict: 'drop' }) as Verdict,
  repeat: Object.freeze({ verdict: 'repeat' }) as Verdict,
  stop: Object.freeze({ verdict: 'stop' }) as Verdict,
});

/**
 * Appends an NFQNL_MSG_VERDICT for packet `id` on `queue` to `w`. The verdict must have
 * been validated with normalizeVerdict (or built by the helpers). `h` sets the header's
 * seq and pid when the message is sent by other means than NetlinkConn, which fills them.
 */
export function encodeVerdict(w: MessageWriter, queue: number, id: number, v: Verdict, h?: RequestHeader): void {
  // Hot path: a verdict with no options but perhaps a mark is a fixed 32- or 40-byte message,
  // written with straight DataView stores (no per-field calls, no padding fills).
  if (v.payload === undefined && v.priority === undefined && v.connmark === undefined && v.vlan === undefined && v.l2hdr === undefined) {
    const mark = v.mark;
    const len = mark === undefined ? 32 : 40;
    const at = w.appendFixed(len);
    const d = w.dataView;
    d.setUint32(at, len, true);
    d.setUint16(at + 4, VERDICT_TYPE, true);
    d.setUint16(at + 6, h?.ack === true ? NLM_F_REQUEST | NLM_F_ACK : NLM_F_REQUEST, true);
    d.setUint32(at + 8, h === undefined ? 0 : h.seq >>> 0, true);
    d.setUint32(at + 12, (h?.pid ?? 0) >>> 0, true);
    d.setUint16(at + 16, 0, true); // nfgenmsg: family AF_UNSPEC, version 0
    d.setUint16(at + 18, queue, false);
    d.setUint32(at + 20, (C.NFQA_VERDICT_HDR << 16) | 12, true); // nla_len 12, nla_type
    d.setUint32(at + 24, verdictWord(v), false);
    d.setUint32(at + 28, id >>> 0, false);
    if (mark !== undefined) {
      d.setUint32(at + 32, (C.NFQA_MARK << 16) | 8, true);
      d.setUint32(at + 36, mark >>> 0, false);
    }
    return;
  }
  beginQueueMessage(w, C.NFQNL_MSG_VERDICT, queue, C.NFPROTO_UNSPEC, h);
  w.attrBytes(C.NFQA_VERDICT_HDR, verdictHeaderBytes(verdictWord(v), id));
  if (v.mark !== undefined) w.attrBe32(C.NFQA_MARK, v.mark);
  if (v.priority !== undefined) w.attrBe32(C.NFQA_PRIORITY, v.priority);
  if (v.connmark !== undefined) w.beginNest(C.NFQA_CT).attrBe32(CTA_MARK, v.connmark).endNest();
  if (v.vlan !== undefined) {
    w.beginNest(C.NFQA_VLAN).attrBe16(C.NFQA_VLAN_PROTO, v.vlan.proto).attrBe16(C.NFQA_VLAN_TCI, v.vlan.tci).endNest();
  }
  if (v.l2hdr !== undefined) w.attrBytes(C.NFQA_L2HDR, v.l2hdr);
  if (v.payload !== undefined) w.attrBytes(C.NFQA_PAYLOAD, v.payload);
  w.end();
}

const VERDICT_TYPE = C.NFQ_TYPE_VERDICT;

/** Options of a batch verdict. */
export interface BatchVerdict {
  /** 'accept', 'drop', 'repeat', 'stop' or 'queue' (with `queue`). */
  verdict: VerdictName;
  queue?: number;
  bypass?: boolean;
  mark?: number;
  priority?: number;
}

/**
 * Appends an NFQNL_MSG_VERDICT_BATCH: the verdict applies to every packet of `queue` whose
 * id is <= `maxId`. A batch cannot carry a payload.
 */
export function encodeBatchVerdict(w: MessageWriter, queue: number, maxId: number, v: BatchVerdict, h?: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_VERDICT_BATCH, queue, C.NFPROTO_UNSPEC, h);
  w.attrBytes(C.NFQA_VERDICT_HDR, verdictHeaderBytes(verdictWord(v), maxId));
  if (v.mark !== undefined) w.attrBe32(C.NFQA_MARK, v.mark);
  if (v.priority !== undefined) w.attrBe32(C.NFQA_PRIORITY, v.priority);
  w.end();
}

const vhdr = new Uint8Array(8);
const vhdrView = new DataView(vhdr.buffer);
/** struct nfqnl_msg_verdict_hdr { be32 verdict; be32 id; } in a shared scratch buffer. */
function verdictHeaderBytes(word: number, id: number): Uint8Array {
  vhdrView.setUint32(0, word >>> 0, false);
  vhdrView.setUint32(4, id >>> 0, false);
  return vhdr;
}
