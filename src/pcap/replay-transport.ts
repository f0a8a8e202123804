/**
 * Replay: a Transport that plays a recorded netlink conversation (a LINKTYPE_NETLINK pcap or
 * pcapng, as the recorder or tcpdump on nlmon writes it) back into the library, and checks
 * what the library sends against what was recorded. One replay tests the decoder (recorded
 * kernel messages reach the callback as if live) and the encoder (the library's requests and
 * verdicts must match the recording) without privileges or a kernel.
 *
 * How a conversation is played back:
 *
 * - The capture is split into 'in' datagrams (received by the recording socket: cooked
 *   packet type 0, or 6 from nlmon) and 'out' datagrams (sent by it: type 4, or 7 from
 *   nlmon). Records of another link type or netlink protocol are ignored. The messages of all
 *   'out' datagrams, in order, form the *expected stream*.
 * - Everything the library sends is split into messages too and compared, one by one, with
 *   the expected stream: message level, not datagram level, so verdicts coalesced
 *   differently (several in one datagram, or one per datagram) still compare equal. The
 *   sequence number and port id of every message are normalised (ignored); every other byte
 *   must be equal. Differences are collected in `mismatches`.
 * - 'in' datagrams are delivered in recorded order, each in its own macrotask (so a
 *   library's microtask-flushed verdicts go out in between), and each only once the library
 *   has sent as many messages as had been sent before it in the recording: a packet that
 *   arrived after the setup acks (or after an earlier verdict) is delivered after the
 *   library sent those. An NLMSG_ERROR (ack or error) answering a recorded request is held
 *   until the library has sent its counterpart of that request, and is rewritten to carry
 *   the sequence number and port id the library used (outer header and echoed request), so
 *   the library's own numbering need not match the recording.
 * - Which library message answers to a recorded request: the one sent at its position
 *   when it is equal or of the same message type (a verdict that differs still gets the
 *   recorded error), else an equal one sent elsewhere (a queue closed early sends its UNBIND
 *   out of place). A recorded reply whose request the library never sends stays pending and
 *   is reported in `skipped`; later datagrams do not wait for it.
 * - If the library stops sending before the recording says it should (a callback that
 *   answers differently, a client configured differently from the recording's), the replay
 *   waits `stallTimeout` ms, delivers the next datagram anyway and from then on expects that
 *   many messages fewer, so the difference costs one stall, not one per packet. The stall
 *   never fires when the library behaves as recorded.
 * - A request asking for an ack that nothing recorded answers (the recording's client asked
 *   for no acks, or the capture was cut before its close) gets a made-up ack, as the kernel
 *   acks success, so the library never hangs; `notes` says so. An UNBIND sent beyond the
 *   end of the recording is not a mismatch; any other extra message is.
 * - Closing: a trailing run of UNBIND requests in the recording is the recorded close. Once
 *   every datagram before it has been delivered, the library has sent everything before it
 *   and has then been quiet for a turn, the replay calls the `end()` handler: a Queue then
 *   closes, sends its UNBINDs, gets the recorded acks and closes the transport.
 * - `done` resolves with a ReplayResult when the transport is closed, or earlier when the
 *   capture is exhausted (every datagram delivered, every expected message compared). At
 *   close, expected messages never sent are `missing` mismatches. With `{ strict: true }`,
 *   the first mismatch makes `done` reject with a ReplayMismatchError and is thrown from
 *   that `send()` (a Queue reports it through onError / 'error'); the replay goes on so the
 *   queue can wind down.
 */
import { readFileSync } from 'node:fs';
import { NETLINK_NETFILTER, NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_CAPPED, align4 } from '../netlink/constants.js';
import { MessageCursor } from '../netlink/message.js';
import { NetlinkError, NetlinkSocketError, errnoName } from '../netlink/errors.js';
import type { Transport, TransportHandlers } from '../netlink/transport.js';
import * as C from '../nfqueue/constants.js';
import { PcapFormatError } from './errors.js';
import { NETLINK_COOKED_HEADER_LENGTH, ARPHRD_NETLINK } from './netlink-cooked.js';
import { readPcap, type PcapCapture } from './reader.js';
import { LINKTYPE_NETLINK } from './writer.js';

/** Options of replay(). */
export interface ReplayOptions {
  /** Reject `done` and throw from `send()` at the first mismatch (default false: collect them). */
  strict?: boolean;
  /**
   * Port id of the recorded socket; also the replay's `portId`. Default: the destination
   * port of the first recorded NLMSG_ERROR, else the port id of the first recorded request,
   * else 0. When given, recorded requests from other ports and errors sent to other ports
   * are left out (for nlmon captures of several sockets).
   */
  portId?: number;
  /** Netlink protocol of the conversation (default 12, NETLINK_NETFILTER). */
  protocol?: number;
  /** How long to wait for a send the recording expects before moving on, in ms (default 1000). */
  stallTimeout?: number;
}

/** One difference between what the library sent and what was recorded. */
export interface ReplayMismatch {
  /**
   * `'differs'`: the message is not the recorded one; `'extra'`: sent beyond the end of the
   * recording; `'missing'`: recorded but never sent; `'malformed'`: the library sent bytes
   * that are not netlink messages.
   */
  kind: 'differs' | 'extra' | 'missing' | 'malformed';
  /** Position in the stream of sent messages (0-based). */
  index: number;
  /** 1-based record number of the expected message in the capture (tshark's frame.number). */
  frame: number | undefined;
  /** The recorded message (as recorded, seq and pid included). */
  expected: Uint8Array | undefined;
  /** The message the library sent. */
  actual: Uint8Array | undefined;
  /** First differing byte (seq and pid excepted), for `'differs'`. */
  offset: number | undefined;
  /** A readable account: which message, which attribute, which bytes. */
  message: string;
}

/** The outcome of a replay. */
export interface ReplayResult {
  /** Every difference found (empty when the library sent exactly what was recorded). */
  mismatches: ReplayMismatch[];
  /** Messages the library sent. */
  sent: number;
  /** Messages the recording expected it to send. */
  expected: number;
  /** Recorded datagrams delivered to the library. */
  delivered: number;
  /** Frames of recorded 'in' datagrams never delivered (an ack whose request never came…). */
  skipped: number[];
  /** Things the replay did that are not mismatches (made-up acks for a trailing UNBIND…). */
  notes: string[];
}

/** A send that differs from the recording, in strict mode. */
export class ReplayMismatchError extends NetlinkError {
  override name = 'ReplayMismatchError';
  /** The difference. */
  readonly mismatch: ReplayMismatch;
  constructor(mismatch: ReplayMismatch) {
    super(mismatch.message);
    this.mismatch = mismatch;
  }
}

interface Expected {
  bytes: Uint8Array;
  frame: number;
}

interface InEvent {
  frame: number;
  datagram: Uint8Array;
  /** Messages the library must have sent before this is delivered (soft: the stall overrides). */
  softGate: number;
  /**
   * NLMSG_ERROR messages answering recorded requests: offset in the datagram, stream index
   * answered. Held until the library has sent its counterpart of each (hard: see `counterpart`).
   */
  replies: { offset: number; answers: number }[];
  synthetic: boolean;
}

const SEQ_OFF = 8;
const PID_OFF = 12;

/** Cooked packet types meaning "sent by the recording socket": 4 (recorder, SLL outgoing), 7 (nlmon PACKET_KERNEL). */
function isOutgoing(packetType: number): boolean {
  return packetType === 4 || packetType === 7;
}

/** Splits a datagram into message extents; a malformed tail becomes one last extent. */
function messageExtents(d: Uint8Array): { offset: number; length: number; malformed: boolean }[] {
  const c = new MessageCursor().reset(d);
  const out: { offset: number; length: number; malformed: boolean }[] = [];
  while (c.next()) out.push({ offset: c.offset, length: c.length, malformed: false });
  if (c.error !== undefined) out.push({ offset: c.error.offset, length: d.byteLength - c.error.offset, malformed: true });
  return out;
}

const u16 = (b: Uint8Array, o: number): number => b[o]! | (b[o + 1]! << 8);
const u32 = (b: Uint8Array, o: number): number => (b[o]! | (b[o + 1]! << 8) | (b[o + 2]! << 16) | (b[o + 3]! << 24)) >>> 0;
const u32be = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
const be32 = (b: Uint8Array, o: number): number => ((b[o]! << 24) | (b[o + 1]! << 16) | (b[o + 2]! << 8) | b[o + 3]!) >>> 0;
function setU32(b: Uint8Array, o: number, x: number): void {
  b[o] = x & 0xff;
  b[o + 1] = (x >>> 8) & 0xff;
  b[o + 2] = (x >>> 16) & 0xff;
  b[o + 3] = (x >>> 24) & 0xff;
}

const VERDICT_NAMES: Record<number, string> = { 0: 'DROP', 1: 'ACCEPT', 2: 'STOLEN', 3: 'QUEUE', 4: 'REPEAT', 5: 'STOP' };
const CMD_NAMES: Record<number, string> = { 1: 'BIND', 2: 'UNBIND', 3: 'PF_BIND', 4: 'PF_UNBIND' };
const CFG_ATTR_NAMES: Record<number, string> = { 1: 'CFG_CMD', 2: 'CFG_PARAMS', 3: 'CFG_QUEUE_MAXLEN', 4: 'CFG_MASK', 5: 'CFG_FLAGS' };
const NFQA_NAMES: Record<number, string> = {
  1: 'PACKET_HDR', 2: 'VERDICT_HDR', 3: 'MARK', 4: 'TIMESTAMP', 5: 'IFINDEX_INDEV', 6: 'IFINDEX_OUTDEV', 7: 'IFINDEX_PHYSINDEV',
  8: 'IFINDEX_PHYSOUTDEV', 9: 'HWADDR', 10: 'PAYLOAD', 11: 'CT', 12: 'CT_INFO', 13: 'CAP_LEN', 14: 'SKB_INFO', 15: 'EXP', 16: 'UID',
  17: 'GID', 18: 'SECCTX', 19: 'VLAN', 20: 'L2HDR', 21: 'PRIORITY', 22: 'CGROUP_CLASSID',
};

/** Walks the attributes after nlmsghdr + nfgenmsg: [offset, length, type]. */
function attributes(m: Uint8Array): [number, number, number][] {
  const out: [number, number, number][] = [];
  const end = Math.min(m.byteLength, u32(m, 0));
  let off = NLMSG_HDRLEN + C.NFGENMSG_LEN;
  while (off + 4 <= end) {
    const alen = u16(m, off);
    if (alen < 4 || off + alen > end) break;
    out.push([off, alen, u16(m, off + 2) & 0x3fff]);
    off += align4(alen);
  }
  return out;
}

/** A one-line account of a netlink message, e.g. `VERDICT queue 0 packet 3 ACCEPT mark 0x2a`. */
export function describeMessage(m: Uint8Array): string {
  if (m.byteLength < NLMSG_HDRLEN) return `${m.byteLength} bytes (not a netlink message)`;
  const type = u16(m, 4);
  if (type === NLMSG_ERROR) {
    if (m.byteLength < NLMSG_HDRLEN + 4) return 'NLMSG_ERROR (truncated)';
    const errno = -(u32(m, NLMSG_HDRLEN) | 0);
    return errno === 0 ? 'ACK' : `ERROR ${errnoName(errno)} (${errno})`;
  }
  if (type >> 8 !== C.NFNL_SUBSYS_QUEUE || m.byteLength < NLMSG_HDRLEN + C.NFGENMSG_LEN) return `message type 0x${type.toString(16)}`;
  const queue = (m[NLMSG_HDRLEN + 2]! << 8) | m[NLMSG_HDRLEN + 3]!;
  const attrs = attributes(m);
  const val32 = (t: number): number | undefined => {
    const a = attrs.find((x) => x[2] === t && x[1] >= 8);
    return a === undefined ? undefined : be32(m, a[0] + 4);
  };
  const parts: string[] = [];
  switch (type) {
    case C.NFQ_TYPE_CONFIG: {
      parts.push(`CONFIG queue ${queue}`);
      for (const [off, len, t] of attrs) {
        if (t === C.NFQA_CFG_CMD && len >= 5) parts.push(CMD_NAMES[m[off + 4]!] ?? `cmd ${m[off + 4]}`);
        else if (t === C.NFQA_CFG_PARAMS && len >= 9) parts.push(`PARAMS mode ${m[off + 8]} range ${be32(m, off + 4)}`);
        else if (t === C.NFQA_CFG_QUEUE_MAXLEN && len >= 8) parts.push(`MAXLEN ${be32(m, off + 4)}`);
        else if (t === C.NFQA_CFG_FLAGS && len >= 8) parts.push(`FLAGS 0x${be32(m, off + 4).toString(16)}`);
        else if (t === C.NFQA_CFG_MASK && len >= 8) parts.push(`MASK 0x${be32(m, off + 4).toString(16)}`);
      }
      break;
    }
    case C.NFQ_TYPE_VERDICT:
    case C.NFQ_TYPE_VERDICT_BATCH: {
      const batch = type === C.NFQ_TYPE_VERDICT_BATCH;
      parts.push(`${batch ? 'VERDICT_BATCH' : 'VERDICT'} queue ${queue}`);
      const h = attrs.find((x) => x[2] === C.NFQA_VERDICT_HDR && x[1] >= 12);
      if (h !== undefined) {
        const word = be32(m, h[0] + 4);
        const name = VERDICT_NAMES[word & 0xffff] ?? `verdict ${word & 0xffff}`;
        parts.push(`${batch ? 'up to packet' : 'packet'} ${be32(m, h[0] + 8)} ${name}${(word & 0xffff) === 3 ? ` to queue ${word >>> 16}` : ''}`);
      }
      const mark = val32(C.NFQA_MARK);
      if (mark !== undefined) parts.push(`mark 0x${mark.toString(16)}`);
      const payload = attrs.find((x) => x[2] === C.NFQA_PAYLOAD);
      if (payload !== undefined) parts.push(`payload ${payload[1] - 4} bytes`);
      break;
    }
    case C.NFQ_TYPE_PACKET: {
      const h = attrs.find((x) => x[2] === C.NFQA_PACKET_HDR && x[1] >= 11);
      parts.push(`PACKET queue ${queue}${h === undefined ? '' : ` packet ${be32(m, h[0] + 4)}`}`);
      break;
    }
    default:
      parts.push(`queue message type 0x${type.toString(16)} queue ${queue}`);
  }
  return parts.join(' ');
}

/** Names the field of message `m` that holds byte `offset`. */
function fieldAt(m: Uint8Array, offset: number): string {
  if (offset < NLMSG_HDRLEN) return ['nlmsg_len', 'nlmsg_len', 'nlmsg_len', 'nlmsg_len', 'nlmsg_type', 'nlmsg_type', 'nlmsg_flags', 'nlmsg_flags'][offset] ?? 'header';
  if (offset < NLMSG_HDRLEN + C.NFGENMSG_LEN) return ['nfgenmsg family', 'nfgenmsg version', 'nfgenmsg queue', 'nfgenmsg queue'][offset - NLMSG_HDRLEN]!;
  const config = u16(m, 4) === C.NFQ_TYPE_CONFIG;
  for (const [off, len, t] of attributes(m)) {
    if (offset >= off && offset < off + align4(len)) {
      const name = (config ? CFG_ATTR_NAMES[t] : NFQA_NAMES[t]) ?? `attribute ${t}`;
      if (offset < off + 4) return `${name} attribute header`;
      return `${name} byte ${offset - off - 4}`;
    }
  }
  return 'past the attributes';
}

function hex(b: Uint8Array, from: number, to: number): string {
  const out: string[] = [];
  for (let i = Math.max(0, from); i < Math.min(b.byteLength, to); i++) out.push(b[i]!.toString(16).padStart(2, '0'));
  return out.join(' ');
}

/**
 * First byte where messages `a` and `b` differ, seq and pid (bytes 8..15) excepted; the
 * shorter one's length if one is a prefix of the other; -1 when equal.
 */
function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    if (i === SEQ_OFF) i = NLMSG_HDRLEN;
    if (i < n && a[i] !== b[i]) return i;
  }
  return a.byteLength === b.byteLength ? -1 : n;
}

/** Copy of a message with seq and pid zeroed (for showing a difference). */
function normalised(m: Uint8Array): Uint8Array {
  const c = m.slice();
  if (c.byteLength >= NLMSG_HDRLEN) c.fill(0, SEQ_OFF, NLMSG_HDRLEN);
  return c;
}

/**
 * A config message close() sends to a live socket before UNBIND to stop new deliveries
 * (FLAGS/MASK with only FAIL_OPEN, or QUEUE_MAXLEN 0), without asking for an ack. A replayed
 * queue is not live and does not send it, so a recording's copy is not expected.
 */
function isCloseDrain(m: Uint8Array): boolean {
  if (m.byteLength < NLMSG_HDRLEN || u16(m, 4) !== C.NFQ_TYPE_CONFIG || (u16(m, 6) & NLM_F_ACK) !== 0) return false;
  const attrs = attributes(m);
  if (attrs.length === 0) return false;
  return attrs.every(([off, len, t]) => {
    if (len < 8) return false;
    const v = u32be(m, off + 4);
    if (t === C.NFQA_CFG_QUEUE_MAXLEN) return v === 0;
    return (t === C.NFQA_CFG_FLAGS || t === C.NFQA_CFG_MASK) && v === C.NFQA_CFG_F_FAIL_OPEN;
  });
}

function isUnbind(m: Uint8Array): boolean {
  if (m.byteLength < NLMSG_HDRLEN || u16(m, 4) !== C.NFQ_TYPE_CONFIG) return false;
  return attributes(m).some(([off, len, t]) => t === C.NFQA_CFG_CMD && len >= 5 && m[off + 4] === C.NFQNL_CFG_CMD_UNBIND);
}

/**
 * Plays back the conversation in `source` (a pcap/pcapng path, its bytes, or a capture
 * already read with readPcap). Use the result as a Queue's transport:
 *
 * ```ts
 * const t = replay('fixtures/ipv4-udp-output.pcap');
 * const q = await openQueue(0, (pkt) => 'accept', { transport: t });
 * const { mismatches } = await t.done;
 * ```
 *
 * Throws PcapFormatError when the bytes are not a capture or hold no netlink conversation.
 * See the file's comment for how datagrams are paced, matched and compared.
 */
export function replay(source: string | Uint8Array | PcapCapture, options: ReplayOptions = {}): ReplayTransport {
  return new ReplayTransport(source, options);
}

/** The replay transport; create it with replay(). */
export class ReplayTransport implements Transport {
  readonly kind = 'replay';
  readonly reusesReceiveBuffer = false;
  /** The recorded socket's port id. */
  readonly portId: number;
  /** Differences found so far (grows as the library sends). */
  readonly mismatches: ReplayMismatch[] = [];
  /** Resolves when the transport is closed or the capture is exhausted; see replay(). */
  readonly done: Promise<ReplayResult>;
  /** Frames of 'in' datagrams that were never delivered. */
  readonly skipped: number[] = [];
  /** Things done that are not mismatches. */
  readonly notes: string[] = [];

  private readonly strict: boolean;
  private readonly stallTimeout: number;
  private readonly expected: Expected[] = [];
  /** Recorded 'in' datagrams, in recorded order; those from `head` on not delivered yet (or passed over). */
  private readonly pending: InEvent[] = [];
  private head = 0;
  private readonly urgent: InEvent[] = [];
  private readonly sentHeaders: { seq: number; pid: number }[] = [];
  /**
   * For a recorded request (stream index), the seq and pid of the library's message that
   * answers to it: the one sent at its position when equal or of the same type, else an
   * equal one sent elsewhere (a library that closes early sends its UNBIND out of place).
   */
  private readonly counterpart = new Map<number, { seq: number; pid: number }>();
  /** First stream index of the recorded close (trailing UNBINDs), or the stream length. */
  private readonly closeStart: number;
  private handlers: TransportHandlers | undefined;
  private delivered = 0;
  private closed = false;
  private endCalled = false;
  private settled = false;
  private pumpScheduled = false;
  private stalled = false;
  /**
   * How many messages fewer than recorded the library sends (learnt at stalls): a library
   * configured differently from the recording's client pays for the difference once, not at
   * every packet.
   */
  private slack = 0;
  /** Messages sent when the previous pump found nothing due (the close waits for a quiet turn). */
  private sentAtIdle = -1;
  /** Recorded requests (stream indexes) that have a recorded reply. */
  private readonly answered = new Set<number>();
  private stallTimer: NodeJS.Timeout | undefined;
  private failure: ReplayMismatchError | undefined;
  private resolveDone!: (r: ReplayResult) => void;
  private rejectDone!: (e: Error) => void;

  /** @internal use replay() */
  constructor(source: string | Uint8Array | PcapCapture, options: ReplayOptions = {}) {
    this.strict = options.strict ?? false;
    this.stallTimeout = options.stallTimeout ?? 1000;
    const protocol = options.protocol ?? NETLINK_NETFILTER;
    const capture = typeof source === 'string' ? readPcap(readFileSync(source)) : source instanceof Uint8Array ? readPcap(source) : source;
    this.done = new Promise<ReplayResult>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Callers who do not await `done` must not get an unhandled rejection.
    this.done.catch(() => undefined);

    const records: { frame: number; out: boolean; datagram: Uint8Array }[] = [];
    capture.records.forEach((r, i) => {
      if (r.linktype !== LINKTYPE_NETLINK || r.data.byteLength < NETLINK_COOKED_HEADER_LENGTH) return;
      const d = r.data;
      if (((d[2]! << 8) | d[3]!) !== ARPHRD_NETLINK) return;
      if (((d[14]! << 8) | d[15]!) !== protocol) return;
      records.push({ frame: i + 1, out: isOutgoing((d[0]! << 8) | d[1]!), datagram: d.slice(NETLINK_COOKED_HEADER_LENGTH) });
    });
    if (records.length === 0) {
      throw new PcapFormatError(`the capture holds no LINKTYPE_NETLINK records of netlink protocol ${protocol}`, 0);
    }
    this.portId = options.portId ?? defaultPortId(records);
    const filterPort = options.portId;

    for (const r of records) {
      const extents = messageExtents(r.datagram);
      if (r.out) {
        for (const x of extents) {
          const m = r.datagram.subarray(x.offset, x.offset + x.length);
          if (filterPort !== undefined && !x.malformed && u32(m, PID_OFF) !== filterPort) continue;
          if (!x.malformed && isCloseDrain(m)) {
            this.notes.push(`frame ${r.frame}: ${describeMessage(m)} is close()'s drain of a live socket, which a replay does not repeat`);
            continue;
          }
          this.expected.push({ bytes: m, frame: r.frame });
        }
        continue;
      }
      const ev: InEvent = { frame: r.frame, datagram: r.datagram, softGate: this.expected.length, replies: [], synthetic: false };
      let foreign = extents.length > 0;
      for (const x of extents) {
        const m = r.datagram.subarray(x.offset, x.offset + x.length);
        if (x.malformed || u16(m, 4) !== NLMSG_ERROR || x.length < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) {
          foreign = false;
          continue;
        }
        if (filterPort === undefined || u32(m, PID_OFF) === filterPort) foreign = false;
        const reqType = u16(m, NLMSG_HDRLEN + 4 + 4);
        const reqSeq = u32(m, NLMSG_HDRLEN + 4 + SEQ_OFF);
        for (let j = this.expected.length - 1; j >= 0; j--) {
          const e = this.expected[j]!.bytes;
          if (e.byteLength >= NLMSG_HDRLEN && u16(e, 4) === reqType && u32(e, SEQ_OFF) === reqSeq) {
            ev.replies.push({ offset: x.offset, answers: j });
            this.answered.add(j);
            break;
          }
        }
      }
      if (!foreign) this.pending.push(ev);
    }

    let closeStart = this.expected.length;
    while (closeStart > 0 && isUnbind(this.expected[closeStart - 1]!.bytes)) closeStart--;
    this.closeStart = closeStart;
  }

  /** Messages the recording expects the library to send. */
  get expectedCount(): number {
    return this.expected.length;
  }

  /** Messages the library has sent so far. */
  get sentCount(): number {
    return this.sentHeaders.length;
  }

  start(handlers: TransportHandlers): void {
    if (this.handlers !== undefined) throw new NetlinkSocketError('a replay transport can be started once', { code: 'EALREADY' });
    this.handlers = handlers;
    this.schedulePump();
  }

  send(datagram: Uint8Array): void {
    if (this.closed) throw new NetlinkSocketError('send on a closed replay transport', { code: 'EBADF' });
    const before = this.mismatches.length;
    for (const x of messageExtents(datagram)) {
      // A view: the caller may reuse the bytes, so whatever is kept is copied.
      const m = datagram.subarray(x.offset, x.offset + x.length);
      if (x.malformed) {
        this.mismatch('malformed', this.sentHeaders.length, undefined, m.slice(), undefined, `the library sent ${x.length} bytes that are not a netlink message: ${hex(m, 0, 32)}`);
        continue;
      }
      this.compare(m);
    }
    this.schedulePump();
    if (this.strict && this.failure === undefined && this.mismatches.length > before) {
      this.failure = new ReplayMismatchError(this.mismatches[before]!);
      this.rejectDone(this.failure);
      throw this.failure;
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clearStall();
    for (let i = this.sentHeaders.length; i < this.expected.length; i++) {
      const e = this.expected[i]!;
      this.mismatch('missing', i, e, undefined, undefined, `sent message #${i} missing: the recording (frame ${e.frame}) has ${describeMessage(e.bytes)} but the library never sent it`);
    }
    for (let i = this.head; i < this.pending.length; i++) this.skipped.push(this.pending[i]!.frame);
    this.settle();
  }

  /** The result so far. */
  result(): ReplayResult {
    return {
      mismatches: [...this.mismatches],
      sent: this.sentHeaders.length,
      expected: this.expected.length,
      delivered: this.delivered,
      skipped: [...this.skipped],
      notes: [...this.notes],
    };
  }

  // ------------------------------------------------------------------ comparing

  private compare(m: Uint8Array): void {
    const index = this.sentHeaders.length;
    const header = { seq: u32(m, SEQ_OFF), pid: u32(m, PID_OFF) };
    this.sentHeaders.push(header);
    const e = this.expected[index];
    const offset = e === undefined ? -1 : firstDifference(m, e.bytes);
    // Whose recorded replies this message gets.
    let j: number | undefined;
    if (e !== undefined && (offset === -1 || u16(e.bytes, 4) === u16(m, 4)) && !this.counterpart.has(index)) j = index;
    else j = this.expected.findIndex((x, k) => !this.counterpart.has(k) && firstDifference(m, x.bytes) === -1);
    if (j !== undefined && j >= 0) this.counterpart.set(j, header);
    if ((u16(m, 6) & NLM_F_ACK) !== 0 && (j === undefined || j < 0 || !this.answered.has(j))) {
      // Nothing recorded answers it (a capture cut before its close, a recording client that
      // asked for no acks): a made-up ack, as the kernel acks success, so the library does not hang.
      this.urgent.push(this.madeUpAck(m));
      this.notes.push(`answered ${describeMessage(m)} with a made-up ack: the recording has no answer to it`);
      if (e === undefined && isUnbind(m)) return;
    }
    if (e === undefined) {
      this.mismatch('extra', index, undefined, m.slice(), undefined, `sent message #${index} is extra: the recording has no more messages, the library sent ${describeMessage(m)}`);
      return;
    }
    if (offset === -1) return;
    const a = normalised(m);
    const b = normalised(e.bytes);
    const n = Math.min(a.byteLength, b.byteLength);
    const what = describeMessage(e.bytes);
    const got = describeMessage(m);
    let text = `sent message #${index} differs from the recording (frame ${e.frame}): expected ${what}, the library sent ${got === what ? 'different bytes' : got}; `;
    if (offset < n) {
      text += `first difference at byte ${offset} (${fieldAt(e.bytes, offset)}): expected ${hex(b, offset, offset + 8)}, got ${hex(a, offset, offset + 8)}`;
    } else {
      text += `lengths differ: expected ${b.byteLength} bytes, got ${a.byteLength}`;
    }
    this.mismatch('differs', index, e, m.slice(), offset, text);
  }

  private mismatch(kind: ReplayMismatch['kind'], index: number, e: Expected | undefined, actual: Uint8Array | undefined, offset: number | undefined, message: string): void {
    this.mismatches.push({ kind, index, frame: e?.frame, expected: e?.bytes, actual, offset, message });
    if (this.strict && this.failure === undefined && kind === 'missing') {
      this.failure = new ReplayMismatchError(this.mismatches[this.mismatches.length - 1]!);
      this.rejectDone(this.failure);
    }
  }

  private madeUpAck(req: Uint8Array): InEvent {
    const d = new Uint8Array(NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
    setU32(d, 0, d.byteLength);
    d[4] = NLMSG_ERROR;
    d[6] = NLM_F_CAPPED & 0xff;
    d[7] = NLM_F_CAPPED >> 8;
    setU32(d, SEQ_OFF, u32(req, SEQ_OFF));
    setU32(d, PID_OFF, this.portId);
    d.set(req.subarray(0, NLMSG_HDRLEN), NLMSG_HDRLEN + 4);
    return { frame: 0, datagram: d, softGate: 0, replies: [], synthetic: true };
  }

  // ------------------------------------------------------------------ delivering

  private schedulePump(): void {
    if (this.pumpScheduled || this.closed || this.handlers === undefined) return;
    this.pumpScheduled = true;
    setImmediate(() => {
      this.pumpScheduled = false;
      this.pump();
    });
  }

  private pump(): void {
    const h = this.handlers;
    if (this.closed || h === undefined) return;
    const urgent = this.urgent.shift();
    if (urgent !== undefined) {
      this.deliver(urgent, h);
      return;
    }
    const sent = this.sentHeaders.length;
    // The first datagram due: its replies' requests sent, and everything recorded before it
    // sent too (or a stall). A reply whose request the library has not sent is passed over
    // but stays pending: its request may still come (a close, say).
    const answerable = (ev: InEvent): boolean => ev.replies.every((r) => this.counterpart.has(r.answers));
    let i = this.head;
    for (; i < this.pending.length; i++) {
      const ev = this.pending[i]!;
      // Soft gates only grow along the recording: past the first one not reached, none is.
      if (!this.stalled && sent + this.slack < ev.softGate) i = this.pending.length;
      else if (answerable(ev)) break;
    }
    if (i < this.pending.length) {
      // The usual case takes the head; passing over a held reply is rare.
      const ev = i === this.head ? this.pending[this.head++] : this.pending.splice(i, 1)[0];
      if (this.stalled) this.slack = Math.max(this.slack, ev!.softGate - sent);
      this.deliver(ev!, h);
      return;
    }
    // Nothing due. At the recorded close (or on a stall), once the library has been quiet for
    // a turn (no request of a setup still in progress), let the library close.
    const quiet = this.sentAtIdle === sent;
    this.sentAtIdle = sent;
    if (!this.endCalled && (sent + this.slack >= this.closeStart || this.stalled)) {
      if (!quiet) {
        this.schedulePump();
        return;
      }
      this.endCalled = true;
      this.stalled = false;
      h.end?.();
      this.schedulePump();
      return;
    }
    if (this.head === this.pending.length && sent >= this.expected.length) {
      this.settle();
      return;
    }
    // A stall can only help a datagram held by its soft gate, or the close.
    if (!this.endCalled || this.pending.slice(this.head).some(answerable)) this.armStall();
  }

  private deliver(ev: InEvent, h: TransportHandlers): void {
    this.stalled = false;
    this.clearStall();
    const d = ev.datagram.slice();
    for (const r of ev.replies) {
      const actual = this.counterpart.get(r.answers);
      if (actual === undefined) continue;
      setU32(d, r.offset + SEQ_OFF, actual.seq);
      setU32(d, r.offset + NLMSG_HDRLEN + 4 + SEQ_OFF, actual.seq);
      setU32(d, r.offset + NLMSG_HDRLEN + 4 + PID_OFF, actual.pid);
    }
    if (!ev.synthetic) this.delivered++;
    h.datagram(d);
    this.schedulePump();
  }

  private armStall(): void {
    if (this.stallTimer !== undefined || this.closed) return;
    this.stallTimer = setTimeout(() => {
      this.stallTimer = undefined;
      this.stalled = true;
      this.pump();
    }, this.stallTimeout);
  }

  private clearStall(): void {
    if (this.stallTimer !== undefined) {
      clearTimeout(this.stallTimer);
      this.stallTimer = undefined;
    }
  }

  private settle(): void {
    if (this.settled) return;
    this.settled = true;
    if (this.failure !== undefined) return; // already rejected
    this.resolveDone(this.result());
  }
}

/** The recorded socket's port id: where the kernel sent its acks, else what requests carried. */
function defaultPortId(records: { out: boolean; datagram: Uint8Array }[]): number {
  for (const r of records) {
    if (r.out || r.datagram.byteLength < NLMSG_HDRLEN) continue;
    if (u16(r.datagram, 4) === NLMSG_ERROR) return u32(r.datagram, PID_OFF);
  }
  for (const r of records) {
    if (r.out && r.datagram.byteLength >= NLMSG_HDRLEN) return u32(r.datagram, PID_OFF);
  }
  return 0;
}
