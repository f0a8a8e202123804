/**
 * The Queue: binds one or more nfqueue numbers on a netlink connection, feeds decoded
 * packets to the callback and sends their verdicts. It does I/O only through its
 * NetlinkConn (and so through the Transport interface).
 *
 * Hot path: the connection walks a received datagram in place; each packet message is
 * decoded, handed to the callback, and a synchronous answer is encoded at once into the
 * connection's shared writer. All verdicts written while handling one datagram (or in one
 * microtask turn, for async answers; or until a `for await` loop has caught up, see
 * packet-iterator.ts) leave in one datagram. Every request carries its own
 * sequence number, so a kernel error can be tied to the packet or step that caused it.
 */
import { EventEmitter } from 'node:events';
import { NetlinkConn, type Encoder, type ExtAck } from '../netlink/conn.js';
import { NetfilterQueueError, NetlinkDecodeError, NetlinkSocketError } from '../netlink/errors.js';
import type { Transport } from '../netlink/transport.js';
import * as C from '../nfqueue/constants.js';
import { decodePacket, PacketDecodeError } from '../nfqueue/packet.js';
import { QueuedPacket } from './queued-packet.js';
import { encodeVerdict, encodeBatchVerdict, normalizeVerdict, verdictWord, type Verdict, type VerdictInput, type BatchVerdict } from '../nfqueue/verdict.js';
import { encodeConfigCommand } from '../nfqueue/config.js';
import { QueueKernelError, CallbackError, QueueOverflowError, QueueTimeoutError, VerdictStateError, VerdictTimeoutError, type QueueStep } from './errors.js';
import { readKernelQueueStatsOf, type KernelQueueStats } from './proc.js';
import type { KernelSocket } from './kernel-socket.js';
import { checkQueueNumber, type CallbackResult, type PacketCallback, type QueueOptions } from './queue-options.js';
import { countVerdict, newQueueCounters, type QueueCounters, type QueueStats } from './queue-stats.js';
import { VerdictRing, KIND_BATCH, KIND_VERDICT } from './verdict-ring.js';
import { OverrunWatch } from './overrun-watch.js';
import { AsyncVerdicts } from './async-verdicts.js';
import { drainBeforeUnbind } from './close-drain.js';
import { PacketIterator, DEFAULT_MAX_OUTSTANDING, DEFAULT_UNANSWERED_WARNING } from './packet-iterator.js';
import { flowVerdictMark, type FlowMarks, type ManagedRuleInfo } from '../nftables/managed-plan.js';
import { RuleError } from '../nftables/errors.js';

/** A rule installed for this queue (openQueue's `rule`): removed first at close(). */
export interface QueueRuleHandle {
  info(): ManagedRuleInfo;
  remove(): Promise<void>;
}

export type { QueueFlags, QueueOptions, PacketCallback, CallbackResult } from './queue-options.js';
export type { QueueCounters, QueueStats } from './queue-stats.js';

// Symbol.asyncDispose for `await using`. Node defines it from 20.4 on (as the registered
// symbol 'nodejs.asyncDispose'); on older 20.x define it the same way, so a Queue disposes
// with any runtime or transpiler that follows Node's convention.
const S = Symbol as unknown as { asyncDispose?: symbol };
S.asyncDispose ??= Symbol.for('nodejs.asyncDispose');

function toError(e: unknown): Error {
  return e instanceof Error ? e : new Error(String(e));
}

function isThenable(x: unknown): x is PromiseLike<unknown> {
  return x !== null && typeof x === 'object' && typeof (x as { then?: unknown }).then === 'function';
}

type VerdictName = Verdict['verdict'];

/** What the 'unanswered' event carries: the oldest packet a `for await` loop has not answered. */
export interface UnansweredInfo {
  queue: number;
  id: number;
  /** How long it has waited for its answer, in ms (at least unansweredWarning). */
  waitedMs: number;
  /** Packets handed out and not answered. */
  outstanding: number;
}

/**
 * A bound queue (or several). Create it with openQueue(). Events: 'error' (non-fatal
 * problems, when no onError option is given), 'overrun' (ENOBUFS: the kernel dropped
 * messages because the receive buffer was full), 'unanswered' (a `for await` loop left a
 * packet unanswered for unansweredWarning ms; without a listener, a process warning), 'close'.
 */
export class Queue extends EventEmitter implements AsyncIterable<QueuedPacket>, AsyncDisposable {
  /** The queue numbers this Queue serves. */
  readonly queues: readonly number[];
  private readonly conn: NetlinkConn;
  /** What the socket under the transport is (live, its /proc/net). */
  private readonly socket: KernelSocket;
  /** The packet callback; undefined when opened without one. */
  private readonly callback: ((packet: QueuedPacket) => CallbackResult) | undefined;
  /** Set when opened without a callback: packets go to `for await`. */
  private readonly iteration: PacketIterator | undefined;
  private readonly defaultVerdict: Verdict;
  private readonly onError: ((err: Error) => void) | undefined;
  private readonly requestTimeout: number;
  private readonly maxInFlight: number;
  private readonly verdictTimeout: number;
  private readonly counters: QueueCounters = newQueueCounters();
  private readonly ring = new VerdictRing();
  private readonly asyncVerdicts: AsyncVerdicts;
  private readonly overrunWatch: OverrunWatch;
  /** True from the start of close(): new packets get the default verdict. */
  private closing = false;
  private closePromise: Promise<void> | undefined;
  private warned = false;
  private overflowReported = false;
  /** Flow verdict bits, when the queue's managed rule has flow verdicts. */
  private readonly flow: FlowMarks | undefined;
  /** With flow verdicts: the mark of each packet waiting for an async answer (a flow verdict keeps its other bits). */
  private readonly flowPacketMarks: Map<number, number> | undefined;
  private managedRule: QueueRuleHandle | undefined;

  /** @internal use openQueue() */
  constructor(queues: number[], callback: PacketCallback | undefined, transport: Transport, options: QueueOptions, socket: KernelSocket) {
    super();
    const self = this;
    this.socket = socket;
    this.queues = Object.freeze(queues);
    this.callback = callback;
    this.defaultVerdict = normalizeVerdict(options.defaultVerdict ?? 'accept');
    this.onError = options.onError;
    this.requestTimeout = options.requestTimeout ?? 5000;
    this.verdictTimeout = options.verdictTimeout ?? Infinity;
    this.maxInFlight = options.maxInFlight ?? Infinity;
    this.flow = options.managedFlow;
    this.flowPacketMarks = this.flow === undefined ? undefined : new Map();
    this.iteration =
      callback !== undefined
        ? undefined
        : new PacketIterator(
            {
              write: (queue, id, v) => this.writeVerdict(queue, id, v, true),
              resolveFlow: (p, v) => this.flowVerdict(p.queue, p.id, v, p.mark),
              flush: () => this.conn.flush(),
              close: () => this.close(),
              timedOut: (queue, id) => this.verdictTimedOut(queue, id),
              unanswered: (p, waitedMs, outstanding) => this.unanswered({ queue: p.queue, id: p.id, waitedMs, outstanding }),
            },
            transport,
            {
              maxOutstanding: options.maxOutstanding ?? DEFAULT_MAX_OUTSTANDING,
              verdictTimeout: this.verdictTimeout,
              unansweredWarning: options.unansweredWarning ?? DEFAULT_UNANSWERED_WARNING,
            },
          );
    this.conn = new NetlinkConn(transport, {
      message: (type, buf, off, len, view) => {
        if (type === C.NFQ_TYPE_PACKET) this.onPacketMessage(buf, off, len, view);
        else this.decodeFailed(new NetlinkDecodeError(`unexpected netlink message type 0x${type.toString(16)}`, off));
      },
      unmatchedError: (errno, seq, extAck) => this.onUnmatchedError(errno, seq, extAck),
      decodeError: (e) => this.decodeFailed(e),
      socketError: (e) => this.onSocketError(e),
      sendError: (e) => {
        this.counters.socketErrors++;
        this.report(e instanceof NetfilterQueueError ? e : new NetlinkSocketError(`sending verdicts failed: ${toError(e).message}`, { cause: e }));
      },
      end: () => {
        void this.close();
      },
    });
    this.asyncVerdicts = new AsyncVerdicts(
      {
        answered: (queue, id, v) => {
          this.answer(queue, id, v);
          this.conn.scheduleFlush();
        },
        rejected: (queue, id, e) => {
          this.callbackFailed(queue, id, e, 'rejected');
          this.conn.scheduleFlush();
        },
        timedOut: (queue, id) => this.verdictTimedOut(queue, id),
        flush: () => this.conn.flush(),
        get closing() {
          return self.closing;
        },
      },
      this.verdictTimeout,
    );
    this.overrunWatch = new OverrunWatch(
      {
        queues: this.queues,
        get portId() {
          return self.conn.portId;
        },
        get isClosed() {
          return self.conn.isClosed;
        },
        addUserDropped: (n) => {
          this.counters.userDropped += n;
        },
        overrun: (e) => this.overrun(e),
        readKernelTable: () => readKernelQueueStatsOf(socket),
      },
      socket.live === true,
    );
  }

  /** Which transport carries the queue: 'native', 'netlink', 'replay', 'record(native)'… */
  get transportKind(): string {
    return this.conn.transport.kind;
  }

  /** The transport's netlink port id. */
  get portId(): number {
    return this.conn.portId;
  }

  /** True once close() has finished. */
  get isClosed(): boolean {
    return this.conn.isClosed;
  }

  /** @internal packets whose callback (or loop) has not answered yet. */
  get pendingCount(): number {
    return this.asyncVerdicts.size + (this.iteration?.size ?? 0);
  }

  /**
   * `for await (const packet of queue)`, for a queue opened without a callback. Answer each
   * packet with packet.accept() / drop() / verdict(v) or setVerdict(). Leaving the loop
   * closes the queue; unanswered packets get the default verdict. One loop per queue.
   */
  [Symbol.asyncIterator](): AsyncIterableIterator<QueuedPacket> {
    return this.iterated();
  }

  /**
   * `for await (const batch of queue.batches())`, for a queue opened without a callback: each
   * step gives every packet waiting, up to maxOutstanding (the packets of one read, when the
   * loop keeps up), with one promise per batch instead of one per packet. Answer them as in
   * the packet loop; their verdicts leave together when the loop asks for the next batch.
   * Same rules otherwise: leaving the loop closes the queue, one loop per queue.
   */
  batches(): AsyncIterableIterator<QueuedPacket[]> {
    return this.iterated().batches();
  }

  private iterated(): PacketIterator {
    if (this.iteration === undefined) throw new TypeError('this queue was opened with a callback, which gets every packet: open it without one to use for await');
    return this.iteration;
  }

  /** `await using queue = await openQueue(…)`: close() at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }

  /** @internal starts receiving; called by openQueue(). */
  start(): void {
    this.conn.start();
  }

  // ------------------------------------------------------------------ receive path

  private decodeFailed(err: Error): void {
    this.counters.decodeErrors++;
    this.report(err);
  }

  private onPacketMessage(buf: Uint8Array, off: number, mlen: number, view: DataView): void {
    let pkt: QueuedPacket;
    try {
      pkt = decodePacket(buf, off, mlen, view, new QueuedPacket());
    } catch (e) {
      this.decodeFailed(toError(e));
      // A packet whose id could be read still gets a verdict instead of waiting forever.
      if (e instanceof PacketDecodeError && e.queue !== undefined && e.id !== undefined) this.writeVerdict(e.queue, e.id, this.defaultVerdict);
      return;
    }
    this.counters.received++;
    this.overrunWatch.packet(this.closing);
    if (this.closing) {
      this.writeVerdict(pkt.queue, pkt.id, this.defaultVerdict);
      return;
    }
    if (this.maxInFlight !== Infinity && this.pendingCount >= this.maxInFlight) {
      this.counters.overflowed++;
      this.writeVerdict(pkt.queue, pkt.id, this.defaultVerdict);
      if (!this.overflowReported) {
        this.overflowReported = true;
        this.report(new QueueOverflowError(this.maxInFlight, this.defaultVerdict.verdict));
      }
      return;
    }
    this.overflowReported = false;
    const callback = this.callback;
    if (callback === undefined) {
      this.iteration?.push(pkt);
      return;
    }
    let result: CallbackResult;
    try {
      result = callback(pkt);
    } catch (e) {
      this.callbackFailed(pkt.queue, pkt.id, e, 'threw');
      return;
    }
    if (isThenable(result)) {
      this.flowPacketMarks?.set(pkt.queue * 0x100000000 + pkt.id, pkt.mark ?? 0);
      this.asyncVerdicts.track(pkt.queue, pkt.id, result);
    } else this.answer(pkt.queue, pkt.id, result, pkt.mark);
  }

  private verdictTimedOut(queue: number, id: number): void {
    this.counters.timedOut++;
    this.writeVerdict(queue, id, this.defaultVerdict);
    const whose = this.iteration === undefined ? 'its callback' : 'its answer';
    this.report(new VerdictTimeoutError(`packet ${id} on queue ${queue} waited ${this.verdictTimeout} ms for ${whose}; gave it the default verdict '${this.defaultVerdict.verdict}'`, queue, id));
  }

  /** A `for await` loop has left a packet unanswered for long: said once, to a listener or as a warning. */
  private unanswered(info: UnansweredInfo): void {
    if (this.listenerCount('unanswered') > 0) {
      this.emit('unanswered', info);
      return;
    }
    process.emitWarning(
      `nfqueue: packet ${info.id} on queue ${info.queue} has waited ${info.waitedMs} ms for its answer from the for await loop (${info.outstanding} handed out and unanswered); the kernel holds it until then or until close(). Answer every packet, or set unansweredWarning`,
      { code: 'NFQUEUE_UNANSWERED' },
    );
  }

  private callbackFailed(queue: number, id: number, e: unknown, how: string): void {
    this.counters.callbackErrors++;
    this.writeVerdict(queue, id, this.defaultVerdict);
    const err = toError(e);
    this.report(new CallbackError(`packet callback ${how} for packet ${id} on queue ${queue}: ${err.message}; gave it the default verdict '${this.defaultVerdict.verdict}'`, queue, id, e));
  }

  private answer(queue: number, id: number, result: unknown, mark?: number): void {
    let v: Verdict;
    try {
      v = normalizeVerdict(result);
      if (v.flow === true) v = this.flowVerdict(queue, id, v, mark);
    } catch (e) {
      this.callbackFailed(queue, id, e, 'answered an invalid verdict');
      return;
    }
    this.writeVerdict(queue, id, v);
  }

  /** A kernel error no setup step waits for: a verdict's, when the ring still knows it. */
  private onUnmatchedError(errno: number, seq: number, extAck: ExtAck | undefined): void {
    const err = this.ring.kernelError(errno, seq, extAck);
    if (err !== undefined) this.counters.verdictErrors++;
    this.report(err ?? new QueueKernelError(errno, { step: 'request', queue: this.queues[0] ?? 0, request: { type: 0, seq } }));
  }

  private onSocketError(e: NetlinkSocketError): void {
    if (e.code === 'ENOBUFS') {
      this.overrunWatch.enobufs(e);
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

  /** Writes a verdict into the shared writer; `unsent`: the caller (the iterator) sends it. */
  private writeVerdict(queue: number, id: number, v: Verdict, unsent = false): void {
    const conn = this.conn;
    if (conn.isClosed) return;
    if (this.flowPacketMarks !== undefined) this.flowPacketMarks.delete(queue * 0x100000000 + id);
    const seq = unsent ? conn.sendHeld(encodeVerdict, queue, id, v) : conn.send(encodeVerdict, queue, id, v);
    this.ring.remember(seq, KIND_VERDICT, queue, id);
    countVerdict(this.counters, v);
  }

  /**
   * Gives a verdict for a packet whose callback has not answered yet (e.g. from another
   * event); the callback's later answer is then ignored. Refuses a packet that is not
   * pending (already answered, or never seen) with a VerdictStateError, sending nothing.
   */
  setVerdict(queue: number, id: number, verdict: VerdictInput): void {
    checkQueueNumber(queue);
    if (this.iteration !== undefined) {
      this.iteration.answerById(queue, id, verdict);
      return;
    }
    if (!this.asyncVerdicts.isWaiting(queue, id)) {
      throw new VerdictStateError(`packet ${id} on queue ${queue} is not waiting for a verdict (already answered, or unknown)`, queue, id);
    }
    let v = normalizeVerdict(verdict);
    if (v.flow === true) v = this.flowVerdict(queue, id, v);
    this.asyncVerdicts.take(queue, id);
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
    if (this.conn.isClosed) throw new VerdictStateError('the queue is closed', queue, maxId);
    this.asyncVerdicts.takeUpTo(queue, maxId);
    this.iteration?.takeUpTo(queue, maxId);
    if (this.flowPacketMarks !== undefined) {
      for (const key of this.flowPacketMarks.keys()) if (Math.floor(key / 0x100000000) === queue && key % 0x100000000 <= maxId) this.flowPacketMarks.delete(key);
    }
    this.ring.remember(this.conn.send(encodeBatchVerdict, queue, maxId, v), KIND_BATCH, queue, maxId);
    countVerdict(this.counters, v);
    this.conn.flush();
  }

  /**
   * A flow verdict as sent: ACCEPT with the packet's mark (or the verdict's own), its flow
   * bits replaced by the accept or drop bits. The managed rule's flow chain, next on the
   * hook, copies them to the connection mark (and drops the packet for drop).
   */
  private flowVerdict(queue: number, id: number, v: Verdict, mark?: number): Verdict {
    const flow = this.flow;
    if (flow === undefined) throw new RuleError('flow', `a flow verdict for packet ${id} on queue ${queue} needs a queue opened with a managed rule and flow verdicts: openQueue(num, callback, { rule, flow: true })`);
    const current = v.mark ?? mark ?? this.flowPacketMarks?.get(queue * 0x100000000 + id) ?? 0;
    const out: Verdict = { ...v, verdict: 'accept', mark: flowVerdictMark(current, flow, v.verdict === 'drop' ? 'drop' : 'accept') };
    delete out.flow;
    return out;
  }

  /** @internal attaches the rule openQueue installed: stats() shows it, close() removes it first. */
  attachRule(rule: QueueRuleHandle): void {
    this.managedRule = rule;
  }

  /** @internal sends the config request `encode(w, a, b, c)` writes, and resolves on the kernel's ack. */
  configure<A, B, C>(step: QueueStep, queue: number, encode: Encoder<A, B, C>, a: A, b: B, c: C, flags = 0): Promise<void> {
    if (this.conn.isClosed) return Promise.reject(new NetlinkSocketError('the queue is closed', { code: 'EBADF' }));
    return this.conn.request(encode, a, b, c, {
      timeout: this.requestTimeout,
      timedOut: () => new QueueTimeoutError(`${step} on queue ${queue}: no answer from the kernel in ${this.requestTimeout} ms`),
      refused: (errno, extAck, seq) => {
        const ctx: ConstructorParameters<typeof QueueKernelError>[1] = { step, queue, flags, request: { type: C.NFQ_TYPE_CONFIG, seq } };
        if (extAck !== undefined) ctx.extAck = extAck;
        return new QueueKernelError(errno, ctx);
      },
    });
  }

  // ------------------------------------------------------------------ stats and close

  /** The library's counters and the kernel's (from /proc) for this queue's numbers. */
  stats(): QueueStats {
    const c = this.counters;
    c.pending = this.pendingCount;
    let kernel: KernelQueueStats[] = [];
    try {
      const rows = readKernelQueueStatsOf(this.socket);
      this.overrunWatch.check(rows);
      kernel = rows.filter((r) => this.queues.includes(r.queue));
    } catch {
      // /proc unreadable (no procfs, or another namespace): library counters only.
    }
    const out: QueueStats = { ...c, verdicts: { ...c.verdicts }, kernel };
    if (this.managedRule !== undefined) out.rule = this.managedRule.info();
    return out;
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
    // The managed rule goes first, so that no packet meets a rule without its listener.
    if (this.managedRule !== undefined) await this.managedRule.remove().catch((e: unknown) => this.report(toError(e)));
    this.iteration?.end();
    this.asyncVerdicts.stop();
    this.overrunWatch.stop();
    // Let a synchronous callback that called close() finish and write its verdict first.
    await Promise.resolve();
    this.asyncVerdicts.takeAll((queue, id) => this.writeVerdict(queue, id, this.defaultVerdict));
    this.iteration?.takeAll((queue, id) => this.writeVerdict(queue, id, this.defaultVerdict));
    this.conn.flush();
    await drainBeforeUnbind(this.conn, this.socket, this.queues, this.defaultVerdict.verdict === 'accept', this.requestTimeout);
    this.overrunWatch.check(); // a last look, while the queue is still bound and no longer fed
    const unbinds = this.queues.map((q) =>
      this.configure('unbind', q, encodeConfigCommand, q, C.NFQNL_CFG_CMD_UNBIND, C.NFPROTO_UNSPEC).catch((e: unknown) => this.report(toError(e))),
    );
    await Promise.all(unbinds);
    this.conn.close(new NetlinkSocketError('the queue was closed', { code: 'EBADF' }));
    this.emit('close');
  }

  /** @internal closes the transport at once after a failed setup. */
  abort(): void {
    this.closing = true;
    this.overrunWatch.stop();
    this.conn.abort();
  }
}
