/**
 * The one walk over an IPv6 packet's extension headers, shared by the decoder (ip.ts) and
 * the checksum helpers (checksum.ts), so the two can never disagree on where the transport
 * header is.
 *
 * Which numbers are extension headers follows IANA's "IPv6 Extension Header Types"
 * registry: hop-by-hop (0), routing (43), fragment (44), ESP (50), AH (51), destination
 * options (60), Mobility (135), HIP (139), Shim6 (140) and the experimental 253/254.
 * - Mobility (RFC 6275 §6.1) is an extension header: its first octet is "Payload Proto",
 *   its second the length in 8-octet units beyond the first 8. RFC 6275 says Payload Proto
 *   is 59 (no next header) today, so a Mobility header normally ends the chain with no
 *   upper layer; the walk follows the field anyway, as the registry's uniform format does.
 * - AH (RFC 4302) counts its length in 4-octet units, minus 2.
 * - The fragment header is 8 octets; only the first fragment (offset 0) holds the
 *   transport header.
 * - ESP (50) encrypts what follows: the walk stops there with protocol 50.
 * The walk is bounded (MAX_IPV6_EXTENSION_HEADERS) and every step moves forward by at
 * least 8 octets, so no packet, however malformed, can make it loop.
 */

/** IPv6 extension header numbers (IANA registry), and "no next header". */
export const IPV6_HOPOPTS = 0;
export const IPV6_ROUTING = 43;
export const IPV6_FRAGMENT = 44;
export const IPV6_ESP = 50;
export const IPV6_AH = 51;
export const IPV6_NONE = 59;
export const IPV6_DSTOPTS = 60;
export const IPV6_MOBILITY = 135;
export const IPV6_HIP = 139;
export const IPV6_SHIM6 = 140;

/** More extension headers than this and the walk gives up (`tooMany`). */
export const MAX_IPV6_EXTENSION_HEADERS = 16;

/** Where an IPv6 packet's extension headers end. */
export interface Ipv6HeaderChain {
  /** The protocol after the last extension header walked (59: none; 50: ESP, not walked into). */
  protocol: number;
  /** Offset just after the last extension header walked (40 when there are none). */
  offset: number;
  /** The fragment header's fields, when there is one. */
  fragment?: { offset: number; more: boolean; id: number };
  /** True when the bytes end inside an extension header (offset may then exceed the length). */
  truncated: boolean;
  /** True when the walk stopped at MAX_IPV6_EXTENSION_HEADERS with more to go. */
  tooMany: boolean;
}

/** True for the numbers that use the uniform layout (next header, length in 8-octet units beyond the first 8). */
function isUniform(next: number): boolean {
  return (
    next === IPV6_HOPOPTS ||
    next === IPV6_ROUTING ||
    next === IPV6_DSTOPTS ||
    next === IPV6_MOBILITY ||
    next === IPV6_HIP ||
    next === IPV6_SHIM6 ||
    next === 253 ||
    next === 254
  );
}

/** True when `protocol` is an IPv6 extension header the walk steps over (ESP is one, but ends it). */
export function isIpv6ExtensionHeader(protocol: number): boolean {
  return isUniform(protocol) || protocol === IPV6_FRAGMENT || protocol === IPV6_AH;
}

/**
 * Walks the extension headers of the IPv6 packet `b` (its fixed 40-byte header must be
 * present; the caller checks). Never throws, never reads past `b`.
 */
export function walkIpv6Headers(b: Uint8Array): Ipv6HeaderChain {
  const n = b.byteLength;
  let next = b[6]!;
  let off = 40;
  const chain: Ipv6HeaderChain = { protocol: next, offset: off, truncated: false, tooMany: false };
  for (let count = 0; isIpv6ExtensionHeader(next); count++) {
    if (count === MAX_IPV6_EXTENSION_HEADERS) {
      chain.tooMany = true;
      break;
    }
    if (next === IPV6_FRAGMENT) {
      if (off + 8 > n) {
        chain.truncated = true;
        break;
      }
      const word = (b[off + 2]! << 8) | b[off + 3]!;
      const id = ((b[off + 4]! << 24) | (b[off + 5]! << 16) | (b[off + 6]! << 8) | b[off + 7]!) >>> 0;
      chain.fragment = { offset: word & 0xfff8, more: (word & 1) !== 0, id };
      next = b[off]!;
      off += 8;
    } else {
      if (off + 2 > n) {
        chain.truncated = true;
        break;
      }
      const length = next === IPV6_AH ? (b[off + 1]! + 2) * 4 : (b[off + 1]! + 1) * 8;
      next = b[off]!;
      off += length;
      if (off > n) chain.truncated = true;
    }
  }
  chain.protocol = next;
  chain.offset = off;
  return chain;
}
