#!/usr/bin/env node
// `npm run bench:e2e` (root): this library's consumer side by side with two C consumers on
// the same machine, in the same run, in throwaway network namespaces.
//
//   node bench/e2e.mjs [--quick] [--rounds N] [--count N] [--rt N] [--soak N]
//                      [--modes window64,depth64,window1400,depth1400,latency,soak]
//                      [--peers node,iter,batches,batch,ref] [--consumer CMD] [--json FILE] [--logdir DIR]
//                      [--runtime BIN]   (with --peers node,runtime,...: bench/consumer.mjs
//                                         also under BIN, e.g. Bun, as the peer `runtime`)
//
// Peers: `node` = bench/consumer.mjs (this library, public API, a callback), `iter` = the same
// consumer serving the queue with `for await (const packet of queue) packet.accept()`, `batches` = with
// `for await (const batch of queue.batches())`, `batch` = bench/c/nfq_batch.c
// (recvmmsg of up to 64 datagrams, every verdict of the batch in one sendto: the practical
// limit of one core), `ref` = bench/c/nfq_ref.c (libnetfilter_queue's documented pattern, one
// verdict per packet). The C tools are built into build/bench/ (gcc; the two peers need
// libnetfilter-queue-dev and libmnl-dev and are skipped with a message without them).
// Every round runs each peer once, in turn (A B C A B C ...); the table shows medians and the
// median of the per-round ratios. Traffic: UDP to 127.0.0.1 inside a namespace made here.
// Benchmarks, not tests: nothing fails on a slow number. Progress goes to stderr, the table
// to stdout.
import { spawn, spawnSync } from 'node:child_process';
import { buildCTool, C_TOOLS_DIR } from './c-tools.mjs';
import { existsSync, mkdirSync, mkdtempSync, openSync, closeSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, cpus } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : d;
};
const quick = flag('quick');
const cfg = {
  rounds: Number(opt('rounds', quick ? 1 : 5)),
  count: Number(opt('count', quick ? 100_000 : 300_000)),
  rt: Number(opt('rt', quick ? 5_000 : 20_000)),
  soak: Number(opt('soak', quick ? 0 : 5_000_000)),
  warmup: Number(opt('warmup', 20_000)),
  window: Number(opt('window', 32)),
  port: 9999,
  queue: 0,
  modes: opt('modes', 'window64,depth64,window1400,depth1400,latency,soak').split(','),
  peers: opt('peers', 'node,iter,batches,batch,ref').split(','),
  json: opt('json', undefined),
  logdir: opt('logdir', undefined),
};
const IPT = 'iptables-legacy';
const TICK = 100; // USER_HZ: /proc/PID/stat counts CPU time in 1/100 s on Linux
const log = (...a) => process.stderr.write(`[bench:e2e] ${a.join(' ')}\n`);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------- setup and build

function need(cond, why) {
  if (!cond) {
    console.error(`bench:e2e: ${why}`);
    process.exit(2);
  }
}
need(process.platform === 'linux', 'NFQUEUE exists only on Linux');
need(process.getuid?.() === 0, 'needs root (network namespaces, iptables, NFQUEUE); `npm run bench` runs the micro-benchmarks without it');
for (const tool of ['ip', IPT, 'gcc']) {
  need(spawnSync('sh', ['-c', `command -v ${tool}`]).status === 0, `${tool} not found (apt-get install iproute2 iptables gcc)`);
}
need(existsSync('/proc/net/netfilter/nfnetlink_queue') || spawnSync('modprobe', ['nfnetlink_queue']).status === 0, 'the nfnetlink_queue kernel module is not available');
need(existsSync(join(root, 'dist/index.js')), 'dist/ is missing: run `npm run build` first');

const bin = C_TOOLS_DIR;
/** Builds bench/c/NAME.c; returns an error text or undefined. */
const build = (name, libs = []) => buildCTool(name, libs).error;
for (const tool of ['flood', 'udp_pingpong']) {
  const err = build(tool);
  need(err === undefined, `cannot build bench/c/${tool}.c:\n${err}`);
}
const CONSUMERS = {
  node: { label: 'node', cmd: opt('consumer', `${process.execPath} bench/consumer.mjs {queue}`) },
  iter: { label: 'node for await', loop: 'for await', cmd: `${process.execPath} bench/consumer.mjs {queue} --iterate` },
  batches: { label: 'node for await batches', loop: 'batches', cmd: `${process.execPath} bench/consumer.mjs {queue} --batches` },
  batch: { label: 'nfq_batch', c: 'nfq_batch', wrap: process.env.NFQ_BENCH_WRAP_C },
  ref: { label: 'nfq_ref', c: 'nfq_ref', wrap: process.env.NFQ_BENCH_WRAP_C },
  runtime: { label: opt('runtime', 'runtime').split('/').pop(), cmd: `${opt('runtime', 'RUNTIME_NOT_SET')} bench/consumer.mjs {queue}` },
};
need(!cfg.peers.includes('runtime') || opt('runtime', '') !== '', 'the peer runtime needs --runtime BIN (e.g. the path of bun)');
const peers = [];
for (const p of cfg.peers) {
  const c = CONSUMERS[p];
  need(c !== undefined, `unknown peer ${p} (use node, iter, batches, batch, ref)`);
  if (c.c !== undefined) {
    const err = build(c.c, ['-lnetfilter_queue', '-lmnl']);
    if (err !== undefined) {
      const missing = /libnetfilter_queue\.h|libmnl\.h|-lnetfilter_queue|-lmnl/.test(err);
      log(`SKIPPING the C peer ${c.label}: ${missing ? 'libnetfilter-queue-dev / libmnl-dev not installed (apt-get install libnetfilter-queue-dev libmnl-dev)' : `build failed:\n${err}`}`);
      continue;
    }
    c.cmd = `${c.wrap ? `${c.wrap} ` : ''}${join(bin, c.c)} {queue}`;
  }
  peers.push(p);
}
need(peers.length > 0, 'no consumer to run');

// ---------------------------------------------------------------------- processes and /proc

const live = { namespaces: new Set(), pids: new Set() };
let nsCounter = 0;

function sh(args, { ns, check = true } = {}) {
  const full = ns === undefined ? args : ['ip', 'netns', 'exec', ns, ...args];
  const r = spawnSync(full[0], full.slice(1), { encoding: 'utf8' });
  if (check && r.status !== 0) throw new Error(`command failed (${r.status}): ${full.join(' ')}\n${r.stderr}`);
  return r.stdout;
}

async function withNetns(fn) {
  const name = `nfqb${process.pid}r${++nsCounter}`;
  sh(['ip', 'netns', 'add', name]);
  live.namespaces.add(name);
  try {
    sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
    return await fn(name);
  } finally {
    sh(['ip', 'netns', 'del', name], { check: false });
    live.namespaces.delete(name);
  }
}

/** Starts `cmd` (a shell command) inside `ns`, in its own process group; output to `logFile`. */
function startIn(ns, cmd, logFile) {
  const fd = openSync(logFile, 'w');
  // `ip netns exec` and `exec` replace themselves: the pid is the command's own.
  const p = spawn('ip', ['netns', 'exec', ns, 'sh', '-c', `exec ${cmd}`], { cwd: root, detached: true, stdio: ['ignore', fd, fd] });
  closeSync(fd);
  live.pids.add(p.pid);
  p.exited = new Promise((r) => p.once('exit', (code, sig) => r(code ?? sig)));
  p.exited.then(() => live.pids.delete(p.pid));
  return p;
}

async function stop(p) {
  if (p.exitCode === null && p.signalCode === null) {
    try {
      process.kill(p.pid, 'SIGTERM');
    } catch {}
    const t = setTimeout(() => {
      try {
        process.kill(-p.pid, 'SIGKILL');
      } catch {}
    }, 3000);
    await p.exited;
    clearTimeout(t);
  }
  // Whatever the consumer left behind in its process group (a wrapper's child, say) goes too.
  try {
    process.kill(-p.pid, 'SIGKILL');
  } catch {}
}

/** Runs a tool inside `ns` to its end; returns its last stdout line parsed as JSON. */
async function runTool(ns, args, { watch } = {}) {
  const p = spawn('ip', ['netns', 'exec', ns, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  live.pids.add(p.pid);
  let out = '';
  let err = '';
  p.stdout.on('data', (d) => (out += d));
  p.stderr.on('data', (d) => (err += d));
  const exited = new Promise((r) => p.once('close', (code) => r(code)));
  // Stop the tool when the consumer dies under it (a window flood would wait for nothing).
  const w = watch === undefined ? undefined : setInterval(() => watch.exitCode !== null && p.kill('SIGTERM'), 50);
  const code = await exited;
  live.pids.delete(p.pid);
  if (w !== undefined) clearInterval(w);
  if (code !== 0 && code !== 3) throw new Error(`${args[0]} failed (exit ${code}): ${err.trim()}`);
  return JSON.parse(out.trim().split('\n').pop());
}

function readQueues(pid) {
  const out = new Map();
  let text = '';
  try {
    text = readFileSync(`/proc/${pid}/net/netfilter/nfnetlink_queue`, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    const v = line.trim().split(/\s+/).map(Number);
    if (v.length >= 8) out.set(v[0], { portId: v[1], waiting: v[2], copyMode: v[3], queueDropped: v[5], userDropped: v[6] });
  }
  return out;
}

/** utime, stime (ticks) of a process and its live descendants. */
function cpuTicks(pid) {
  const stat = (p) => {
    try {
      const s = readFileSync(`/proc/${p}/stat`, 'utf8');
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return { ppid: Number(f[1]), u: Number(f[11]) + Number(f[13]), s: Number(f[12]) + Number(f[14]) };
    } catch {
      return undefined;
    }
  };
  const kids = new Map();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const st = stat(d);
    if (st !== undefined) kids.set(st.ppid, [...(kids.get(st.ppid) ?? []), Number(d)]);
  }
  let u = 0;
  let s = 0;
  for (const todo = [pid]; todo.length > 0; ) {
    const p = todo.pop();
    const st = stat(p);
    if (st === undefined) continue;
    u += st.u;
    s += st.s;
    todo.push(...(kids.get(p) ?? []));
  }
  return { u, s };
}

function statusKb(pid, field) {
  try {
    const m = readFileSync(`/proc/${pid}/status`, 'utf8').match(new RegExp(`^${field}:\\s+(\\d+)`, 'm'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Host CPU time (ticks) from /proc/stat: busy and total, for the noise indicator. */
function hostCpu() {
  const v = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const total = v.reduce((a, b) => a + b, 0);
  return { busy: total - v[3] - v[4], total };
}

function iptCount(ns, table, chain, target) {
  let n = 0;
  for (const line of sh([IPT, '-t', table, '-L', chain, '-v', '-x', '-n'], { ns }).split('\n').slice(2)) {
    const v = line.trim().split(/\s+/);
    if (v[2] === target) n += Number(v[0]);
  }
  return n;
}

async function waitBound(p, logFile) {
  const t0 = Date.now();
  while (Date.now() - t0 < 20_000) {
    if (p.exitCode !== null) throw new Error(`consumer exited (${p.exitCode}) before binding:\n${readFileSync(logFile, 'utf8').slice(-800)}`);
    const q = readQueues(p.pid).get(cfg.queue);
    // copy mode PACKET (2) is set right after the bind
    if (q !== undefined && q.portId !== 0 && q.copyMode === 2) {
      await sleep(200);
      return;
    }
    await sleep(10);
  }
  throw new Error(`queue ${cfg.queue} not bound after 20 s:\n${readFileSync(logFile, 'utf8').slice(-800)}`);
}

const floodArgs = (mode, count, size) => [join(bin, 'flood'), '-m', mode, '-w', String(cfg.window), '-b', '32', '-T', '300', '127.0.0.1', String(cfg.port), String(count), String(size)];
const queueRule = (ns) => sh([IPT, '-A', 'OUTPUT', '-d', '127.0.0.1', '-p', 'udp', '--dport', String(cfg.port), '-j', 'NFQUEUE', '--queue-num', String(cfg.queue)], { ns });

// ---------------------------------------------------------------------- runs

/**
 * One throughput run. `flood`: 'window' (closed loop, at most `window` packets in flight; the
 * flood is the sink: full delivery path, the consumer sleeps and wakes) or 'depth' (sends
 * while the kernel queue holds fewer than `window`; an iptables DROP after the queue is the
 * sink: the consumer never waits, peak rate). `rssEvery`: sample RSS each second.
 */
async function throughputRun(peer, flood, size, count, logdir, rssSamples) {
  return withNetns(async (ns) => {
    queueRule(ns);
    const logFile = join(logdir, `${peer}-${ns}.log`);
    const c = startIn(ns, CONSUMERS[peer].cmd.replaceAll('{queue}', String(cfg.queue)), logFile);
    try {
      await waitBound(c, logFile);
      if (cfg.warmup > 0) await runTool(ns, floodArgs('window', cfg.warmup, size), { watch: c });
      if (flood === 'depth') sh([IPT, '-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(cfg.port), '-j', 'DROP'], { ns });
      const q0 = readQueues(c.pid).get(cfg.queue);
      const cpu0 = cpuTicks(c.pid);
      const h0 = hostCpu();
      const t0 = performance.now();
      const sampler = rssSamples === undefined ? undefined : setInterval(() => rssSamples.push(statusKb(c.pid, 'VmRSS')), 1000);
      const fl = await runTool(ns, floodArgs(flood, count, size), { watch: c });
      let wall;
      let passed;
      let lost;
      if (flood === 'depth') {
        // the flood is done when it has sent: wait until the consumer has drained the queue
        let last = -1;
        let lastChange = performance.now();
        for (;;) {
          const w = readQueues(c.pid).get(cfg.queue)?.waiting ?? 0;
          if (w === 0 || c.exitCode !== null) break;
          if (w !== last) [last, lastChange] = [w, performance.now()];
          else if (performance.now() - lastChange > 2000) {
            log(`warning: queue not draining (${w} left)`);
            break;
          }
          await sleep(1);
        }
        wall = (performance.now() - t0) / 1000;
        passed = iptCount(ns, 'mangle', 'POSTROUTING', 'DROP');
        lost = fl.sent - passed;
      } else {
        wall = fl.seconds;
        passed = fl.received;
        lost = fl.stopped ? fl.sent - passed : fl.lost;
      }
      if (sampler !== undefined) clearInterval(sampler);
      const cpu1 = cpuTicks(c.pid);
      const h1 = hostCpu();
      const q1 = readQueues(c.pid).get(cfg.queue);
      const died = c.exitCode !== null;
      const n = Math.max(passed, 1);
      const user = (cpu1.u - cpu0.u) / TICK;
      const sys = (cpu1.s - cpu0.s) / TICK;
      const own = cpu1.u - cpu0.u + cpu1.s - cpu0.s + (fl.cpu_user_s + fl.cpu_sys_s) * TICK;
      return {
        kind: 'throughput', peer, flood, size, count, sent: fl.sent, passed, lost, died, logFile,
        pps: passed / wall, wall_s: wall,
        cpu_us_per_pkt: died ? NaN : ((user + sys) * 1e6) / n, user_us_per_pkt: died ? NaN : (user * 1e6) / n, sys_us_per_pkt: died ? NaN : (sys * 1e6) / n,
        queue_dropped: (q1?.queueDropped ?? 0) - (q0?.queueDropped ?? 0), user_dropped: (q1?.userDropped ?? 0) - (q0?.userDropped ?? 0),
        rss_peak_kb: statusKb(c.pid, 'VmHWM'),
        flood_cpu_s: fl.cpu_user_s + fl.cpu_sys_s,
        other_cpu: Math.max(0, (h1.busy - h0.busy - own) / Math.max(1, h1.total - h0.total)),
      };
    } finally {
      await stop(c);
    }
  }).then((r) => Object.assign(r, consumerReport(r.logFile)));
}

/** The consumer's exit report (bench/consumer.mjs prints the native socket's system-call counters). */
function consumerReport(logFile) {
  try {
    const line = readFileSync(logFile, 'utf8').split('\n').find((l) => l.startsWith('{') && l.includes('"syscalls"'));
    const s = JSON.parse(line).syscalls;
    return { recv_calls: s.receiveCalls, send_calls: s.sendCalls, datagrams: s.datagramsReceived };
  } catch {
    return {};
  }
}

async function latencyRun(peer, logdir) {
  return withNetns(async (ns) => {
    const srv = startIn(ns, `${join(bin, 'udp_pingpong')} server 127.0.0.1 ${cfg.port}`, join(logdir, `server-${ns}.log`));
    let c;
    try {
      await sleep(100);
      const client = [join(bin, 'udp_pingpong'), 'client', '127.0.0.1', String(cfg.port), String(cfg.rt), '64', '2000', '200'];
      const base = await runTool(ns, client);
      queueRule(ns);
      const logFile = join(logdir, `${peer}-${ns}.log`);
      c = startIn(ns, CONSUMERS[peer].cmd.replaceAll('{queue}', String(cfg.queue)), logFile);
      await waitBound(c, logFile);
      const cpu0 = cpuTicks(c.pid);
      const withQ = await runTool(ns, client, { watch: c });
      const cpu1 = cpuTicks(c.pid);
      return {
        cpu_us_per_rt: ((cpu1.u + cpu1.s - cpu0.u - cpu0.s) / TICK) * 1e6 / Math.max(1, withQ.round_trips),
        user_us_per_rt: ((cpu1.u - cpu0.u) / TICK) * 1e6 / Math.max(1, withQ.round_trips),
        kind: 'latency', peer, died: c.exitCode !== null, lost: withQ.lost + (withQ.aborted ? 1 : 0),
        p50_us: withQ.p50_us, p99_us: withQ.p99_us, base_p50_us: base.p50_us, base_p99_us: base.p99_us,
        added_p50_us: withQ.p50_us - base.p50_us, added_p99_us: withQ.p99_us - base.p99_us,
        rss_peak_kb: statusKb(c.pid, 'VmHWM'),
      };
    } finally {
      if (c !== undefined) await stop(c);
      await stop(srv);
    }
  });
}

// ---------------------------------------------------------------------- main

const median = (xs) => {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return NaN;
  return v.length % 2 ? v[v.length >> 1] : (v[v.length / 2 - 1] + v[v.length / 2]) / 2;
};
const MODES = {
  window64: { name: 'window, 64 B', flood: 'window', size: 64 },
  depth64: { name: 'depth, 64 B', flood: 'depth', size: 64 },
  window1400: { name: 'window, 1400 B', flood: 'window', size: 1400 },
  depth1400: { name: 'depth, 1400 B', flood: 'depth', size: 1400 },
  latency: { name: 'latency, 64 B' },
  soak: { name: 'soak' },
};
for (const m of cfg.modes) need(MODES[m] !== undefined, `unknown mode ${m} (use ${Object.keys(MODES).join(', ')})`);

const logdir = cfg.logdir ?? mkdtempSync(join(tmpdir(), 'nfq-bench-'));
mkdirSync(logdir, { recursive: true });
const all = [];
let interrupted = false;
const cleanup = () => {
  for (const pid of live.pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {}
    try {
      process.kill(pid, 'SIGKILL');
    } catch {}
  }
  for (const ns of live.namespaces) sh(['ip', 'netns', 'del', ns], { check: false });
};
for (const s of ['SIGINT', 'SIGTERM']) {
  process.on(s, () => {
    interrupted = true;
    log('interrupted: cleaning up');
    cleanup();
    process.exit(130);
  });
}

const started = new Date();
const fmtRun = (r) =>
  r.kind === 'latency'
    ? `p50 ${r.p50_us.toFixed(1)} µs p99 ${r.p99_us.toFixed(1)} µs (added ${r.added_p50_us.toFixed(1)} / ${r.added_p99_us.toFixed(1)}), ${r.cpu_us_per_rt.toFixed(1)} µs CPU per round trip (user ${r.user_us_per_rt.toFixed(1)}), lost ${r.lost}`
    : `${Math.round(r.pps)} pps, ${r.cpu_us_per_pkt.toFixed(2)} µs/pkt (user ${r.user_us_per_pkt.toFixed(2)} sys ${r.sys_us_per_pkt.toFixed(2)}), lost ${r.lost}, qdrop ${r.queue_dropped}, udrop ${r.user_dropped}, rss ${Math.round((r.rss_peak_kb ?? 0) / 1024)} MB, other-cpu ${Math.round(100 * r.other_cpu)}%${r.recv_calls ? `, ${(r.datagrams / r.recv_calls).toFixed(1)} datagrams per recvmmsg, ${(r.send_calls / r.recv_calls).toFixed(2)} sendto per recvmmsg` : ''}`;

for (const m of cfg.modes) {
  const mode = MODES[m];
  if (m === 'soak') {
    if (cfg.soak <= 0 || !peers.includes('node')) continue;
    log(`soak: ${cfg.soak} packets, depth flood, 64 B, node only, RSS sampled every second`);
    const samples = [];
    try {
      const r = await throughputRun('node', 'depth', 64, cfg.soak, logdir, samples);
      const v = samples.filter((x) => x !== undefined);
      Object.assign(r, { mode: m, round: 1, rss_samples_kb: v, rss_first_kb: v[0], rss_last_kb: v[v.length - 1], rss_min_kb: Math.min(...v), rss_max_kb: Math.max(...v) });
      all.push(r);
      log(`soak: ${fmtRun(r)}; RSS first ${(r.rss_first_kb / 1024).toFixed(1)} MB, last ${(r.rss_last_kb / 1024).toFixed(1)} MB, range ${(r.rss_min_kb / 1024).toFixed(1)}–${(r.rss_max_kb / 1024).toFixed(1)} MB`);
    } catch (e) {
      log(`soak FAILED: ${e.message}`);
    }
    continue;
  }
  for (let round = 1; round <= cfg.rounds && !interrupted; round++) {
    for (const peer of peers) {
      try {
        const r = m === 'latency' ? await latencyRun(peer, logdir) : await throughputRun(peer, mode.flood, mode.size, cfg.count, logdir);
        Object.assign(r, { mode: m, round });
        all.push(r);
        log(`${mode.name}, round ${round}, ${CONSUMERS[peer].label}: ${r.died ? 'CONSUMER DIED; ' : ''}${fmtRun(r)}`);
      } catch (e) {
        log(`${mode.name}, round ${round}, ${CONSUMERS[peer].label}: FAILED: ${e.message.slice(-600)}`);
        all.push({ kind: 'error', mode: m, round, peer, error: e.message });
      }
    }
  }
}

// ---------------------------------------------------------------------- report

const ok = (r) => r.kind !== 'error' && !r.died;
const runsOf = (m, peer) => all.filter((r) => r.mode === m && r.peer === peer && ok(r));
/** Median over rounds of A/B, pairing the runs of the same round. */
const ratio = (m, a, b, key) => {
  const bs = new Map(runsOf(m, b).map((r) => [r.round, r]));
  return median(runsOf(m, a).flatMap((r) => (bs.has(r.round) && bs.get(r.round)[key] > 0 ? [r[key] / bs.get(r.round)[key]] : [])));
};
const f = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : '–');
const k = (x) => (Number.isFinite(x) ? `${Math.round(x / 1000)}k` : '–');
// The C peers; the loops (`iter`, `batches`) are compared with the callback (`node`) in columns of their own.
const others = peers.filter((p) => p !== 'node' && CONSUMERS[p].loop === undefined);
const loops = peers.includes('node') ? peers.filter((p) => CONSUMERS[p].loop !== undefined) : [];
const label = (p) => CONSUMERS[p].label;
const otherCpu = all.filter((r) => r.other_cpu !== undefined).map((r) => r.other_cpu);
const cpuModel = cpus()[0]?.model ?? '?';

console.log(`\n## bench:e2e, ${started.toISOString().slice(0, 16).replace('T', ' ')} UTC`);
console.log(`\n\`node bench/e2e.mjs ${argv.join(' ')}\`: ${cfg.rounds} round(s), ${cfg.count} packets per throughput run, ${cfg.rt} round trips per latency run; ` +
  `${cpus().length} × ${cpuModel}, Linux ${sh(['uname', '-r']).trim()}, Node ${process.version}; other load on the machine during the runs: ` +
  `median ${Math.round(100 * median(otherCpu))} %, max ${Math.round(100 * Math.max(0, ...otherCpu))} % of all CPUs. Medians; ratios are medians of per-round ratios.`);
if (!peers.includes('node') || others.length === 0) console.log(`\n(only ${peers.map(label).join(', ')}: no ratios)`);

const tmodes = cfg.modes.filter((m) => MODES[m].flood !== undefined);
if (tmodes.length > 0) {
  const head = ['flood, size', ...peers.map((p) => `${label(p)} pps`)];
  if (peers.includes('node')) for (const o of others) head.push(`pps node / ${label(o)}`);
  for (const l of loops) head.push(`pps ${CONSUMERS[l].loop} / callback`);
  head.push(...peers.map((p) => `${label(p)} CPU µs/pkt (user + sys)`));
  if (peers.includes('node')) for (const o of others) head.push(`CPU node / ${label(o)}`);
  for (const l of loops) head.push(`CPU ${CONSUMERS[l].loop} / callback`);
  head.push('lost / qdrop / udrop', 'RSS node');
  console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  for (const m of tmodes) {
    const row = [MODES[m].name];
    const med = (p, key) => median(runsOf(m, p).map((r) => r[key]));
    for (const p of peers) row.push(k(med(p, 'pps')));
    if (peers.includes('node')) for (const o of others) row.push(`**${f(ratio(m, 'node', o, 'pps'))}**`);
    for (const l of loops) row.push(`**${f(ratio(m, l, 'node', 'pps'))}**`);
    for (const p of peers) row.push(`${f(med(p, 'cpu_us_per_pkt'))} (${f(med(p, 'user_us_per_pkt'))} + ${f(med(p, 'sys_us_per_pkt'))})`);
    if (peers.includes('node')) for (const o of others) row.push(`**${f(ratio(m, 'node', o, 'cpu_us_per_pkt'))}**`);
    for (const l of loops) row.push(`**${f(ratio(m, l, 'node', 'cpu_us_per_pkt'))}**`);
    const sum = (key) => all.filter((r) => r.mode === m && r.kind === 'throughput').reduce((s, r) => s + (r[key] ?? 0), 0);
    const failed = all.filter((r) => r.mode === m && !ok(r)).length;
    row.push(`${sum('lost')} / ${sum('queue_dropped')} / ${sum('user_dropped')}${failed ? ` (${failed} failed runs)` : ''}`);
    row.push(peers.includes('node') ? `${Math.round(Math.max(...runsOf(m, 'node').map((r) => r.rss_peak_kb ?? 0)) / 1024)} MB` : '–');
    console.log(`| ${row.join(' | ')} |`);
  }
  for (const peer of ['node', ...loops]) {
    const sc = tmodes.map((m) => {
      const rs = runsOf(m, peer).filter((r) => r.recv_calls);
      return rs.length ? `${MODES[m].name} ${f(median(rs.map((r) => r.datagrams / r.recv_calls)), 1)} datagrams per recvmmsg, ${f(median(rs.map((r) => (r.recv_calls + r.send_calls) / r.datagrams)), 3)} recvmmsg + sendto per packet` : undefined;
    }).filter((x) => x !== undefined);
    if (sc.length > 0) console.log(`\n${label(peer)} consumer, from its socket's counters: ${sc.join('; ')}.`);
  }
}
if (cfg.modes.includes('latency')) {
  const head = ['latency (UDP ping-pong, 64 B)', ...peers.map((p) => `${label(p)} µs`)];
  if (peers.includes('node')) for (const o of others) head.push(`node / ${label(o)}`);
  for (const l of loops) head.push(`${CONSUMERS[l].loop} / callback`);
  console.log(`\n| ${head.join(' | ')} |\n|${head.map(() => '---').join('|')}|`);
  const med = (p, key) => median(runsOf('latency', p).map((r) => r[key]));
  for (const [key, name] of [['p50_us', 'round trip p50'], ['p99_us', 'round trip p99'], ['added_p50_us', '**added** over no queue, p50 †'], ['added_p99_us', '**added** over no queue, p99 †'], ['cpu_us_per_rt', 'consumer CPU per round trip'], ['user_us_per_rt', 'of which user time']]) {
    const row = [name, ...peers.map((p) => f(med(p, key), 1))];
    // An added latency is a difference of two noisy figures: its per-round ratios swing
    // wildly, so those rows show the ratio of the medians.
    const r = (o) => (key.startsWith('added') ? med('node', key) / med(o, key) : ratio('latency', 'node', o, key));
    if (peers.includes('node')) for (const o of others) row.push(`**${f(r(o))}**`);
    for (const l of loops) row.push(`**${f(key.startsWith('added') ? med(l, key) / med('node', key) : ratio('latency', l, 'node', key))}**`);
    console.log(`| ${row.join(' | ')} |`);
  }
  console.log('\n† ratio of the medians; other ratios are medians of the per-round ratios.');
  const lost = all.filter((r) => r.mode === 'latency' && r.kind === 'latency').reduce((s, r) => s + r.lost, 0);
  console.log(`\nLatency runs: ${lost} round trips lost in all.`);
}
const soak = all.find((r) => r.mode === 'soak');
if (soak !== undefined) {
  const mb = (x) => (x / 1024).toFixed(1);
  console.log(`\nSoak: ${soak.passed} packets (depth flood, 64 B) at ${k(soak.pps)} pps, lost ${soak.lost}, qdrop ${soak.queue_dropped}, udrop ${soak.user_dropped}; ` +
    `node RSS sampled every second: first ${mb(soak.rss_first_kb)} MB, last ${mb(soak.rss_last_kb)} MB, range ${mb(soak.rss_min_kb)}–${mb(soak.rss_max_kb)} MB over ${soak.rss_samples_kb.length} samples.`);
}
if (cfg.json !== undefined) writeFileSync(cfg.json, `${JSON.stringify({ started, cfg, runs: all }, null, 1)}\n`);
if (cfg.logdir === undefined) rmSync(logdir, { recursive: true, force: true });
