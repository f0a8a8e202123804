#!/usr/bin/env node
// Nightly-style fuzzing: runs the hostile-bytes properties of test/robustness/fuzz.test.ts
// with FUZZ_SCALE times their CI case counts (CI: ~107,000 cases; default scale 30: ~3.2
// million), a fresh random seed each run (or --seed N to replay one), no test timeout (a
// watchdog thread inside the test still kills a hung decoder and prints its input).
//
//   node scripts/fuzz-nightly.mjs [--scale N] [--seed N] [--all]
//
// --all also runs the other fuzz suites in the tree (test/netlink, test/nfqueue, test/pcap
// fuzz files) once, at their own case counts. Exit code: vitest's (0 when every property
// held). A failure prints fast-check's counterexample and the seed to replay it.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));
const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const scale = Number(opt('scale', 30));
const seed = Number(opt('seed', Math.floor(Math.random() * 2 ** 31)));
if (!Number.isFinite(scale) || scale <= 0) {
  process.stderr.write('fuzz-nightly: --scale must be a positive number\n');
  process.exit(2);
}
const files = ['test/robustness/fuzz.test.ts'];
if (args.includes('--all')) {
  for (const f of ['test/netlink/fuzz.test.ts', 'test/nfqueue/fuzz.test.ts', 'test/pcap/fuzz.test.ts']) if (existsSync(`${root}/${f}`)) files.push(f);
}
process.stderr.write(`fuzz-nightly: scale ${scale} (~${Math.round(107_000 * scale).toLocaleString('en')} cases in test/robustness/fuzz.test.ts), seed ${seed}\n`);
const t0 = Date.now();
const r = spawnSync('npx', ['vitest', 'run', '--testTimeout=0', '--hookTimeout=0', ...files], {
  cwd: root,
  stdio: 'inherit',
  env: { ...process.env, FUZZ_SCALE: String(scale), FUZZ_SEED: String(seed) },
});
process.stderr.write(`fuzz-nightly: ${r.status === 0 ? 'all properties held' : `FAILED (replay with --seed ${seed} --scale ${scale})`} in ${Math.round((Date.now() - t0) / 1000)} s\n`);
process.exit(r.status ?? 1);
