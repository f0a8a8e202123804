/**
 * Async iteration over a queue opened without a callback: `for await (const packet of
 * queue)`. Each packet is answered later with `packet.accept()` / `packet.drop()` /
 * `packet.verdict(v)` or `queue.setVerdict(packet.queue, packet.id, v)`.
 *
 * Backpressure: packets handed out (or waiting to be) and not yet answered are bounded by
 * `maxOutstanding`. At the bound the transport stops reading its socket, so further packets
 * wait in the kernel's queue; it reads again once half of them are answered. A batch of
 * datagrams already read is still delivered, so the count may pass the bound by one batch.
 *
 * Leaving the loop (break, throw, return) closes the queue: every packet not yet answered
 * gets the default verdict. A queue that closes (close(), its signal) ends the loop.
 *
 * Iteration mode only costs what it uses: callback mode never touches this file.
 */
import type { Transport } from '../netlink/transport.js';
import type { VerdictInput } from '../nfqueue/verdict.js';
import { QueuedPacket, type PacketAnswerer } from './queued-packet.js';

/** What the iterator needs from its Queue. */
export interface IteratedQueue {
  /** Packets given to the iterator and not yet answered (the Queue's pending count). */
  readonly pendingCount: number;
  setVerdict(queue: number, id: number, verdict: VerdictInput): void;
  close(): Promise<void>;
}

/** Default bound on packets handed out and not yet answered. */
export const DEFAULT_MAX_OUTSTANDING = 256;

/**
 * A thenable that never settles, returned to the Queue for each packet: the Queue tracks the
 * packet as waiting for an async answer (so setVerdict, verdictTimeout and close all work)
 * while the answer comes from the loop. Its then() registers nothing, so nothing piles up.
 */
const ANSWERED_ELSEWHERE: PromiseLike<never> = {
  then() {
    return ANSWERED_ELSEWHERE as PromiseLike<never>;
  },
} as PromiseLike<never>;

export class PacketIterator implements AsyncIterableIterator<QueuedPacket>, PacketAnswerer {
  private readonly buffer: QueuedPacket[] = [];
  private head = 0;
  private waiter: ((r: IteratorResult<QueuedPacket>) => void) | undefined;
  private done = false;
  private paused = false;
  private closing: Promise<void> | undefined;
  private readonly resumeAt: number;

  constructor(
    private readonly queue: IteratedQueue,
    private readonly transport: Transport,
    private readonly maxOutstanding: number,
  ) {
    this.resumeAt = Math.floor(maxOutstanding / 2);
  }

  /** A packet's own verdict method answers through here. */
  answer(p: QueuedPacket, v: VerdictInput): void {
    this.queue.setVerdict(p.queue, p.id, v);
  }

  /** The Queue's packet callback in iteration mode. */
  readonly callback = (p: QueuedPacket): PromiseLike<never> => {
    QueuedPacket.attach(p, this);
    const w = this.waiter;
    if (w !== undefined) {
      this.waiter = undefined;
      w({ value: p, done: false });
    } else this.buffer.push(p);
    // This packet counts once the Queue tracks it, just after this returns: hence the + 1.
    if (!this.paused && this.queue.pendingCount + 1 >= this.maxOutstanding && this.transport.pause !== undefined) {
      this.paused = true;
      this.transport.pause();
    }
    return ANSWERED_ELSEWHERE;
  };

  /** Called by the Queue when packets were answered: reads again below the low mark. */
  released(): void {
    if (this.paused && !this.done && this.queue.pendingCount <= this.resumeAt) {
      this.paused = false;
      this.transport.resume?.();
    }
  }

  next(): Promise<IteratorResult<QueuedPacket>> {
    if (this.head < this.buffer.length) {
      const value = this.buffer[this.head]!;
      this.buffer[this.head++] = undefined as unknown as QueuedPacket;
      if (this.head === this.buffer.length) {
        this.buffer.length = 0;
        this.head = 0;
      } else if (this.head > 1024 && this.head * 2 > this.buffer.length) {
        this.buffer.splice(0, this.head);
        this.head = 0;
      }
      return Promise.resolve({ value, done: false });
    }
    if (this.done) return Promise.resolve({ value: undefined, done: true });
    if (this.waiter !== undefined) return Promise.reject(new TypeError('one next() at a time: a queue has a single reader'));
    return new Promise((resolve) => {
      this.waiter = resolve;
    });
  }

  /** Leaving the loop: every unanswered packet gets the default verdict, the queue closes. */
  async return(): Promise<IteratorResult<QueuedPacket>> {
    await this.shutdown();
    return { value: undefined, done: true };
  }

  async throw(err?: unknown): Promise<IteratorResult<QueuedPacket>> {
    await this.shutdown();
    throw err;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  private shutdown(): Promise<void> {
    this.closing ??= this.queue.close();
    return this.closing;
  }

  /**
   * Called by the Queue as its close begins: the loop gets no more packets (the buffered
   * ones get the default verdict from the close, as they are pending there) and ends.
   */
  end(): void {
    if (this.done) return;
    this.done = true;
    this.buffer.length = 0;
    this.head = 0;
    // The close drains the socket (each packet gets the default verdict): read again.
    if (this.paused) {
      this.paused = false;
      this.transport.resume?.();
    }
    const w = this.waiter;
    this.waiter = undefined;
    w?.({ value: undefined, done: true });
  }
}
