/**
 * Packets whose callback answered with a Promise: remembered until it settles, a verdict
 * arrives from setVerdict()/batchVerdict(), verdictTimeout passes, or the queue closes.
 * Whatever comes first gives the verdict; later answers are ignored.
 */

interface AsyncEntry {
  queue: number;
  id: number;
  done: boolean;
  /** performance.now() by which the callback must answer (Infinity: no limit). */
  deadline: number;
}

/** What the tracker does with a packet's answer; implemented by the Queue. */
export interface AsyncVerdictOwner {
  /** The callback's Promise resolved with `result` (not yet checked). */
  answered(queue: number, id: number, result: unknown): void;
  /** The callback's Promise rejected with `e`. */
  rejected(queue: number, id: number, e: unknown): void;
  /** The packet waited longer than verdictTimeout. */
  timedOut(queue: number, id: number): void;
  /** Sends what the answers wrote (after a batch of them). */
  flush(): void;
  /** Whether the queue is closing (then the sweep stops: close() answers what is left). */
  readonly closing: boolean;
}

const keyOf = (queue: number, id: number): number => queue * 0x100000000 + id;

export class AsyncVerdicts {
  /** In arrival order, so the sweep can stop at the first packet still in time. */
  private readonly entries = new Map<number, AsyncEntry>();
  private sweepTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly owner: AsyncVerdictOwner,
    /** Milliseconds a packet may wait (Infinity: no limit). */
    private readonly verdictTimeout: number,
  ) {}

  /** Packets waiting for their callback. */
  get size(): number {
    return this.entries.size;
  }

  /** Waits for `result`, the callback's answer for packet `id` of `queue`. */
  track(queue: number, id: number, result: PromiseLike<unknown>): void {
    const key = keyOf(queue, id);
    const entry: AsyncEntry = { queue, id, done: false, deadline: performance.now() + this.verdictTimeout };
    this.entries.set(key, entry);
    if (this.verdictTimeout !== Infinity && this.sweepTimer === undefined) this.armSweep(this.verdictTimeout);
    const finish = (): boolean => {
      if (entry.done) return false;
      entry.done = true;
      this.entries.delete(key);
      return true;
    };
    result.then(
      (v) => {
        if (finish()) this.owner.answered(queue, id, v);
      },
      (e: unknown) => {
        if (finish()) this.owner.rejected(queue, id, e);
      },
    );
  }

  /** Whether packet `id` of `queue` still waits for its callback. */
  isWaiting(queue: number, id: number): boolean {
    const entry = this.entries.get(keyOf(queue, id));
    return entry !== undefined && !entry.done;
  }

  /** Settles packet `id` of `queue` from outside; false when it is not waiting. */
  take(queue: number, id: number): boolean {
    const key = keyOf(queue, id);
    const entry = this.entries.get(key);
    if (entry === undefined || entry.done) return false;
    entry.done = true;
    this.entries.delete(key);
    return true;
  }

  /** Settles every packet of `queue` with an id up to `maxId` (a batch verdict covers them). */
  takeUpTo(queue: number, maxId: number): void {
    for (const [key, e] of this.entries) {
      if (e.queue === queue && e.id <= maxId) {
        e.done = true;
        this.entries.delete(key);
      }
    }
  }

  /** Settles every waiting packet (at close): calls `each` for it. */
  takeAll(each: (queue: number, id: number) => void): void {
    this.stop();
    for (const e of this.entries.values()) {
      if (e.done) continue;
      e.done = true;
      each(e.queue, e.id);
    }
    this.entries.clear();
  }

  /** Stops the timeout sweep. */
  stop(): void {
    if (this.sweepTimer !== undefined) clearTimeout(this.sweepTimer);
  }

  private armSweep(ms: number): void {
    this.sweepTimer = setTimeout(() => this.sweep(), Math.max(1, Math.ceil(ms)));
    this.sweepTimer.unref();
  }

  /**
   * Gives the default verdict to packets past their deadline. Every packet has the same
   * timeout, so the scan stops at the first packet still in time.
   */
  private sweep(): void {
    this.sweepTimer = undefined;
    if (this.owner.closing) return;
    const now = performance.now();
    for (const [key, e] of this.entries) {
      if (e.deadline > now) {
        this.armSweep(e.deadline - now);
        break;
      }
      e.done = true;
      this.entries.delete(key);
      this.owner.timedOut(e.queue, e.id);
    }
    this.owner.flush();
  }
}
