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
 * packet (see QueuedPacket); handed-out packets sit in an array in arrival order, so answers
 * that come in order pop them from its head. next() returns an already-resolved promise
 * while packets are held. Verdicts are written into the connection's shared writer and
 * leave together when the loop runs out of packets (its next() would wait), or, for answers
 * given outside the loop's pace, when the event loop turns (setImmediate).
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
  /** The verdict as sent for `p` (a flow verdict becomes ACCEPT with mark bits); throws when refused. */
  resolve(p: QueuedPacket, v: Verdict): Verdict;
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

const DONE: IteratorResult<QueuedPacket> = Object.freeze({ value: undefined, done: true });

const notWaiting = (queue: number, id: number): VerdictStateError =>
  new VerdictStateError(`packet ${id} on queue ${queue} is not waiting for a verdict (already answered, or unknown)`, queue, id);

/**
 * A first-in first-out ring of packets that keeps its storage: a plain array emptied with
 * `length = 0` gives its backing store back, and the next push allocates it again (3 % of
 * the iteration path's time, measured).
 */
class PacketRing {
  private slots: (QueuedPacket | undefined)[] = new Array<QueuedPacket | undefined>(16).fill(undefined);
  private mask = 15;
  private head = 0;
  length = 0;

  push(p: QueuedPacket): void {
    if (this.length > this.mask) this.grow();
    this.slots[(this.head + this.length) & this.mask] = p;
    this.length++;
  }

  /** The i-th packet from the head. */
  at(i: number): QueuedPacket {
    return this.slots[(this.head + i) & this.mask]!;
  }

  shift(): QueuedPacket | undefined {
    if (this.length === 0) return undefined;
    const p = this.slots[this.head];
    this.slots[this.head] = undefined;
    this.head = (this.head + 1) & this.mask;
    this.length--;
    return p;
  }

  /** Keeps only the packets `keep` accepts, in order. */
  filter(keep: (p: QueuedPacket) => boolean): void {
    let k = 0;
    for (let i = 0; i < this.length; i++) {
      const p = this.at(i);
      if (keep(p)) this.slots[(this.head + k++) & this.mask] = p;
    }
    for (let i = k; i < this.length; i++) this.slots[(this.head + i) & this.mask] = undefined;
    this.length = k;
  }

  clear(): void {
    this.slots.fill(undefined);
    this.head = 0;
    this.length = 0;
  }

  private grow(): void {
    const next = new Array<QueuedPacket | undefined>(this.slots.length * 2).fill(undefined);
    for (let i = 0; i < this.length; i++) next[i] = this.at(i);
    this.slots = next;
    this.mask = next.length - 1;
    this.head = 0;
  }
}

export class PacketIterator implements AsyncIterableIterator<QueuedPacket>, PacketAnswerer {
  /** Received, not yet handed out (some may have been answered by setVerdict/batchVerdict). */
  private readonly held = new PacketRing();
  /** Held packets still waiting for a verdict. */
  private heldWaiting = 0;
  /** Handed out, in arrival order; the head is always unanswered (answered ones are popped). */
  private readonly handed = new PacketRing();
  /** Handed-out packets not yet answered. */
  private outstanding = 0;
  private waiter: ((r: IteratorResult<QueuedPacket>) => void) | undefined;
  /** next()'s promise executor, made once (a closure per wait costs an allocation, and a lazy compile at its first call). */
  private readonly wait = (resolve: (r: IteratorResult<QueuedPacket>) => void): void => {
    this.waiter = resolve;
  };
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
    const w = this.waiter;
    if (w !== undefined && this.outstanding < this.max) {
      this.waiter = undefined;
      this.handOut(p);
      w({ value: p, done: false });
    } else {
      this.held.push(p);
      this.heldWaiting++;
    }
    if (!this.paused && this.outstanding + this.heldWaiting >= this.max && this.transport.pause !== undefined) {
      this.paused = true;
      this.transport.pause();
    }
  }

  next(): Promise<IteratorResult<QueuedPacket>> {
    if (this.outstanding < this.max && !this.done) {
      const p = this.takeHeld();
      if (p !== undefined) {
        this.handOut(p);
        return Promise.resolve({ value: p, done: false });
      }
    }
    // The loop is about to wait: the verdicts it gave leave now, in one send, and the
    // fallback send is not needed (letting it fire costs a call into JavaScript per wake-up).
    if (this.flushImmediate !== undefined) {
      clearImmediate(this.flushImmediate);
      this.flushImmediate = undefined;
    }
    this.owner.flush();
    if (this.done) return Promise.resolve(DONE);
    if (this.waiter !== undefined) return Promise.reject(new TypeError('one next() at a time: a queue has a single reader'));
    return new Promise(this.wait);
  }

  /** A packet's own verdict method: answers `p` (refused when it is not waiting). */
  answer(p: QueuedPacket, input: VerdictInput): void {
    const state = QueuedPacket.stateOf(p);
    if (state !== HANDED_OUT && state !== HELD) throw notWaiting(p.queue, p.id);
    const v = this.owner.resolve(p, normalizeVerdict(input)); // throws before anything changes
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
    this.handed.clear();
    this.held.clear();
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
    if (this.flushImmediate !== undefined) clearImmediate(this.flushImmediate);
    this.flushImmediate = undefined;
    // The close drains the socket (each packet gets the default verdict): read again.
    if (this.paused) {
      this.paused = false;
      this.transport.resume?.();
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.(DONE);
  }

  private shutdown(): Promise<void> {
    this.closing ??= this.owner.close();
    return this.closing;
  }

  private handOut(p: QueuedPacket): void {
    QueuedPacket.setState(p, HANDED_OUT);
    this.handed.push(p);
    this.outstanding++;
  }

  /** The next held packet still waiting (skipping ones answered while held), removed from the held list. */
  private takeHeld(): QueuedPacket | undefined {
    for (let p = this.held.shift(); p !== undefined; p = this.held.shift()) {
      if (QueuedPacket.stateOf(p) === HELD) {
        this.heldWaiting--;
        return p;
      }
    }
    return undefined;
  }

  private settle(p: QueuedPacket, state: number): void {
    QueuedPacket.setState(p, ANSWERED);
    if (state === HELD) {
      this.heldWaiting--;
      return;
    }
    this.outstanding--;
    const handed = this.handed;
    while (handed.length > 0 && QueuedPacket.stateOf(handed.at(0)) === ANSWERED) handed.shift();
    // Answers out of order behind an old unanswered packet: drop the answered ones in between.
    if (handed.length > 2 * this.max + 64) handed.filter((q) => QueuedPacket.stateOf(q) !== ANSWERED);
  }

  /** After answers: send them soon, hand a held packet to a waiting loop, read again below the low mark. */
  private afterAnswers(): void {
    this.flushImmediate ??= setImmediate(this.flushLater);
    const w = this.waiter;
    if (w !== undefined && this.outstanding < this.max) {
      const p = this.takeHeld();
      if (p !== undefined) {
        this.waiter = undefined;
        this.handOut(p);
        w({ value: p, done: false });
      }
    }
    if (this.paused && !this.done && this.outstanding + this.heldWaiting <= this.resumeAt) {
      this.paused = false;
      this.transport.resume?.();
    }
  }

  private find(queue: number, id: number): QueuedPacket | undefined {
    for (const [list, state] of [
      [this.handed, HANDED_OUT],
      [this.held, HELD],
    ] as const) {
      for (let i = 0; i < list.length; i++) {
        const p = list.at(i);
        if (p.id === id && p.queue === queue && QueuedPacket.stateOf(p) === state) return p;
      }
    }
    return undefined;
  }

  /** Every packet still waiting, handed out first (they are the older), in arrival order. */
  private forEachWaiting(each: (p: QueuedPacket, state: number) => void): void {
    for (const list of [this.handed, this.held]) {
      // A copy: `each` may settle packets, which moves the live ring's head.
      const copy = Array.from({ length: list.length }, (_, i) => list.at(i));
      for (const p of copy) {
        const state = QueuedPacket.stateOf(p);
        if (state === HELD || state === HANDED_OUT) each(p, state);
      }
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
    const oldest = this.handed.length > 0 ? this.handed.at(0) : undefined;
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
