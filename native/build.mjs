#!/usr/bin/env node
// Builds the optional native transport (build/Release/nfq_native.node) with node-gyp.
// Used as the package's install script: it NEVER fails the install. Where a prebuilt addon
// for this platform loads (prebuilds/, see its README) it does nothing (--force: build
// anyway). When the addon cannot be built, it prints one notice and the library uses the
// `netlink` package's socket.
// Headers: the ones installed beside this Node (<prefix>/include/node) when present, so no
// download is needed; else node-gyp's usual header cache/download.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const quiet = process.argv.includes('--quiet');
const strict = process.argv.includes('--strict');
const force = process.argv.includes('--force');

function notice(msg) {
  console.error(`netfilter-queue: ${msg}`);
  process.exit(strict ? 1 : 0);
}

if (process.platform !== 'linux') notice('native transport is Linux-only; skipped');
if (process.env.NFQUEUE_SKIP_NATIVE_BUILD) notice('NFQUEUE_SKIP_NATIVE_BUILD is set; native transport not built');

/** The prebuilt addon of this platform that loads here (either libc's), if any. */
function loadablePrebuild() {
  const dir = join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  for (const libc of ['glibc', 'musl']) {
    const path = join(dir, `nfq_native.${libc}.node`);
    if (!existsSync(path)) continue;
    const r = spawnSync(process.execPath, ['-e', 'require(process.argv[1])', path], { stdio: 'ignore' });
    if (r.status === 0) return path;
  }
  return undefined;
}

if (!force) {
  const prebuilt = loadablePrebuild();
  if (prebuilt !== undefined) {
    if (!quiet) console.error(`netfilter-queue: using the prebuilt native transport (${prebuilt}); nothing to build`);
    process.exit(0);
  }
}

/** node-gyp's entry script: npm's own (set for scripts), else the one bundled beside Node. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(root, 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  for (const c of candidates) if (c && existsSync(c)) return c;
  return undefined;
}

function localHeaders() {
  const prefix = resolve(dirname(process.execPath), '..');
  const h = join(prefix, 'include', 'node', 'node_version.h');
  if (!existsSync(h) || !existsSync(join(prefix, 'include', 'node', 'common.gypi'))) return undefined;
  const text = readFileSync(h, 'utf8');
  const v = ['MAJOR', 'MINOR', 'PATCH'].map((k) => text.match(new RegExp(`#define NODE_${k}_VERSION (\\d+)`))?.[1]).join('.');
  return v === process.versions.node ? prefix : undefined;
}

const gyp = findNodeGyp();
if (gyp === undefined) notice('node-gyp not found; native transport not built (the netlink package socket will be used)');
const args = [gyp, 'rebuild'];
const nodedir = localHeaders();
if (nodedir !== undefined) args.push(`--nodedir=${nodedir}`);
const r = spawnSync(process.execPath, args, { cwd: root, stdio: quiet ? 'pipe' : ['ignore', 'inherit', 'inherit'], encoding: 'utf8' });
if (r.status !== 0) {
  // The first telling line: a compiler error or node-gyp's own reason, not its version banner.
  const lines = String(r.stderr ?? '').split('\n').map((l) => l.trim());
  const boring = /gyp ERR! (node -v|node-gyp -v|not ok|cwd|command|System)/;
  const telling = lines.find((l) => /error/i.test(l) && !boring.test(l)) ?? lines.filter(Boolean).slice(-1)[0];
  const why = r.error?.message ?? (quiet ? (telling ?? `node-gyp exited with ${r.status}`) : `node-gyp exited with ${r.status}`);
  notice(`native transport not built (${why}); the netlink package socket will be used`);
}
if (!quiet) console.error('netfilter-queue: native transport built (build/Release/nfq_native.node)');
