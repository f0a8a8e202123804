/**
 * openQueuePool(): a range of queues served by several worker threads. Each worker owns
 * some of the queues (round-robin, the same on every restart) with its own sockets and
 * event loop, so the kernel's --queue-balance flow hash keeps a flow on one worker. The
 * packet callback lives in a module the workers import. A worker that dies is started
 * again (with backoff and a limit) and binds its queues again.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { QueueOptions } from '../nfqueue/queue-options.js';
import type { QueueCounters, QueueStats } from '../nfqueue/queue-stats.js';
import { readKernelQueueStats, type KernelQueueStats } from '../nfqueue/proc.js';
import { deserializeError, type FromWorker, type ThreadCpu, type ToWorker, type WorkerQueueStats, type WorkerStart } from './messages.js';

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
export class PoolWorkerError extends Error {
  override name = 'PoolWorkerError';
  constructor(
    message: string,
    /** The worker's index. */
    readonly worker: number,
    /** The queues left unserved. */
    readonly queues: readonly number[],
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

const STATS_TIMEOUT_MS = 2000;
// Longest a worker may take to drain and unbind its queues on close() before it is ended.
const CLOSE_TIMEOUT_MS = 30_000;
// The built worker entry beside this file (dist/pool/worker.js in an installed package).
const WORKER_URL = new URL('./worker.js', import.meta.url);

function zeroCounters(): QueueCounters {
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

const COUNTER_KEYS = Object.keys(zeroCounters()).filter((k) => k !== 'verdicts') as Exclude<keyof QueueCounters, 'verdicts'>[];
const VERDICT_KEYS = Object.keys(zeroCounters().verdicts) as (keyof QueueCounters['verdicts'])[];

/** Adds `b`'s counters into `a` (only the counters: `a` may carry other fields). */
function addCounters(a: QueueCounters, b: QueueCounters): void {
  for (const k of COUNTER_KEYS) a[k] += b[k];
  for (const v of VERDICT_KEYS) a.verdicts[v] += b.verdicts[v];
}

/** Parses the `queues` option into a sorted list of distinct queue numbers. */
export function parsePoolQueues(q: unknown): number[] {
  const check = (n: unknown): number => {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`pool queue numbers must be integers in 0..65535, got ${String(n)}`);
    return n;
  };
  let list: number[];
  if (typeof q === 'number') list = [check(q)];
  else if (Array.isArray(q)) list = q.map(check);
  else if (typeof q === 'string') {
    const m = /^\s*(\d+)\s*[:-]\s*(\d+)\s*$/.exec(q);
    if (m === null) throw new TypeError(`option queues as a string must be a range such as '0:3', got '${q}'`);
    const a = check(Number(m[1]));
    const b = check(Number(m[2]));
    if (b < a) throw new RangeError(`option queues: the range ${q} runs backwards`);
    list = Array.from({ length: b - a + 1 }, (_, i) => a + i);
  } else throw new TypeError('option queues must be a queue number, a list of them, or a range such as "0:3"');
  if (list.length === 0) throw new RangeError('option queues names no queue');
  if (new Set(list).size !== list.length) throw new RangeError(`option queues must be distinct, got ${list.join(', ')}`);
  return list.sort((x, y) => x - y);
}

/** The handler module's URL as a string: URLs and URL strings as they are, paths made absolute. */
function handlerHref(h: unknown): string {
  if (h instanceof URL) return h.href;
  if (typeof h !== 'string' || h === '') throw new TypeError('option handler must be the URL (or absolute path) of a module whose default export is the packet callback');
  if (/^(file|data):/.test(h)) return h;
  if (/^[a-z][a-z0-9+.-]*:/i.test(h)) throw new TypeError(`option handler must be a file: or data: URL or a path, got ${h}`);
  return pathToFileURL(isAbsolute(h) ? h : resolve(h)).href;
}

/** Queue options a worker gets: everything but what cannot cross a thread (checked here). */
function workerQueueOptions(o: QueuePoolOptions): QueueOptions {
  const rest: Record<string, unknown> = { ...o };
  for (const k of ['queues', 'workers', 'handler', 'onError', 'signal', 'restart']) delete rest[k];
  if ('transport' in rest) throw new TypeError('option transport cannot be given to a pool: each worker opens its own socket');
  if ('record' in rest) throw new TypeError('option record cannot be given to a pool: record one queue with openQueue() instead');
  for (const [k, v] of Object.entries(rest)) {
    if (typeof v === 'function') throw new TypeError(`option ${k} is a function, which cannot be passed to a worker thread`);
  }
  return rest as QueueOptions;
}

interface Slot {
  index: number;
  queues: number[];
  worker: Worker | undefined;
  state: PoolWorkerState;
  restarts: number;
  /** Times of recent restarts, for the limit. */
  recent: number[];
  timer: NodeJS.Timeout | undefined;
  /** The last error the current thread reported as fatal ('error' event), for 'workerExit'. */
  fatal: Error | undefined;
  /** The final stats of a closed worker. */
  final: { queues: WorkerQueueStats[]; cpu: ThreadCpu | undefined } | undefined;
  closed: (() => void) | undefined;
}

/**
 * A running pool of queue workers. Events: 'workerExit' and 'workerRestart'
 * (PoolWorkerEvent), 'error' (non-fatal errors of the queues, when no onError option is
 * given; and a PoolWorkerError when a worker is given up), 'close'.
 */
export class QueuePool extends EventEmitter {
  /** The pool's queue numbers. */
  readonly queues: readonly number[];
  private readonly slots: Slot[];
  private readonly start: Omit<WorkerStart, 'worker' | 'queues'>;
  private readonly onError: ((err: Error) => void) | undefined;
  private readonly restart: Required<PoolRestartOptions> | false;
  private readonly keepAlive: boolean;
  private statsSeq = 0;
  private readonly statsWaiters = new Map<number, (m: Extract<FromWorker, { type: 'stats' }>) => void>();
  private closePromise: Promise<void> | undefined;
  private warned = false;

  /** @internal use openQueuePool() */
  constructor(queues: number[], workers: number, start: Omit<WorkerStart, 'worker' | 'queues'>, options: QueuePoolOptions) {
    super();
    this.queues = Object.freeze(queues);
    this.start = start;
    this.onError = options.onError;
    this.keepAlive = options.keepAlive !== false;
    const r = options.restart;
    this.restart = r === false ? false : { maxRestarts: r?.maxRestarts ?? 10, windowMs: r?.windowMs ?? 60_000, maxDelayMs: r?.maxDelayMs ?? 5000 };
    this.slots = Array.from({ length: workers }, (_, index) => ({
      index,
      queues: queues.filter((_, i) => i % workers === index),
      worker: undefined,
      state: 'starting' as PoolWorkerState,
      restarts: 0,
      recent: [],
      timer: undefined,
      fatal: undefined,
      final: undefined,
      closed: undefined,
    }));
  }

  /** The queue numbers each worker serves, by worker index. */
  get assignment(): number[][] {
    return this.slots.map((s) => [...s.queues]);
  }

  /** @internal starts every worker; rejects (after stopping the others) if one cannot open its queues. */
  async open(): Promise<void> {
    const results = await Promise.allSettled(this.slots.map((s) => this.spawn(s)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      this.closePromise = Promise.resolve();
      await Promise.all(this.slots.map((s) => this.stopWorker(s)));
      throw failed.reason;
    }
  }

  /** Starts a thread for the slot; resolves once its queues are bound, rejects if they cannot be. */
  private spawn(slot: Slot): Promise<void> {
    const data: WorkerStart = { ...this.start, worker: slot.index, queues: slot.queues };
    const w = new Worker(WORKER_URL, { workerData: data });
    if (!this.keepAlive) w.unref();
    slot.worker = w;
    slot.state = 'starting';
    slot.fatal = undefined;
    return new Promise<void>((resolveReady, rejectReady) => {
      let ready = false;
      w.on('message', (m: FromWorker) => {
        switch (m.type) {
          case 'ready':
            ready = true;
            slot.state = this.closePromise === undefined ? 'running' : slot.state;
            resolveReady();
            return;
          case 'openError':
            rejectReady(deserializeError(m.error));
            void w.terminate();
            return;
          case 'error':
            this.report(deserializeError(m.error));
            return;
          case 'stats':
            this.statsWaiters.get(m.id)?.(m);
            return;
          case 'closed':
            // Its queues are unbound; the handler module may still hold timers: end the thread.
            slot.final = { queues: m.queues, cpu: m.cpu };
            void w.terminate();
            return;
        }
      });
      w.on('error', (e) => {
        slot.fatal = e;
      });
      w.on('exit', (code) => {
        if (slot.worker !== w) return;
        slot.worker = undefined;
        const exited = new Error(`pool worker ${slot.index} exited (code ${code}) before binding queues ${slot.queues.join(', ')}`);
        if (this.closePromise !== undefined || slot.state === 'closed') {
          slot.state = 'closed';
          rejectReady(slot.fatal ?? exited); // no-op once settled
          slot.closed?.();
        } else if (!ready) rejectReady(slot.fatal ?? exited); // the caller (open or a restart) decides
        else this.onDeath(slot, slot.fatal ?? `exit code ${code}`, w.threadId);
      });
    });
  }

  private onDeath(slot: Slot, reason: Error | string, threadId: number): void {
    slot.state = 'restarting';
    this.emit('workerExit', { worker: slot.index, queues: [...slot.queues], reason, restarts: slot.restarts, threadId } satisfies PoolWorkerEvent);
    this.scheduleRestart(slot, reason);
  }

  private scheduleRestart(slot: Slot, reason: Error | string): void {
    const policy = this.restart;
    const now = Date.now();
    if (policy !== false) slot.recent = slot.recent.filter((t) => now - t < policy.windowMs);
    if (policy === false || slot.recent.length >= policy.maxRestarts) {
      slot.state = 'failed';
      const why = policy === false ? 'restarts are off' : `it was restarted ${policy.maxRestarts} time${policy.maxRestarts === 1 ? '' : 's'} within ${policy.windowMs} ms and died again`;
      const cause = typeof reason === 'string' ? undefined : reason;
      this.report(
        new PoolWorkerError(
          `pool worker ${slot.index} (queues ${slot.queues.join(', ')}) is not restarted: ${why}; last: ${typeof reason === 'string' ? reason : reason.message}`,
          slot.index,
          slot.queues,
          { cause },
        ),
      );
      return;
    }
    // The first restart at once (its queues are unserved meanwhile), then doubling from 100 ms.
    const n = slot.recent.length;
    const delay = n === 0 ? 0 : Math.min(policy.maxDelayMs, 100 * 2 ** (n - 1));
    slot.recent.push(now);
    slot.timer = setTimeout(() => {
      slot.timer = undefined;
      if (this.closePromise !== undefined) return;
      slot.restarts++;
      this.spawn(slot).then(
        () => {
          if (this.closePromise !== undefined) return;
          this.emit('workerRestart', { worker: slot.index, queues: [...slot.queues], reason: `restart ${slot.restarts}`, restarts: slot.restarts, threadId: slot.worker?.threadId } satisfies PoolWorkerEvent);
        },
        (e: unknown) => {
          if (this.closePromise !== undefined) return;
          const err = e instanceof Error ? e : new Error(String(e));
          this.report(err);
          this.scheduleRestart(slot, err);
        },
      );
    }, delay);
    if (!this.keepAlive) slot.timer.unref();
  }

  /** Non-fatal errors: onError, else the 'error' event, else one process warning. */
  private report(err: Error): void {
    if (this.onError !== undefined) this.onError(err);
    else if (this.listenerCount('error') > 0) this.emit('error', err);
    else if (!this.warned || err instanceof PoolWorkerError) {
      // A worker given up always shows; other errors once, not one per packet.
      this.warned = true;
      process.emitWarning(`netfilter-queue pool: ${err.message} (listen for 'error' or pass onError to see every error)`, { code: 'NFQUEUE_POOL_ERROR' });
    }
  }

  /** Asks one running worker for its stats; undefined if it does not answer in time. */
  private ask(slot: Slot): Promise<Extract<FromWorker, { type: 'stats' }> | undefined> {
    const w = slot.worker;
    if (w === undefined || slot.state !== 'running') return Promise.resolve(undefined);
    const id = ++this.statsSeq;
    return new Promise((done) => {
      const finish = (m: Extract<FromWorker, { type: 'stats' }> | undefined): void => {
        clearTimeout(timer);
        this.statsWaiters.delete(id);
        w.off('exit', gone);
        done(m);
      };
      const gone = (): void => finish(undefined);
      const timer = setTimeout(gone, STATS_TIMEOUT_MS);
      this.statsWaiters.set(id, finish);
      w.once('exit', gone);
      w.postMessage({ type: 'stats', id } satisfies ToWorker);
    });
  }

  /**
   * The pool's counters: totals, per queue (with its worker) and per worker, and the
   * kernel's /proc row for each queue. Asks every worker, so it is async; a worker whose
   * event loop does not answer within 2 s is shown with `answered: false`.
   */
  async stats(): Promise<PoolStats> {
    const answers = await Promise.all(this.slots.map(async (s) => (s.state === 'closed' ? s.final : await this.ask(s))));
    const total: QueueCounters = zeroCounters();
    const queues: PoolQueueStats[] = [];
    const workers: PoolWorkerStats[] = [];
    this.slots.forEach((s, i) => {
      const a = answers[i];
      const w: PoolWorkerStats = { ...zeroCounters(), worker: s.index, queues: [...s.queues], state: s.state, restarts: s.restarts, threadId: s.worker?.threadId, cpu: a?.cpu, answered: a !== undefined };
      for (const q of a?.queues ?? []) {
        addCounters(w, q.stats);
        queues.push({ ...q.stats, queue: q.queue, worker: s.index });
      }
      addCounters(total, w);
      workers.push(w);
    });
    let kernel: KernelQueueStats[] = [];
    try {
      kernel = readKernelQueueStats().filter((r) => this.queues.includes(r.queue));
    } catch {
      // /proc unreadable: library counters only.
    }
    queues.sort((x, y) => x.queue - y.queue);
    return { ...total, kernel, queues, workers };
  }

  /**
   * Closes every queue of every worker (each drains its queues, giving waiting packets the
   * default verdict, before unbinding: Queue.close()), then ends the threads. Idempotent.
   */
  close(): Promise<void> {
    this.closePromise ??= (async () => {
      await Promise.all(this.slots.map((s) => this.stopWorker(s)));
      this.emit('close');
    })();
    return this.closePromise;
  }

  private stopWorker(slot: Slot): Promise<void> {
    if (slot.timer !== undefined) clearTimeout(slot.timer);
    slot.timer = undefined;
    const w = slot.worker;
    if (w === undefined) {
      slot.state = 'closed';
      return Promise.resolve();
    }
    let timer: NodeJS.Timeout | undefined;
    return new Promise<void>((done) => {
      slot.closed = done;
      // A worker still starting has nothing to drain yet; a running one closes its queues,
      // unless its event loop is stuck (a callback that never returns): then it is ended.
      if (slot.state === 'running') {
        w.postMessage({ type: 'close' } satisfies ToWorker);
        timer = setTimeout(() => void w.terminate(), CLOSE_TIMEOUT_MS);
      } else void w.terminate();
      slot.state = 'closed';
    }).then(() => {
      clearTimeout(timer);
      slot.closed = undefined;
    });
  }
}

/**
 * Serves a range of queues (typically an iptables `--queue-balance A:B`) from worker
 * threads. `handler` is the URL of a module whose default export is the packet callback;
 * every worker imports it. The other options are openQueue()'s and apply to each queue.
 * Resolves once every queue is bound; rejects (having stopped every worker) with the first
 * worker's error otherwise, or with a TypeError/RangeError for bad options.
 */
export async function openQueuePool(options: QueuePoolOptions): Promise<QueuePool> {
  if (options === null || typeof options !== 'object') throw new TypeError('openQueuePool(options): options must be an object with queues and handler');
  const queues = parsePoolQueues(options.queues);
  const handler = handlerHref(options.handler);
  const w = options.workers ?? Math.min(queues.length, availableParallelism());
  if (!Number.isInteger(w) || w < 1) throw new RangeError(`option workers must be a positive integer, got ${String(w)}`);
  if (w > queues.length) throw new RangeError(`option workers (${w}) must not exceed the number of queues (${queues.length}): a worker needs a queue`);
  if (options.onError !== undefined && typeof options.onError !== 'function') throw new TypeError('option onError must be a function');
  if (options.signal !== undefined && !(options.signal instanceof AbortSignal)) throw new TypeError('option signal must be an AbortSignal');
  if (options.signal?.aborted === true) throw new Error('openQueuePool: the signal was already aborted');
  const r = options.restart as unknown;
  if (r !== undefined && r !== false && (r === null || typeof r !== 'object')) throw new TypeError('option restart must be false or an object such as { maxRestarts: 10 }');
  const pool = new QueuePool(queues, w, { handler, options: workerQueueOptions(options) }, options);
  await pool.open();
  const signal = options.signal;
  if (signal !== undefined) {
    const onAbort = (): void => void pool.close();
    signal.addEventListener('abort', onAbort, { once: true });
    pool.once('close', () => signal.removeEventListener('abort', onAbort));
  }
  return pool;
}
