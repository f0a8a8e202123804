#!/usr/bin/env node
// Pool benchmark: CPU per packet per worker, and 1 worker vs 2, in the same run.
// Root only. Each round makes a network namespace, queues UDP to 127.0.0.1:9999 with
// `--queue-balance 0:3`, starts bench/pool-consumer.mjs with 1 or 2 workers (alternating),
// and floods from 16 source addresses with the C flood bench/c/flood.c (closed loop:
// window mode, at most --window packets in flight). CPU is read per worker thread
// (/proc/thread-self/stat, 10 ms ticks) and for the whole process, around the flood only.
//   node bench/pool.mjs [--rounds 3] [--count 300000] [--window 256] [--flows 16]
// Builds the flood into build/bench/ (gcc), like bench/e2e.mjs.
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { buildCTool } from './c-tools.mjs';

const arg = (name, dflt) => {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? Number(process.argv[i + 1]) : dflt;
};
const ROUNDS = arg('rounds', 3);
const COUNT = arg('count', 300000);
const WINDOW = arg('window', 256);
const FLOWS = arg('flows', 16);
const CONSUMER = fileURLToPath(new URL('./pool-consumer.mjs', import.meta.url));
const flood = buildCTool('flood');
if (flood.error !== undefined) {
  console.error(`cannot build bench/c/flood.c:\n${flood.error}`);
  process.exit(2);
}
const FLOOD = flood.path;

const sh = (...cmd) => {
  const r = spawnSync(cmd[0], cmd.slice(1), { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};
const hostCpu = () => sh('head', '-1', '/proc/stat').trim().split(/\s+/).slice(1).map(Number);

async function run(workers, round) {
  const ns = `poolbench${process.pid}r${round}w${workers}`;
  sh('ip', 'netns', 'add', ns);
  try {
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up');
    sh('ip', 'netns', 'exec', ns, 'iptables-legacy', '-A', 'OUTPUT', '-d', '127.0.0.1', '-p', 'udp', '--dport', '9999', '-j', 'NFQUEUE', '--queue-balance', '0:3');
    const c = spawn('ip', ['netns', 'exec', ns, process.execPath, CONSUMER, '0:3', String(workers)], { stdio: ['pipe', 'pipe', 'inherit'] });
    const lines = [];
    const waiters = [];
    let partial = '';
    c.stdout.setEncoding('utf8').on('data', (d) => {
      const parts = (partial + d).split('\n');
      partial = parts.pop();
      for (const p of parts) lines.push(JSON.parse(p));
      for (const w of waiters.splice(0)) w();
    });
    const next = (pred) => new Promise((res) => {
      const check = () => {
        const i = lines.findIndex(pred);
        if (i >= 0) res(lines.splice(i, 1)[0]);
        else waiters.push(check);
      };
      check();
    });
    await next((j) => j.ready);
    // Warm up (JIT, buffers), then measure around a flood of COUNT packets.
    sh('ip', 'netns', 'exec', ns, FLOOD, '-m', 'window', '-w', String(WINDOW), '-f', String(FLOWS), '127.0.0.1', '9999', '20000', '64');
    c.stdin.write('sample\n');
    const a = (await next((j) => j.sample)).sample;
    const h0 = hostCpu();
    const flood = JSON.parse(sh('ip', 'netns', 'exec', ns, FLOOD, '-m', 'window', '-w', String(WINDOW), '-f', String(FLOWS), '127.0.0.1', '9999', String(COUNT), '64'));
    const h1 = hostCpu();
    c.stdin.write('sample\n');
    const b = (await next((j) => j.sample)).sample;
    c.stdin.write('close\n');
    await new Promise((res) => c.once('close', res));
    const packets = b.received - a.received;
    const dh = h1.map((x, i) => x - h0[i]);
    const total = dh.reduce((s, x) => s + x, 0);
    return {
      workers,
      round,
      pps: Math.round(flood.pps),
      lost: flood.lost,
      userDropped: b.userDropped - a.userDropped,
      packets,
      processUsPerPkt: +(((b.processCpu - a.processCpu) * 1e6) / packets).toFixed(2),
      perWorker: b.workers.map((w, i) => {
        const n = w.received - a.workers[i].received;
        const cpu = w.cpu - a.workers[i].cpu;
        return { worker: w.worker, queues: w.queues, packets: n, cpuSeconds: +cpu.toFixed(2), usPerPkt: n > 0 ? +((cpu * 1e6) / n).toFixed(2) : null };
      }),
      hostBusy: +(1 - (dh[3] + dh[4]) / total).toFixed(2),
    };
  } finally {
    spawnSync('ip', ['netns', 'del', ns]);
  }
}

const results = [];
for (let r = 1; r <= ROUNDS; r++) {
  for (const w of r % 2 === 1 ? [1, 2] : [2, 1]) {
    const res = await run(w, r);
    results.push(res);
    console.log(JSON.stringify(res));
  }
}
const median = (xs) => {
  const s = [...xs].sort((x, y) => x - y);
  return s[Math.floor(s.length / 2)];
};
const pick = (w) => results.filter((x) => x.workers === w);
const summary = {
  kind: 'summary',
  rounds: ROUNDS,
  count: COUNT,
  pps: { w1: median(pick(1).map((x) => x.pps)), w2: median(pick(2).map((x) => x.pps)) },
  processUsPerPkt: { w1: median(pick(1).map((x) => x.processUsPerPkt)), w2: median(pick(2).map((x) => x.processUsPerPkt)) },
  workerUsPerPkt: { w1: median(pick(1).map((x) => x.perWorker[0].usPerPkt)), w2: pick(2).map((x) => x.perWorker.map((p) => p.usPerPkt)) },
  hostBusy: { w1: median(pick(1).map((x) => x.hostBusy)), w2: median(pick(2).map((x) => x.hostBusy)) },
};
summary.ratioPps2over1 = +(summary.pps.w2 / summary.pps.w1).toFixed(2);
summary.ratioCpuPerPkt2over1 = +(summary.processUsPerPkt.w2 / summary.processUsPerPkt.w1).toFixed(2);
// Ratios within each round (the two runs of a round are back to back: the fairest pairs).
const rounds = [...new Set(results.map((x) => x.round))];
const pair = (f) => rounds.map((r) => f(results.find((x) => x.round === r && x.workers === 2)) / f(results.find((x) => x.round === r && x.workers === 1)));
summary.pairedMedianRatioPps2over1 = +median(pair((x) => x.pps)).toFixed(2);
summary.pairedMedianRatioCpuPerPkt2over1 = +median(pair((x) => x.processUsPerPkt)).toFixed(2);
console.log(JSON.stringify(summary));
