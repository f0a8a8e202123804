/**
 * Builders of small, valid IP packets for tests: UDP and TCP over IPv4 or IPv6 (chosen by
 * the address format), every length and checksum filled in. Pure.
 */
import { fixChecksums } from '../packet/checksum.js';
import { IPPROTO_TCP, IPPROTO_UDP } from '../packet/ip.js';

/** Addresses, ports and payload of a test packet. */
export interface TestPacketSpec {
  /** Source address, IPv4 dotted or IPv6 (default 127.0.0.1, or ::1 when dst is IPv6). */
  src?: string;
  /** Destination address (default 127.0.0.1, or ::1 when src is IPv6). */
  dst?: string;
  srcPort?: number;
  dstPort?: number;
  /** Application data: bytes, or a string (UTF-8). */
  payload?: Uint8Array | string;
  /** IPv4 TTL / IPv6 hop limit (default 64). */
  ttl?: number;
}

/** A TCP packet's spec: flags as letters (default 'S'), e.g. 'SA', 'PA', 'F', 'R'. */
export interface TestTcpSpec extends TestPacketSpec {
  flags?: string;
  seq?: number;
  ack?: number;
}

function ipv4(s: string): number[] | undefined {
  const p = s.split('.');
  if (p.length !== 4 || p.some((x) => !/^\d{1,3}$/.test(x) || Number(x) > 255)) return undefined;
  return p.map(Number);
}

function ipv6(s: string): number[] | undefined {
  if (!/^[0-9a-f:]+$/i.test(s) || s.split('::').length > 2) return undefined;
  const [head, tail] = s.includes('::') ? s.split('::') : [s, undefined];
  const groups = (t: string | undefined): string[] => (t === undefined || t === '' ? [] : t.split(':'));
  const h = groups(head);
  const t = groups(tail);
  const fill = 8 - h.length - t.length;
  if (tail === undefined ? fill !== 0 : fill < 1) return undefined;
  const all = [...h, ...Array<string>(tail === undefined ? 0 : fill).fill('0'), ...t];
  if (all.some((g) => !/^[0-9a-f]{1,4}$/i.test(g))) return undefined;
  return all.flatMap((g) => [parseInt(g, 16) >> 8, parseInt(g, 16) & 0xff]);
}

function address(s: string, name: string): number[] {
  const a = ipv4(s) ?? ipv6(s);
  if (a === undefined) throw new TypeError(`${name} must be an IPv4 or IPv6 address, got ${JSON.stringify(s)}`);
  return a;
}

function port(v: number | undefined, dflt: number, name: string): number {
  if (v === undefined) return dflt;
  if (!Number.isInteger(v) || v < 0 || v > 0xffff) throw new RangeError(`${name} must be a port in 0..65535, got ${String(v)}`);
  return v;
}

function build(spec: TestPacketSpec, protocol: number, l4: Uint8Array): Uint8Array {
  const v6 = (spec.src ?? spec.dst ?? '').includes(':');
  const src = address(spec.src ?? (v6 ? '::1' : '127.0.0.1'), 'src');
  const dst = address(spec.dst ?? (v6 ? '::1' : '127.0.0.1'), 'dst');
  if (src.length !== dst.length) throw new TypeError('src and dst must both be IPv4 or both IPv6');
  const data = typeof spec.payload === 'string' ? new TextEncoder().encode(spec.payload) : (spec.payload ?? new Uint8Array(0));
  const hl = src.length === 4 ? 20 : 40;
  const out = new Uint8Array(hl + l4.byteLength + data.byteLength);
  const ttl = spec.ttl ?? 64;
  if (hl === 20) {
    out.set([0x45, 0, 0, 0, 0, 0, 0x40, 0, ttl, protocol, 0, 0, ...src, ...dst]); // DF set, lengths filled by fixChecksums
  } else {
    out.set([0x60, 0, 0, 0, 0, 0, protocol, ttl, ...src, ...dst]);
  }
  out.set(l4, hl);
  out.set(data, hl + l4.byteLength);
  return fixChecksums(out);
}

/** A UDP datagram in an IP packet (default ports 40000 → 53). */
export function udpPacket(spec: TestPacketSpec = {}): Uint8Array {
  const sp = port(spec.srcPort, 40000, 'srcPort');
  const dp = port(spec.dstPort, 53, 'dstPort');
  return build(spec, IPPROTO_UDP, Uint8Array.of(sp >> 8, sp & 0xff, dp >> 8, dp & 0xff, 0, 0, 0, 0));
}

const TCP_FLAGS: Readonly<Record<string, number>> = { F: 0x01, S: 0x02, R: 0x04, P: 0x08, A: 0x10, U: 0x20, E: 0x40, C: 0x80 };

/** A TCP segment in an IP packet (default ports 40000 → 80, flags 'S'). */
export function tcpPacket(spec: TestTcpSpec = {}): Uint8Array {
  const sp = port(spec.srcPort, 40000, 'srcPort');
  const dp = port(spec.dstPort, 80, 'dstPort');
  let flags = 0;
  for (const c of spec.flags ?? 'S') {
    const bit = TCP_FLAGS[c.toUpperCase()];
    if (bit === undefined) throw new TypeError(`TCP flag letters are F S R P A U E C, got ${JSON.stringify(spec.flags)}`);
    flags |= bit;
  }
  const h = new Uint8Array(20);
  const v = new DataView(h.buffer);
  v.setUint16(0, sp);
  v.setUint16(2, dp);
  v.setUint32(4, (spec.seq ?? 1) >>> 0);
  v.setUint32(8, (spec.ack ?? 0) >>> 0);
  h[12] = 5 << 4;
  h[13] = flags;
  v.setUint16(14, 65535);
  return build(spec, IPPROTO_TCP, h);
}
