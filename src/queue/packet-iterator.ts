/**
 * Async iteration over a queue opened without a callback: `for await (const packet of
 * queue)`. Each packet is answered later with `packet.accept()` / `packet.drop()` /
 * `packet.verdict(v)` or `queue.setVerdict(packet.queue, packet.id, v)`.
 *
 * The bound: at most `maxOutstanding` packets are handed out and not yet answered. Packets
 * beyond it that arrived in a datagram already read are held here, in arrival order, until
 * there is room; once handed-out plus held packets reach the bound the transport stops
 * reading its socket (further packets wait in the kernel) and reads again when they fall to
 * half of it.
 *
 * Speed: a packet costs no map entry and no promise of its own. Its state lives in the
 * packet (see QueuedPacket); the packets not yet answered sit in one array in arrival order,
 * handed out first, then held, so handing out moves an index and answers that come in order
 * move the head. The array is a fresh one whenever it empties (once per read, when the loop
 * keeps up): a young array takes young packets without the write barrier's slow path, which
 * a long-lived one pays on every store (about 60 instructions each). next() returns an
 * already-resolved promise while packets are held.
 *
 * Verdicts are written into the connection's shared writer and leave together when the loop
 * runs out of packets (its next() would wait), or, for answers given outside the loop's
 * pace, when the event loop turns (setImmediate; a process.nextTick instead costs about 200
 * instructions per packet more, for Node's async bookkeeping of each tick).
 *
 * `queue.batches()` hands out, per step, every waiting packet up to the bound: one promise
 * per batch (the packets of one read, when the loop keeps up) instead of one per packet. Its
 * verdicts leave together when it asks for the next batch. When it waits, the packets that
 * arrive are held and handed out in one promise job, so that all the packets of a read form
 * one batch; an array once handed out never changes.
 *
 * Leaving the loop (break, throw, return) closes the queue: every packet not yet answered,
 * handed out or held, gets the default verdict. A queue that closes ends the loop.
 */
import type { Transport } from '../netlink/transport.js';
import { normalizeVerdict, type Verdict, type VerdictInput } from '../nfqueue/verdict.js';
import { VerdictStateError } from './errors.js';
import { QueuedPacket, HELD, HANDED_OUT, ANSWERED, type PacketAnswerer } from './queued-packet.js';

/** What the iterator needs from its Queue. */
export interface IterationOwner {
  /** Writes a verdict into the shared writer, without scheduling its send. */
  write(queue: number, id: number, v: Verdict): void;
  /** A flow verdict for `p` as sent (ACCEPT with mark bits); throws when refused. */
  resolveFlow(p: QueuedPacket, v: Verdict): Verdict;
  /** Sends what was written. */
  flush(): void;
  close(): Promise<void>;
  /** Packet `id` waited past verdictTimeout: the Queue gives it the default verdict. */
  timedOut(queue: number, id: number): void;
  /** The oldest handed-out packet has waited `waitedMs` for its answer (said once). */
  unanswered(oldest: QueuedPacket, waitedMs: number, outstanding: number): void;
}

export interface IterationOptions {
  /** Most packets handed out and not yet answered. */
  maxOutstanding: number;
  /** Milliseconds a packet may wait for its answer (Infinity: no limit). */
  verdictTimeout: number;
  /** Milliseconds after which a handed-out packet still unanswered is reported once (0: never). */
  unansweredWarning: number;
}

/** Default bound on packets handed out and not yet answered. */
export const DEFAULT_MAX_OUTSTANDING = 256;
/** Default time after which a packet the loop leaves unanswered is reported. */
export const DEFAULT_UNANSWERED_WARNING = 10_000;

/** Schedules the batch hand-out as a plain promise job (queueMicrotask adds an async resource per call). */
const RESOLVED = Promise.resolve();

const DONE: IteratorReturnResult<undefined> = Object.freeze({ value: undefined, done: true });

const notWaiting = (queue: number, id: number): VerdictStateError =>
  new VerdictStateError(`packet ${id} on queue ${queue} is not waiting for a verdict (already answered, or unknown)`, queue, id);

export class PacketIterator implements AsyncIterableIterator<QueuedPacket>, PacketAnswerer {
  /**
   * Packets received, in arrival order, from the oldest not yet answered (`start`, or the
   * array's end): [start, handPos) were handed out, [handPos, end) are held; answered ones
   * stay in place until the head passes them or a compaction drops them.
   */
  private arrivals: QueuedPacket[] = [];
  private start = 0;
  private handPos = 0;
  /** Held packets still waiting for a verdict (some held ones may have been answered by setVerdict/batchVerdict). */
  private heldWaiting = 0;
  /** Handed-out packets not yet answered. */
  private outstanding = 0;
  private waiter: ((r: IteratorResult<QueuedPacket | QueuedPacket[]>) => void) | undefined;
  /** The waiter is a batch loop's (nextBatch), not a packet loop's. */
  private waitsForBatch = false;
  /** A microtask will hand the held packets to the waiting batch loop. */
  private batchQueued = false;
  /** next()'s promise executor, made once (a closure per wait costs an allocation, and a lazy compile at its first call). */
  private readonly wait = (resolve: (r: IteratorResult<QueuedPacket | QueuedPacket[]>) => void): void => {
    this.waiter = resolve;
  };
  private readonly giveBatch = (): void => {
    this.batchQueued = false;
    const w = this.waiter;
    if (w === undefined || !this.waitsForBatch) return;
    const batch = this.takeBatch();
    if (batch.length === 0) return;
    this.waiter = undefined;
    w({ value: batch, done: false });
  };
  private batchLoop: BatchIterator | undefined;
  private done = false;
  private paused = false;
  private closing: Promise<void> | undefined;
  private flushImmediate: NodeJS.Immediate | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private warnTimer: NodeJS.Timeout | undefined;
  /** The oldest unanswered packet at the last warning check, and since when it was. */
  private watched: QueuedPacket | undefined;
  private watchedSince = 0;
  private readonly max: number;
  private readonly resumeAt: number;
  private readonly verdictTimeout: number;
  private readonly warnAfter: number;
  private readonly flushLater = (): void => {
    this.flushImmediate = undefined;
    this.owner.flush();
  };

  constructor(
    private readonly owner: IterationOwner,
    private readonly transport: Transport,
    options: IterationOptions,
  ) {
    this.max = options.maxOutstanding;
    this.resumeAt = Math.floor(options.maxOutstanding / 2);
    this.verdictTimeout = options.verdictTimeout;
    this.warnAfter = options.unansweredWarning;
    if (this.warnAfter > 0 && this.warnAfter !== Infinity) {
      // Checked four times per period: the report comes 1 to 1.5 periods after the hand-out.
      this.warnTimer = setInterval(() => this.checkUnanswered(), Math.max(1, Math.ceil(this.warnAfter / 4)));
      this.warnTimer.unref();
    }
  }

  /** Packets given to the loop or held for it, not yet answered. */
  get size(): number {
    return this.outstanding + this.heldWaiting;
  }

  /** The Queue hands every received packet here, in arrival order. */
  push(p: QueuedPacket): void {
    let deadline = Infinity;
    if (this.verdictTimeout !== Infinity) {
      deadline = performance.now() + this.verdictTimeout;
      if (this.sweepTimer === undefined) this.armSweep(this.verdictTimeout);
    }
    QueuedPacket.attach(p, this, deadline);
    this.arrivals.push(p);
    this.heldWaiting++;
    if (this.waiter !== undefined) this.feedWaiter();
    if (!this.paused && this.outstanding + this.heldWaiting >= this.max && this.transport.pause !== undefined) {
      this.paused = true;
      this.transport.pause();
    }
  }

  next(): Promise<IteratorResult<QueuedPacket>> {
    if (this.outstanding < this.max && this.heldWaiting > 0 && !this.done) {
      const p = this.takeHeld();
      if (p !== undefined) return Promise.resolve({ value: p, done: false });
    }
    // The loop is about to wait: the verdicts it gave leave now, in one send, and the
    // fallback send is not needed (letting it fire costs a call into JavaScript per wake-up).
    return this.flushAndWait(false);
  }

  /** The batch loop's step: every waiting packet up to the bound, at once. */
  nextBatch(): Promise<IteratorResult<QueuedPacket[]>> {
    // The verdicts given for the last batch leave now, in one send, whether or not it waits.
    this.cancelFlushLater();
    this.owner.flush();
    if (!this.done && this.waiter === undefined) {
      const batch = this.takeBatch();
      if (batch.length > 0) return Promise.resolve({ value: batch, done: false });
    }
    return this.flushAndWait(true);
  }

  /** A loop's step that found nothing to hand out: sends what was written, then waits (or ends). */
  private flushAndWait<T>(batch: boolean): Promise<IteratorResult<T>> {
    this.cancelFlushLater();
    this.owner.flush();
    if (this.done) return Promise.resolve(DONE);
    if (this.waiter !== undefined) return Promise.reject(new TypeError('one next() at a time: a queue has a single reader'));
    this.waitsForBatch = batch;
    return new Promise(this.wait) as Promise<IteratorResult<T>>;
  }

  /** `queue.batches()`: the batch loop over this queue (one, like the packet loop). */
  batches(): AsyncIterableIterator<QueuedPacket[]> {
    this.batchLoop ??= new BatchIterator(this);
    return this.batchLoop;
  }

  /** A packet's own verdict method: answers `p` (refused when it is not waiting). */
  answer(p: QueuedPacket, input: VerdictInput): void {
    const state = QueuedPacket.stateOf(p);
    if (state !== HANDED_OUT && state !== HELD) throw notWaiting(p.queue, p.id);
    let v = normalizeVerdict(input); // throws before anything changes
    if (v.flow === true) v = this.owner.resolveFlow(p, v);
    this.settle(p, state);
    this.owner.write(p.queue, p.id, v);
    this.afterAnswers();
  }

  /** queue.setVerdict() for an iterated queue: finds the packet by its numbers. */
  answerById(queue: number, id: number, input: VerdictInput): void {
    const p = this.find(queue, id);
    if (p === undefined) throw notWaiting(queue, id);
    this.answer(p, input);
  }

  /** A batch verdict covers every waiting packet of `queue` up to `maxId`: they count as answered. */
  takeUpTo(queue: number, maxId: number): void {
    this.forEachWaiting((p, state) => {
      if (p.queue === queue && p.id <= maxId) this.settle(p, state);
    });
    this.afterAnswers();
  }

  /** At close: calls `each` for every packet not yet answered, in arrival order. */
  takeAll(each: (queue: number, id: number) => void): void {
    this.forEachWaiting((p) => {
      QueuedPacket.setState(p, ANSWERED);
      each(p.queue, p.id);
    });
    this.arrivals = [];
    this.start = 0;
    this.handPos = 0;
    this.outstanding = 0;
    this.heldWaiting = 0;
  }

  /** Leaving the loop: every unanswered packet gets the default verdict, the queue closes. */
  async return(): Promise<IteratorResult<QueuedPacket>> {
    await this.shutdown();
    return DONE;
  }

  async throw(err?: unknown): Promise<IteratorResult<QueuedPacket>> {
    await this.shutdown();
    throw err;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  /**
   * Called by the Queue as its close begins: the loop gets no more packets and ends. The
   * packets still waiting stay here until the Queue gives them the default verdict
   * (takeAll); the loop may still answer the ones it holds until then.
   */
  end(): void {
    if (this.done) return;
    this.done = true;
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
    if (this.warnTimer !== undefined) clearInterval(this.warnTimer);
    this.cancelFlushLater();
    // The close drains the socket (each packet gets the default verdict): read again.
    if (this.paused) {
      this.paused = false;
      this.transport.resume?.();
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.(DONE);
  }

  private cancelFlushLater(): void {
    if (this.flushImmediate === undefined) return;
    clearImmediate(this.flushImmediate);
    this.flushImmediate = undefined;
  }

  private shutdown(): Promise<void> {
    this.closing ??= this.owner.close();
    return this.closing;
  }

  /** Hands out held packets still waiting, up to the bound, in arrival order. */
  private takeBatch(): QueuedPacket[] {
    const batch: QueuedPacket[] = [];
    while (this.outstanding < this.max && this.heldWaiting > 0) {
      const p = this.takeHeld();
      if (p === undefined) break;
      batch.push(p);
    }
    return batch;
  }

  /** A loop waits: hand it the next held packet, or for a batch loop, the held packets in a microtask. */
  private feedWaiter(): void {
    if (this.outstanding >= this.max || this.heldWaiting === 0) return;
    if (this.waitsForBatch) {
      this.queueBatch();
      return;
    }
    const w = this.waiter;
    const p = w === undefined ? undefined : this.takeHeld();
    if (p === undefined) return;
    this.waiter = undefined;
    w!({ value: p, done: false });
  }

  /** A batch loop waits: give it the held packets in a microtask, once the read that brought them has been walked. */
  private queueBatch(): void {
    if (this.batchQueued) return;
    this.batchQueued = true;
    void RESOLVED.then(this.giveBatch);
  }

  /** Hands out the next held packet still waiting (skipping ones answered while held). */
  private takeHeld(): QueuedPacket | undefined {
    const a = this.arrivals;
    while (this.handPos < a.length) {
      const p = a[this.handPos++]!;
      if (QueuedPacket.stateOf(p) === HELD) {
        QueuedPacket.setState(p, HANDED_OUT);
        this.heldWaiting--;
        this.outstanding++;
        return p;
      }
    }
    return undefined;
  }

  private settle(p: QueuedPacket, state: number): void {
    QueuedPacket.setState(p, ANSWERED);
    if (state === HELD) this.heldWaiting--;
    else this.outstanding--;
    const a = this.arrivals;
    let start = this.start;
    while (start < a.length && QueuedPacket.stateOf(a[start]!) === ANSWERED) start++;
    if (start === a.length) {
      // All answered: a fresh (young) array for what comes next.
      this.arrivals = [];
      this.start = 0;
      this.handPos = 0;
      return;
    }
    this.start = start;
    if (this.handPos < start) this.handPos = start;
    // Answers out of order behind an old unanswered packet, or a head that never catches up
    // with the arrivals: drop the answered packets, so the array stays near its live size.
    const answered = a.length - start - this.outstanding - this.heldWaiting;
    if (answered > this.max + 64 || (start >= 1024 && 2 * start >= a.length)) this.compact();
  }

  /** Keeps only the packets not yet answered, in order. */
  private compact(): void {
    const a = this.arrivals;
    const kept: QueuedPacket[] = [];
    let handPos = 0;
    for (let i = this.start; i < a.length; i++) {
      const p = a[i]!;
      if (QueuedPacket.stateOf(p) === ANSWERED) continue;
      kept.push(p);
      if (i < this.handPos) handPos++;
    }
    this.arrivals = kept;
    this.start = 0;
    this.handPos = handPos;
  }

  /** After answers: send them soon, hand a held packet to a waiting loop, read again below the low mark. */
  private afterAnswers(): void {
    this.flushImmediate ??= setImmediate(this.flushLater);
    if (this.waiter !== undefined) this.feedWaiter();
    if (this.paused && !this.done && this.outstanding + this.heldWaiting <= this.resumeAt) {
      this.paused = false;
      this.transport.resume?.();
    }
  }

  private find(queue: number, id: number): QueuedPacket | undefined {
    const a = this.arrivals;
    for (let i = this.start; i < a.length; i++) {
      const p = a[i]!;
      const state = QueuedPacket.stateOf(p);
      if (p.id === id && p.queue === queue && (state === HANDED_OUT || state === HELD)) return p;
    }
    return undefined;
  }

  /** Every packet still waiting, in arrival order (handed-out ones first: they are the older). */
  private forEachWaiting(each: (p: QueuedPacket, state: number) => void): void {
    // A copy: `each` may settle packets, which moves the head or replaces the array.
    for (const p of this.arrivals.slice(this.start)) {
      const state = QueuedPacket.stateOf(p);
      if (state === HELD || state === HANDED_OUT) each(p, state);
    }
  }

  private armSweep(ms: number): void {
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(1, Math.ceil(ms)));
    this.sweepTimer.unref();
  }

  /** Gives the default verdict to packets past their deadline (arrival order = deadline order). */
  private sweep(): void {
    this.sweepTimer = undefined;
    if (this.done) return;
    const now = performance.now();
    let next = Infinity;
    this.forEachWaiting((p, state) => {
      if (next !== Infinity) return;
      const deadline = QueuedPacket.deadlineOf(p);
      if (deadline > now) {
        next = deadline;
        return;
      }
      this.settle(p, state);
      this.owner.timedOut(p.queue, p.id);
    });
    if (next !== Infinity) this.armSweep(next - now);
    this.afterAnswers();
  }

  /** Reports once when the same packet has been the oldest unanswered one for warnAfter ms. */
  private checkUnanswered(): void {
    // The head is the oldest unanswered packet; below handPos it was handed out.
    const oldest = this.start < this.handPos ? this.arrivals[this.start] : undefined;
    const now = performance.now();
    if (oldest === undefined || oldest !== this.watched) {
      this.watched = oldest;
      this.watchedSince = now;
      return;
    }
    if (now - this.watchedSince >= this.warnAfter) {
      clearInterval(this.warnTimer);
      this.warnTimer = undefined;
      this.owner.unanswered(oldest, Math.round(now - this.watchedSince), this.outstanding);
    }
  }
}

/** `for await (const batch of queue.batches())`: the packet iterator's state, stepped a batch at a time. */
class BatchIterator implements AsyncIterableIterator<QueuedPacket[]> {
  constructor(private readonly packets: PacketIterator) {}

  next(): Promise<IteratorResult<QueuedPacket[]>> {
    return this.packets.nextBatch();
  }

  /** Leaving the loop: every unanswered packet gets the default verdict, the queue closes. */
  return(): Promise<IteratorResult<QueuedPacket[]>> {
    return this.packets.return() as Promise<IteratorResult<never>>;
  }

  throw(err?: unknown): Promise<IteratorResult<QueuedPacket[]>> {
    return this.packets.throw(err) as Promise<IteratorResult<never>>;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }
}
