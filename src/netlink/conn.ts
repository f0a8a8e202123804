/**
 * One netlink connection over a Transport: the framing of received datagrams, sequence
 * numbers, requests waiting for their ack (or error, extended ack included), and a shared
 * writer whose messages leave together in one datagram. It knows nothing of any netlink
 * family: the owner gets every other message, and every kernel error no request waits for.
 *
 * Batching: messages written while a datagram is being handled leave when it is done;
 * messages written elsewhere leave at the end of the microtask turn (or at once when the
 * writer grows past FLUSH_THRESHOLD).
 */
import { NLMSG_HDRLEN, NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP, NLMSG_OVERRUN, NLMSG_MIN_TYPE, align4 } from './constants.js';
import { NetlinkSocketError } from './errors.js';
import { headerProblem, messageLengthAt, parseErrorMessage } from './message.js';
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
  /** The shared writer: write messages here (with seq from nextSeq()), then call written() or flush(). */
  readonly out = new MessageWriter(64 * 1024);
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
  nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  /**
   * Writes a request with `write(out, seq)` (which must set NLM_F_ACK, or be a dump), sends
   * it, and resolves on the kernel's ack (for a dump: its NLMSG_DONE); rejects with `options.refused(...)` on its error, or
   * `options.timedOut()` after `options.timeout` ms.
   */
  request(write: (w: MessageWriter, seq: number) => void, options: RequestOptions): Promise<void> {
    const seq = this.nextSeq();
    return new Promise<void>((resolve, reject) => {
      const req: PendingRequest = { resolve, reject, options, timer: undefined };
      req.timer = setTimeout(() => {
        this.pending.delete(seq);
        reject(options.timedOut());
      }, options.timeout);
      this.pending.set(seq, req);
      write(this.out, seq);
      this.flush();
    });
  }

  /** Called after writing a message no ack is awaited for: it leaves with its batch. */
  written(): void {
    if (this.out.length >= FLUSH_THRESHOLD) this.flush();
    else if (!this.inDatagram) this.scheduleFlush();
  }

  /** Like written(), for an owner that sends by itself soon after: sends at once only past FLUSH_THRESHOLD. */
  writtenUnsent(): void {
    if (this.out.length >= FLUSH_THRESHOLD) this.flush();
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
      this.handlers.sendError(e);
    }
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
   * with request() and answered by multipart messages, which go to the owner, then DONE).
   * Its payload, when present, is the dump's errno (negative), 0 when it went well.
   */
  private receiveDone(off: number, mlen: number, view: DataView): void {
    const seq = view.getUint32(off + 8, true);
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
