/**
 * The published types of for await and await using, as a TypeScript user compiles them:
 * a consumer file type-checks against dist/*.d.ts with the disposable symbols from
 * `lib: esnext.disposable`, from ESNext, or from @types/node alone; misuse does not.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { REPO_ROOT } from '../support/readme.js';

let dir: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'nfq-types-'));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const consumer = `
import { openQueue } from '${join(REPO_ROOT, 'dist/index.js')}';
import { createTestQueue } from '${join(REPO_ROOT, 'dist/testing/index.js')}';
export async function serve(): Promise<void> {
  await using queue = await openQueue(0, { maxOutstanding: 8 });
  for await (const packet of queue) {
    if (packet.mark === 1) packet.drop();
    else packet.accept({ mark: 2 });
    queue.setVerdict(packet.queue, packet.id, { verdict: 'accept' });
  }
  await using kit = await createTestQueue((p) => (p.hook === 1 ? 'drop' : 'accept'));
  const v: 'accept' | 'drop' | 'repeat' | 'stop' | 'queue' = (await kit.send(new Uint8Array(20), { hook: 'input' })).verdict;
  void v;
}
`;

function typecheck(lib: string[], code: string): { status: number | null; out: string } {
  const name = `c${Math.random().toString(36).slice(2)}`;
  writeFileSync(join(dir, `${name}.ts`), code);
  writeFileSync(
    join(dir, `${name}.json`),
    JSON.stringify({
      compilerOptions: { target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', lib, types: ['node'], typeRoots: [join(REPO_ROOT, 'node_modules/@types')], strict: true, noEmit: true },
      files: [`${name}.ts`],
    }),
  );
  const r = spawnSync(process.execPath, [join(REPO_ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(dir, `${name}.json`)], { encoding: 'utf8', timeout: 120_000 });
  return { status: r.status, out: `${r.stdout}${r.stderr}` };
}

describe('types of for await and await using', () => {
  it.each([[['ES2022']], [['ES2022', 'esnext.disposable']], [['ESNext']]])('compile with lib %j', (lib) => {
    const r = typecheck(lib, consumer);
    expect(r.out).toBe('');
    expect(r.status).toBe(0);
  });

  it('reject a packet answered with a verdict that does not exist', () => {
    const r = typecheck(['ES2022'], `${consumer}\nexport async function bad(p: import('${join(REPO_ROOT, 'dist/index.js')}').QueuedPacket): Promise<void> { p.verdict('maybe'); }\n`);
    expect(r.status).not.toBe(0);
    expect(r.out).toMatch(/maybe/);
  });
});
