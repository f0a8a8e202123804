// Shared by the nfq-dump tests: the built CLI (rebuilt when src/ is newer), and a runner.
import { spawn, spawnSync } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, statSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));
export const CLI = join(ROOT, 'dist/cli/nfq-dump.js');
export const FIXTURES = join(ROOT, 'fixtures');

function newestSource(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestSource(p));
    else if (e.name.endsWith('.ts')) newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/**
 * Makes sure dist/ holds a build of the current sources (`npm test` builds first; a direct
 * `npx vitest run test/cli` may not have). Test files run in parallel: a lock file keeps
 * two of them from compiling at once.
 */
export function ensureBuilt(): void {
  const stale = (): boolean => !existsSync(CLI) || statSync(CLI).mtimeMs < newestSource(join(ROOT, 'src'));
  if (!stale()) return;
  const lock = join(tmpdir(), `nfq-dump-test-build-${Buffer.from(ROOT).toString('hex').slice(-16)}.lock`);
  const deadline = Date.now() + 120_000;
  for (;;) {
    let fd: number | undefined;
    try {
      fd = openSync(lock, 'wx');
    } catch {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${lock}`);
      // A lock left by a killed run: older than any build takes.
      try {
        if (Date.now() - statSync(lock).mtimeMs > 90_000) unlinkSync(lock);
      } catch {
        // gone already
      }
      spawnSync('sleep', ['0.2']);
      continue;
    }
    try {
      if (stale()) {
        const r = spawnSync(process.execPath, [join(ROOT, 'node_modules/typescript/bin/tsc'), '-p', join(ROOT, 'tsconfig.json')], { encoding: 'utf8', cwd: ROOT });
        if (r.status !== 0) throw new Error(`build failed:\n${r.stdout}${r.stderr}`);
      }
      return;
    } finally {
      closeSync(fd);
      unlinkSync(lock);
    }
  }
}

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

/** Runs `node dist/cli/nfq-dump.js ...args` to completion (no namespace). */
export function runCli(args: readonly string[], opts: { prefix?: readonly string[]; timeoutMs?: number; env?: Record<string, string> } = {}): CliResult {
  const cmd = [...(opts.prefix ?? []), process.execPath, CLI, ...args];
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 30_000, env: { ...process.env, ...opts.env }, maxBuffer: 64 * 1024 * 1024 });
  return { status: r.status, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/** runCli() without blocking, so that a file can run several at once. */
export function runCliAsync(args: readonly string[], opts: { timeoutMs?: number } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], timeout: opts.timeoutMs ?? 30_000 });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

/** Runs `jobs` with at most `limit` at a time (process-spawning tests: replay, tshark); the results in the jobs' order. */
export async function inBatches<T>(jobs: ReadonlyArray<() => Promise<T>>, limit: number): Promise<T[]> {
  const out: T[] = new Array<T>(jobs.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < jobs.length) {
      const i = next++;
      out[i] = await jobs[i]!();
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, jobs.length) }, worker));
  return out;
}

/** JSON lines of a stdout. */
export function jsonLines(stdout: string): Record<string, unknown>[] {
  return stdout
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

export function haveCommand(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

/** `tshark -r FILE -T fields -e ...` rows (tab-separated fields). */
export function tsharkFields(file: string, fields: readonly string[]): string[][] {
  const r = spawnSync('tshark', ['-r', file, '-T', 'fields', ...fields.flatMap((f) => ['-e', f])], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`tshark failed on ${file}: ${r.stderr}`);
  return r.stdout
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}
