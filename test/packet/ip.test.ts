// The IPv4/IPv6/L4 header decoder behind nfq-dump's output (src/packet/ip.ts), on packets
// built byte by byte here. No privileges.
import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { parseIpPacket, tcpFlagsText, ipProtocolName, icmpTypeName } from '../../src/packet/index.js';
import { formatIpv4, formatIpv6 } from '../../src/packet/ip-names.js';
import { hex } from '../support/bytes.js';


/** An IPv4 header (20 bytes) followed by `l4`. */
function ipv4(proto: number, l4: Uint8Array, o: { src?: number[]; dst?: number[]; ttl?: number; id?: number; frag?: number; totalLength?: number } = {}): Uint8Array {
  const b = new Uint8Array(20 + l4.length);
  const v = new DataView(b.buffer);
  b[0] = 0x45;
  v.setUint16(2, o.totalLength ?? b.length);
  v.setUint16(4, o.id ?? 0x1234);
  v.setUint16(6, o.frag ?? 0x4000);
  b[8] = o.ttl ?? 64;
  b[9] = proto;
  b.set(o.src ?? [10, 0, 0, 1], 12);
  b.set(o.dst ?? [10, 0, 0, 2], 16);
  b.set(l4, 20);
  return b;
}

/** An IPv6 header (40 bytes) with next header `next`, followed by `rest`. */
function ipv6(next: number, rest: Uint8Array, o: { src?: string; dst?: string; hlim?: number; payloadLength?: number } = {}): Uint8Array {
  const b = new Uint8Array(40 + rest.length);
  const v = new DataView(b.buffer);
  v.setUint32(0, 0x60012345);
  v.setUint16(4, o.payloadLength ?? rest.length);
  b[6] = next;
  b[7] = o.hlim ?? 64;
  b.set(hex(o.src ?? '20010db8000000000000000000000001'), 8);
  b.set(hex(o.dst ?? '00000000000000000000000000000001'), 24);
  b.set(rest, 40);
  return b;
}

function udp(sport: number, dport: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  v.setUint16(4, b.length);
  b.set(data, 8);
  return b;
}

function tcp(sport: number, dport: number, seq: number, ack: number, flags: number, data: Uint8Array, win = 512): Uint8Array {
  const b = new Uint8Array(20 + data.length);
  const v = new DataView(b.buffer);
  v.setUint16(0, sport);
  v.setUint16(2, dport);
  v.setUint32(4, seq);
  v.setUint32(8, ack);
  b[12] = 5 << 4;
  b[13] = flags;
  v.setUint16(14, win);
  b.set(data, 20);
  return b;
}

function icmpEcho(type: number, id: number, seq: number, data: Uint8Array): Uint8Array {
  const b = new Uint8Array(8 + data.length);
  const v = new DataView(b.buffer);
  b[0] = type;
  v.setUint16(4, id);
  v.setUint16(6, seq);
  b.set(data, 8);
  return b;
}

describe('parseIpPacket', () => {
  it('decodes IPv4 UDP: addresses, ports, lengths, ttl, id, DF', () => {
    const p = ipv4(17, udp(5353, 53, new Uint8Array(12)), { src: [192, 168, 1, 10], dst: [8, 8, 8, 8], ttl: 17, id: 0xbeef });
    const ip = parseIpPacket(p)!;
    expect(ip).toMatchObject({ version: 4, src: '192.168.1.10', dst: '8.8.8.8', protocol: 17, protocolName: 'udp', length: 40, headerLength: 20, ttl: 17, ipId: 0xbeef, dontFragment: true, sport: 5353, dport: 53, payloadLength: 12, truncated: false });
    expect(ip.udp).toMatchObject({ sport: 5353, dport: 53, length: 20, payloadLength: 12 });
    expect(ip.fragment).toBeUndefined();
  });

  it('decodes IPv4 TCP flags, sequence numbers, window and data length', () => {
    const ip = parseIpPacket(ipv4(6, tcp(40000, 443, 0xfffffff0, 7, 0x18, new Uint8Array(30), 1000)))!;
    expect(ip.tcp).toMatchObject({ sport: 40000, dport: 443, seq: 0xfffffff0, ack: 7, flags: 0x18, flagsText: 'P.', window: 1000, headerLength: 20, payloadLength: 30 });
    expect(ip.payloadLength).toBe(30);
  });

  it('takes lengths from the headers, not from a truncated copy', () => {
    const full = ipv4(17, udp(1, 2, new Uint8Array(1000)));
    const ip = parseIpPacket(full.subarray(0, 40), full.length)!;
    expect(ip).toMatchObject({ length: 1028, payloadLength: 1000, sport: 1, dport: 2, truncated: false });
    // Cut inside the UDP header: ports still read, the rest flagged.
    const cut = parseIpPacket(full.subarray(0, 24))!;
    expect(cut).toMatchObject({ sport: 1, dport: 2, truncated: true });
    expect(cut.udp).toBeUndefined();
  });

  it('falls back to the wire length for GSO packets whose total length is 0', () => {
    const p = ipv4(6, tcp(1, 2, 0, 0, 0x10, new Uint8Array(100)), { totalLength: 0 });
    expect(parseIpPacket(p, 70000)!).toMatchObject({ length: 70000, payloadLength: 70000 - 40 });
  });

  it('decodes ICMP echo id/seq and ICMP errors with the packet they quote', () => {
    const echo = parseIpPacket(ipv4(1, icmpEcho(8, 0x4242, 7, new Uint8Array(56))))!;
    expect(echo.icmp).toMatchObject({ version: 4, type: 8, code: 0, typeName: 'echo request', id: 0x4242, seq: 7, payloadLength: 56 });
    expect(echo.sport).toBeUndefined();

    const quoted = ipv4(17, udp(33333, 9, new Uint8Array(4)), { src: [127, 0, 0, 1], dst: [127, 0, 0, 1] });
    const err = new Uint8Array(8 + quoted.length);
    err[0] = 3;
    err[1] = 3;
    err.set(quoted, 8);
    const unreach = parseIpPacket(ipv4(1, err))!;
    expect(unreach.icmp).toMatchObject({ type: 3, code: 3, typeName: 'destination unreachable' });
    expect(unreach.icmp!.inner).toMatchObject({ src: '127.0.0.1', dst: '127.0.0.1', protocol: 17, sport: 33333, dport: 9 });
  });

  it('decodes IPv6 UDP, TCP and ICMPv6 echo', () => {
    const u = parseIpPacket(ipv6(17, udp(1000, 2000, new Uint8Array(5))))!;
    expect(u).toMatchObject({ version: 6, src: '2001:db8::1', dst: '::1', protocol: 17, length: 53, ttl: 64, flowLabel: 0x12345, sport: 1000, dport: 2000, payloadLength: 5 });
    const t = parseIpPacket(ipv6(6, tcp(1, 80, 1, 0, 0x02, new Uint8Array(0))))!;
    expect(t.tcp?.flagsText).toBe('S');
    const e = parseIpPacket(ipv6(58, icmpEcho(129, 5, 6, new Uint8Array(10))))!;
    expect(e.icmp).toMatchObject({ version: 6, type: 129, typeName: 'echo reply', id: 5, seq: 6 });
    expect(e.protocolName).toBe('icmpv6');
  });

  it('skips IPv6 extension headers and reports fragments', () => {
    // Hop-by-hop (8 bytes) then a fragment header (first fragment, more follow), then UDP.
    const hbh = hex('2c00 0000 0000 0000'); // next = 44 (fragment)
    const frag = hex('1100 0001 deadbeef'); // next = 17, offset 0, M=1, id 0xdeadbeef
    const rest = new Uint8Array([...hbh, ...frag, ...udp(7, 8, new Uint8Array(3))]);
    const ip = parseIpPacket(ipv6(0, rest))!;
    expect(ip).toMatchObject({ protocol: 17, headerLength: 56, sport: 7, dport: 8, ipId: 0xdeadbeef, fragment: { offset: 0, more: true } });
    // A later fragment has no transport header.
    const later = parseIpPacket(ipv4(17, new Uint8Array(16), { frag: 0x0010 }))!;
    expect(later.fragment).toEqual({ offset: 128, more: false });
    expect(later.sport).toBeUndefined();
  });

  it('returns undefined for bytes that are not IP, and never throws on garbage', () => {
    expect(parseIpPacket(new Uint8Array(0))).toBeUndefined();
    expect(parseIpPacket(hex('0806 0001'))).toBeUndefined();
    expect(parseIpPacket(new Uint8Array(19).fill(0x45))).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.option(fc.nat(100000), { nil: undefined }), (b, wire) => {
        const ip = parseIpPacket(b, wire);
        if (ip !== undefined) expect([4, 6]).toContain(ip.version);
      }),
      { numRuns: 3000 },
    );
  });
});

describe('address and name helpers', () => {
  it('formats IPv6 per RFC 5952', () => {
    const f = (h: string): string => formatIpv6(hex(h));
    expect(f('00000000000000000000000000000001')).toBe('::1');
    expect(f('00000000000000000000000000000000')).toBe('::');
    expect(f('20010db8000000000001000000000001')).toBe('2001:db8::1:0:0:1');
    expect(f('20010db8000100000000000000000001')).toBe('2001:db8:1::1');
    expect(f('fe800000000000000000000000000000')).toBe('fe80::');
    expect(f('20010db8000100010001000100010001')).toBe('2001:db8:1:1:1:1:1:1');
    expect(f('20010db8000000010001000100010001')).toBe('2001:db8:0:1:1:1:1:1');
    expect(f('00000000000000000000ffff7f000001')).toBe('::ffff:127.0.0.1');
    expect(formatIpv4(new Uint8Array([1, 2, 3, 4]))).toBe('1.2.3.4');
  });

  it('names protocols, ICMP types and TCP flags like tcpdump', () => {
    expect(ipProtocolName(6)).toBe('tcp');
    expect(ipProtocolName(47)).toBe('gre');
    expect(ipProtocolName(253)).toBe('ip-proto-253');
    expect(icmpTypeName(4, 11)).toBe('time exceeded');
    expect(icmpTypeName(6, 135)).toBe('neighbor solicitation');
    expect(icmpTypeName(4, 99)).toBe('type 99');
    expect(tcpFlagsText(0x12)).toBe('S.');
    expect(tcpFlagsText(0x11)).toBe('F.');
    expect(tcpFlagsText(0x04)).toBe('R');
    expect(tcpFlagsText(0)).toBe('none');
  });
});
