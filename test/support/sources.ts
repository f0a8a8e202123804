/** The repository's TypeScript sources as text, for the architecture tests that read imports and definitions. */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** Every `.ts` file under `dir` (repo-relative, `/`-separated), but declaration files: path → text. */
export function sourceTexts(dir: string, into = new Map<string, string>()): Map<string, string> {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) sourceTexts(p, into);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) into.set(p, readFileSync(join(ROOT, p), 'utf8'));
  }
  return into;
}
