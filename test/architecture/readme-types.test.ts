/**
 * Every ```js block of the README type-checks as a new user's project would compile it:
 * `"type": "module"` (the examples use top-level await), TypeScript strict with `checkJs`,
 * `module`/`moduleResolution` `nodenext`, the package installed by name (its published
 * dist/*.d.ts). The kernel tests run the examples; this makes sure they also compile.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { REPO_ROOT, readmeBlocks } from '../support/readme.js';

let dir: string;
const blocks = readmeBlocks();

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfq-readme-'));
  mkdirSync(join(dir, 'node_modules/@types'), { recursive: true });
  symlinkSync(REPO_ROOT, join(dir, 'node_modules/netfilter-queue'), 'dir');
  symlinkSync(join(REPO_ROOT, 'node_modules/@types/node'), join(dir, 'node_modules/@types/node'), 'dir');
  writeFileSync(join(dir, 'package.json'), JSON.stringify({ name: 'readme-examples', private: true, type: 'module' }));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** Compiles `files` (name → code) in the project; returns tsc's output and status. */
function compile(files: Record<string, string>): { status: number | null; out: string } {
  for (const [name, code] of Object.entries(files)) writeFileSync(join(dir, name), code);
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib: ['ES2022'], types: ['node'], strict: true, allowJs: true, checkJs: true, noEmit: true },
      files: Object.keys(files),
    }),
  );
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', dir], { encoding: 'utf8', timeout: 180_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('README examples', () => {
  it('there are examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(8);
  });

  it('each compiles under strict nodenext in a "type": "module" project', () => {
    const files = Object.fromEntries(blocks.map((b) => [`readme-line-${b.line}.js`, b.code]));
    const r = compile(files);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('the check catches what a newcomer met: a possibly undefined payload given to parseIpPacket', () => {
    const r = compile({
      'mistake.js': "import { openQueue } from 'netfilter-queue';\nimport { parseIpPacket } from 'netfilter-queue/packet';\nawait openQueue(0, (p) => (parseIpPacket(p.payload)?.dport === 9 ? 'drop' : 'accept'));\n",
    });
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/mistake\.js.*TS2345/);
  });
});
