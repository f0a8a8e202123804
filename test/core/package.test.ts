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

  const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as { exports: Record<string, Record<string, string> | string>; dependencies: Record<string, string> };
  const entries = Object.entries(pkg.exports).filter(([path]) => path !== './package.json');

  it('every entry point has types and one default condition (import and require), and brings Node types', () => {
    expect(entries.map(([path]) => path)).toContain('.');
    expect(pkg.dependencies['@types/node']).toBeDefined();
    for (const [path, target] of entries) {
      expect(target, path).toEqual({ types: expect.stringMatching(/^\.\/dist\/.*\.d\.ts$/), default: expect.stringMatching(/^\.\/dist\/.*\.js$/) });
      const t = target as { types: string };
      expect(readFileSync(join(ROOT, t.types), 'utf8'), `${t.types} needs /// <reference types="node" preserve="true" />`).toMatch(/^\/\/\/ <reference types="node"/);
    }
  });

  it('every entry point can be required', () => {
    const names = entries.map(([path]) => `netfilter-queue${path.slice(1)}`);
    const r = node(['-e', `for (const n of ${JSON.stringify(names)}) if (Object.keys(require(n)).length === 0) throw new Error(n + ' is empty')`]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
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
