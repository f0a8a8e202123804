/** Runs README-style code against the built package: its `netfilter-queue[/subpath]` imports, resolved to dist/. */
import { join } from 'node:path';

/** dist/ file of each package entry (as package.json "exports" maps them). */
const ENTRIES: Readonly<Record<string, string>> = {
  '': 'dist/index.js',
  '/packet': 'dist/packet/index.js',
  '/pcap': 'dist/pcap/index.js',
  '/netlink': 'dist/netlink/index.js',
  '/protocol': 'dist/nfqueue/index.js',
};

/** `code` with every `from 'netfilter-queue…'` pointing at the build under `root`. */
export function importsFromDist(code: string, root: string): string {
  return code.replace(/from 'netfilter-queue(\/[a-z]+)?'/g, (whole, sub: string | undefined) => {
    const file = ENTRIES[sub ?? ''];
    if (file === undefined) throw new Error(`no package entry for ${whole}`);
    return `from '${join(root, file)}'`;
  });
}
