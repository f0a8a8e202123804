/**
 * openQueuePool(): a range of queues served by several worker threads. Each worker owns
 * some of the queues (round-robin, the same on every restart) with its own sockets and
 * event loop, so the kernel's --queue-balance flow hash keeps a flow on one worker. The
 * packet callback lives in a module the workers import. A worker that dies is started
 * again (with backoff and a limit) and binds its queues again.
 */
import { EventEmitter } from 'node:events';
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import { NetfilterQueueError } from '../netlink/errors.js';
import { newQueueCounters as zeroCounters, type QueueCounters } from '../queue/queue-stats.js';
import { readKernelQueueStats, type KernelQueueStats } from '../queue/proc.js';
import { PoolWorkerError, type PoolQueueStats, type PoolRestartOptions, type PoolStats, type PoolWorkerEvent, type PoolWorkerState, type PoolWorkerStats, type QueuePoolOptions } from './pool-types.js';
import { handlerHref, parsePoolQueues, workerQueueOptions } from './pool-options.js';
import { deserializeError, type FromWorker, type ThreadCpu, type ToWorker, type WorkerQueueStats, type WorkerStart } from './messages.js';

export { parsePoolQueues } from './pool-options.js';
export { PoolWorkerError, type PoolQueueStats, type PoolRestartOptions, type PoolStats, type PoolWorkerEvent, type PoolWorkerState, type PoolWorkerStats, type QueuePoolOptions } from './pool-types.js';

const STATS_TIMEOUT_MS = 2000;
// Longest a worker may take to drain and unbind its queues on close() before it is ended.
const CLOSE_TIMEOUT_MS = 30_000;
// The built worker entry beside this file (dist/pool/worker.js in an installed package).
const WORKER_URL = new URL('./worker.js', import.meta.url);

const COUNTER_KEYS = Object.keys(zeroCounters()).filter((k) => k !== 'verdicts') as Exclude<keyof QueueCounters, 'verdicts'>[];
const VERDICT_KEYS = Object.keys(zeroCounters().verdicts) as (keyof QueueCounters['verdicts'])[];

/** Adds `b`'s counters into `a` (only the counters: `a` may carry other fields). */
function addCounters(a: QueueCounters, b: QueueCounters): void {
  for (const k of COUNTER_KEYS) a[k] += b[k];
  for (const v of VERDICT_KEYS) a.verdicts[v] += b.verdicts[v];
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
        const exited = new NetfilterQueueError(`pool worker ${slot.index} exited (code ${code}) before binding queues ${slot.queues.join(', ')}`, { code: 'ERR_POOL_WORKER_EXIT' });
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
  if (options.signal?.aborted === true) throw new DOMException('openQueuePool: the signal was already aborted', { name: 'AbortError', cause: options.signal.reason });
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
