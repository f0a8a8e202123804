// Builds the benchmark's C tools (bench/c/NAME.c) into build/bench/NAME with gcc, once:
// rebuilt only when the source is newer than the binary.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const C_TOOLS_DIR = join(root, 'build/bench');

/** Compiles bench/c/NAME.c (with `libs`); returns { path } or { error: gcc's message }. */
export function buildCTool(name, libs = []) {
  const src = join(root, 'bench/c', `${name}.c`);
  const out = join(C_TOOLS_DIR, name);
  mkdirSync(C_TOOLS_DIR, { recursive: true });
  if (existsSync(out) && statSync(out).mtimeMs > statSync(src).mtimeMs) return { path: out };
  const r = spawnSync('gcc', ['-O2', '-Wall', '-o', out, src, ...libs], { encoding: 'utf8' });
  if (r.error !== undefined) return { error: `gcc: ${r.error.message} (apt-get install gcc)` };
  return r.status === 0 ? { path: out } : { error: r.stderr.trim() };
}
