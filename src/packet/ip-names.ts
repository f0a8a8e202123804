/**
 * Names and text forms for IP packets, as tcpdump shows them: protocol and ICMP type names,
 * TCP flag letters, IPv4 and IPv6 addresses.
 */

/**
 * IP protocol numbers (IANA) this library looks into or matches in rules. Their one home:
 * the decoder, the checksums and nf_tables' rules import them from here.
 */
export const IPPROTO_ICMP = 1;
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_DCCP = 33;
export const IPPROTO_ICMPV6 = 58;
export const IPPROTO_SCTP = 132;
export const IPPROTO_UDPLITE = 136;

/** TCP header flag bits (byte 13 of the header, plus NS from byte 12). */
export const TCP_FIN = 0x01;
export const TCP_SYN = 0x02;
export const TCP_RST = 0x04;
export const TCP_PSH = 0x08;
export const TCP_ACK = 0x10;
export const TCP_URG = 0x20;
export const TCP_ECE = 0x40;
export const TCP_CWR = 0x80;

const PROTOCOL_NAMES: Readonly<Record<number, string>> = {
  0: 'hopopt',
  1: 'icmp',
  2: 'igmp',
  4: 'ipip',
  6: 'tcp',
  17: 'udp',
  33: 'dccp',
  41: 'ipv6',
  43: 'ipv6-route',
  44: 'ipv6-frag',
  47: 'gre',
  50: 'esp',
  51: 'ah',
  58: 'icmpv6',
  59: 'ipv6-nonxt',
  60: 'ipv6-opts',
  89: 'ospf',
  103: 'pim',
  112: 'vrrp',
  115: 'l2tp',
  132: 'sctp',
  136: 'udplite',
  137: 'mpls-in-ip',
  143: 'ethernet',
};

/** Name of an IP protocol number (`6` → `tcp`, `58` → `icmpv6`), else `ip-proto-N`. */
export function ipProtocolName(protocol: number): string {
  return PROTOCOL_NAMES[protocol] ?? `ip-proto-${protocol}`;
}

const ICMP_TYPES: Readonly<Record<number, string>> = {
  0: 'echo reply',
  3: 'destination unreachable',
  4: 'source quench',
  5: 'redirect',
  8: 'echo request',
  9: 'router advertisement',
  10: 'router solicitation',
  11: 'time exceeded',
  12: 'parameter problem',
  13: 'timestamp request',
  14: 'timestamp reply',
  17: 'address mask request',
  18: 'address mask reply',
  42: 'extended echo request',
  43: 'extended echo reply',
};

const ICMPV6_TYPES: Readonly<Record<number, string>> = {
  1: 'destination unreachable',
  2: 'packet too big',
  3: 'time exceeded',
  4: 'parameter problem',
  128: 'echo request',
  129: 'echo reply',
  130: 'multicast listener query',
  131: 'multicast listener report',
  132: 'multicast listener done',
  133: 'router solicitation',
  134: 'router advertisement',
  135: 'neighbor solicitation',
  136: 'neighbor advertisement',
  137: 'redirect',
  143: 'multicast listener report v2',
  160: 'extended echo request',
  161: 'extended echo reply',
};

/** Name of an ICMP (version 4) or ICMPv6 (version 6) message type, else `type N`. */
export function icmpTypeName(version: 4 | 6, type: number): string {
  return (version === 4 ? ICMP_TYPES : ICMPV6_TYPES)[type] ?? `type ${type}`;
}

/** True for ICMP / ICMPv6 error messages, which quote the packet that caused them. */
export function isIcmpError(version: 4 | 6, type: number): boolean {
  return version === 4 ? type === 3 || type === 4 || type === 5 || type === 11 || type === 12 : type >= 1 && type <= 4;
}

/** tcpdump's rendering of TCP flags: S F R P U E W letters, `.` for ACK, `none` for zero. */
export function tcpFlagsText(flags: number): string {
  let s = '';
  if (flags & TCP_SYN) s += 'S';
  if (flags & TCP_FIN) s += 'F';
  if (flags & TCP_RST) s += 'R';
  if (flags & TCP_PSH) s += 'P';
  if (flags & TCP_URG) s += 'U';
  if (flags & TCP_ECE) s += 'E';
  if (flags & TCP_CWR) s += 'W';
  if (flags & TCP_ACK) s += '.';
  return s === '' ? 'none' : s;
}

/** `a.b.c.d` from 4 bytes at `off`. */
export function formatIpv4(b: Uint8Array, off = 0): string {
  return `${b[off]}.${b[off + 1]}.${b[off + 2]}.${b[off + 3]}`;
}

/** RFC 5952 text of the 16-byte IPv6 address at `off`: lower case, longest zero run as `::`, IPv4-mapped as `::ffff:a.b.c.d`. */
export function formatIpv6(b: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((b[off + 2 * i]! << 8) | b[off + 2 * i + 1]!);
  // ::ffff:a.b.c.d (IPv4-mapped)
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${formatIpv4(b, off + 12)}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8; ) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (x: number): string => x.toString(16);
  if (bestLen < 2) return g.map(hex).join(':');
  const head = g.slice(0, bestStart).map(hex).join(':');
  const tail = g.slice(bestStart + bestLen).map(hex).join(':');
  return `${head}::${tail}`;
}

