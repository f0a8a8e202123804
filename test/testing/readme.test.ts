/**
 * The README's test-kit example, run as written with `node --test` (imports rewritten to
 * the built package), without privileges. A copy with the firewall's verdict flipped must
 * fail, so the example's assertions bite.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readmeExample, importingBuiltPackage } from '../support/readme.js';

let dir: string;
const example = (): string => importingBuiltPackage(readmeExample('## Testing a callback without root'));

function runNodeTest(code: string): { status: number | null; out: string } {
  const file = join(dir, `firewall-${Math.random().toString(36).slice(2)}.test.mjs`);
  writeFileSync(file, code);
  const r = spawnSync(process.execPath, ['--test', file], { encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfq-kit-readme-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('README test-kit example', () => {
  it('is a three-line test of the deployed callback, using public entry points only', () => {
    const code = example();
    expect(code).toMatch(/openQueue\(0, firewall\)/);
    const body = /async \(t\) => \{\n([\s\S]*?)\n\}\);/.exec(code)?.[1];
    expect(body?.split('\n')).toHaveLength(3);
  });

  it('passes under node --test', () => {
    const r = runNodeTest(example());
    expect(r.out).toMatch(/# pass 1/);
    expect(r.status, r.out).toBe(0);
  });

  it('fails when the firewall lets telnet through', () => {
    const broken = example().replace("=== 23 ? 'drop' : 'accept'", "=== 23 ? 'accept' : 'accept'");
    expect(broken).not.toBe(example());
    const r = runNodeTest(broken);
    expect(r.out).toMatch(/# fail 1/);
    expect(r.status).not.toBe(0);
  });
});
