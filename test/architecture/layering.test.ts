// The layers import only downwards: netlink and netfilter (netfilter's shared numbers) import
// nothing of ours, packet only netlink, nfqueue (the pure protocol) and nftables only those
// below them, queue (the runtime) those, pcap not the runtime nor the CLI, the pool and the
// test kit not the CLI (nor each other), and the CLI only the package's public entry points.
// Read from the sources' import statements.
import { posix } from 'node:path';
import { describe, expect, it } from 'vitest';
import { sourceTexts } from '../support/sources.js';

/** The public entry points (package.json "exports"), as source paths. */
const PUBLIC_ENTRIES = ['src/index.ts', 'src/packet/index.ts', 'src/pcap/index.ts', 'src/netlink/index.ts', 'src/nfqueue/index.ts', 'src/nftables-runtime/index.ts', 'src/diagnosis/index.ts', 'src/testing/index.ts'];

/** What each layer may import, besides itself (source folders or files under src/). */
const ALLOWED: Record<string, (target: string) => boolean> = {
  'src/netlink': () => false,
  'src/netfilter': () => false,
  'src/packet': (t) => t.startsWith('src/netlink/'),
  'src/nfqueue': (t) => ['src/netlink/', 'src/netfilter/', 'src/packet/'].some((l) => t.startsWith(l)),
  'src/nftables': (t) => ['src/netlink/', 'src/netfilter/', 'src/packet/'].some((l) => t.startsWith(l)),
  'src/nftables-runtime': (t) => ['src/netlink/', 'src/netfilter/', 'src/nftables/'].some((l) => t.startsWith(l)),
  'src/queue': (t) => ['src/netlink/', 'src/netfilter/', 'src/packet/', 'src/nfqueue/', 'src/nftables/'].some((l) => t.startsWith(l)),
  'src/pcap': (t) => ['src/netlink/', 'src/netfilter/', 'src/packet/', 'src/nfqueue/'].some((l) => t.startsWith(l)),
  'src/diagnosis': (t) => ['src/netlink/', 'src/netfilter/', 'src/nfqueue/', 'src/queue/', 'src/nftables/', 'src/nftables-runtime/'].some((l) => t.startsWith(l)),
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

describe('import layering', () => {
  it('every source imports only what its layer may', () => {
    expect(violations(sourceTexts('src'))).toEqual([]);
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
      ['src/netfilter/c.ts', "import { NFGENMSG_LEN } from '../nfqueue/constants.js';"],
      ['src/nftables/d.ts', "import { decodePacket } from '../nfqueue/packet.js';"],
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
      'src/netfilter/c.ts -> src/nfqueue/constants.ts',
      'src/nftables/d.ts -> src/nfqueue/packet.ts',
    ]);
  });
});
