/**
 * Internet checksums for rewritten packets. The kernel does not fix checksums when a
 * verdict carries a new payload (it marks the packet CHECKSUM_NONE, so the receiver
 * verifies them): these helpers recompute the IPv4 header checksum and the TCP/UDP
 * checksums over IPv4 and IPv6, and fix the length fields when the payload changed size.
 *
 * Every function takes the packet as the kernel queues it: bytes from the network header
 * on (Packet.payload). Functions named fix* / set* write in place; nothing here allocates
 * except withTransportPayload(), which builds a new packet.
 */
import { NetfilterQueueError } from '../netlink/errors.js';
import { IPPROTO_TCP, IPPROTO_UDP } from './ip.js';
import { MAX_IPV6_EXTENSION_HEADERS, walkIpv6Headers } from './ipv6-headers.js';


/** Where the headers of an IP packet are. */
export interface IpLayout {
  /** 4 or 6. */
  version: 4 | 6;
  /** Length of the IP header (IPv6: fixed header plus the extension headers skipped). */
  ipHeaderLength: number;
  /** Transport protocol (IPv4 protocol / last IPv6 next-header). */
  protocol: number;
  /** Offset of the transport header. */
  l4Offset: number;
  /** True when this is a fragment without the transport header or with only part of the data. */
  fragment: boolean;
}

/** A packet the helpers cannot work on. */
export class ChecksumError extends NetfilterQueueError {
  override name = 'ChecksumError';
  constructor(message: string) {
    super(message, { code: 'ERR_CHECKSUM' });
  }
}

function view(b: Uint8Array): DataView {
  return new DataView(b.buffer, b.byteOffset, b.byteLength);
}

/** Finds the IP header, the transport protocol and where its header starts. */
export function ipLayout(packet: Uint8Array): IpLayout {
  if (packet.byteLength < 1) throw new ChecksumError('empty packet');
  const version = packet[0]! >> 4;
  if (version === 4) {
    if (packet.byteLength < 20) throw new ChecksumError(`IPv4 packet of ${packet.byteLength} bytes is shorter than its 20-byte header`);
    const ihl = (packet[0]! & 0x0f) * 4;
    if (ihl < 20 || ihl > packet.byteLength) throw new ChecksumError(`IPv4 header length ${ihl} is invalid for a ${packet.byteLength}-byte packet`);
    const frag = view(packet).getUint16(6, false);
    return { version: 4, ipHeaderLength: ihl, protocol: packet[9]!, l4Offset: ihl, fragment: (frag & 0x3fff) !== 0 };
  }
  if (version === 6) {
    if (packet.byteLength < 40) throw new ChecksumError(`IPv6 packet of ${packet.byteLength} bytes is shorter than its 40-byte header`);
    const chain = walkIpv6Headers(packet);
    if (chain.tooMany) throw new ChecksumError(`more than ${MAX_IPV6_EXTENSION_HEADERS} IPv6 extension headers`);
    if (chain.truncated) throw new ChecksumError('IPv6 extension headers run past the packet');
    // Offset 0 and no more fragments is an atomic fragment (RFC 6946): a whole packet.
    const fragment = chain.fragment !== undefined && (chain.fragment.offset !== 0 || chain.fragment.more);
    return { version: 6, ipHeaderLength: chain.offset, protocol: chain.protocol, l4Offset: chain.offset, fragment };
  }
  throw new ChecksumError(`not an IP packet (version ${version})`);
}

/**
 * Adds the 16-bit big-endian words of `data[start, end)` to `sum` (one's complement
 * arithmetic, unfolded). An odd last byte is padded with zero.
 */
export function sum16(data: Uint8Array, start = 0, end = data.byteLength, sum = 0): number {
  let s = sum;
  let i = start;
  const last = end - 1;
  for (; i < last; i += 2) s += (data[i]! << 8) | data[i + 1]!;
  if (i === last) s += data[i]! << 8;
  // Fold now and then would be needed only past 2^53: packets are far smaller.
  return s;
}

/** Folds a 32+-bit sum to 16 bits and complements it: the Internet checksum (RFC 1071). */
export function finishChecksum(sum: number): number {
  let s = sum;
  while (s > 0xffff) s = (s & 0xffff) + Math.floor(s / 0x10000);
  return ~s & 0xffff;
}

/** The Internet checksum of `data` (RFC 1071). */
export function internetChecksum(data: Uint8Array, start = 0, end = data.byteLength): number {
  return finishChecksum(sum16(data, start, end));
}

/** The IPv4 header checksum this packet should carry (its own checksum field counted as 0). */
export function ipv4HeaderChecksum(packet: Uint8Array): number {
  const l = ipLayout(packet);
  if (l.version !== 4) throw new ChecksumError('not an IPv4 packet');
  const s = sum16(packet, 0, l.ipHeaderLength) - ((packet[10]! << 8) | packet[11]!);
  return finishChecksum(s);
}

/** Writes the correct IPv4 header checksum into the packet. Returns the packet. */
export function fixIpv4HeaderChecksum(packet: Uint8Array): Uint8Array {
  const c = ipv4HeaderChecksum(packet);
  packet[10] = c >> 8;
  packet[11] = c & 0xff;
  return packet;
}

/** Sum of the pseudo-header (RFC 768/793 for IPv4, RFC 8200 §8.1 for IPv6). */
function pseudoHeaderSum(packet: Uint8Array, l: IpLayout, l4Length: number): number {
  if (l.version === 4) {
    return sum16(packet, 12, 20) + l.protocol + l4Length;
  }
  // Final destination: if a routing header with segments left were present the pseudo
  // header would use the last address; such packets are not rewritten in practice.
  return sum16(packet, 8, 40) + l.protocol + Math.floor(l4Length / 0x10000) + (l4Length & 0xffff);
}

function checksumFieldOffset(protocol: number): number {
  if (protocol === IPPROTO_TCP) return 16;
  if (protocol === IPPROTO_UDP) return 6;
  throw new ChecksumError(`no TCP/UDP checksum for IP protocol ${protocol}`);
}

/** The transport checksum (TCP or UDP) this packet should carry, over IPv4 or IPv6. */
export function transportChecksum(packet: Uint8Array): number {
  const l = ipLayout(packet);
  const field = checksumFieldOffset(l.protocol);
  if (l.fragment) throw new ChecksumError('cannot compute a transport checksum over a fragment');
  const l4Length = packet.byteLength - l.l4Offset;
  if (l4Length < field + 2) throw new ChecksumError(`transport header of ${l4Length} bytes is truncated`);
  const fo = l.l4Offset + field;
  const s = pseudoHeaderSum(packet, l, l4Length) + sum16(packet, l.l4Offset) - ((packet[fo]! << 8) | packet[fo + 1]!);
  let c = finishChecksum(s);
  // UDP sends a computed 0 as 0xffff (0 means "no checksum", forbidden over IPv6).
  if (l.protocol === IPPROTO_UDP && c === 0) c = 0xffff;
  return c;
}

/** The TCP checksum the packet should carry (IPv4 or IPv6). */
export function tcpChecksum(packet: Uint8Array): number {
  if (ipLayout(packet).protocol !== IPPROTO_TCP) throw new ChecksumError('not a TCP packet');
  return transportChecksum(packet);
}

/** The UDP checksum the packet should carry (IPv4 or IPv6). */
export function udpChecksum(packet: Uint8Array): number {
  if (ipLayout(packet).protocol !== IPPROTO_UDP) throw new ChecksumError('not a UDP packet');
  return transportChecksum(packet);
}

/**
 * Makes a rewritten packet consistent, in place: the IP length fields (IPv4 total length,
 * IPv6 payload length) and the UDP length are set from the packet's byte length, then the
 * IPv4 header checksum and the TCP/UDP checksum are recomputed. Packets of other
 * protocols get their IP header fixed only; fragments are refused for the transport part
 * (their checksum covers bytes that are not here). Returns the packet.
 */
export function fixChecksums(packet: Uint8Array): Uint8Array {
  const l = ipLayout(packet);
  const dv = view(packet);
  if (l.version === 4) {
    if (packet.byteLength > 0xffff) throw new ChecksumError(`IPv4 packet of ${packet.byteLength} bytes exceeds 65535`);
    dv.setUint16(2, packet.byteLength, false);
  } else {
    const pl = packet.byteLength - 40;
    if (pl > 0xffff) throw new ChecksumError(`IPv6 payload of ${pl} bytes needs a jumbogram`);
    dv.setUint16(4, pl, false);
  }
  if ((l.protocol === IPPROTO_TCP || l.protocol === IPPROTO_UDP) && !l.fragment) {
    if (l.protocol === IPPROTO_UDP) {
      if (packet.byteLength - l.l4Offset < 8) throw new ChecksumError('UDP header truncated');
      dv.setUint16(l.l4Offset + 4, packet.byteLength - l.l4Offset, false);
    }
    dv.setUint16(l.l4Offset + checksumFieldOffset(l.protocol), transportChecksum(packet), false);
  }
  if (l.version === 4) fixIpv4HeaderChecksum(packet);
  return packet;
}

/** Length of the transport header: TCP data offset, 8 for UDP. */
export function transportHeaderLength(packet: Uint8Array, layout: IpLayout = ipLayout(packet)): number {
  if (layout.protocol === IPPROTO_UDP) return 8;
  if (layout.protocol === IPPROTO_TCP) {
    if (packet.byteLength < layout.l4Offset + 20) throw new ChecksumError('TCP header truncated');
    return (packet[layout.l4Offset + 12]! >> 4) * 4;
  }
  throw new ChecksumError(`IP protocol ${layout.protocol} is neither TCP nor UDP`);
}

/** The TCP/UDP payload (application data) of a packet, as a view. */
export function transportPayload(packet: Uint8Array): Uint8Array {
  const l = ipLayout(packet);
  return packet.subarray(l.l4Offset + transportHeaderLength(packet, l));
}

/**
 * A new packet with the same IP and TCP/UDP headers and `data` as application payload,
 * of any length, with every length field and checksum fixed. For TCP, changing the
 * length shifts the sequence space: the peers will not agree unless you handle it.
 */
export function withTransportPayload(packet: Uint8Array, data: Uint8Array): Uint8Array {
  const l = ipLayout(packet);
  if (l.fragment) throw new ChecksumError('cannot rewrite the payload of a fragment');
  const hl = l.l4Offset + transportHeaderLength(packet, l);
  const out = new Uint8Array(hl + data.byteLength);
  out.set(packet.subarray(0, hl), 0);
  out.set(data, hl);
  return fixChecksums(out);
}

/** Result of verifyChecksums(): undefined where the packet has no such checksum. */
export interface ChecksumReport {
  ipv4Header: boolean | undefined;
  transport: boolean | undefined;
}

/**
 * Checks the IPv4 header checksum and the TCP/UDP checksum as a receiver would. A UDP
 * checksum of 0 over IPv4 means "none" and counts as valid. Note that packets queued
 * on output before the device computed their checksum (SKB_INFO CSUMNOTREADY) carry a
 * partial checksum that does not verify.
 */
export function verifyChecksums(packet: Uint8Array): ChecksumReport {
  const l = ipLayout(packet);
  const r: ChecksumReport = { ipv4Header: undefined, transport: undefined };
  if (l.version === 4) r.ipv4Header = internetChecksum(packet, 0, l.ipHeaderLength) === 0;
  if ((l.protocol === IPPROTO_TCP || l.protocol === IPPROTO_UDP) && !l.fragment) {
    const fo = l.l4Offset + checksumFieldOffset(l.protocol);
    if (fo + 2 <= packet.byteLength) {
      const stored = (packet[fo]! << 8) | packet[fo + 1]!;
      if (l.protocol === IPPROTO_UDP && l.version === 4 && stored === 0) r.transport = true;
      else r.transport = stored === transportChecksum(packet);
    }
  }
  return r;
}
