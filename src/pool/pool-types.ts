/** The pool's options, stats, events and error. */
import { NetfilterQueueError } from '../netlink/errors.js';
import type { QueueOptions } from '../queue/queue-options.js';
import type { QueueCounters, QueueStats } from '../queue/queue-stats.js';
import type { ThreadCpu } from './messages.js';

/** When and how often a dead worker is started again. */
export interface PoolRestartOptions {
  /** Restarts allowed per worker within `windowMs` before the pool gives up on it (default 10). */
  maxRestarts?: number;
  /** The window for `maxRestarts`, in ms (default 60 000). */
  windowMs?: number;
  /** Longest wait before a restart, in ms (default 5000). The first restart is immediate. */
  maxDelayMs?: number;
}

/** Options of openQueuePool(): which queues, how many workers, the handler, and Queue options. */
export interface QueuePoolOptions extends Omit<QueueOptions, 'transport' | 'onError' | 'signal'> {
  /** Queue numbers: a list, one number, or a range 'A:B' (as in iptables --queue-balance A:B). */
  queues: number | readonly number[] | string;
  /** Worker threads (default: the number of queues, at most os.availableParallelism()). */
  workers?: number;
  /** URL (or absolute path, or file: URL string) of a module whose default export is the packet callback. */
  handler: string | URL;
  /** Called in the main thread with every non-fatal error of the workers' queues and the pool. */
  onError?: (err: Error) => void;
  /** Closes the pool when this signal aborts. */
  signal?: AbortSignal;
  /** Restart policy for dead workers, or false to leave them dead (default: restart). */
  restart?: PoolRestartOptions | false;
}

/** A worker's life: starting, running, restarting (dead, to start again), failed (given up), closed. */
export type PoolWorkerState = 'starting' | 'running' | 'restarting' | 'failed' | 'closed';

/** One worker's state and counters (summed over its queues; zero while it has none running). */
export interface PoolWorkerStats extends QueueCounters {
  worker: number;
  queues: number[];
  state: PoolWorkerState;
  /** Times this worker was started again after dying. */
  restarts: number;
  /** The current thread's id, while it exists. */
  threadId: number | undefined;
  /** CPU time of the current thread in seconds (Linux), as of this stats() call. */
  cpu: ThreadCpu | undefined;
  /** False when a running worker did not answer stats() in time (its event loop is busy). */
  answered: boolean;
}

/** One queue's stats, and the worker that serves it. */
export interface PoolQueueStats extends QueueStats {
  queue: number;
  worker: number;
}

/**
 * A pool's stats: the totals (counters summed over every queue that answered; `kernel`
 * holds /proc's row for each of the pool's queues that is bound), per queue, per worker.
 * Counters are those of the current incarnation of each worker: they start again from 0
 * when a worker is restarted (as Prometheus counters may).
 */
export interface PoolStats extends QueueStats {
  queues: PoolQueueStats[];
  workers: PoolWorkerStats[];
}

/** Details of a worker's death ('workerExit') or return ('workerRestart'). */
export interface PoolWorkerEvent {
  worker: number;
  queues: number[];
  /** 'workerExit': what ended it (an error, or 'exit code N'). 'workerRestart': the restart count. */
  reason?: Error | string;
  restarts: number;
  threadId: number | undefined;
}

/** A worker that died too often (or could not start again): the pool stopped restarting it. */
export class PoolWorkerError extends NetfilterQueueError {
  override name = 'PoolWorkerError';
  constructor(
    message: string,
    /** The worker's index. */
    readonly worker: number,
    /** The queues left unserved. */
    readonly queues: readonly number[],
    options: { cause?: unknown } = {},
  ) {
    super(message, { ...options, code: 'ERR_POOL_WORKER' });
  }
}
