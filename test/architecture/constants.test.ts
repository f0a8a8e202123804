// One home for each wire number. nfnetlink_queue and nf_tables share netfilter's families,
// hooks, verdict codes and the nfgenmsg header (src/netfilter/constants.ts) and the IP
// protocol numbers (src/packet/): their grouped constants re-export those, so the public
// `nfqueueConstants` and `nftablesConstants` cannot disagree, and no source defines a kernel
// number another source already defines.
import { describe, expect, it } from 'vitest';
import * as netfilter from '../../src/netfilter/constants.js';
import { nfqueueConstants } from '../../src/nfqueue/index.js';
import { nftablesConstants } from '../../src/nftables-runtime/index.js';
import * as packet from '../../src/packet/index.js';
import { sourceTexts } from '../support/sources.js';

/** Folders whose every top-level constant is a wire number or a protocol fact. */
const WIRE_LAYERS = ['src/netlink/', 'src/netfilter/', 'src/packet/', 'src/nfqueue/', 'src/nftables/'];
/** Elsewhere, a constant named like a kernel or IANA number is one too. */
const KERNEL_NAME = /^(NLMSG|NLM_F|NLA|NETLINK|SOL_NETLINK|NF|NFT|NFTA|NFQ|NFQA|NFQNL|NFNL|NFNETLINK|NFGENMSG|NFPROTO|CTA|IPPROTO|ETH_P|IPV6|ARPHRD|LINKTYPE|TCP)_/;

/** Top-level `const NAME = <number>` definitions (exported or not) in `text`: aliases and tables are not homes. */
function definedNames(text: string): string[] {
  return [...text.matchAll(/^(?:export\s+)?const\s+([A-Z][A-Z0-9_]*)\s*(?::[^=]+)?=\s*-?(?:0x[0-9a-f]+|[0-9][0-9_]*n?)(?:\s*<<\s*[0-9]+)?\s*;/gim)].map((m) => m[1]!);
}

/** Wire-number names defined in more than one of `files` (path → text): name → paths. */
export function definedTwice(files: ReadonlyMap<string, string>): Record<string, string[]> {
  const homes = new Map<string, string[]>();
  for (const [file, text] of files) {
    const wireLayer = WIRE_LAYERS.some((l) => file.startsWith(l));
    for (const name of new Set(definedNames(text))) {
      if (!wireLayer && !KERNEL_NAME.test(name)) continue;
      homes.set(name, [...(homes.get(name) ?? []), file]);
    }
  }
  return Object.fromEntries([...homes].filter(([, paths]) => paths.length > 1));
}

describe('one home for each wire number', () => {
  const nfq = nfqueueConstants as Readonly<Record<string, unknown>>;
  const nft = nftablesConstants as Readonly<Record<string, unknown>>;
  const shared = Object.keys(nfq).filter((k) => Object.hasOwn(nft, k));

  it('nfqueueConstants and nftablesConstants agree on every name they share', () => {
    expect(shared).toEqual(expect.arrayContaining(['NFPROTO_UNSPEC', 'NFPROTO_INET', 'NFPROTO_IPV4', 'NFPROTO_IPV6', 'NF_INET_LOCAL_IN', 'NF_DROP', 'NF_ACCEPT', 'NF_QUEUE']));
    for (const k of shared) expect(nft[k], k).toBe(nfq[k]);
  });

  it('every name the two share is netfilter’s, with its value', () => {
    const home = netfilter as Readonly<Record<string, unknown>>;
    for (const k of shared) {
      expect(Object.hasOwn(home, k), `${k} is in both grouped objects but not in src/netfilter/constants.ts`).toBe(true);
      expect(nfq[k], k).toBe(home[k]);
      expect(nft[k], k).toBe(home[k]);
    }
  });

  it("nftablesConstants' IP protocol numbers are netfilter-queue/packet's", () => {
    const ipNames = Object.keys(nft).filter((k) => k.startsWith('IPPROTO_'));
    expect(ipNames).toEqual(expect.arrayContaining(['IPPROTO_TCP', 'IPPROTO_UDP', 'IPPROTO_ICMPV6']));
    const pkt = packet as Readonly<Record<string, unknown>>;
    for (const k of ipNames) expect(nft[k], k).toBe(pkt[k]);
  });

  it('no source defines a wire number another source defines', () => {
    expect(definedTwice(sourceTexts('src'))).toEqual({});
  });

  it('the check finds a number defined twice, in a wire layer or by its kernel name', () => {
    const files = new Map([
      ['src/nfqueue/a.ts', "export const NF_ACCEPT = 1;\nconst QUIET = 2;\nexport const NF_QUEUE = C.NF_QUEUE;\nconst HOOKS = ['input'];"],
      ['src/nftables/b.ts', "/** doc */\nexport const NF_ACCEPT = 0x1;\nexport const NF_QUEUE = 3;\nconst HOOKS = { input: 1 };\nexport const NFT_JUMP = -3;"],
      ['src/diagnosis/c.ts', 'const NETLINK_NETFILTER = 12;\nconst QUIET = 3;\nconst NFT_JUMP = -3;'],
      ['src/netlink/d.ts', 'export const NETLINK_NETFILTER: number = 12;\nexport const NLA_F_NESTED = 1 << 15;'],
      ['src/queue/e.ts', 'const QUIET = 4;\nconst NLA_F_NESTED = 0x8000;'],
    ]);
    expect(definedTwice(files)).toEqual({
      NF_ACCEPT: ['src/nfqueue/a.ts', 'src/nftables/b.ts'],
      NFT_JUMP: ['src/nftables/b.ts', 'src/diagnosis/c.ts'],
      NETLINK_NETFILTER: ['src/diagnosis/c.ts', 'src/netlink/d.ts'],
      NLA_F_NESTED: ['src/netlink/d.ts', 'src/queue/e.ts'],
    });
  });
});
