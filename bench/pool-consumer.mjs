#!/usr/bin/env node
// The pool benchmark's consumer (run by bench/pool.mjs inside its namespace): serves queues
// QFIRST..QLAST with openQueuePool from the built package (dist/), copy mode PACKET, accept
// all. Prints {"ready":true} once bound; on each stdin line "sample" prints the pool's
// per-worker packets and thread CPU and the whole process's CPU; "close" closes and exits.
//   node bench/pool-consumer.mjs QFIRST:QLAST WORKERS
import { createInterface } from 'node:readline';
import { openQueuePool } from '../dist/index.js';

const [range = '0:3', workersS = '2'] = process.argv.slice(2);
const pool = await openQueuePool({ queues: range, workers: Number(workersS), handler: new URL('./pool-handler.mjs', import.meta.url), receiveBufferSize: 8 << 20 });
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
out({ ready: true, assignment: pool.assignment });
createInterface({ input: process.stdin }).on('line', async (line) => {
  if (line === 'sample') {
    const s = await pool.stats();
    const cpu = process.cpuUsage();
    out({
      sample: {
        at: performance.now(),
        processCpu: (cpu.user + cpu.system) / 1e6,
        received: s.received,
        userDropped: s.kernel.reduce((a, r) => a + r.userDropped, 0),
        workers: s.workers.map((w) => ({ worker: w.worker, queues: w.queues, received: w.received, cpu: w.cpu === undefined ? null : w.cpu.user + w.cpu.system })),
      },
    });
  } else if (line === 'close') {
    await pool.close();
    process.exit(0);
  }
});
