#!/usr/bin/env node
// npm run test:kernels: the kernel matrix. Boots each kernel of matrix.json under
// qemu-system-x86_64 (TCG: no KVM needed) and runs the matrix's kernel test files inside
// it as root; runs the same files on this machine's kernel; prints kernel × file ×
// pass/fail/skip and exits non-zero when any file fails anywhere.
//
//   npm run test:kernels                          # every kernel, every file, and this host
//   npm run test:kernels -- --kernels debian12-6.1 --files test/kernel/conntrack/*.test.ts
//   npm run test:kernels -- --no-host             # guests only
//   npm run test:kernels -- --kernels debian12-6.1 --run 'CMD'
//       # one shell command in the guest instead of the tests, from the checkout, as root;
//       # $MATRIX_OUT is a directory it can write that the host keeps (under .cache/kernels/results)
//
// Needs root (the tests make network namespaces), qemu-system-x86, apt-get, dpkg-deb,
// kmod (depmod/modprobe) and cpio. Downloaded packages live in .cache/kernels.
import { spawn, spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MatrixError, buildInitramfs, prepareBusybox, prepareKernel, requireCommand } from './kernels.mjs';
import { fileOutcomes, formatTable } from './report.mjs';

const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '../..');
const CACHE = resolve(process.env.KERNEL_MATRIX_CACHE ?? join(ROOT, '.cache', 'kernels'));

function parseArgs(argv) {
  const o = { kernels: undefined, files: undefined, host: true, run: undefined };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--kernels') o.kernels = argv[++i].split(',');
    else if (a === '--files') {
      o.files = [];
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) o.files.push(argv[++i]);
    } else if (a === '--no-host') o.host = false;
    else if (a === '--host-only') o.kernels = [];
    else if (a === '--run') {
      o.run = argv[++i];
      o.host = false;
    }
    else throw new MatrixError(`unknown argument ${a}: use --kernels a,b, --files GLOB..., --no-host, --host-only, --run CMD`);
  }
  return o;
}

/** Files of the checkout matching `pattern` (`*` and `?` within a name, `**` then a slash across folders). */
function glob(pattern) {
  const source = pattern
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*\*\//g, '\u0000')
    .replace(/\*/g, '[^/]*')
    .replace(/\?/g, '[^/]')
    .replace(/\u0000/g, '(?:.*/)?');
  const re = new RegExp(`^${source}$`);
  // Walk only below the part of the pattern without wildcards.
  const parts = pattern.split('/');
  const fixed = parts.slice(0, Math.max(0, parts.findIndex((p) => /[*?]/.test(p)))).join('/');
  if (!/[*?]/.test(pattern)) return existsSync(join(ROOT, pattern)) ? [pattern] : [];
  if (!existsSync(join(ROOT, fixed))) return [];
  return readdirSync(join(ROOT, fixed), { recursive: true })
    .map((f) => (fixed === '' ? String(f) : `${fixed}/${f}`))
    .filter((f) => re.test(f))
    .sort();
}

function testFiles(patterns) {
  const files = [...new Set(patterns.flatMap(glob))];
  if (files.length === 0) throw new MatrixError(`no test file matches ${patterns.join(' ')}`);
  return files;
}

function runGuest(kernel, prepared, initramfs, files, guest, run) {
  // A --run gets its own directory, so it never wipes a test run's under a running guest.
  const dir = join(CACHE, 'results', run === undefined ? kernel.name : `${kernel.name}-run`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'files'), `${files.join('\n')}\n`);
  const args = [
    '-machine', 'q35,accel=tcg',
    '-cpu', 'max',
    '-smp', String(guest.cpus),
    '-m', String(guest.memoryMiB),
    '-nographic', '-no-reboot', '-nic', 'none',
    '-kernel', prepared.vmlinuz,
    '-initrd', initramfs,
    // no_timer_check: on a loaded host the emulated timer can miss the boot-time IO-APIC check (panic).
    '-append', 'console=ttyS0 panic=-1 quiet loglevel=3 no_timer_check',
    // The host's root, read-only: its Node, tools and this checkout at the same paths.
    '-virtfs', 'local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap',
    '-virtfs', `local,path=${dir},mount_tag=results,security_model=none`,
  ];
  const log = createWriteStream(join(dir, 'console.log'));
  const started = Date.now();
  return new Promise((resolveRun) => {
    const child = spawn('qemu-system-x86_64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, guest.timeoutSeconds * 1000);
    let pending = '';
    const onData = (chunk) => {
      log.write(chunk);
      pending += chunk.toString('utf8');
      const lines = pending.split('\n');
      pending = lines.pop();
      // eslint-disable-next-line no-control-regex
      for (const l of lines) process.stdout.write(`[${kernel.name}] ${l.replace(/\x1b\[[0-9;?]*[A-Za-z]|\x1bc|\r/g, '')}\n`);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      log.end();
      const read = (f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8').trim() : undefined);
      const report = read('report.json');
      let problem;
      if (timedOut) problem = `timed out after ${guest.timeoutSeconds} s`;
      else if (read('release') === undefined) problem = `the guest never started its runner (qemu ${signal ?? `exit ${code}`}; see ${relative(ROOT, join(dir, 'console.log'))})`;
      else if (report === undefined) problem = `vitest wrote no report (see ${relative(ROOT, join(dir, 'console.log'))})`;
      resolveRun({
        dir,
        runStatus: read('run-status'),
        release: read('release'),
        report: report === undefined ? undefined : JSON.parse(report),
        problem,
        seconds: Math.round((Date.now() - started) / 1000),
      });
    });
  });
}

function runHost(files) {
  const dir = join(CACHE, 'results', 'host');
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  const started = Date.now();
  const vitest = join(ROOT, 'node_modules', '.bin', 'vitest');
  const r = spawnSync(vitest, ['run', '--configLoader', 'runner', '--reporter=default', '--reporter=json', `--outputFile.json=${join(dir, 'report.json')}`, ...files], {
    cwd: ROOT,
    stdio: 'inherit',
    env: { ...process.env, NFQ_KERNEL_MATRIX: 'host', NFQ_KERNEL_EXPECT: '' },
  });
  const path = join(dir, 'report.json');
  return {
    release: spawnSync('uname', ['-r'], { encoding: 'utf8' }).stdout.trim(),
    report: existsSync(path) ? JSON.parse(readFileSync(path, 'utf8')) : undefined,
    problem: existsSync(path) ? undefined : `vitest wrote no report (${r.error?.message ?? `exit ${r.status}`})`,
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const config = JSON.parse(readFileSync(join(HERE, 'matrix.json'), 'utf8'));
  const files = testFiles(opts.files ?? config.files);
  const kernels = opts.kernels === undefined ? config.kernels : opts.kernels.map((n) => config.kernels.find((k) => k.name === n) ?? (() => { throw new MatrixError(`no kernel ${n} in matrix.json (have ${config.kernels.map((k) => k.name).join(', ')})`); })());
  if (process.getuid?.() !== 0) throw new MatrixError('the kernel matrix must run as root: its tests make network namespaces');
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new MatrixError('dist/ is missing: run npm run build first (npm run test:kernels does)');

  const columns = [];
  if (kernels.length > 0) {
    requireCommand('qemu-system-x86_64', 'qemu-system-x86');
    requireCommand('dpkg-deb', 'dpkg');
    requireCommand('modprobe', 'kmod');
    const busybox = prepareBusybox(CACHE, config.busybox);
    const guest = { cpus: Math.min(config.guest.cpus, cpus().length), memoryMiB: config.guest.memoryMiB, timeoutSeconds: config.guest.timeoutSeconds };
    for (const kernel of kernels) {
      const prepared = prepareKernel(CACHE, kernel);
      console.log(`\n=== ${kernel.name}: ${kernel.package} ${kernel.version} (Linux ${prepared.release}), ${files.length} files, expects ${kernel.expect.join(', ') || 'nothing'}`);
      const initramfs = buildInitramfs(CACHE, kernel.name, prepared, busybox, join(HERE, 'guest-init.sh'), {
        MATRIX_KERNEL: kernel.name,
        MATRIX_EXPECT: kernel.expect.join(','),
        MATRIX_MODULES: prepared.modules,
        MATRIX_CHECKOUT: ROOT,
        MATRIX_RUN: opts.run ?? '',
      });
      const r = await runGuest(kernel, prepared, initramfs, files, guest, opts.run);
      if (opts.run !== undefined) {
        const status = r.runStatus ?? 'none (the guest did not finish)';
        console.log(`${kernel.name}: --run exited with ${status}; its output directory: ${relative(ROOT, r.dir)}`);
        if (r.runStatus !== '0') process.exitCode = 1;
        continue;
      }
      columns.push({ name: kernel.name, label: `${kernel.name} (${r.release ?? prepared.release}, ${kernel.package}=${kernel.version})`, ...r });
    }
  }
  if (opts.run !== undefined) return;
  if (opts.host) {
    console.log(`\n=== host: this machine's kernel, ${files.length} files`);
    const r = runHost(files);
    columns.push({ name: 'host', label: `host (${r.release})`, ...r });
  }

  const rows = files.map((f) => ({ file: f, cells: columns.map((c) => fileOutcomes(c.report, join(ROOT, f), c.problem)) }));
  console.log(`\n${formatTable(columns, rows)}`);
  const failed = rows.some((r) => r.cells.some((c) => c.status === 'FAIL' || c.status === 'ERROR'));
  process.exitCode = failed ? 1 : 0;
}

main().catch((e) => {
  if (e instanceof MatrixError) {
    console.error(`test:kernels: ${e.message}`);
    process.exitCode = 2;
  } else {
    console.error(e);
    process.exitCode = 1;
  }
});
