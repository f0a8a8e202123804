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
import { NETLINK_NETFILTER, NLMSG_ERROR, NLMSG_HDRLEN, NLMSG_PID_OFFSET, NLMSG_SEQ_OFFSET, NLM_F_ACK, NLM_F_CAPPED } from '../netlink/constants.js';
import { viewOf, writeHeader } from '../netlink/message.js';
import { NetlinkSocketError } from '../netlink/errors.js';
import type { Transport, TransportHandlers } from '../netlink/transport.js';
import { describeMessage } from '../nfqueue/describe.js';
import { readPcap, type PcapCapture } from './reader.js';
import { headerOf, isUnbind, messageExtents, parseConversation, type Expected, type InEvent } from './replay-parse.js';
import { differenceText, firstDifference, hex } from './replay-compare.js';
import { ReplayMismatchError, type ReplayMismatch, type ReplayOptions, type ReplayResult } from './replay-types.js';

export type { ReplayOptions, ReplayMismatch, ReplayResult } from './replay-types.js';
export { ReplayMismatchError } from './replay-types.js';

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
  private readonly expected: Expected[];
  /** Recorded 'in' datagrams, in recorded order; those from `head` on not delivered yet (or passed over). */
  private readonly pending: InEvent[];
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
  private readonly answered: Set<number>;
  private stallTimer: NodeJS.Timeout | undefined;
  private failure: ReplayMismatchError | undefined;
  private resolveDone!: (r: ReplayResult) => void;
  private rejectDone!: (e: Error) => void;

  /** @internal use replay() */
  constructor(source: string | Uint8Array | PcapCapture, options: ReplayOptions = {}) {
    this.strict = options.strict ?? false;
    this.stallTimeout = options.stallTimeout ?? 1000;
    const capture = typeof source === 'string' ? readPcap(readFileSync(source)) : source instanceof Uint8Array ? readPcap(source) : source;
    this.done = new Promise<ReplayResult>((resolve, reject) => {
      this.resolveDone = resolve;
      this.rejectDone = reject;
    });
    // Callers who do not await `done` must not get an unhandled rejection.
    this.done.catch(() => undefined);

    const conv = parseConversation(capture, options.protocol ?? NETLINK_NETFILTER, options.portId);
    this.portId = conv.portId;
    this.expected = conv.expected;
    this.pending = conv.incoming;
    this.answered = conv.answered;
    this.closeStart = conv.closeStart;
    this.notes.push(...conv.notes);
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
    const sent = headerOf(m);
    const header = { seq: sent.seq, pid: sent.pid };
    this.sentHeaders.push(header);
    const e = this.expected[index];
    const offset = e === undefined ? -1 : firstDifference(m, e.bytes);
    // Whose recorded replies this message gets.
    let j: number | undefined;
    if (e !== undefined && (offset === -1 || (e.bytes.byteLength >= NLMSG_HDRLEN && headerOf(e.bytes).type === sent.type)) && !this.counterpart.has(index)) j = index;
    else j = this.expected.findIndex((x, k) => !this.counterpart.has(k) && firstDifference(m, x.bytes) === -1);
    if (j !== undefined && j >= 0) this.counterpart.set(j, header);
    if ((sent.flags & NLM_F_ACK) !== 0 && (j === undefined || j < 0 || !this.answered.has(j))) {
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
    this.mismatch('differs', index, e, m.slice(), offset, differenceText(index, e, m, offset));
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
    writeHeader(viewOf(d), 0, { length: d.byteLength, type: NLMSG_ERROR, flags: NLM_F_CAPPED, seq: headerOf(req).seq, pid: this.portId });
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
    const view = viewOf(d);
    for (const r of ev.replies) {
      const actual = this.counterpart.get(r.answers);
      if (actual === undefined) continue;
      // The reply's own seq, and the seq and pid of the request it echoes.
      const echo = r.offset + NLMSG_HDRLEN + 4;
      view.setUint32(r.offset + NLMSG_SEQ_OFFSET, actual.seq, true);
      view.setUint32(echo + NLMSG_SEQ_OFFSET, actual.seq, true);
      view.setUint32(echo + NLMSG_PID_OFFSET, actual.pid, true);
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
