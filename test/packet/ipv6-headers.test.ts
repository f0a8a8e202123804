// The one IPv6 extension-header walk (src/packet/ipv6-headers.ts) and its two users: the
// decoder (parseIpPacket) and the checksum helpers (ipLayout). Both are fed the same chains
// and must agree on the transport protocol and where its header starts.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIpPacket, ChecksumError } from '../../src/packet/index.js';
import { ipLayout } from '../../src/packet/checksum.js';
import { walkIpv6Headers, MAX_IPV6_EXTENSION_HEADERS } from '../../src/packet/ipv6-headers.js';

/** One extension header: its number and its bytes (first octet, the next header, filled in by ipv6()). */
interface Ext {
  type: number;
  bytes: number[];
}
const uniform = (type: number, units = 0): Ext => ({ type, bytes: [0, units, ...new Array<number>(6 + units * 8).fill(1)] });
const frag = (offset: number, more: boolean): Ext => ({ type: 44, bytes: [0, 0, offset >> 8, (offset & 0xf8) | (more ? 1 : 0), 0xca, 0xfe, 0xba, 0xbe] });
const ah = (words: number): Ext => ({ type: 51, bytes: [0, words, ...new Array<number>((words + 2) * 4 - 2).fill(7)] });

/** An IPv6 packet: the chain, then `proto` and 8 octets of a transport header. */
function ipv6(chain: Ext[], proto: number, tail: number[] = [0x9c, 0x40, 0x00, 0x35, 0, 8, 0, 0]): Uint8Array {
  const body: number[] = [];
  chain.forEach((e, i) => body.push(chain[i + 1]?.type ?? proto, ...e.bytes.slice(1)));
  body.push(...tail);
  const b = new Uint8Array(40 + body.length);
  b[0] = 0x60;
  b[4] = body.length >> 8;
  b[5] = body.length & 0xff;
  b[6] = chain[0]?.type ?? proto;
  b[7] = 64;
  b[23] = 1;
  b[39] = 2;
  b.set(body, 40);
  return b;
}

/** What both users say about `p`: equal, or the checksum side refuses exactly when the decoder saw a broken chain. */
function agree(p: Uint8Array): { protocol: number; offset: number } | 'refused' {
  const decoded = parseIpPacket(p)!;
  const chain = walkIpv6Headers(p);
  let layout: ReturnType<typeof ipLayout> | undefined;
  try {
    layout = ipLayout(p);
  } catch (e) {
    expect(e).toBeInstanceOf(ChecksumError);
  }
  expect(decoded.protocol).toBe(chain.protocol);
  expect(decoded.transportOffset).toBe(chain.offset);
  if (layout === undefined) {
    expect(chain.truncated || chain.tooMany).toBe(true);
    return 'refused';
  }
  expect(chain.truncated || chain.tooMany).toBe(false);
  expect(layout.protocol).toBe(decoded.protocol);
  expect(layout.l4Offset).toBe(decoded.transportOffset);
  expect(layout.ipHeaderLength).toBe(decoded.headerLength);
  return { protocol: layout.protocol, offset: layout.l4Offset };
}

describe('one IPv6 extension-header walk for the decoder and the checksums', () => {
  const cases: [string, Uint8Array, { protocol: number; offset: number } | 'refused'][] = [
    ['no extension header', ipv6([], 17), { protocol: 17, offset: 40 }],
    ['hop-by-hop', ipv6([uniform(0)], 17), { protocol: 17, offset: 48 }],
    ['destination options, 24 octets', ipv6([uniform(60, 2)], 6, new Array<number>(20).fill(0)), { protocol: 6, offset: 64 }],
    ['routing', ipv6([uniform(43, 1)], 17), { protocol: 17, offset: 56 }],
    ['atomic fragment', ipv6([frag(0, false)], 17), { protocol: 17, offset: 48 }],
    ['non-first fragment', ipv6([frag(1448, false)], 17), { protocol: 17, offset: 48 }],
    ['AH of 4 words (24 octets)', ipv6([ah(4)], 17), { protocol: 17, offset: 64 }],
    ['AH of 1 word (12 octets)', ipv6([ah(1)], 17), { protocol: 17, offset: 52 }],
    // RFC 6275: Mobility is an extension header whose Payload Proto is 59 today.
    ['Mobility, payload proto 59', ipv6([uniform(135, 1)], 59, []), { protocol: 59, offset: 56 }],
    ['Mobility, payload proto UDP (the uniform format is followed)', ipv6([uniform(135)], 17), { protocol: 17, offset: 48 }],
    ['HIP and Shim6 (IANA extension headers)', ipv6([uniform(139), uniform(140)], 17), { protocol: 17, offset: 56 }],
    ['ESP ends the walk', ipv6([], 50), { protocol: 50, offset: 40 }],
    ['every kind', ipv6([uniform(0), uniform(60), uniform(43, 1), frag(0, false), ah(4), uniform(60, 1)], 6, new Array<number>(20).fill(0)), { protocol: 6, offset: 40 + 8 + 8 + 16 + 8 + 24 + 16 }],
    [`${MAX_IPV6_EXTENSION_HEADERS} headers`, ipv6(new Array(MAX_IPV6_EXTENSION_HEADERS).fill(uniform(60)), 17), { protocol: 17, offset: 40 + 8 * MAX_IPV6_EXTENSION_HEADERS }],
    [`${MAX_IPV6_EXTENSION_HEADERS + 1} headers`, ipv6(new Array(MAX_IPV6_EXTENSION_HEADERS + 1).fill(uniform(60)), 17), 'refused'],
    ['a length running past the packet', ipv6([{ type: 0, bytes: [0, 200, 0, 0, 0, 0, 0, 0] }], 17), 'refused'],
    ['a fragment header cut short', ipv6([], 44, [17, 0, 0]), 'refused'],
  ];
  it.each(cases)('%s', (_name, packet, want) => {
    expect(agree(packet)).toEqual(want);
  });

  it('the fragment header is reported by both', () => {
    const p = ipv6([frag(1448, true)], 17);
    expect(parseIpPacket(p)!.fragment).toEqual({ offset: 1448, more: true });
    expect(parseIpPacket(p)!.ipId).toBe(0xcafebabe);
    expect(parseIpPacket(p)!.udp).toBeUndefined(); // no transport header in a non-first fragment
    expect(ipLayout(p).fragment).toBe(true);
    expect(ipLayout(ipv6([frag(0, false)], 17)).fragment).toBe(false);
    expect(parseIpPacket(ipv6([frag(0, false)], 17))!.udp?.dport).toBe(53);
  });

  it('random chains: the two users always agree and the walk always ends', () => {
    const ext = fc.oneof(
      fc.record({ type: fc.constantFrom(0, 43, 60, 135, 139, 140, 253, 254), units: fc.integer({ min: 0, max: 3 }) }).map(({ type, units }) => uniform(type, units)),
      fc.record({ offset: fc.integer({ min: 0, max: 8191 }), more: fc.boolean() }).map(({ offset, more }) => frag(offset * 8, more)),
      fc.integer({ min: 1, max: 6 }).map(ah),
    );
    fc.assert(
      fc.property(fc.array(ext, { maxLength: MAX_IPV6_EXTENSION_HEADERS + 3 }), fc.constantFrom(6, 17, 58, 59, 50), fc.integer({ min: 0, max: 64 }), (chain, proto, cut) => {
        const whole = ipv6(chain, proto);
        agree(whole);
        agree(whole.subarray(0, Math.max(40, whole.length - cut)));
      }),
      { numRuns: 300 },
    );
  });
});
