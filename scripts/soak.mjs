#!/usr/bin/env node
// Soak: pushes N packets (default 10,000,000) through one queue and records the consumer's
// resident memory every second. Run it INSIDE a network namespace that has a rule queueing
// UDP to PORT on queue QUEUE (scripts/soak.sh does all of that), after `npm run build`.
//
//   node scripts/soak.mjs [--packets N] [--queue Q] [--port P] [--out DIR] [--max-minutes M]
//
// The consumer is the built library (dist/) answering 'accept'; the flood is
// `test/support/traffic.mjs flood udp`, a Node UDP sender to 127.0.0.1:PORT, running as a child until
// N packets have reached the callback (or --max-minutes pass). Writes DIR/rss.csv
// (t_s,received,rss_bytes,heap_used_bytes) and DIR/summary.json, prints the summary.
import { spawn } from 'node:child_process';
import { mkdirSync, writeFileSync, appendFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { openQueue } from '../dist/index.js';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const target = Number(opt('packets', 10_000_000));
const queueNum = Number(opt('queue', 0));
const port = Number(opt('port', 9999));
const maxMinutes = Number(opt('max-minutes', 25));
const dir = opt('out', `/tmp/nfq-soak-${Date.now()}`);
mkdirSync(dir, { recursive: true });
const csv = `${dir}/rss.csv`;
writeFileSync(csv, 't_s,received,rss_bytes,heap_used_bytes\n');

let received = 0;
const errors = {};
let overrunEvents = 0;
const q = await openQueue(queueNum, () => {
  received++;
  return 'accept';
}, {
  onError: (e) => {
    errors[e.name] = (errors[e.name] ?? 0) + 1;
  },
  maxLen: 65536,
});
q.on('overrun', () => overrunEvents++);

const flood = spawn(process.execPath, [fileURLToPath(new URL('../test/support/traffic.mjs', import.meta.url)), 'flood', 'udp', '127.0.0.1', String(port), '--seconds', String(maxMinutes * 60)], { stdio: ['ignore', 'pipe', 'inherit'] });
let floodSummary;
flood.stdout.on('data', (d) => {
  try {
    floodSummary = JSON.parse(String(d).trim().split('\n').pop());
  } catch {
    /* partial line */
  }
});

const start = performance.now();
const samples = [];
let lastPrint = 0;
function sample() {
  const t = (performance.now() - start) / 1000;
  const m = process.memoryUsage();
  samples.push({ t, received, rss: m.rss });
  appendFileSync(csv, `${t.toFixed(1)},${received},${m.rss},${m.heapUsed}\n`);
  if (t - lastPrint >= 30) {
    lastPrint = t;
    process.stderr.write(`soak: ${t.toFixed(0)} s, ${received} packets, rss ${(m.rss / 1048576).toFixed(1)} MiB\n`);
  }
}
sample();
const timer = setInterval(() => {
  sample();
  if (received >= target || performance.now() - start > maxMinutes * 60_000) void finish();
}, 1000);

let finishing = false;
async function finish() {
  if (finishing) return;
  finishing = true;
  clearInterval(timer);
  flood.kill('SIGTERM');
  await new Promise((r) => flood.once('exit', r));
  await q.close();
  sample();
  const stats = q.stats();
  const rss = samples.map((s) => s.rss);
  const mib = (b) => Math.round((b / 1048576) * 10) / 10;
  // Skip the first 10 s (warm-up: JIT, buffers) for the steady-state range.
  const steady = samples.filter((s) => s.t >= 10).map((s) => s.rss);
  const summary = {
    packetsTarget: target,
    received: stats.received,
    reachedTarget: stats.received >= target,
    verdicts: stats.verdicts,
    pendingAtEnd: stats.pending,
    overruns: stats.overruns,
    userDropped: stats.userDropped,
    overrunEvents,
    errors,
    floodSent: floodSummary?.sent,
    seconds: Math.round((performance.now() - start) / 100) / 10,
    packetsPerSecond: Math.round(stats.received / ((performance.now() - start) / 1000)),
    samples: samples.length,
    rssMiB: { min: mib(Math.min(...rss)), max: mib(Math.max(...rss)), last: mib(rss[rss.length - 1]) },
    steadyRssMiB: steady.length > 0 ? { min: mib(Math.min(...steady)), max: mib(Math.max(...steady)) } : undefined,
    csv,
    node: process.version,
  };
  writeFileSync(`${dir}/summary.json`, JSON.stringify(summary, null, 2) + '\n');
  process.stdout.write(JSON.stringify(summary, null, 2) + '\n');
  process.exit(0);
}
process.on('SIGINT', () => void finish());
process.on('SIGTERM', () => void finish());
