#!/usr/bin/env node
// A queue pool from the BUILT library (dist/), run inside a test namespace.
//   node pool-consumer.mjs '<json config>'   config: { queues, workers, handler, options, restart }
// Prints {"ready":true,"assignment":[[...],...]} once open (or {"openError":{...}} and exits 1),
// {"workerExit":{...,"at":ms}} / {"workerRestart":{...,"at":ms}} / {"error":{...}} as they happen.
// stdin commands: stats -> {"stats":...}; metrics -> {"metrics":"..."}; close -> {"closed":true,"stats":...} and exit.
import { createInterface } from 'node:readline';
import { openQueuePool, formatMetrics } from '../../dist/index.js';

const cfg = JSON.parse(process.argv[2] ?? '{}');
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const errJson = (e) => ({ name: e.name, message: e.message, code: e.code, worker: e.worker });
process.on('unhandledRejection', (e) => out({ fatal: String(e?.stack ?? e) }));

let pool;
try {
  pool = await openQueuePool({ queues: cfg.queues, workers: cfg.workers, handler: cfg.handler, restart: cfg.restart, ...(cfg.options ?? {}) });
} catch (e) {
  out({ openError: errJson(e) });
  process.exit(1);
}
const event = (kind) => (ev) => out({ [kind]: { worker: ev.worker, queues: ev.queues, restarts: ev.restarts, reason: String(ev.reason instanceof Error ? ev.reason.message : ev.reason), at: performance.now() } });
pool.on('workerExit', event('workerExit'));
pool.on('workerRestart', event('workerRestart'));
pool.on('error', (e) => out({ error: errJson(e) }));
out({ ready: true, assignment: pool.assignment });

createInterface({ input: process.stdin }).on('line', async (line) => {
  const cmd = line.trim();
  if (cmd === 'stats') out({ stats: await pool.stats() });
  else if (cmd === 'metrics') out({ metrics: formatMetrics(await pool.stats()) });
  else if (cmd === 'close') {
    await pool.close();
    out({ closed: true, stats: await pool.stats() });
    process.exit(0);
  }
});
