/**
 * A watchdog for synchronous fuzz loops: a decoder that loops forever blocks the event loop,
 * so no in-process timer can fail the test. A worker thread waits on a shared flag; if the
 * guarded code has not finished in time it prints the last noted input and kills the test
 * process, which makes the run fail loudly instead of hanging.
 */
import { Worker } from 'node:worker_threads';

const NOTE_MAX = 8192;

const WORKER_SOURCE = `
const { workerData } = require('node:worker_threads');
const { writeSync } = require('node:fs');
const flag = new Int32Array(workerData.sab, 0, 2);
const note = new Uint8Array(workerData.sab, 8);
if (Atomics.wait(flag, 0, 0, workerData.ms) === 'timed-out') {
  const n = Math.min(flag[1], note.length);
  const hex = Array.from(note.subarray(0, n), (b) => b.toString(16).padStart(2, '0')).join(' ');
  writeSync(2, 'WATCHDOG: ' + workerData.label + ' did not finish in ' + workerData.ms + ' ms; last input: ' + hex + '\\n');
  process.kill(process.pid, 'SIGKILL');
}
`;

/** A running watchdog; `note()` records the current input for the hang report. */
export interface Watchdog {
  note(input: Uint8Array): void;
}

/** Runs `fn` under a watchdog of `ms` milliseconds. */
export async function withWatchdog<T>(label: string, ms: number, fn: (wd: Watchdog) => T | Promise<T>): Promise<T> {
  const sab = new SharedArrayBuffer(8 + NOTE_MAX);
  const flag = new Int32Array(sab, 0, 2);
  const noteBytes = new Uint8Array(sab, 8);
  const worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { sab, ms, label } });
  worker.unref();
  await new Promise<void>((resolve) => worker.once('online', () => resolve()));
  const wd: Watchdog = {
    note(input) {
      const n = Math.min(input.length, NOTE_MAX);
      noteBytes.set(input.subarray(0, n));
      flag[1] = n;
    },
  };
  try {
    return await fn(wd);
  } finally {
    Atomics.store(flag, 0, 1);
    Atomics.notify(flag, 0);
    await worker.terminate();
  }
}
