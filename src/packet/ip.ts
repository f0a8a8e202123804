/**
 * A small read-only decoder of IPv4 / IPv6 packets and their transport headers (TCP, UDP,
 * UDP-Lite, SCTP and DCCP ports, ICMP, ICMPv6), for showing what a queued packet is.
 *
 * Input is the packet as the kernel queues it: bytes from the network header on
 * (Packet.payload), possibly cut short by the queue's copy range. Lengths come from the
 * header fields, not from the bytes copied, so a truncated copy still reports the sizes on
 * the wire; fields whose bytes were not copied are left undefined and `truncated` is set.
 * Nothing here throws on malformed input: parseIpPacket() returns undefined for bytes that
 * are not an IP packet, and whatever could be read otherwise.
 */
import { formatIpv4, formatIpv6, icmpTypeName, ipProtocolName, isIcmpError, tcpFlagsText, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_DCCP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE } from './ip-names.js';
import { IPV6_NONE, walkIpv6Headers } from './ipv6-headers.js';

export { formatIpv4, formatIpv6, icmpTypeName, ipProtocolName, tcpFlagsText, TCP_FIN, TCP_SYN, TCP_RST, TCP_PSH, TCP_ACK, TCP_URG, TCP_ECE, TCP_CWR } from './ip-names.js';
export { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_DCCP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE } from './ip-names.js';
/** The TCP header fields worth showing. */
export interface TcpHeader {
  sport: number;
  dport: number;
  /** Sequence number (u32). */
  seq: number;
  /** Acknowledgment number (u32; meaningful with the ACK flag). */
  ack: number;
  /** Flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE 0x40, CWR 0x80. */
  flags: number;
  /** Flags as tcpdump shows them: `S`, `S.`, `P.`, `F.`, `R`, `.` … */
  flagsText: string;
  /** Receive window (unscaled). */
  window: number;
  /** Urgent pointer. */
  urgent: number;
  /** Header length in bytes, options included (data offset × 4). */
  headerLength: number;
  /** Bytes of data after the header, from the IP length fields. */
  payloadLength: number;
}

/** UDP (or UDP-Lite) header fields. */
export interface UdpHeader {
  sport: number;
  dport: number;
  /** The UDP length field (header included); 0 for jumbograms. */
  length: number;
  checksum: number;
  /** Bytes of data after the 8-byte header, from the IP length fields. */
  payloadLength: number;
}

/** ICMP or ICMPv6 header fields. */
export interface IcmpHeader {
  /** 4 for ICMP, 6 for ICMPv6. */
  version: 4 | 6;
  type: number;
  code: number;
  /** Type as a phrase, e.g. `echo request`, `destination unreachable`. */
  typeName: string;
  /** Identifier and sequence number of echo requests and replies. */
  id?: number;
  seq?: number;
  /** Bytes after the 8-byte ICMP header, from the IP length fields. */
  payloadLength: number;
  /** For error messages (unreachable, time exceeded…): the start of the packet that caused it. */
  inner?: IpPacketInfo;
}

/** What parseIpPacket() found in a packet. */
export interface IpPacketInfo {
  /** 4 or 6. */
  version: 4 | 6;
  /** Source and destination addresses as text (RFC 5952 for IPv6). */
  src: string;
  dst: string;
  /** Transport protocol number (IPv6: after any extension headers). */
  protocol: number;
  /** Transport protocol name: `tcp`, `udp`, `icmp`, `icmpv6`…, else `ip-proto-N`. */
  protocolName: string;
  /** Length of the packet on the wire according to its header (IPv4 total length, IPv6 40 + payload length). */
  length: number;
  /** Bytes of IP header (IPv6: fixed header plus extension headers). */
  headerLength: number;
  /** Time to live / hop limit. */
  ttl: number;
  /** IPv4 type of service / IPv6 traffic class. */
  tos: number;
  /** IPv4 identification; IPv6: the fragment header's identification, when present. */
  ipId?: number;
  /** IPv6 flow label. */
  flowLabel?: number;
  /** IPv4 Don't Fragment bit. */
  dontFragment?: boolean;
  /** Fragment offset in bytes and the More Fragments flag, for fragments only. */
  fragment?: { offset: number; more: boolean };
  /** Offset of the transport header in the bytes given. */
  transportOffset: number;
  /** Transport payload length (after the transport header) when known; else IP payload length. */
  payloadLength: number;
  /** Source and destination ports (TCP, UDP, UDP-Lite, SCTP, DCCP). */
  sport?: number;
  dport?: number;
  tcp?: TcpHeader;
  udp?: UdpHeader;
  icmp?: IcmpHeader;
  /** True when the bytes given end before the headers this decoder wanted to read. */
  truncated: boolean;
}

export {
  IPV6_HOPOPTS,
  IPV6_ROUTING,
  IPV6_FRAGMENT,
  IPV6_ESP,
  IPV6_AH,
  IPV6_DSTOPTS,
  IPV6_MOBILITY,
  IPV6_NONE,
  MAX_IPV6_EXTENSION_HEADERS,
} from './ipv6-headers.js';

/**
 * Decodes the IP header and the transport header of `packet` (bytes from the network header
 * on). `wireLength` is the packet's length before any truncation (Packet.length), used when
 * the header's own length field cannot be (GSO or jumbo packets). Returns undefined when
 * the bytes are not IPv4 or IPv6 (or too short for the fixed IP header).
 */
export function parseIpPacket(packet: Uint8Array, wireLength?: number): IpPacketInfo | undefined {
  return parse(packet, wireLength, 0);
}

function parse(b: Uint8Array, wireLength: number | undefined, depth: number): IpPacketInfo | undefined {
  const n = b.byteLength;
  if (n < 1) return undefined;
  const v = new DataView(b.buffer, b.byteOffset, n);
  const version = b[0]! >> 4;
  let info: IpPacketInfo;
  let fragOffset = 0;
  if (version === 4) {
    if (n < 20) return undefined;
    const ihl = (b[0]! & 0x0f) * 4;
    if (ihl < 20) return undefined;
    let total = v.getUint16(2, false);
    // GSO super-packets may carry 0 (or a length smaller than the header): fall back to what we know.
    if (total < ihl) total = wireLength ?? n;
    const frag = v.getUint16(6, false);
    fragOffset = (frag & 0x1fff) * 8;
    const protocol = b[9]!;
    info = {
      version: 4,
      src: formatIpv4(b, 12),
      dst: formatIpv4(b, 16),
      protocol,
      protocolName: ipProtocolName(protocol),
      length: total,
      headerLength: ihl,
      ttl: b[8]!,
      tos: b[1]!,
      ipId: v.getUint16(4, false),
      dontFragment: (frag & 0x4000) !== 0,
      transportOffset: ihl,
      payloadLength: Math.max(0, total - ihl),
      truncated: ihl > n,
    };
    if ((frag & 0x3fff) !== 0) info.fragment = { offset: fragOffset, more: (frag & 0x2000) !== 0 };
  } else if (version === 6) {
    if (n < 40) return undefined;
    const word = v.getUint32(0, false);
    const plen = v.getUint16(4, false);
    // Payload length 0: a jumbogram or a GSO packet; use the length we were told.
    const total = plen === 0 && (wireLength ?? n) > 40 ? (wireLength ?? n) : 40 + plen;
    const chain = walkIpv6Headers(b);
    const next = chain.protocol;
    const off = chain.offset;
    if (chain.fragment !== undefined) fragOffset = chain.fragment.offset;
    info = {
      version: 6,
      src: formatIpv6(b, 8),
      dst: formatIpv6(b, 24),
      protocol: next,
      protocolName: ipProtocolName(next),
      length: total,
      headerLength: off,
      ttl: b[7]!,
      tos: (word >>> 20) & 0xff,
      flowLabel: word & 0xfffff,
      transportOffset: off,
      payloadLength: Math.max(0, total - off),
      truncated: chain.truncated || off > n,
    };
    if (chain.fragment !== undefined) {
      info.ipId = chain.fragment.id;
      info.fragment = { offset: chain.fragment.offset, more: chain.fragment.more };
    }
    if (next === IPV6_NONE) return info;
  } else {
    return undefined;
  }
  // Only the first fragment holds the transport header.
  if (info.truncated || fragOffset !== 0) return info;
  transport(info, b, v, depth);
  return info;
}

function transport(info: IpPacketInfo, b: Uint8Array, v: DataView, depth: number): void {
  const n = b.byteLength;
  const o = info.transportOffset;
  // Bytes of transport header plus data on the wire, from the IP length fields.
  const l4len = Math.max(0, info.length - o);
  const need = (k: number): boolean => {
    if (o + k <= n) return true;
    info.truncated = true;
    return false;
  };
  switch (info.protocol) {
    case IPPROTO_TCP: {
      if (!need(4)) return;
      info.sport = v.getUint16(o, false);
      info.dport = v.getUint16(o + 2, false);
      if (!need(20)) return;
      const hl = (b[o + 12]! >> 4) * 4;
      const flags = b[o + 13]!;
      info.tcp = {
        sport: info.sport,
        dport: info.dport,
        seq: v.getUint32(o + 4, false),
        ack: v.getUint32(o + 8, false),
        flags,
        flagsText: tcpFlagsText(flags),
        window: v.getUint16(o + 14, false),
        urgent: v.getUint16(o + 18, false),
        headerLength: hl,
        payloadLength: Math.max(0, l4len - hl),
      };
      info.payloadLength = info.tcp.payloadLength;
      return;
    }
    case IPPROTO_UDP:
    case IPPROTO_UDPLITE: {
      if (!need(4)) return;
      info.sport = v.getUint16(o, false);
      info.dport = v.getUint16(o + 2, false);
      if (!need(8)) return;
      const length = v.getUint16(o + 4, false);
      // UDP-Lite's length field is the checksum coverage: the IP length tells the data length.
      const data = info.protocol === IPPROTO_UDP && length >= 8 && length <= l4len ? length - 8 : Math.max(0, l4len - 8);
      info.udp = { sport: info.sport, dport: info.dport, length, checksum: v.getUint16(o + 6, false), payloadLength: data };
      info.payloadLength = data;
      return;
    }
    case IPPROTO_SCTP:
    case IPPROTO_DCCP:
      if (!need(4)) return;
      info.sport = v.getUint16(o, false);
      info.dport = v.getUint16(o + 2, false);
      return;
    case IPPROTO_ICMP:
    case IPPROTO_ICMPV6: {
      const ver: 4 | 6 = info.protocol === IPPROTO_ICMP ? 4 : 6;
      if (!need(4)) return;
      const type = b[o]!;
      const icmp: IcmpHeader = { version: ver, type, code: b[o + 1]!, typeName: icmpTypeName(ver, type), payloadLength: Math.max(0, l4len - 8) };
      const echo = ver === 4 ? type === 0 || type === 8 || type === 13 || type === 14 : type === 128 || type === 129;
      if (o + 8 <= n) {
        if (echo) {
          icmp.id = v.getUint16(o + 4, false);
          icmp.seq = v.getUint16(o + 6, false);
        } else if (isIcmpError(ver, type) && depth === 0 && o + 8 < n) {
          const inner = parse(b.subarray(o + 8), undefined, depth + 1);
          if (inner !== undefined) icmp.inner = inner;
        }
      } else if (echo) info.truncated = true;
      info.icmp = icmp;
      info.payloadLength = icmp.payloadLength;
      return;
    }
    default:
      return;
  }
}
