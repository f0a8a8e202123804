/**
 * Overrun detection. A socket reports a receive-buffer overrun as ENOBUFS, but one with
 * NETLINK_NO_ENOBUFS (the native transport's default) never does: then the rise of the
 * kernel's user_dropped counter for our queues in /proc is the only sign. This watch reads
 * /proc off the per-packet path: armed by the first packet after a look, so at most once
 * a second and only while packets flow, and once more at close.
 */
import { constants } from 'node:os';
import { NetlinkSocketError } from '../netlink/errors.js';
import type { KernelQueueStats } from './proc.js';

/** errno ENOBUFS: the receive buffer overran. */
const { ENOBUFS } = constants.errno;

const WATCH_INTERVAL_MS = 1000;

/** What the watch needs from its queue. */
export interface OverrunWatchOwner {
  readonly queues: readonly number[];
  readonly portId: number;
  /** True once the queue is closed: no more reports. */
  readonly isClosed: boolean;
  /** Adds packets the kernel could not deliver to the queue's counters. */
  addUserDropped(n: number): void;
  /** Reports one overrun. */
  overrun(err: NetlinkSocketError): void;
  /** The kernel's table of the socket's namespace (throws when unreadable). */
  readKernelTable(): KernelQueueStats[];
}

export class OverrunWatch {
  private timer: NodeJS.Timeout | undefined;
  /** Whether /proc describes our socket: only for a live transport, until /proc proves unreadable. */
  private watching: boolean;
  private enobufsSinceSample = false;
  private readonly userDroppedSeen = new Map<number, number>();

  constructor(
    private readonly owner: OverrunWatchOwner,
    live: boolean,
  ) {
    this.watching = live;
  }

  /** A packet arrived: arms the next look unless one is armed (or the queue is closing). */
  packet(closing: boolean): void {
    if (this.timer === undefined && this.watching && !closing) this.arm();
  }

  private arm(): void {
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.check();
    }, WATCH_INTERVAL_MS);
    this.timer.unref();
  }

  /** Stops the timer (at close). */
  stop(): void {
    if (this.timer !== undefined) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** The socket reported ENOBUFS: reports it, and the next rise of user_dropped is not reported again. */
  enobufs(e: NetlinkSocketError): void {
    this.enobufsSinceSample = true;
    this.owner.overrun(
      new NetlinkSocketError(
        'receive buffer overrun (ENOBUFS): the kernel dropped queued packets it could not deliver (counted as user_dropped); raise receiveBufferSize or answer faster',
        { errno: e.errno ?? ENOBUFS, code: 'ENOBUFS', syscall: e.syscall ?? 'recvmsg', cause: e },
      ),
    );
  }

  /**
   * Compares the kernel's user_dropped for our queues (rows from /proc, read here when not
   * given) with what was seen before. A rise is an overrun: reported unless the socket
   * already reported ENOBUFS since the last look.
   */
  check(rows?: readonly KernelQueueStats[]): void {
    const o = this.owner;
    if (o.isClosed || !this.watching) return;
    if (rows === undefined) {
      try {
        rows = o.readKernelTable();
      } catch {
        this.watching = false; // no procfs here: ENOBUFS from the socket is all we get
        return;
      }
    }
    let lost = 0;
    const where: string[] = [];
    for (const r of rows) {
      if (r.portId !== o.portId || !o.queues.includes(r.queue)) continue;
      const before = this.userDroppedSeen.get(r.queue) ?? 0;
      if (r.userDropped <= before) continue;
      lost += r.userDropped - before;
      where.push(`queue ${r.queue}: ${r.userDropped - before}`);
      this.userDroppedSeen.set(r.queue, r.userDropped);
    }
    const reported = this.enobufsSinceSample;
    this.enobufsSinceSample = false;
    if (lost === 0) return;
    o.addUserDropped(lost);
    if (reported) return;
    o.overrun(
      new NetlinkSocketError(
        `receive buffer overrun: the kernel dropped ${lost} packet(s) it could not deliver to this socket (user_dropped, ${where.join(', ')}); raise receiveBufferSize or answer faster`,
        { errno: ENOBUFS, code: 'ENOBUFS', syscall: 'recvmsg' },
      ),
    );
  }
}
