/**
 * An in-memory Transport that plays the kernel's side of nfnetlink_queue for one socket:
 * it answers config requests as the kernel does (an ack with NLM_F_CAPPED echoing the
 * request's header, or an error echoing the whole request), keeps each bound queue's copy
 * mode, copy range and flags, numbers packets per queue from 1, and matches the verdicts it
 * receives to the packets waiting for them. A packet for an unknown id is refused with
 * ENOENT, like the kernel does. While paused (the Queue's backpressure), packets wait here,
 * as they would in the kernel's queue.
 */
import { constants as osConstants } from 'node:os';
import { NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_CAPPED } from '../netlink/constants.js';
import { MessageWriter } from '../netlink/writer.js';
import { MessageCursor } from '../netlink/message.js';
import { NetlinkSocketError } from '../netlink/errors.js';
import { TestKitError } from './errors.js';
import type { Transport, TransportHandlers } from '../netlink/transport.js';
import * as C from '../nfqueue/constants.js';
import { encodePacketMessage, type PacketMessageFields } from '../nfqueue/packet-encoder.js';
import { decodeVerdictMessage, type DecodedVerdict } from '../nfqueue/verdict-decoder.js';
import { decodeConfigMessage } from '../nfqueue/config.js';

const { EINVAL, ENOENT, ENODEV, EBUSY, EOPNOTSUPP } = osConstants.errno;
/** NFQNL_MAX_COPY_RANGE: a copy range of 0, or above this, means this. */
const MAX_COPY_RANGE = 0xffff;

/** The kernel's state of one bound queue. */
export interface TestQueueState {
  copyMode: number;
  copyRange: number;
  maxLen: number;
  flags: number;
}

/** What became of a packet handed to the queue. */
export type PacketOutcome = { ok: true; verdict: DecodedVerdict } | { ok: false; error: Error };

interface Waiting {
  settle(outcome: PacketOutcome): void;
}

/** The in-memory kernel. Its `portId` is fixed; it is not `live` (no /proc describes it). */
export class TestKernel implements Transport {
  readonly kind = 'test';
  readonly live = false;
  readonly portId: number;
  /** Bound queues by number. */
  readonly queues = new Map<number, TestQueueState>();
  /** Every verdict received, decoded, in order. */
  readonly verdicts: DecodedVerdict[] = [];
  private handlers: TransportHandlers | undefined;
  private closed = false;
  private paused = false;
  private readonly held: Uint8Array[] = [];
  private readonly nextId = new Map<number, number>();
  private readonly waiting = new Map<number, Map<number, Waiting>>();

  constructor(portId = 0x7e570001) {
    this.portId = portId;
  }

  start(handlers: TransportHandlers): void {
    if (this.handlers !== undefined) throw new NetlinkSocketError('a test transport can be started once', { code: 'EALREADY' });
    this.handlers = handlers;
  }

  /** Stops delivering packets; they wait here until resume(). */
  pause(): void {
    this.paused = true;
  }

  /** Delivers the packets that waited (after the caller returns, as a socket would), then new ones as they come. */
  resume(): void {
    if (!this.paused) return;
    this.paused = false;
    queueMicrotask(() => {
      while (!this.paused && this.held.length > 0) this.deliver(this.held.shift()!);
    });
  }

  /** Packets held while paused. */
  get heldCount(): number {
    return this.held.length;
  }

  /** Packets handed to the queue (or held) whose verdict has not come. */
  get waitingCount(): number {
    let n = 0;
    for (const m of this.waiting.values()) n += m.size;
    return n;
  }

  /**
   * Queues a packet as the kernel would: numbers it, applies the queue's copy mode and range
   * (CAP_LEN when truncated), hands it to the socket (or holds it while paused) and settles
   * with its verdict. `fields` lacks the id; `fields.payload` is the whole packet.
   */
  enqueue(fields: Omit<PacketMessageFields, 'id'>): { id: number; outcome: Promise<PacketOutcome> } {
    if (this.closed) throw new TestKitError('the test queue is closed');
    const q = this.queues.get(fields.queue);
    if (q === undefined) throw new TestKitError(`queue ${fields.queue} is not bound: bind it first (the kernel drops packets for a queue nobody listens on)`);
    if (q.copyMode === C.NFQNL_COPY_NONE) throw new TestKitError(`queue ${fields.queue} is in copy mode 'none': the kernel drops every packet without queueing it`);
    const id = (this.nextId.get(fields.queue) ?? 0) + 1;
    this.nextId.set(fields.queue, id);
    const msg: PacketMessageFields = { ...fields, id };
    const whole = fields.payload;
    if (q.copyMode === C.NFQNL_COPY_META) {
      msg.payload = undefined;
      msg.capLen = undefined;
    } else if (whole !== undefined && whole.byteLength > q.copyRange) {
      msg.payload = whole.subarray(0, q.copyRange);
      msg.capLen = Math.max(whole.byteLength, fields.capLen ?? 0);
    }
    const w = new MessageWriter(256 + (msg.payload?.byteLength ?? 0));
    encodePacketMessage(w, msg);
    const bytes = w.finishCopy();
    let map = this.waiting.get(fields.queue);
    if (map === undefined) this.waiting.set(fields.queue, (map = new Map()));
    const ids = map;
    const outcome = new Promise<PacketOutcome>((resolve) => ids.set(id, { settle: resolve }));
    if (this.paused || this.held.length > 0) this.held.push(bytes);
    else this.deliver(bytes);
    return { id, outcome };
  }

  private deliver(bytes: Uint8Array): void {
    if (this.closed || this.handlers === undefined) return;
    this.handlers.datagram(bytes);
  }

  send(datagram: Uint8Array): void {
    if (this.closed) throw new NetlinkSocketError('send on a closed test transport', { code: 'EBADF' });
    const replies = new MessageWriter(256);
    const c = new MessageCursor().reset(datagram);
    while (c.next()) {
      const msg = datagram.subarray(c.offset, c.offset + c.length);
      const { type, flags } = c;
      let errno = 0;
      try {
        if (type === C.NFQ_TYPE_CONFIG) errno = this.config(msg);
        else if (type === C.NFQ_TYPE_VERDICT || type === C.NFQ_TYPE_VERDICT_BATCH) errno = this.verdict(decodeVerdictMessage(msg));
        else errno = EOPNOTSUPP;
      } catch {
        errno = EINVAL; // malformed: the kernel's policy check refuses it
      }
      // The kernel answers every error, and a success only when asked to.
      if (errno !== 0 || (flags & NLM_F_ACK) !== 0) this.writeAck(replies, msg, errno);
    }
    if (replies.length > 0) {
      const bytes = replies.finishCopy();
      // A real socket's answer arrives after send() returns.
      queueMicrotask(() => this.deliver(bytes));
    }
  }

  private writeAck(w: MessageWriter, request: Uint8Array, errno: number): void {
    const echo = errno === 0 ? request.subarray(0, NLMSG_HDRLEN) : request;
    const seq = new DataView(request.buffer, request.byteOffset).getUint32(8, true);
    w.begin({ type: NLMSG_ERROR, flags: errno === 0 ? NLM_F_CAPPED : 0, seq, pid: this.portId });
    const e = new Uint8Array(4);
    new DataView(e.buffer).setInt32(0, -errno, true);
    w.raw(e).raw(echo).end();
  }

  /** Applies a CONFIG request; returns the errno the kernel would answer. */
  private config(msg: Uint8Array): number {
    const { queue: num, command: cmd, copyMode, copyRange, maxLen, flags, mask } = decodeConfigMessage(msg);
    if (cmd === C.NFQNL_CFG_CMD_PF_BIND || cmd === C.NFQNL_CFG_CMD_PF_UNBIND) return 0; // no-ops since Linux 3.8
    if (cmd === C.NFQNL_CFG_CMD_BIND) {
      if (this.queues.has(num)) return EBUSY;
      this.queues.set(num, { copyMode: C.NFQNL_COPY_NONE, copyRange: MAX_COPY_RANGE, maxLen: 1024, flags: 0 });
    } else if (cmd === C.NFQNL_CFG_CMD_UNBIND) {
      if (!this.queues.delete(num)) return ENODEV;
      this.dropWaiting(num, 'the queue was unbound');
      return 0;
    } else if (cmd !== undefined) return EINVAL;
    const q = this.queues.get(num);
    if (q === undefined) return cmd === undefined ? ENODEV : 0;
    if (copyMode !== undefined) {
      // A copy mode the kernel does not know is acked and ignored (§8).
      if (copyMode === C.NFQNL_COPY_META || copyMode === C.NFQNL_COPY_NONE) q.copyMode = copyMode;
      else if (copyMode === C.NFQNL_COPY_PACKET) {
        q.copyMode = copyMode;
        q.copyRange = copyRange === 0 || copyRange! > MAX_COPY_RANGE ? MAX_COPY_RANGE : copyRange!;
      }
    }
    if (maxLen !== undefined) q.maxLen = maxLen;
    if (flags !== undefined) {
      if (mask === undefined) return EINVAL;
      if ((flags & ~C.NFQA_CFG_F_ALL) !== 0) return EOPNOTSUPP;
      q.flags = (q.flags & ~mask) | (flags & mask);
    }
    return 0;
  }

  /** Matches a verdict to the packets it answers; ENOENT when none waits. */
  private verdict(d: DecodedVerdict): number {
    const map = this.waiting.get(d.queue);
    if (map === undefined) return ENOENT;
    const answered: Waiting[] = [];
    if (d.batch) {
      for (const [id, w] of map) {
        if (id <= d.id) {
          map.delete(id);
          answered.push(w);
        }
      }
    } else {
      const w = map.get(d.id);
      if (w !== undefined) {
        map.delete(d.id);
        answered.push(w);
      }
    }
    if (answered.length === 0) return ENOENT;
    // The verdict's payload is a view into the sender's buffer, reused after send(): copy it.
    const verdict: DecodedVerdict = d.verdict.payload === undefined ? d : { ...d, verdict: { ...d.verdict, payload: d.verdict.payload.slice() } };
    this.verdicts.push(verdict);
    for (const w of answered) w.settle({ ok: true, verdict });
    return 0;
  }

  private dropWaiting(queue: number, why: string): void {
    const map = this.waiting.get(queue);
    if (map === undefined) return;
    for (const [id, w] of map) w.settle({ ok: false, error: new TestKitError(`packet ${id} on queue ${queue} got no verdict: ${why}, and the kernel drops it`) });
    map.clear();
  }

  setKeepAlive(): void {
    // Nothing keeps the process alive here.
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.held.length = 0;
    for (const q of this.waiting.keys()) this.dropWaiting(q, 'the socket was closed');
  }
}
