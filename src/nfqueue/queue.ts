/**
 * The Queue: binds one or more nfqueue numbers on a transport, feeds decoded packets to the
 * callback and sends their verdicts. This is the only nfqueue file that does I/O, and only
 * through the Transport interface.
 *
 * Hot path: a received datagram is walked in place; each packet is decoded, handed to the
 * callback, and a synchronous answer is encoded at once into a shared writer. All verdicts
 * written while handling one datagram (or in one microtask turn, for async answers) leave in
 * one datagram. Every request carries its own sequence number, so a kernel error can be tied
 * to the packet or step that caused it.
 */
import { EventEmitter } from 'node:events';
import { accessSync, constants as fsConstants } from 'node:fs';
import { NLMSG_HDRLEN, NLMSG_ERROR, NLMSG_DONE, NLMSG_NOOP, NLMSG_OVERRUN, NETLINK_NETFILTER, align4 } from '../netlink/constants.js';
import { NetlinkDecodeError, NetlinkError, NetlinkSocketError } from '../netlink/errors.js';
import { parseErrorMessage } from '../netlink/message.js';
import { MessageWriter } from '../netlink/writer.js';
import type { Transport } from '../netlink/transport.js';
import { openDefaultTransport } from '../netlink/default-transport.js';
import { maxLenForTransport } from './overrun-bound.js';
import * as C from './constants.js';
import { decodePacket, Packet } from './packet.js';
import { encodeVerdict, encodeBatchVerdict, normalizeVerdict, verdictWord, type Verdict, type VerdictInput, type BatchVerdict } from './verdict.js';
import { encodeConfigCommand, encodeConfigParams, encodeConfigMaxLen, encodeConfigFlags, copyModeValue, type CopyMode } from './config.js';
import { QueueKernelError, CallbackError, QueueTimeoutError, VerdictStateError, VerdictTimeoutError, type QueueStep } from './errors.js';
import { readKernelQueueStats, PROC_NFNETLINK_QUEUE, type KernelQueueStats } from './proc.js';

/** Queue flags by name (NFQA_CFG_F_*). */
export interface QueueFlags {
  /** Accept packets instead of dropping them when the queue is full. */
  failOpen?: boolean;
  /** Attach conntrack info (not supported on every kernel). */
  conntrack?: boolean;
  /** Deliver GSO packets whole, without segmenting them first. */
  gso?: boolean;
  /** Report the sending socket's uid and gid. */
  uidGid?: boolean;
  /** Report the security context (needs an LSM). */
  secctx?: boolean;
}

/** What the packet callback may return. */
export type CallbackResult = VerdictInput | PromiseLike<VerdictInput>;

/** The packet callback: inspect the packet, answer a verdict (or a Promise of one). */
export type PacketCallback = (packet: Packet) => CallbackResult;

/** Options of openQueue(). */
export interface QueueOptions {
  /** 'packet' (default) copies packet bytes, 'meta' only metadata, 'none' drops everything. */
  copyMode?: CopyMode;
  /** Bytes of each packet to copy in 'packet' mode (default 65535: the whole packet). */
  copyRange?: number;
  /** Maximum packets waiting for a verdict in the kernel (QUEUE_MAXLEN). */
  maxLen?: number;
  /** Queue flags to set (FLAGS with MASK). */
  flags?: QueueFlags;
  /** Verdict for packets whose callback throws, rejects or answers garbage, and on close (default 'accept'). */
  defaultVerdict?: VerdictInput;
  /** Called with every non-fatal error; without it, errors go to the 'error' event, else a warning. */
  onError?: (err: Error) => void;
  /** Closing the queue when this signal aborts. */
  signal?: AbortSignal;
  /** The netlink transport; default: a NETLINK_NETFILTER socket from the `netlink` package. */
  transport?: Transport | (() => Transport);
  /** SO_RCVBUF for the socket, in bytes. Larger absorbs bursts (ENOBUFS otherwise). */
  receiveBufferSize?: number;
  /** How long to wait for the kernel's ack of each setup step, in ms (default 5000). */
  requestTimeout?: number;
  /** Keep the process alive while the queue is open (default true). */
  keepAlive?: boolean;
  /**
   * Milliseconds a packet may wait for its async callback; then it gets the default
   * verdict and a VerdictTimeoutError is reported. Default: no limit.
   */
  verdictTimeout?: number;
  /**
   * Most packets whose async callbacks are still running; packets beyond it get the
   * default verdict at once, without calling the callback (counted in `overflowed`).
   * Default: no limit.
   */
  maxInFlight?: number;
}

/** Counters kept by the library. */
export interface QueueCounters {
  /** Packet messages received. */
  received: number;
  /** Verdicts sent, by kind. */
  verdicts: { accept: number; drop: number; repeat: number; stop: number; queue: number };
  /** Packets that got the default verdict because their callback failed. */
  callbackErrors: number;
  /** Kernel errors answering verdicts. */
  verdictErrors: number;
  /** Malformed datagrams or messages skipped. */
  decodeErrors: number;
  /** Receive-buffer overruns (ENOBUFS): the kernel dropped messages for us. */
  overruns: number;
  /** Other socket errors. */
  socketErrors: number;
  /** Packets whose callback has not answered yet. */
  pending: number;
  /** Packets that got the default verdict because their callback took longer than verdictTimeout. */
  timedOut: number;
  /** Packets that got the default verdict without a callback because maxInFlight was reached. */
  overflowed: number;
  /**
   * Packets the kernel could not deliver to this socket (receive buffer full): the rise of
   * the kernel's user_dropped counter for our queues, read from /proc at most once a second
   * while packets flow, and at close. Each rise is also reported as an 'overrun'.
   */
  userDropped: number;
}

/** Library counters plus the kernel's view of each bound queue. */
export interface QueueStats extends QueueCounters {
  /** Rows of /proc/net/netfilter/nfnetlink_queue for our queues (absent if unreadable). */
  kernel: KernelQueueStats[];
}

interface ConfigRequest {
  resolve(): void;
  reject(err: Error): void;
  step: QueueStep;
  queue: number;
  flags: number;
  timer: NodeJS.Timeout | undefined;
}

interface AsyncEntry {
  queue: number;
  id: number;
  done: boolean;
  /** performance.now() by which the callback must answer (Infinity: no limit). */
  deadline: number;
}

// Requests in flight are remembered in a ring indexed by the low bits of their sequence
// number: verdict errors come back within the same sendmsg, so 64k entries is ample.
const RING_BITS = 16;
const RING_SIZE = 1 << RING_BITS;
const RING_MASK = RING_SIZE - 1;
const KIND_VERDICT = 1;
const KIND_BATCH = 2;
// Flush the shared writer before it grows past this, to stay well under the socket's send buffer.
const FLUSH_THRESHOLD = 60 * 1024;


function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';
}

function checkQueueNumber(n: unknown, name = 'queue number'): number {
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) {
    throw new RangeError(`${name} must be an integer in 0..65535, got ${String(n)}`);
  }
  return n;
}

const FLAG_NAMES: readonly string[] = ['failOpen', 'conntrack', 'gso', 'uidGid', 'secctx'];

/** Checks openQueue's arguments; throws TypeError/RangeError naming the bad one. */
function validate(num: number | readonly number[], callback: unknown, o: QueueOptions): number[] {
  const nums = Array.isArray(num) ? [...(num as readonly number[])] : [num as number];
  if (nums.length === 0) throw new RangeError('at least one queue number is needed');
  nums.forEach((n) => checkQueueNumber(n));
  if (new Set(nums).size !== nums.length) throw new RangeError(`queue numbers must be distinct, got ${nums.join(', ')}`);
  if (typeof callback !== 'function') throw new TypeError('openQueue(num, callback, options): callback must be a function');
  if (o === null || typeof o !== 'object') throw new TypeError('openQueue options must be an object');
  if (o.copyMode !== undefined) copyModeValue(o.copyMode);
  const u32 = (name: string, v: unknown, min = 0): void => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0xffffffff)) {
      throw new RangeError(`option ${name} must be an integer in ${min}..4294967295, got ${String(v)}`);
    }
  };
  u32('copyRange', o.copyRange);
  if (o.copyRange !== undefined && o.copyRange > 0xffff) throw new RangeError(`option copyRange must be at most 65535, got ${o.copyRange}`);
  u32('maxLen', o.maxLen, 1);
  u32('receiveBufferSize', o.receiveBufferSize, 1);
  u32('requestTimeout', o.requestTimeout, 1);
  u32('verdictTimeout', o.verdictTimeout, 1);
  u32('maxInFlight', o.maxInFlight, 1);
  if (o.flags !== undefined && (o.flags === null || typeof o.flags !== 'object')) throw new TypeError('option flags must be an object such as { failOpen: true }');
  for (const [k, v] of Object.entries(o.flags ?? {})) {
    if (!FLAG_NAMES.includes(k)) throw new TypeError(`option flags.${k} is not a queue flag: use ${FLAG_NAMES.join(', ')}`);
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`option flags.${k} must be a boolean, got ${typeof v}`);
  }
  if (o.keepAlive !== undefined && typeof o.keepAlive !== 'boolean') throw new TypeError(`option keepAlive must be a boolean, got ${typeof o.keepAlive}`);
  const t = o.transport as unknown;
  if (t !== undefined && typeof t !== 'function' && (t === null || typeof t !== 'object' || typeof (t as Transport).send !== 'function' || typeof (t as Transport).start !== 'function')) {
    throw new TypeError('option transport must be a Transport (an object with start() and send()) or a function returning one');
  }
  if (o.defaultVerdict !== undefined) normalizeVerdict(o.defaultVerdict);
  if (o.onError !== undefined && typeof o.onError !== 'function') throw new TypeError('option onError must be a function');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError('option signal must be an AbortSignal');
  return nums;
}

/** The flag bits and mask for a QueueFlags object (mask covers every named flag). */
export function flagBits(f: QueueFlags): { flags: number; mask: number } {
  let flags = 0;
  let mask = 0;
  const set = (v: boolean | undefined, bit: number): void => {
    if (v === undefined) return;
    mask |= bit;
    if (v) flags |= bit;
  };
  set(f.failOpen, C.NFQA_CFG_F_FAIL_OPEN);
  set(f.conntrack, C.NFQA_CFG_F_CONNTRACK);
  set(f.gso, C.NFQA_CFG_F_GSO);
  set(f.uidGid, C.NFQA_CFG_F_UID_GID);
  set(f.secctx, C.NFQA_CFG_F_SECCTX);
  return { flags, mask };
}

/**
 * A bound queue (or several). Create it with openQueue(). Events: 'error' (non-fatal
 * problems, when no onError option is given), 'overrun' (ENOBUFS: the kernel dropped
 * messages because the receive buffer was full), 'close'.
 */
export class Queue extends EventEmitter {
  /** The queue numbers this Queue serves. */
  readonly queues: readonly number[];
  private readonly transport: Transport;
  private readonly callback: PacketCallback;
  private readonly defaultVerdict: Verdict;
  private readonly onError: ((err: Error) => void) | undefined;
  private readonly requestTimeout: number;
  private readonly out = new MessageWriter(64 * 1024);
  private seq = 0;
  private flushScheduled = false;
  private inDatagram = false;
  private closing = false;
  private closed = false;
  private closePromise: Promise<void> | undefined;
  private warned = false;
  private readonly configRequests = new Map<number, ConfigRequest>();
  private readonly asyncPending = new Map<number, AsyncEntry>();
  private readonly ringSeq = new Uint32Array(RING_SIZE);
  private readonly ringId = new Uint32Array(RING_SIZE);
  private readonly ringQueue = new Uint16Array(RING_SIZE);
  private readonly ringKind = new Uint8Array(RING_SIZE);
  private readonly counters: QueueCounters = {
    received: 0,
    verdicts: { accept: 0, drop: 0, repeat: 0, stop: 0, queue: 0 },
    callbackErrors: 0,
    verdictErrors: 0,
    decodeErrors: 0,
    overruns: 0,
    socketErrors: 0,
    pending: 0,
    timedOut: 0,
    overflowed: 0,
    userDropped: 0,
  };
  private readonly verdictTimeout: number;
  private readonly maxInFlight: number;
  private sweepTimer: NodeJS.Timeout | undefined;
  private overflowReported = false;
  // Overrun detection from /proc (a socket with NETLINK_NO_ENOBUFS never reports ENOBUFS).
  private dropTimer: NodeJS.Timeout | undefined;
  /** Whether /proc describes our socket: only for a live transport, until /proc proves unreadable. */
  private dropWatch: boolean;
  private enobufsSinceSample = false;
  private readonly userDroppedSeen = new Map<number, number>();
  /** Datagrams received, so that close() can tell when the socket has gone quiet. */
  private datagramsReceived = 0;
  private readonly flushCallback = (): void => {
    this.flushScheduled = false;
    this.flush();
  };

  /** @internal use openQueue() */
  constructor(queues: number[], callback: PacketCallback, transport: Transport, options: QueueOptions) {
    super();
    this.queues = Object.freeze(queues);
    this.callback = callback;
    this.transport = transport;
    this.defaultVerdict = normalizeVerdict(options.defaultVerdict ?? 'accept');
    this.onError = options.onError;
    this.requestTimeout = options.requestTimeout ?? 5000;
    this.dropWatch = transport.live === true;
    this.verdictTimeout = options.verdictTimeout ?? Infinity;
    this.maxInFlight = options.maxInFlight ?? Infinity;
  }

  /** Which transport carries the queue: 'native', 'netlink', 'replay', 'record(native)'… */
  get transportKind(): string {
    return this.transport.kind;
  }

  /** The transport's netlink port id. */
  get portId(): number {
    return this.transport.portId;
  }

  /** True once close() has finished. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** @internal starts receiving; called by openQueue(). */
  start(): void {
    this.transport.start({
      datagram: (d) => this.onDatagram(d),
      error: (e) => this.onSocketError(e),
      end: () => {
        void this.close();
      },
    });
  }

  // ------------------------------------------------------------------ receive path

  private onDatagram(buf: Uint8Array): void {
    if (this.closed) return;
    this.datagramsReceived++;
    if (this.dropTimer === undefined && this.dropWatch && !this.closing) this.armDropWatch();
    const len = buf.byteLength;
    const view = new DataView(buf.buffer, buf.byteOffset, len);
    this.inDatagram = true;
    try {
      let off = 0;
      while (off < len) {
        if (off + NLMSG_HDRLEN > len) {
          this.decodeFailed(new NetlinkDecodeError(`${len - off} trailing bytes are too short for a netlink header`, off, true));
          break;
        }
        const mlen = view.getUint32(off, true);
        if (mlen < NLMSG_HDRLEN || off + mlen > len) {
          this.decodeFailed(new NetlinkDecodeError(`netlink message length ${mlen} does not fit the ${len}-byte datagram`, off, mlen >= NLMSG_HDRLEN));
          break;
        }
        const type = view.getUint16(off + 4, true);
        if (type === C.NFQ_TYPE_PACKET) this.onPacketMessage(buf, off, mlen, view);
        else if (type === NLMSG_ERROR) this.onErrorMessage(buf, off, mlen);
        else if (type === NLMSG_OVERRUN) this.onSocketError(new NetlinkSocketError('the kernel reported NLMSG_OVERRUN: messages were lost', { code: 'ENOBUFS' }));
        else if (type !== NLMSG_DONE && type !== NLMSG_NOOP) {
          this.decodeFailed(new NetlinkDecodeError(`unexpected netlink message type 0x${type.toString(16)}`, off));
        }
        off += align4(mlen);
      }
    } finally {
      this.inDatagram = false;
    }
    this.flush();
  }

  private decodeFailed(err: NetlinkDecodeError): void {
    this.counters.decodeErrors++;
    this.report(err);
  }

  private onPacketMessage(buf: Uint8Array, off: number, mlen: number, view: DataView): void {
    let pkt: Packet;
    try {
      pkt = decodePacket(buf, off, mlen, view);
    } catch (e) {
      this.counters.decodeErrors++;
      this.report(toError(e));
      // Salvage the id so the packet still gets a verdict instead of waiting forever.
      const salvaged = salvagePacketId(buf, off, mlen, view);
      if (salvaged !== undefined) this.writeVerdict(salvaged.queue, salvaged.id, this.defaultVerdict);
      return;
    }
    this.counters.received++;
    if (this.closing) {
      this.writeVerdict(pkt.queue, pkt.id, this.defaultVerdict);
      return;
    }
    if (this.counters.pending >= this.maxInFlight) {
      this.counters.overflowed++;
      this.writeVerdict(pkt.queue, pkt.id, this.defaultVerdict);
      if (!this.overflowReported) {
        this.overflowReported = true;
        this.report(new NetlinkError(`${this.maxInFlight} packets are waiting for their callbacks (maxInFlight): further packets get the default verdict '${this.defaultVerdict.verdict}' until some answer`));
      }
      return;
    }
    this.overflowReported = false;
    let result: CallbackResult;
    try {
      result = this.callback(pkt);
    } catch (e) {
      this.callbackFailed(pkt.queue, pkt.id, e, 'threw');
      return;
    }
    if (isThenable(result)) this.trackAsync(pkt.queue, pkt.id, result);
    else this.answer(pkt.queue, pkt.id, result);
  }

  private callbackFailed(queue: number, id: number, e: unknown, how: string): void {
    this.counters.callbackErrors++;
    this.writeVerdict(queue, id, this.defaultVerdict);
    const err = toError(e);
    this.report(new CallbackError(`packet callback ${how} for packet ${id} on queue ${queue}: ${err.message}; gave it the default verdict '${this.defaultVerdict.verdict}'`, queue, id, e));
  }

  private answer(queue: number, id: number, result: unknown): void {
    let v: Verdict;
    try {
      v = normalizeVerdict(result);
    } catch (e) {
      this.callbackFailed(queue, id, e, 'answered an invalid verdict');
      return;
    }
    this.writeVerdict(queue, id, v);
  }

  private trackAsync(queue: number, id: number, result: PromiseLike<unknown>): void {
    const key = queue * 0x100000000 + id;
    const entry: AsyncEntry = { queue, id, done: false, deadline: performance.now() + this.verdictTimeout };
    this.asyncPending.set(key, entry);
    this.counters.pending++;
    if (this.verdictTimeout !== Infinity && this.sweepTimer === undefined) this.armSweep(this.verdictTimeout);
    const finish = (): boolean => {
      if (entry.done) return false;
      entry.done = true;
      this.asyncPending.delete(key);
      this.counters.pending--;
      return true;
    };
    result.then(
      (v) => {
        if (!finish()) return;
        this.answer(queue, id, v);
        this.scheduleFlush();
      },
      (e: unknown) => {
        if (!finish()) return;
        this.callbackFailed(queue, id, e, 'rejected');
        this.scheduleFlush();
      },
    );
  }

  private armSweep(ms: number): void {
    this.sweepTimer = setTimeout(() => this.sweepTimeouts(), Math.max(1, Math.ceil(ms)));
    this.sweepTimer.unref();
  }

  /**
   * Gives the default verdict to async packets past their deadline. The pending map is in
   * arrival order and every packet has the same timeout, so the scan stops at the first
   * packet still in time.
   */
  private sweepTimeouts(): void {
    this.sweepTimer = undefined;
    if (this.closing) return;
    const now = performance.now();
    for (const [key, e] of this.asyncPending) {
      if (e.deadline > now) {
        this.armSweep(e.deadline - now);
        break;
      }
      e.done = true;
      this.asyncPending.delete(key);
      this.counters.pending--;
      this.counters.timedOut++;
      this.writeVerdict(e.queue, e.id, this.defaultVerdict);
      this.report(new VerdictTimeoutError(`packet ${e.id} on queue ${e.queue} waited ${this.verdictTimeout} ms for its callback; gave it the default verdict '${this.defaultVerdict.verdict}'`, e.queue, e.id));
    }
    this.flush();
  }

  private onErrorMessage(buf: Uint8Array, off: number, mlen: number): void {
    let errno: number;
    let seq: number;
    let extAck: { message?: string; offset?: number } | undefined;
    try {
      const h = { length: mlen, type: NLMSG_ERROR, flags: new DataView(buf.buffer, buf.byteOffset + off + 6, 2).getUint16(0, true), seq: 0, pid: 0 };
      const m = parseErrorMessage({ header: h, buffer: buf, offset: off, payloadOffset: off + NLMSG_HDRLEN, payloadLength: mlen - NLMSG_HDRLEN });
      errno = m.errno;
      seq = m.request.seq;
      if (m.extAckMessage !== undefined || m.extAckOffset !== undefined) {
        extAck = {};
        if (m.extAckMessage !== undefined) extAck.message = m.extAckMessage;
        if (m.extAckOffset !== undefined) extAck.offset = m.extAckOffset;
      }
    } catch (e) {
      this.counters.decodeErrors++;
      this.report(toError(e));
      return;
    }
    const cfg = this.configRequests.get(seq);
    if (cfg !== undefined) {
      this.configRequests.delete(seq);
      if (cfg.timer !== undefined) clearTimeout(cfg.timer);
      if (errno === 0) cfg.resolve();
      else {
        const ctx: ConstructorParameters<typeof QueueKernelError>[1] = { step: cfg.step, queue: cfg.queue, flags: cfg.flags, request: { type: C.NFQ_TYPE_CONFIG, seq } };
        if (extAck !== undefined) ctx.extAck = extAck;
        cfg.reject(new QueueKernelError(errno, ctx));
      }
      return;
    }
    if (errno === 0) return; // an ack nobody waits for
    const slot = seq & RING_MASK;
    if (this.ringSeq[slot] === seq && this.ringKind[slot] !== 0) {
      const kind = this.ringKind[slot];
      const ctx: ConstructorParameters<typeof QueueKernelError>[1] = {
        step: kind === KIND_BATCH ? 'batch-verdict' : 'verdict',
        queue: this.ringQueue[slot] ?? 0,
        packetId: this.ringId[slot] ?? 0,
        request: { type: kind === KIND_BATCH ? C.NFQ_TYPE_VERDICT_BATCH : C.NFQ_TYPE_VERDICT, seq },
      };
      if (extAck !== undefined) ctx.extAck = extAck;
      this.counters.verdictErrors++;
      this.report(new QueueKernelError(errno, ctx));
      return;
    }
    this.report(new QueueKernelError(errno, { step: 'request', queue: this.queues[0] ?? 0, request: { type: 0, seq } }));
  }

  private onSocketError(e: NetlinkSocketError): void {
    if (this.closed) return;
    if (e.code === 'ENOBUFS') {
      this.enobufsSinceSample = true;
      this.overrun(
        new NetlinkSocketError(
          'receive buffer overrun (ENOBUFS): the kernel dropped queued packets it could not deliver (counted as user_dropped); raise receiveBufferSize or answer faster',
          { errno: e.errno ?? 105, code: 'ENOBUFS', syscall: e.syscall ?? 'recvmsg', cause: e },
        ),
      );
      return;
    }
    this.counters.socketErrors++;
    this.report(e);
  }

  private overrun(err: NetlinkSocketError): void {
    this.counters.overruns++;
    if (this.listenerCount('overrun') > 0) this.emit('overrun', err);
    else this.report(err);
  }

  private armDropWatch(): void {
    this.dropTimer = setTimeout(() => {
      this.dropTimer = undefined;
      this.checkUserDropped();
    }, 1000);
    this.dropTimer.unref();
  }

  /**
   * Compares the kernel's user_dropped for our queues (rows from /proc, read here when not
   * given) with what was seen before. A rise is an overrun: reported unless the socket
   * already reported ENOBUFS since the last look. Off the per-packet path: armed by the
   * first datagram after a look, so at most once a second and only while packets flow.
   */
  private checkUserDropped(rows?: readonly KernelQueueStats[]): void {
    if (this.closed || !this.dropWatch) return;
    if (rows === undefined) {
      try {
        rows = readKernelQueueStats();
      } catch {
        this.dropWatch = false; // no procfs here: ENOBUFS from the socket is all we get
        return;
      }
    }
    let lost = 0;
    const where: string[] = [];
    for (const r of rows) {
      if (r.portId !== this.transport.portId || !this.queues.includes(r.queue)) continue;
      const before = this.userDroppedSeen.get(r.queue) ?? 0;
      if (r.userDropped <= before) continue;
      lost += r.userDropped - before;
      where.push(`queue ${r.queue}: ${r.userDropped - before}`);
      this.userDroppedSeen.set(r.queue, r.userDropped);
    }
    const reported = this.enobufsSinceSample;
    this.enobufsSinceSample = false;
    if (lost === 0) return;
    this.counters.userDropped += lost;
    if (reported) return;
    this.overrun(
      new NetlinkSocketError(
        `receive buffer overrun: the kernel dropped ${lost} packet(s) it could not deliver to this socket (user_dropped, ${where.join(', ')}); raise receiveBufferSize or answer faster`,
        { errno: 105, code: 'ENOBUFS', syscall: 'recvmsg' },
      ),
    );
  }

  /** Sends a non-fatal error to onError, the 'error' event, or (once) a process warning. */
  private report(err: Error): void {
    if (this.onError !== undefined) {
      try {
        this.onError(err);
      } catch {
        // An onError that throws must not take the receive path down.
      }
      return;
    }
    if (this.listenerCount('error') > 0) {
      this.emit('error', err);
      return;
    }
    if (!this.warned) {
      this.warned = true;
      process.emitWarning(`nfqueue: ${err.message} (add an onError option or an 'error' listener to see every error)`, { code: 'NFQUEUE_UNHANDLED_ERROR' });
    }
  }

  // ------------------------------------------------------------------ send path

  private nextSeq(): number {
    this.seq = (this.seq + 1) >>> 0;
    if (this.seq === 0) this.seq = 1;
    return this.seq;
  }

  private remember(seq: number, kind: number, queue: number, id: number): void {
    const slot = seq & RING_MASK;
    this.ringSeq[slot] = seq;
    this.ringKind[slot] = kind;
    this.ringQueue[slot] = queue;
    this.ringId[slot] = id;
  }

  private writeVerdict(queue: number, id: number, v: Verdict): void {
    if (this.closed) return;
    const seq = this.nextSeq();
    this.remember(seq, KIND_VERDICT, queue, id);
    encodeVerdict(this.out, queue, id, v, { seq, pid: this.transport.portId });
    this.countVerdict(v);
    if (this.out.length >= FLUSH_THRESHOLD) this.flush();
    else if (!this.inDatagram) this.scheduleFlush();
  }

  private countVerdict(v: { verdict: string }): void {
    const c = this.counters.verdicts as Record<string, number>;
    if (c[v.verdict] !== undefined) c[v.verdict]!++;
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return;
    this.flushScheduled = true;
    queueMicrotask(this.flushCallback);
  }

  /** Sends every verdict written so far, as one datagram. */
  private flush(): void {
    if (this.out.length === 0 || this.closed) return;
    const bytes = this.out.finish();
    // Reset before sending: a transport may deliver a reply from inside send(), and the
    // flush at the end of that nested onDatagram must not send these bytes again (it did,
    // recursively, until the stack overflowed). Transports copy or send the bytes first.
    this.out.reset();
    try {
      this.transport.send(bytes);
    } catch (e) {
      this.counters.socketErrors++;
      this.report(e instanceof NetlinkError ? e : new NetlinkSocketError(`sending verdicts failed: ${toError(e).message}`, { cause: e }));
    }
  }

  /**
   * Gives a verdict for a packet whose callback has not answered yet (e.g. from another
   * event); the callback's later answer is then ignored. Refuses a packet that is not
   * pending (already answered, or never seen) with a VerdictStateError, sending nothing.
   */
  setVerdict(queue: number, id: number, verdict: VerdictInput): void {
    const key = checkQueueNumber(queue) * 0x100000000 + id;
    const entry = this.asyncPending.get(key);
    if (entry === undefined || entry.done) {
      throw new VerdictStateError(`packet ${id} on queue ${queue} is not waiting for a verdict (already answered, or unknown)`, queue, id);
    }
    const v = normalizeVerdict(verdict);
    entry.done = true;
    this.asyncPending.delete(key);
    this.counters.pending--;
    this.writeVerdict(queue, id, v);
  }

  /**
   * Sends one batch verdict: every packet of `queue` with an id up to `maxId` that still
   * waits in the kernel gets `verdict` (and `mark`). Packets whose async callback has not
   * answered are settled by it; their callbacks' later answers are ignored.
   */
  batchVerdict(queue: number, maxId: number, verdict: VerdictName | BatchVerdict): void {
    checkQueueNumber(queue);
    if (!Number.isInteger(maxId) || maxId < 0 || maxId > 0xffffffff) throw new RangeError(`batch verdict id must be a u32, got ${String(maxId)}`);
    const v: BatchVerdict = typeof verdict === 'string' ? { verdict } : verdict;
    verdictWord(v); // validates
    if (v.mark !== undefined) normalizeVerdict({ verdict: 'accept', mark: v.mark });
    if (v.priority !== undefined) normalizeVerdict({ verdict: 'accept', priority: v.priority });
    if (this.closed) throw new VerdictStateError('the queue is closed', queue, maxId);
    for (const [key, e] of this.asyncPending) {
      if (e.queue === queue && e.id <= maxId) {
        e.done = true;
        this.asyncPending.delete(key);
        this.counters.pending--;
      }
    }
    const seq = this.nextSeq();
    this.remember(seq, KIND_BATCH, queue, maxId);
    encodeBatchVerdict(this.out, queue, maxId, v, { seq, pid: this.transport.portId });
    this.countVerdict(v);
    this.flush();
  }

  /** @internal sends a config request and resolves on the kernel's ack. */
  configure(step: QueueStep, queue: number, write: (w: MessageWriter, seq: number) => void, flags = 0): Promise<void> {
    if (this.closed) return Promise.reject(new NetlinkSocketError('the queue is closed', { code: 'EBADF' }));
    const seq = this.nextSeq();
    return new Promise<void>((resolve, reject) => {
      const req: ConfigRequest = { resolve, reject, step, queue, flags, timer: undefined };
      req.timer = setTimeout(() => {
        this.configRequests.delete(seq);
        reject(new QueueTimeoutError(`${step} on queue ${queue}: no answer from the kernel in ${this.requestTimeout} ms`));
      }, this.requestTimeout);
      this.configRequests.set(seq, req);
      write(this.out, seq);
      this.flush();
    });
  }

  // ------------------------------------------------------------------ stats and close

  /** The library's counters and the kernel's (from /proc) for this queue's numbers. */
  stats(): QueueStats {
    const c = this.counters;
    let kernel: KernelQueueStats[] = [];
    try {
      const rows = readKernelQueueStats();
      this.checkUserDropped(rows);
      kernel = rows.filter((r) => this.queues.includes(r.queue));
    } catch {
      // /proc unreadable (no procfs, or another namespace): library counters only.
    }
    return { ...c, verdicts: { ...c.verdicts }, kernel };
  }

  /**
   * Gives every packet still waiting for its callback the default verdict, unbinds the
   * queues and closes the socket. Idempotent; resolves when done. Errors are reported, not
   * thrown.
   */
  close(): Promise<void> {
    this.closePromise ??= this.doClose();
    return this.closePromise;
  }

  private async doClose(): Promise<void> {
    this.closing = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    if (this.dropTimer !== undefined) clearTimeout(this.dropTimer);
    this.dropTimer = undefined;
    // Let a synchronous callback that called close() finish and write its verdict first.
    await Promise.resolve();
    for (const e of this.asyncPending.values()) {
      if (e.done) continue;
      e.done = true;
      this.writeVerdict(e.queue, e.id, this.defaultVerdict);
    }
    this.asyncPending.clear();
    this.counters.pending = 0;
    this.flush();
    await this.drainBeforeUnbind();
    this.checkUserDropped(); // a last look, while the queue is still bound and no longer fed
    const unbinds = this.queues.map((q) =>
      this.configure('unbind', q, (w, seq) => encodeConfigCommand(w, q, C.NFQNL_CFG_CMD_UNBIND, C.NFPROTO_UNSPEC, { seq, pid: this.transport.portId, ack: true })).catch(
        (e: unknown) => this.report(toError(e)),
      ),
    );
    await Promise.all(unbinds);
    this.closed = true;
    for (const r of this.configRequests.values()) {
      if (r.timer !== undefined) clearTimeout(r.timer);
      r.reject(new NetlinkSocketError('the queue was closed', { code: 'EBADF' }));
    }
    this.configRequests.clear();
    this.transport.close();
    this.emit('close');
  }

  /**
   * UNBIND drops every packet still waiting in the kernel, including those already sitting
   * in our socket's receive buffer (under load there are many). So first stop new
   * deliveries: FAIL_OPEN (when the default verdict is accept, so new packets pass as it
   * says) and QUEUE_MAXLEN 0, both in force once sendto() returns. This is done even when
   * /proc shows nothing waiting, because under a flood packets arrive between that look
   * and the UNBIND. Then keep reading (each packet gets the default verdict) until /proc
   * shows none waiting, or the count has not fallen for requestTimeout ms. No ack is
   * awaited: under a flood the kernel may drop acks with the packets it cannot deliver.
   * Fake and replayed transports are not this kernel's sockets: they skip this.
   */
  private async drainBeforeUnbind(): Promise<void> {
    if (this.transport.live !== true) return;
    const pid = this.transport.portId;
    for (const q of this.queues) {
      if (this.defaultVerdict.verdict === 'accept') encodeConfigFlags(this.out, q, C.NFQA_CFG_F_FAIL_OPEN, C.NFQA_CFG_F_FAIL_OPEN, { seq: this.nextSeq(), pid });
      encodeConfigMaxLen(this.out, q, 0, { seq: this.nextSeq(), pid });
    }
    this.flush();
    let procReadable = true;
    const waiting = (): number => {
      try {
        let n = 0;
        for (const r of readKernelQueueStats()) if (r.portId === pid && this.queues.includes(r.queue)) n += r.waiting;
        return n;
      } catch {
        procReadable = false;
        return 0;
      }
    };
    if (waiting() === 0 && !procReadable) {
      // No /proc for this user (mode 0440): read until the socket has been quiet for 50 ms.
      const until = performance.now() + this.requestTimeout;
      let seen = -1;
      while (seen !== this.datagramsReceived && performance.now() < until) {
        seen = this.datagramsReceived;
        await new Promise((r) => setTimeout(r, 50));
      }
      return;
    }
    // A slow consumer (one that prints every packet, say) may need longer than requestTimeout
    // to work through a full receive buffer: give up only when the count stops falling.
    let last = waiting();
    let lastProgress = performance.now();
    while (last > 0 && performance.now() - lastProgress < this.requestTimeout) {
      await new Promise((r) => setTimeout(r, 5));
      const now = waiting();
      if (now < last) lastProgress = performance.now();
      last = now;
    }
  }

  /** @internal closes the transport at once after a failed setup. */
  abort(): void {
    this.closing = true;
    this.closed = true;
    if (this.dropTimer !== undefined) clearTimeout(this.dropTimer);
    for (const r of this.configRequests.values()) if (r.timer !== undefined) clearTimeout(r.timer);
    this.configRequests.clear();
    this.transport.close();
  }
}

/** Finds the packet id of a malformed packet message, if its PACKET_HDR is readable. */
function salvagePacketId(buf: Uint8Array, off: number, mlen: number, view: DataView): { queue: number; id: number } | undefined {
  const end = Math.min(off + mlen, buf.byteLength);
  const p = off + NLMSG_HDRLEN;
  if (p + C.NFGENMSG_LEN > end) return undefined;
  const queue = view.getUint16(p + 2, false);
  let a = p + C.NFGENMSG_LEN;
  while (a + 4 <= end) {
    const alen = view.getUint16(a, true);
    if (alen < 4 || a + alen > end) return undefined;
    if ((view.getUint16(a + 2, true) & 0x3fff) === C.NFQA_PACKET_HDR && alen >= 8) return { queue, id: view.getUint32(a + 4, false) };
    a += align4(alen);
  }
  return undefined;
}

type VerdictName = Verdict['verdict'];

/**
 * The socket a queue uses when no transport is given: the native addon's (receive slots
 * sized to the copy range), else the `netlink` package's. Overruns are normally seen as the
 * rise of user_dropped in /proc, so the native socket silences ENOBUFS; where /proc is not
 * readable (a non-root user with CAP_NET_ADMIN: the file is mode 0440), ENOBUFS stays on
 * so overruns are still reported.
 */
export function openDefaultQueueTransport(options: Pick<QueueOptions, 'copyMode' | 'copyRange'> = {}): Transport {
  const packets = copyModeValue(options.copyMode ?? 'packet') === C.NFQNL_COPY_PACKET;
  let procReadable = true;
  try {
    accessSync(PROC_NFNETLINK_QUEUE, fsConstants.R_OK);
  } catch {
    procReadable = false;
  }
  return openDefaultTransport(NETLINK_NETFILTER, { maxDatagramSize: (packets ? options.copyRange || 0xffff : 0) + 4096, reportOverruns: !procReadable });
}

/**
 * The kernel answers EPERM both for a missing CAP_NET_ADMIN and for a queue that another
 * socket holds (it checks the owner before the command). /proc tells the two apart: when
 * another port id holds the queue, report EBUSY, which is what the user needs to know.
 */
function refineBindError(e: unknown, queue: number, ourPortId: number): unknown {
  if (!(e instanceof QueueKernelError) || e.code !== 'EPERM') return e;
  let owner: number | undefined;
  try {
    owner = readKernelQueueStats().find((r) => r.queue === queue && r.portId !== ourPortId)?.portId;
  } catch {
    return e;
  }
  if (owner === undefined) return e;
  const ctx: ConstructorParameters<typeof QueueKernelError>[1] = { step: 'bind', queue, ownerPortId: owner, kernelErrno: e.errno };
  if (e.request !== undefined) ctx.request = e.request;
  return new QueueKernelError(16, ctx);
}

/**
 * Opens a netlink socket, binds queue `num` (or each of several), sets the copy mode
 * (default: whole packets) and the optional max length and flags, waiting for the kernel's
 * ack at each step. Resolves to the running Queue; rejects with a QueueKernelError that
 * says what went wrong (EPERM, EBUSY, EOPNOTSUPP…) or a TypeError/RangeError for bad
 * arguments, before anything is sent.
 */
export async function openQueue(num: number | readonly number[], callback: PacketCallback, options: QueueOptions = {}): Promise<Queue> {
  const nums = validate(num, callback, options);
  if (options.signal?.aborted === true) throw new NetlinkError('openQueue: the signal was already aborted');
  const copyMode = copyModeValue(options.copyMode ?? 'packet');
  const copyRange = options.copyRange ?? 0xffff;
  const t = options.transport;
  const transport = t === undefined ? openDefaultQueueTransport(options) : typeof t === 'function' ? t() : t;
  const queue = new Queue(nums, callback, transport, options);
  try {
    if (options.receiveBufferSize !== undefined) transport.setReceiveBufferSize?.(options.receiveBufferSize);
    if (options.keepAlive === false) transport.setKeepAlive?.(false);
    queue.start();
    const pid = transport.portId;
    const maxLen = maxLenForTransport(transport, options.maxLen, copyMode, copyRange);
    const { flags, mask } = flagBits(options.flags ?? {});
    for (const q of nums) {
      await queue
        .configure('bind', q, (w, seq) => encodeConfigCommand(w, q, C.NFQNL_CFG_CMD_BIND, C.NFPROTO_UNSPEC, { seq, pid, ack: true }))
        .catch((e: unknown) => {
          throw transport.live === true ? refineBindError(e, q, pid) : e;
        });
      // Right after BIND the copy mode is NONE, which drops every packet: set it at once.
      await queue.configure('params', q, (w, seq) => encodeConfigParams(w, q, copyMode, copyRange, { seq, pid, ack: true }));
      if (maxLen !== undefined) {
        await queue.configure('maxlen', q, (w, seq) => encodeConfigMaxLen(w, q, maxLen, { seq, pid, ack: true }));
      }
      if (mask !== 0) {
        await queue.configure('flags', q, (w, seq) => encodeConfigFlags(w, q, flags, mask, { seq, pid, ack: true }), flags & mask);
      }
    }
  } catch (e) {
    queue.abort();
    throw e;
  }
  if (options.signal !== undefined) {
    const onAbort = (): void => {
      void queue.close();
    };
    if (options.signal.aborted) onAbort();
    else {
      options.signal.addEventListener('abort', onAbort, { once: true });
      queue.once('close', () => options.signal?.removeEventListener('abort', onAbort));
    }
  }
  return queue;
}
