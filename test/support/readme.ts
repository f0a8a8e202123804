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

/** Every ```js block of README.md, with the line its code starts on. */
export function readmeBlocks(): { line: number; code: string }[] {
  const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
  const out: { line: number; code: string }[] = [];
  for (const m of readme.matchAll(/^( *)```js\n([\s\S]*?)^\1```/gm)) {
    const indent = m[1]!.length;
    const code = m[2]!.split('\n').map((l) => l.slice(Math.min(indent, l.length - l.trimStart().length))).join('\n');
    out.push({ line: readme.slice(0, m.index).split('\n').length + 1, code });
  }
  return out;
}

/** dist/ file of each package entry (as package.json "exports" maps them). */
const ENTRIES: Readonly<Record<string, string>> = {
  '': 'dist/index.js',
  '/packet': 'dist/packet/index.js',
  '/pcap': 'dist/pcap/index.js',
  '/netlink': 'dist/netlink/index.js',
  '/protocol': 'dist/nfqueue/index.js',
  '/testing': 'dist/testing/index.js',
  '/nftables': 'dist/nftables-runtime/index.js',
  '/diagnosis': 'dist/diagnosis/index.js',
};

/** `code` with every `from 'netfilter-queue[/subpath]'` pointed at the built files in dist/. */
export function importingBuiltPackage(code: string): string {
  return code.replace(/from 'netfilter-queue(\/[a-z]+)?'/g, (whole, sub: string | undefined) => {
    const file = ENTRIES[sub ?? ''];
    if (file === undefined) throw new Error(`no package entry for ${whole}`);
    return `from '${join(REPO_ROOT, file)}'`;
  });
}
