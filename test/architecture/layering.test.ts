// The layers import only downwards: netlink imports nothing above it, packet only netlink,
// nfqueue (the pure protocol) only those two, queue (the runtime) those three, pcap not the
// runtime nor the CLI, the pool and the test kit not the CLI (nor each other), and the CLI
// only the package's public entry points.
// Read from the sources' import statements.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, posix, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '../..');

/** The public entry points (package.json "exports"), as source paths. */
const PUBLIC_ENTRIES = ['src/index.ts', 'src/packet/index.ts', 'src/pcap/index.ts', 'src/netlink/index.ts', 'src/nfqueue/index.ts', 'src/nftables-runtime/index.ts', 'src/diagnosis/index.ts', 'src/testing/index.ts'];

/** What each layer may import, besides itself (source folders or files under src/). */
const ALLOWED: Record<string, (target: string) => boolean> = {
  'src/netlink': () => false,
  'src/packet': (t) => t.startsWith('src/netlink/'),
  'src/nfqueue': (t) => t.startsWith('src/netlink/') || t.startsWith('src/packet/'),
  'src/nftables': (t) => t.startsWith('src/netlink/'),
  'src/nftables-runtime': (t) => t.startsWith('src/netlink/') || t.startsWith('src/nftables/'),
  'src/queue': (t) => t.startsWith('src/netlink/') || t.startsWith('src/packet/') || t.startsWith('src/nfqueue/') || t.startsWith('src/nftables/'),
  'src/pcap': (t) => t.startsWith('src/netlink/') || t.startsWith('src/packet/') || t.startsWith('src/nfqueue/'),
  'src/diagnosis': (t) => ['src/netlink/', 'src/nfqueue/', 'src/queue/', 'src/nftables/', 'src/nftables-runtime/'].some((l) => t.startsWith(l)),
  'src/pool': (t) => !t.startsWith('src/cli/') && !t.startsWith('src/testing/'),
  'src/testing': (t) => !t.startsWith('src/cli/') && !t.startsWith('src/pool/'),
  'src/cli': (t) => PUBLIC_ENTRIES.includes(t),
};

function layerOf(file: string): string | undefined {
  return Object.keys(ALLOWED).find((l) => file.startsWith(`${l}/`));
}

/** The relative module specifiers a source imports or re-exports. */
function importsOf(text: string): string[] {
  const out: string[] = [];
  const re = /(?:^|\n)\s*(?:import|export)\b[^'";]*?\bfrom\s*['"](\.[^'"]+)['"]|(?:^|\n)\s*import\s*['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;
  for (const m of text.matchAll(re)) out.push((m[1] ?? m[2] ?? m[3])!);
  return out;
}

/** Layering violations in `files` (repo-relative path → text): `from -> to` lines. */
export function violations(files: ReadonlyMap<string, string>): string[] {
  const out: string[] = [];
  for (const [file, text] of files) {
    const layer = layerOf(file);
    if (layer === undefined) continue;
    for (const spec of importsOf(text)) {
      const target = posix.normalize(posix.join(posix.dirname(file), spec)).replace(/\.js$/, '.ts');
      if (target.startsWith(`${layer}/`)) continue;
      if (!ALLOWED[layer]!(target)) out.push(`${file} -> ${target}`);
    }
  }
  return out;
}

function sources(dir: string, into = new Map<string, string>()): Map<string, string> {
  for (const e of readdirSync(join(ROOT, dir), { withFileTypes: true })) {
    const p = `${dir}/${e.name}`;
    if (e.isDirectory()) sources(p, into);
    else if (p.endsWith('.ts') && !p.endsWith('.d.ts')) into.set(relative(ROOT, join(ROOT, p)).split('\\').join('/'), readFileSync(join(ROOT, p), 'utf8'));
  }
  return into;
}

describe('import layering', () => {
  it('every source imports only what its layer may', () => {
    expect(violations(sources('src'))).toEqual([]);
  });

  it('the check finds a violation in each direction it guards', () => {
    const files = new Map([
      ['src/netlink/x.ts', "import { Queue } from '../queue/queue.js';"],
      ['src/nfqueue/v.ts', "import { QueuedPacket } from '../queue/queued-packet.js';"],
      ['src/queue/u.ts', "import { recordTransport } from '../pcap/record-transport.js';"],
      ['src/pcap/t.ts', "import type { Queue } from '../queue/queue.js';"],
      ['src/nfqueue/y.ts', "import type { PcapRecord } from '../pcap/reader.js';\nexport { z } from '../cli/args.js';"],
      ['src/cli/z.ts', "import { openQueue } from '../index.js';\nimport { Queue } from '../queue/queue.js';"],
      ['src/pcap/w.ts', "const m = await import('../cli/format.js');"],
    ]);
    expect(violations(files)).toEqual([
      'src/netlink/x.ts -> src/queue/queue.ts',
      'src/nfqueue/v.ts -> src/queue/queued-packet.ts',
      'src/queue/u.ts -> src/pcap/record-transport.ts',
      'src/pcap/t.ts -> src/queue/queue.ts',
      'src/nfqueue/y.ts -> src/pcap/reader.ts',
      'src/nfqueue/y.ts -> src/cli/args.ts',
      'src/cli/z.ts -> src/queue/queue.ts',
      'src/pcap/w.ts -> src/cli/format.ts',
    ]);
  });
});
