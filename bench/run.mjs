#!/usr/bin/env node
// `npm run bench`: the micro-benchmarks, then (as root, with the shared harness built) the
// end-to-end comparisons against the C reference consumer, printed as a table of ratios.
//
//   node bench/run.mjs [--micro] [--e2e] [--rounds N] [--count N] [--quick]
//   env NFQ_BENCH      path of nfq-bench      (default ../shared/bench/nfq-bench)
//   env NFQ_BENCH_BIN  its built C tools      (default /tmp/nfq-bench-bin; build with
//                                              ../shared/bench/build.sh --deps)
//
// Benchmarks, not tests: nothing fails on a slow number. Machines are shared and noisy:
// quote the ratios of one run (A = this library, B = the C reference, run alternately).
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const argv = process.argv.slice(2);
const flag = (n) => argv.includes(`--${n}`);
const opt = (n, d) => {
  const i = argv.indexOf(`--${n}`);
  return i >= 0 ? argv[i + 1] : d;
};
const onlyMicro = flag('micro') && !flag('e2e');
const onlyE2e = flag('e2e') && !flag('micro');
const quick = flag('quick');
const rounds = opt('rounds', quick ? '1' : '3');
const count = opt('count', quick ? '100000' : '300000');

if (!onlyE2e) {
  console.log('# micro-benchmarks (node --expose-gc --max-semi-space-size=128 bench/micro.mjs)');
  const r = spawnSync(process.execPath, ['--expose-gc', '--max-semi-space-size=128', 'bench/micro.mjs', ...(quick ? ['--quick'] : [])], { cwd: root, stdio: 'inherit' });
  if (r.status !== 0) process.exitCode = 1;
}

if (!onlyMicro) {
  const harness = process.env.NFQ_BENCH ?? resolve(root, '../shared/bench/nfq-bench');
  const bin = process.env.NFQ_BENCH_BIN ?? '/tmp/nfq-bench-bin';
  const why =
    process.getuid?.() !== 0
      ? 'needs root'
      : !existsSync(harness)
        ? `harness not found at ${harness} (set NFQ_BENCH)`
        : !existsSync(`${bin}/nfq_ref`)
          ? `C tools not built in ${bin} (run ../shared/bench/build.sh --deps, or set NFQ_BENCH_BIN)`
          : undefined;
  if (why !== undefined) {
    console.log(`\n# end-to-end: skipped (${why})`);
  } else {
    const consumer = 'node bench/consumer.mjs {queue}';
    const ref = `${bin}/nfq_ref {queue}`;
    const runs = [
      ['window, 64 B', ['--size', '64']],
      ['depth, 64 B', ['--flood', 'depth', '--size', '64']],
      ['window, 1400 B', ['--size', '1400']],
      ['depth, 1400 B', ['--flood', 'depth', '--size', '1400']],
      ['latency, 64 B', ['--mode', 'latency', '--rt', quick ? '5000' : '20000']],
    ];
    const rows = [];
    for (const [name, extra] of runs) {
      const args = ['--consumer', consumer, '--vs', ref, '--rounds', rounds, '--label-a', 'node', '--label-b', 'c-ref', ...extra];
      if (!extra.includes('latency')) args.push('--count', count);
      console.log(`\n# ${name}: ${harness} ${args.map((a) => (/\s/.test(a) ? `'${a}'` : a)).join(' ')}`);
      const r = spawnSync(harness, args, { cwd: root, encoding: 'utf8', env: { ...process.env, NFQ_BENCH_BIN: bin }, stdio: ['ignore', 'pipe', 'inherit'] });
      const summary = r.stdout
        .split('\n')
        .filter((l) => l.includes('"kind": "summary"'))
        .map((l) => JSON.parse(l))[0];
      if (summary === undefined) {
        console.log(`  no summary (exit ${r.status})`);
        continue;
      }
      rows.push([name, summary]);
    }
    console.log('\n| run | node | C ref | ratio | CPU µs/pkt node / C (ratio) | lost node / C | RSS peak node |');
    console.log('|---|---|---|---|---|---|---|');
    for (const [name, s] of rows) {
      if (s.mode === 'latency') {
        console.log(
          `| ${name} | p50 ${s.p50_us_a} / p99 ${s.p99_us_a} µs | p50 ${s.p50_us_b} / p99 ${s.p99_us_b} µs | p50 ${s.ratio_p50_a_over_b} / p99 ${s.ratio_p99_a_over_b} (added: ${(s.added_p50_us_a / s.added_p50_us_b).toFixed(2)} / ${(s.added_p99_us_a / s.added_p99_us_b).toFixed(2)}) | | | ${Math.round((s.rss_peak_kb_a ?? 0) / 1024)} MB |`,
        );
      } else {
        console.log(
          `| ${name} | ${Math.round(s.pps_a)} pps | ${Math.round(s.pps_b)} pps | ${s.ratio_pps_a_over_b} | ${s.cpu_us_per_pkt_a} / ${s.cpu_us_per_pkt_b} (${s.ratio_cpu_per_pkt_a_over_b}) | ${s.lost_a} / ${s.lost_b} | ${Math.round(s.rss_peak_kb_a / 1024)} MB |`,
        );
      }
    }
  }
}
