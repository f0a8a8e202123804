/**
 * The batch layout of the native addon (native/batch_layout.h) as a pure C function:
 * test/native/batch-layout.c is compiled with gcc here (AddressSanitizer and UBSan when
 * they link) and run; it covers equal sizes, mixed sizes with NOOP fillers, moves
 * together, spills from overflow parts and zero padding.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SOURCE = fileURLToPath(new URL('./batch-layout.c', import.meta.url));
const gcc = spawnSync('sh', ['-c', 'command -v gcc'], { encoding: 'utf8' }).stdout.trim();

describe.skipIf(gcc === '' && process.env.CI === undefined)('native batch layout (C unit test)', () => {
  it('lays out every batch as one stream of the datagrams, fillers skipped', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfq-batch-layout-'));
    try {
      const exe = join(dir, 'batch-layout');
      const flags = ['-std=gnu11', '-O1', '-g', '-Wall', '-Wextra', '-Werror', '-o', exe, SOURCE];
      // Sanitizers when this gcc has their runtimes; plain otherwise.
      let cc = spawnSync(gcc, ['-fsanitize=address,undefined', '-fno-sanitize-recover=all', ...flags], { encoding: 'utf8' });
      if (cc.status !== 0) cc = spawnSync(gcc, flags, { encoding: 'utf8' });
      expect(cc.status, cc.stderr).toBe(0);
      const r = spawnSync(exe, [], { encoding: 'utf8', env: { ...process.env, ASAN_OPTIONS: 'detect_leaks=1' } });
      expect(r.stderr).toBe('');
      expect(r.stdout).toMatch(/^9 passed, 0 failed$/m);
      expect(r.status).toBe(0);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
