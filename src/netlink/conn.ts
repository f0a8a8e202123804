/**
 * One netlink connection over a Transport: the framing of received datagrams, sequence
 * numbers, requests waiting for their ack (or error, extended ack included), and a writer
 * of its own whose messages leave together in one datagram. Callers hand it an encoder
 * (`send`, `request`); it fills in each message's sequence number and our port id, as
 * mdlayher/netlink's Conn.Send does. It knows nothing of any netlink family: the owner gets
 * every other message, and every kernel error no request waits for.
 *
 * Batching: messages sent while a datagram is being handled leave when it is done;
 * messages sent elsewhere leave at the end of the microtask turn (or at once when the
 * writer grows past FLUSH_THRESHOLD).
 */
import { NLMSG_HDRLEN, NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP, NLMSG_OVERRUN, NLMSG_MIN_TYPE, NLMSG_PID_OFFSET, NLMSG_SEQ_OFFSET, NLM_F_ACK, NLM_F_DUMP, align4 } from './constants.js';
import { NetfilterQueueError, NetlinkSocketError } from './errors.js';
import { MessageCursor, headerProblem, messageLengthAt, parseErrorMessage } from './message.js';
import { MessageWriter } from './writer.js';
import type { Transport } from './transport.js';

/** The extended-ack fields of a kernel error, when it sent any. */
export interface ExtAck {
  message?: string;
  offset?: number;
}

/** What a connection hands to its owner. */
export interface ConnHandlers {
  /** A message other than NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP and NLMSG_OVERRUN. */
  message(type: number, buffer: Uint8Array, offset: number, length: number, view: DataView): void;
  /** A kernel error (errno ≠ 0) that answers no pending request, e.g. one for a verdict. */
  unmatchedError(errno: number, seq: number, extAck: ExtAck | undefined): void;
  /** A malformed datagram or NLMSG_ERROR; the rest of the datagram is skipped. */
  decodeError(err: Error): void;
  /** A socket problem from the transport, or an NLMSG_OVERRUN (code ENOBUFS). */
  socketError(err: NetlinkSocketError): void;
  /** Sending the writer's messages failed (`err` is what the transport threw). */
  sendError(err: unknown): void;
  /** The transport ended by itself. */
  end(): void;
}

/**
 * Writes one request into `w` with `begin()`…`end()` (any seq and pid: the connection
 * fills them in), from up to three arguments passed through, so that a caller on a hot
 * path needs no closure.
 */
export type Encoder<A, B, C> = (w: MessageWriter, a: A, b: B, c: C) => void;

/** How a request's answer is turned into an error. */
export interface RequestOptions {
  /** Milliseconds to wait for the ack. */
  timeout: number;
  /** The error for a kernel refusal. */
  refused(errno: number, extAck: ExtAck | undefined, seq: number): Error;
  /** The error for no answer within `timeout`. */
  timedOut(): Error;
}

interface PendingRequest {
  /** The sequence number of the request's first message (requestAll sends several). */
  firstSeq: number;
  resolve(): void;
  reject(err: Error): void;
  options: RequestOptions;
  timer: NodeJS.Timeout | undefined;
}

// Flush the shared writer before it grows past this, to stay well under the socket's send buffer.
const FLUSH_THRESHOLD = 60 * 1024;

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

/** A netlink connection; see the file comment. */
export class NetlinkConn {
  /** Messages sent and not yet flushed. */
  private readonly out = new MessageWriter(64 * 1024);
  /** Datagrams received so far (a closing owner watches it to tell when the socket is quiet). */
  datagramsReceived = 0;
  private seq = 0;
  private closed = false;
  private inDatagram = false;
  private flushScheduled = false;
  private readonly pending = new Map<number, PendingRequest>();
  private readonly flushCallback = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  constructor(
    readonly transport: Transport,
    private readonly handlers: ConnHandlers,
  ) {}

  /** Our netlink port id. */
  get portId(): number {
    return this.transport.portId;
  }

  /** True once close() or abort() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Begins receiving. */
  start(): void {
    this.transport.start({
      datagram: (d) => this.receive(d),
      error: (e) => {
        if (!this.closed) this.handlers.socketError(e);
      },
      end: () => this.handlers.end(),
    });
  }

  /** The next sequence number (never 0, which the kernel's own messages carry). */
  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  /**
   * Gives each message written since `start` the next sequence number and our port id (and
   * NLM_F_ACK when `ack`). Returns the first one's sequence number. (The encoder is called
   * by each sender itself, so that its call site stays monomorphic and inlinable.)
   */
  private stamp(start: number, ack: boolean, seqs?: number[]): number {
    const out = this.out;
    const end = out.length;
    const view = out.dataView;
    const pid = this.transport.portId >>> 0;
    let first = 0;
    for (let at = start; at < end; at += align4(view.getUint32(at, true))) {
      const seq = this.nextSeq();
      if (first === 0) first = seq;
      seqs?.push(seq);
      view.setUint32(at + NLMSG_SEQ_OFFSET, seq, true);
      view.setUint32(at + NLMSG_PID_OFFSET, pid, true);
      if (ack) view.setUint16(at + 6, view.getUint16(at + 6, true) | NLM_F_ACK, true);
    }
    return first;
  }

  /**
   * Sends the message `encode(w, a, b, c)` writes, no ack awaited: it leaves with its batch
   * (see the file comment). Returns its sequence number, which a kernel error would carry.
   */
  send<A, B, C>(encode: Encoder<A, B, C>, a: A, b: B, c: C): number {
    const start = this.out.length;
    encode(this.out, a, b, c);
    const seq = this.stamp(start, false);
    if (this.out.length >= FLUSH_THRESHOLD) this.flush();
    else if (!this.inDatagram) this.scheduleFlush();
    return seq;
  }

  /**
   * Like send(), for an owner that flushes by itself soon after (a loop answering many
   * packets): it leaves at the next flush(), or at once past FLUSH_THRESHOLD.
   */
  sendHeld<A, B, C>(encode: Encoder<A, B, C>, a: A, b: B, c: C): number {
    const start = this.out.length;
    encode(this.out, a, b, c);
    const seq = this.stamp(start, false);
    if (this.out.length >= FLUSH_THRESHOLD) this.flush();
    return seq;
  }

  /**
   * Sends the request `encode(w, a, b, c)` writes, with NLM_F_ACK, at once, and resolves on
   * the kernel's ack; rejects with `options.refused(...)` on its error, or
   * `options.timedOut()` after `options.timeout` ms.
   */
  request<A, B, C>(encode: Encoder<A, B, C>, a: A, b: B, c: C, options: RequestOptions): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const start = this.out.length;
      encode(this.out, a, b, c);
      const seq = this.stamp(start, true);
      this.waitFor(seq, { firstSeq: seq, resolve, reject, options, timer: undefined });
    });
  }

  /**
   * Sends the messages `encode(w, a, b, c)` writes (several: an nfnetlink batch, or a dump
   * request) at once, each keeping the flags its encoder gave it, and resolves when the
   * last message that expects an answer (NLM_F_ACK, or a dump's NLMSG_DONE) gets it. Their
   * sequence numbers, in order, are pushed onto `seqs`, so the owner can tie the errors that
   * no request waits for (those of the other messages) to what caused them.
   */
  requestAll<A, B, C>(encode: Encoder<A, B, C>, a: A, b: B, c: C, options: RequestOptions, seqs: number[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const start = this.out.length;
      encode(this.out, a, b, c);
      const first = seqs.length;
      this.stamp(start, false, seqs);
      const view = this.out.dataView;
      let awaited = 0;
      for (let at = start, k = first; at < this.out.length; at += align4(view.getUint32(at, true)), k++) {
        if ((view.getUint16(at + 6, true) & (NLM_F_ACK | NLM_F_DUMP)) !== 0) awaited = seqs[k]!;
      }
      if (awaited === 0) {
        this.flush();
        resolve();
        return;
      }
      this.waitFor(awaited, { firstSeq: seqs[first]!, resolve, reject, options, timer: undefined });
    });
  }

  /** Registers `req` as waiting for the answer to `seq`, then sends everything written. */
  private waitFor(seq: number, req: PendingRequest): void {
    req.timer = setTimeout(() => {
      this.pending.delete(seq);
      req.reject(req.options.timedOut());
    }, req.options.timeout);
    this.pending.set(seq, req);
    this.flush();
  }

  /** Sends at the end of this microtask turn whatever has been written by then. */
  scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.flushCallback);
  }

  /** Sends everything written so far, as one datagram. */
  flush(): void {
    if (this.out.length === 0 || this.closed) return;
    const bytes = this.out.finish();
    // Reset before sending: a transport may deliver a reply from inside send(), and the
    // flush at the end of that nested receive must not send these bytes again (it did,
    // recursively, until the stack overflowed). Transports copy or send the bytes first.
    this.out.reset();
    try {
      this.transport.send(bytes);
    } catch (e) {
      if (this.failRequestsIn(bytes, e)) this.handlers.sendError(e);
    }
  }

  /**
   * A send failed: the requests in `bytes` would wait for an answer that cannot come, so
   * they reject at once with the send's error (typed: a NetlinkSocketError). Returns whether the
   * datagram held anything else (verdicts…), which the owner then hears of by sendError.
   */
  private failRequestsIn(bytes: Uint8Array, e: unknown): boolean {
    // The library's own errors (the socket's, a test kernel's) go as they are; others are wrapped.
    const err = e instanceof NetfilterQueueError ? e : new NetlinkSocketError(`sending a request failed: ${e instanceof Error ? e.message : String(e)}`, { syscall: 'sendmsg', cause: e });
    const seqs: number[] = [];
    for (const c = new MessageCursor().reset(bytes); c.next(); ) seqs.push(c.seq);
    // The failed requests, as ranges of sequence numbers: all the messages of each.
    const failed: [number, number][] = [];
    for (const seq of seqs) {
      const req = this.pending.get(seq);
      if (req === undefined) continue;
      this.pending.delete(seq);
      if (req.timer !== undefined) clearTimeout(req.timer);
      failed.push([req.firstSeq, seq]);
      req.reject(err);
    }
    return seqs.some((seq) => !failed.some(([from, to]) => seq >= from && seq <= to));
  }

  /** Rejects every pending request with `reason` and closes the transport. */
  close(reason: Error): void {
    this.closed = true;
    for (const r of this.pending.values()) {
      if (r.timer !== undefined) clearTimeout(r.timer);
      r.reject(reason);
    }
    this.pending.clear();
    this.transport.close();
  }

  /** Closes at once after a failed setup: pending requests are dropped unanswered. */
  abort(): void {
    this.closed = true;
    for (const r of this.pending.values()) if (r.timer !== undefined) clearTimeout(r.timer);
    this.pending.clear();
    this.transport.close();
  }

  private receive(buf: Uint8Array): void {
    if (this.closed) return;
    this.datagramsReceived++;
    const h = this.handlers;
    // A local DataView (not one kept in a field) so that, inlined, it costs no allocation.
    const len = buf.byteLength;
    const view = new DataView(buf.buffer, buf.byteOffset, len);
    this.inDatagram = true;
    try {
      let off = 0;
      while (off < len) {
        const mlen = messageLengthAt(view, off);
        if (mlen < 0) {
          this.malformed(view, off);
          break;
        }
        const type = view.getUint16(off + 4, true);
        if (type >= NLMSG_MIN_TYPE) h.message(type, buf, off, mlen, view);
        else this.receiveControl(type, buf, off, mlen, view);
        off += align4(mlen);
      }
    } finally {
      this.inDatagram = false;
    }
    this.flush();
  }

  private malformed(view: DataView, off: number): void {
    this.handlers.decodeError(headerProblem(view, off)!);
  }

  /** A control message (type below NLMSG_MIN_TYPE): kept out of receive() so that it stays small enough to inline the owner's handler. */
  private receiveControl(type: number, buf: Uint8Array, off: number, mlen: number, view: DataView): void {
    if (type === NLMSG_ERROR) this.receiveError(buf, off, mlen, view);
    else if (type === NLMSG_OVERRUN) this.handlers.socketError(new NetlinkSocketError('the kernel reported NLMSG_OVERRUN: messages were lost', { code: 'ENOBUFS' }));
    else if (type === NLMSG_DONE) this.receiveDone(off, mlen, view);
    else if (type !== NLMSG_NOOP) this.handlers.message(type, buf, off, mlen, view);
  }

  /**
   * NLMSG_DONE ends a dump: it settles the request with its sequence number (a dump is sent
   * with requestAll() and answered by multipart messages, which go to the owner, then DONE).
   * Its payload, when present, is the dump's errno (negative), 0 when it went well.
   */
  private receiveDone(off: number, mlen: number, view: DataView): void {
    const seq = view.getUint32(off + NLMSG_SEQ_OFFSET, true);
    const req = this.pending.get(seq);
    if (req === undefined) return;
    this.pending.delete(seq);
    if (req.timer !== undefined) clearTimeout(req.timer);
    const errno = mlen >= NLMSG_HDRLEN + 4 ? -view.getInt32(off + NLMSG_HDRLEN, true) : 0;
    if (errno > 0) req.reject(req.options.refused(errno, undefined, seq));
    else req.resolve();
  }

  private receiveError(buf: Uint8Array, off: number, mlen: number, view: DataView): void {
    let errno: number;
    let seq: number;
    let extAck: ExtAck | undefined;
    try {
      const header = { length: mlen, type: NLMSG_ERROR, flags: view.getUint16(off + 6, true), seq: 0, pid: 0 };
      const m = parseErrorMessage({ header, buffer: buf, offset: off, payloadOffset: off + NLMSG_HDRLEN, payloadLength: mlen - NLMSG_HDRLEN });
      errno = m.errno;
      seq = m.request.seq;
      if (m.extAckMessage !== undefined || m.extAckOffset !== undefined) {
        extAck = {};
        if (m.extAckMessage !== undefined) extAck.message = m.extAckMessage;
        if (m.extAckOffset !== undefined) extAck.offset = m.extAckOffset;
      }
    } catch (e) {
      this.handlers.decodeError(toError(e));
      return;
    }
    const req = this.pending.get(seq);
    if (req !== undefined) {
      this.pending.delete(seq);
      if (req.timer !== undefined) clearTimeout(req.timer);
      if (errno === 0) req.resolve();
      else req.reject(req.options.refused(errno, extAck, seq));
      return;
    }
    if (errno !== 0) this.handlers.unmatchedError(errno, seq, extAck); // an ack nobody waits for is dropped
  }
}
