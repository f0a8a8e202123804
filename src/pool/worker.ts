/**
 * A pool worker thread: loads the handler module, opens one Queue per queue number it owns
 * (one socket each, so every queue keeps its own counters), answers the main thread's
 * stats and close requests, and forwards the queues' non-fatal errors.
 *
 * It imports the package's own built main entry, so an installed package works as is.
 */
import { readFileSync } from 'node:fs';
import { parentPort, workerData } from 'node:worker_threads';
import { openQueue, type PacketCallback, type Queue } from '../index.js';
import { serializeError, type FromWorker, type ThreadCpu, type ToWorker, type WorkerQueueStats, type WorkerStart } from './messages.js';

// Linux reports thread times in USER_HZ ticks, which is 100 on every architecture's ABI.
const USER_HZ = 100;
// Errors forwarded to the main thread per second; a callback throwing on every packet of a
// flood must not flood the message port too (stats().callbackErrors still counts them all).
const ERRORS_PER_SECOND = 100;

if (parentPort === null) throw new Error('netfilter-queue pool worker: this module runs only as a worker thread');
const port = parentPort;
const start = workerData as WorkerStart;
const post = (m: FromWorker): void => port.postMessage(m);

/** This thread's CPU time, or undefined where /proc/thread-self is missing. */
function threadCpu(): ThreadCpu | undefined {
  try {
    const s = readFileSync('/proc/thread-self/stat', 'utf8');
    // Fields after the parenthesised command name: state is field 3, utime 14, stime 15.
    const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
    return { user: Number(f[11]) / USER_HZ, system: Number(f[12]) / USER_HZ };
  } catch {
    return undefined;
  }
}

let windowStart = 0;
let errorsInWindow = 0;
function forwardError(e: Error): void {
  const now = Date.now();
  if (now - windowStart >= 1000) {
    windowStart = now;
    errorsInWindow = 0;
  }
  if (++errorsInWindow <= ERRORS_PER_SECOND) post({ type: 'error', error: serializeError(e) });
}

async function loadHandler(href: string): Promise<PacketCallback> {
  const mod = (await import(href)) as { default?: unknown };
  if (typeof mod.default !== 'function') {
    throw new TypeError(`the pool handler ${href} must have a default export that is the packet callback (a function); it exports ${typeof mod.default}`);
  }
  return mod.default as PacketCallback;
}

function queueStats(queues: readonly Queue[]): WorkerQueueStats[] {
  return queues.map((q, i) => ({ queue: start.queues[i]!, stats: q.stats() }));
}

async function main(): Promise<void> {
  let queues: Queue[];
  try {
    const callback = await loadHandler(start.handler);
    const options = { ...start.options, onError: forwardError };
    const opened = await Promise.allSettled(start.queues.map((n) => openQueue(n, callback, options)));
    queues = opened.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
    const failed = opened.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed !== undefined) {
      await Promise.all(queues.map((q) => q.close()));
      throw failed.reason;
    }
  } catch (e) {
    post({ type: 'openError', error: serializeError(e) });
    return;
  }
  let closing = false;
  port.on('message', (m: ToWorker) => {
    if (m.type === 'stats') post({ type: 'stats', id: m.id, queues: queueStats(queues), cpu: threadCpu() });
    else if (m.type === 'close' && !closing) {
      closing = true;
      void Promise.all(queues.map((q) => q.close())).then(() => {
        post({ type: 'closed', queues: queueStats(queues), cpu: threadCpu() });
        port.close();
      });
    }
  });
  post({ type: 'ready' });
}

void main();
