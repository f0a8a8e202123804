/**
 * The package's entry points as a consumer reaches them (self-reference by name, from the
 * built dist/): `require()` (Node's require(esm), no top-level await in the graph) and
 * `import` give the same API; the types bring Node's own; source maps carry their sources.
 * scripts/consumer-check.sh does the same from a packed tarball in an empty project.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const node = (args: string[]): { status: number | null; stdout: string; stderr: string } =>
  spawnSync(process.execPath, args, { cwd: ROOT, encoding: 'utf8' });

describe('package entry points', () => {
  it("require('netfilter-queue') gives the API, without a warning", () => {
    const r = node(['-e', "const m = require('netfilter-queue'); console.log(typeof m.openQueue, typeof m.Packet, typeof m.accept)"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('function function function');
    expect(r.stderr).toBe('');
  });

  it("import 'netfilter-queue' gives the same names", () => {
    const r = node(['--input-type=module', '-e', "import * as m from 'netfilter-queue'; import { createRequire } from 'node:module'; const c = createRequire(import.meta.url)('netfilter-queue'); console.log(Object.keys(m).sort().join() === Object.keys(c).sort().join())"]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('true');
  });

  it('the exports map resolves types and code for both conditions', () => {
    const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string>>; dependencies: Record<string, string> };
    expect(pkg.exports['.']).toEqual({ types: './dist/index.d.ts', default: './dist/index.js' });
    expect(pkg.dependencies['@types/node']).toBeDefined();
    expect(readFileSync(join(ROOT, 'dist/index.d.ts'), 'utf8')).toMatch(/^\/\/\/ <reference types="node"/);
  });

  it('every source map carries its sources', () => {
    const maps = readdirSync(join(ROOT, 'dist'), { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const f of maps) {
      const m = JSON.parse(readFileSync(join(ROOT, 'dist', f), 'utf8')) as { sources: string[]; sourcesContent?: unknown[] };
      expect(m.sourcesContent?.length, f).toBe(m.sources.length);
    }
  });
});
