/** The README's code examples, for tests that run them as written. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The checkout's root directory. */
export const REPO_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The first ```js block after `heading` in README.md; throws when there is none. */
export function readmeExample(heading: string): string {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const at = readme.indexOf(heading);
  const m = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
  if (at < 0 || !m?.[1]) throw new Error(`README has no js example under "${heading}"`);
  return m[1];
}

/** `code` with the package's imports pointed at the built files in dist/. */
export function importingBuiltPackage(code: string): string {
  return code
    .replace(/from 'netfilter-queue\/testing'/g, `from '${join(REPO_ROOT, 'dist/testing/index.js')}'`)
    .replace(/from 'netfilter-queue'/g, `from '${join(REPO_ROOT, 'dist/index.js')}'`);
}
