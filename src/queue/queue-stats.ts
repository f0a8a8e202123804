/** The counters a Queue keeps, and the stats it reports (its counters plus /proc's rows). */
import type { KernelQueueStats } from './proc.js';

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

/** A fresh set of counters, all zero. */
export function newQueueCounters(): QueueCounters {
  return {
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
}

/** Counts one verdict sent, by its name. */
export function countVerdict(c: QueueCounters, v: { verdict: string }): void {
  const byName = c.verdicts as Record<string, number>;
  if (byName[v.verdict] !== undefined) byName[v.verdict]!++;
}
