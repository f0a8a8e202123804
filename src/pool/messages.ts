/**
 * What the pool's main thread and its workers say to each other over the worker's message
 * port, and how errors cross it (structured clone keeps neither class nor extra fields).
 */
import type { QueueOptions } from '../queue/queue-options.js';
import type { QueueStats } from '../queue/queue-stats.js';

/** The workerData a pool worker starts with. */
export interface WorkerStart {
  /** The worker's index in the pool (stable across restarts). */
  worker: number;
  queues: number[];
  /** href of the handler module. */
  handler: string;
  /** Queue options (structured-cloneable: no transport, signal or functions). */
  options: QueueOptions;
}

/** CPU time of one thread, in seconds (Linux /proc/thread-self/stat). */
export interface ThreadCpu {
  user: number;
  system: number;
}

/** One queue's stats as a worker reports them. */
export interface WorkerQueueStats {
  queue: number;
  stats: QueueStats;
}

/** An Error flattened for postMessage. */
export interface SerializedError {
  name: string;
  message: string;
  stack?: string;
  /** Own enumerable fields with primitive values (code, errno, queue, packetId, step…). */
  fields: Record<string, string | number | boolean>;
}

export type ToWorker = { type: 'stats'; id: number } | { type: 'close' };

export type FromWorker =
  | { type: 'ready' }
  | { type: 'openError'; error: SerializedError }
  | { type: 'error'; error: SerializedError }
  | { type: 'stats'; id: number; queues: WorkerQueueStats[]; cpu: ThreadCpu | undefined }
  | { type: 'closed'; queues: WorkerQueueStats[]; cpu: ThreadCpu | undefined };

/** Flattens an error for postMessage. */
export function serializeError(e: unknown): SerializedError {
  const err = e instanceof Error ? e : new Error(String(e));
  const fields: Record<string, string | number | boolean> = {};
  for (const [k, v] of Object.entries(err)) {
    if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') fields[k] = v;
  }
  const out: SerializedError = { name: err.name, message: err.message, fields };
  if (err.stack !== undefined) out.stack = err.stack;
  return out;
}

/** An Error rebuilt from a worker: same name, message and fields (code, errno…), not class. */
export function deserializeError(s: SerializedError): Error {
  const err = new Error(s.message);
  Object.assign(err, s.fields);
  Object.defineProperty(err, 'name', { value: s.name, writable: true, configurable: true, enumerable: false });
  if (s.stack !== undefined) err.stack = s.stack;
  return err;
}
