/**
 * An in-memory Transport that plays the kernel's side of nfnetlink_queue for one socket:
 * it answers config requests as the kernel does (an ack with NLM_F_CAPPED echoing the
 * request's header, or an error echoing the whole request), keeps each bound queue's copy
 * mode, copy range and flags, numbers packets per queue from 1, and matches the verdicts it
 * receives to the packets waiting for them. A packet for an unknown id is refused with
 * ENOENT, like the kernel does. While paused (the Queue's backpressure), packets wait here,
 * as they would in the kernel's queue.
 *
 * It also keeps what a test of error paths needs: a copy of every datagram sent, the config
 * requests and verdicts it received, a script for refusing (or never answering) config
 * requests, raw datagrams to inject (malformed ones included) and socket errors to report.
 */
import { constants as osConstants } from 'node:os';
import { NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK, NLM_F_CAPPED } from '../netlink/constants.js';
import { MessageWriter } from '../netlink/writer.js';
import { MessageCursor } from '../netlink/message.js';
import { NetlinkDecodeError, NetlinkSocketError } from '../netlink/errors.js';
import { TestKitError } from './errors.js';
import type { Transport, TransportHandlers } from '../netlink/transport.js';
import * as C from '../nfqueue/constants.js';
import { encodePacketMessage, type PacketMessageFields } from '../nfqueue/packet-encoder.js';
import { decodeVerdictMessage, type DecodedVerdict } from '../nfqueue/verdict-decoder.js';
import { decodeConfigMessage, type ConfigMessageFields } from '../nfqueue/config.js';
import { decodePacket, PacketDecodeError } from '../nfqueue/packet.js';

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

/** A config request's kind, from its command or, without one, the attribute it sets. */
export type ConfigRequestKind = 'bind' | 'unbind' | 'pf-bind' | 'pf-unbind' | 'params' | 'maxlen' | 'flags' | 'config';

/** A config request the kernel received. */
export interface ConfigRequest {
  kind: ConfigRequestKind;
  /** The queue it configures. */
  queue: number;
  /** Its netlink sequence number and header flags (NLM_F_*). */
  seq: number;
  flags: number;
  /** Its fields, decoded. */
  config: ConfigMessageFields;
  /** The message's bytes (a view into the copy in `sent`). */
  bytes: Uint8Array;
}

/** A verdict (or batch verdict) message the kernel received. */
export interface ReceivedVerdict extends DecodedVerdict {
  /** Its netlink sequence number and sender port id. */
  seq: number;
  pid: number;
  /** Index in `sent` of the datagram it came in. */
  datagram: number;
  /** What the kernel answered: 0 when it answered packets, ENOENT when none of them was waiting. */
  errno: number;
}

/**
 * A scripted answer to a config request: an errno to refuse it with (0: ack it without
 * applying it), `'no-answer'` to never answer (the request times out), or `undefined` to
 * answer as the kernel does.
 */
export type ConfigAnswer = (request: ConfigRequest) => number | 'no-answer' | undefined;

/** Options of a TestKernel. */
export interface TestKernelOptions {
  /** Netlink port id of the socket it plays (default 0x7e570001). */
  portId?: number;
  /** Scripts the answers to config requests; the rest are answered as the kernel does. */
  answer?: ConfigAnswer;
  /** Delivers answers from inside send() (default: after send() returns, as a socket does). */
  sync?: boolean;
}

interface Waiting {
  settle(outcome: PacketOutcome): void;
}

const INJECTED: Waiting = { settle: () => undefined };
const COMMAND_KINDS: readonly ConfigRequestKind[] = ['config', 'bind', 'unbind', 'pf-bind', 'pf-unbind'];

function configKind(c: ConfigMessageFields): ConfigRequestKind {
  if (c.command !== undefined) return COMMAND_KINDS[c.command] ?? 'config';
  if (c.copyMode !== undefined) return 'params';
  if (c.maxLen !== undefined) return 'maxlen';
  if (c.flags !== undefined) return 'flags';
  return 'config';
}

/** The in-memory kernel. Its `portId` is fixed; it is not `live` (no /proc describes it). */
export class TestKernel implements Transport {
  readonly kind = 'test';
  readonly live = false;
  readonly portId: number;
  /** Bound queues by number. */
  readonly queues = new Map<number, TestQueueState>();
  /** Every verdict message received, decoded, in order, with the kernel's answer to it. */
  readonly verdicts: ReceivedVerdict[] = [];
  /** Every config request received, in order. */
  readonly configs: ConfigRequest[] = [];
  /** A copy of every datagram sent to the kernel, in order. */
  readonly sent: Uint8Array[] = [];
  private handlers: TransportHandlers | undefined;
  private closed = false;
  private paused = false;
  private readonly held: Uint8Array[] = [];
  private readonly nextId = new Map<number, number>();
  private readonly waiting = new Map<number, Map<number, Waiting>>();
  private readonly answer: ConfigAnswer | undefined;
  private readonly sync: boolean;

  /** `options` may be the port id alone. */
  constructor(options: TestKernelOptions | number = {}) {
    const o = typeof options === 'number' ? { portId: options } : options;
    if (o === null || typeof o !== 'object') throw new TypeError('TestKernel options must be an object or a port id');
    if (o.answer !== undefined && typeof o.answer !== 'function') throw new TypeError('TestKernel option answer must be a function');
    this.portId = o.portId ?? 0x7e570001;
    this.answer = o.answer;
    this.sync = o.sync === true;
  }

  /** True once the socket it plays was closed. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** True while the reader has paused the socket (backpressure). */
  get isPaused(): boolean {
    return this.paused;
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
      while (!this.paused && this.held.length > 0) this.hand(this.held.shift()!);
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
    const ids = this.waitingOn(fields.queue);
    const outcome = new Promise<PacketOutcome>((resolve) => ids.set(id, { settle: resolve }));
    if (this.paused || this.held.length > 0) this.held.push(bytes);
    else this.hand(bytes);
    return { id, outcome };
  }

  /**
   * Hands raw bytes to the socket's reader at once, paused or not (as a datagram a read
   * already took in): malformed ones to see how the queue copes, kernel messages you built
   * yourself, errors answering a request. A packet message in them that the library's
   * decoder can read the queue and id of is taken as waiting, so its verdict is accepted.
   */
  inject(datagram: Uint8Array): void {
    if (!(datagram instanceof Uint8Array)) throw new TypeError('inject(datagram): datagram must be a Uint8Array');
    const c = new MessageCursor().reset(datagram);
    while (c.next()) {
      if (c.type !== C.NFQ_TYPE_PACKET) continue;
      let queue: number | undefined, id: number | undefined;
      try {
        ({ queue, id } = decodePacket(datagram, c.offset, c.length));
      } catch (e) {
        if (e instanceof PacketDecodeError) ({ queue, id } = e);
      }
      if (queue !== undefined && id !== undefined) this.waitingOn(queue).set(id, INJECTED);
    }
    this.hand(datagram);
  }

  /** Reports a socket error (ENOBUFS, a failed receive…) to the reader, as the socket would. */
  fail(error: NetlinkSocketError): void {
    if (this.closed || this.handlers === undefined) return;
    this.handlers.error(error);
  }

  private hand(bytes: Uint8Array): void {
    if (this.closed || this.handlers === undefined) return;
    this.handlers.datagram(bytes);
  }

  private waitingOn(queue: number): Map<number, Waiting> {
    let map = this.waiting.get(queue);
    if (map === undefined) this.waiting.set(queue, (map = new Map()));
    return map;
  }

  send(datagram: Uint8Array): void {
    if (this.closed) throw new NetlinkSocketError('send on a closed test transport', { code: 'EBADF' });
    // The caller may reuse its buffer once send() returns: what is kept refers to this copy.
    const bytes = datagram.slice();
    this.sent.push(bytes);
    const index = this.sent.length - 1;
    const replies = new MessageWriter(256);
    const c = new MessageCursor().reset(bytes);
    while (c.next()) {
      const msg = bytes.subarray(c.offset, c.offset + c.length);
      const { type, flags } = c;
      let errno: number | undefined = 0;
      try {
        if (type === C.NFQ_TYPE_CONFIG) errno = this.configRequest(msg, c.seq, flags);
        else if (type === C.NFQ_TYPE_VERDICT || type === C.NFQ_TYPE_VERDICT_BATCH) {
          const d = decodeVerdictMessage(msg);
          errno = this.verdict(d);
          this.verdicts.push({ ...d, seq: c.seq, pid: c.pid, datagram: index, errno });
        } else errno = EOPNOTSUPP;
      } catch (e) {
        if (!(e instanceof NetlinkDecodeError)) throw e; // a script's mistake, not the request's
        errno = EINVAL; // malformed: the kernel's policy check refuses it
      }
      // The kernel answers every error, and a success only when asked to.
      if (errno !== undefined && (errno !== 0 || (flags & NLM_F_ACK) !== 0)) this.writeAck(replies, msg, errno);
    }
    if (replies.length > 0) {
      const answer = replies.finishCopy();
      // A real socket's answer arrives after send() returns.
      if (this.sync) this.hand(answer);
      else queueMicrotask(() => this.hand(answer));
    }
  }

  /** Logs a CONFIG request and answers it: the script's errno, none, or the kernel's. */
  private configRequest(msg: Uint8Array, seq: number, flags: number): number | undefined {
    const config = decodeConfigMessage(msg);
    const request: ConfigRequest = { kind: configKind(config), queue: config.queue, seq, flags, config, bytes: msg };
    this.configs.push(request);
    const scripted = this.answer?.(request);
    if (scripted === 'no-answer') return undefined;
    if (scripted !== undefined) {
      if (!Number.isInteger(scripted) || scripted < 0) throw new TestKitError(`answer() must return an errno (a non-negative integer), 'no-answer' or undefined, got ${String(scripted)}`);
      return scripted;
    }
    return this.config(config);
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
  private config(c: ConfigMessageFields): number {
    const { queue: num, command: cmd, copyMode, copyRange, maxLen, flags, mask } = c;
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
    if (map.size === 0) this.waiting.delete(d.queue);
    if (answered.length === 0) return ENOENT;
    for (const w of answered) w.settle({ ok: true, verdict: d });
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
