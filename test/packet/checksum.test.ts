// Checksum helpers checked against an independent verifier: packets built and fixed by the
// helpers are written to a LINKTYPE_RAW pcap and validated by tshark; plus known vectors.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ChecksumError, fixChecksums, internetChecksum, ipv4HeaderChecksum, tcpChecksum, udpChecksum, verifyChecksums, withTransportPayload, transportPayload } from '../../src/packet/index.js';
import { execCommand as sh } from '../support/netns.js';

function ipv4(proto: number, l4: Uint8Array): Uint8Array {
  const p = new Uint8Array(20 + l4.length);
  p.set([0x45, 0, 0, 0, 0x12, 0x34, 0x40, 0, 64, proto, 0, 0, 10, 202, 1, 1, 10, 202, 1, 2]);
  p.set(l4, 20);
  return p;
}
function ipv6(next: number, l4: Uint8Array): Uint8Array {
  const p = new Uint8Array(40 + l4.length);
  p.set([0x60, 0, 0, 0, 0, 0, next, 64]);
  p.set([0xfd, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1], 8);
  p.set([0xfd, 0, 2, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2], 24);
  p.set(l4, 40);
  return p;
}
function udp(data: string): Uint8Array {
  const d = Buffer.from(data);
  const u = new Uint8Array(8 + d.length);
  u.set([0x30, 0x39, 0x1b, 0x59, 0, 0, 0xde, 0xad]); // wrong length and checksum on purpose
  u.set(d, 8);
  return u;
}
function tcp(data: string): Uint8Array {
  const d = Buffer.from(data);
  const t = new Uint8Array(20 + d.length);
  t.set([0x30, 0x39, 0x1b, 0x59, 0, 0, 0, 1, 0, 0, 0, 0, 0x50, 0x18, 0xff, 0xff, 0xbe, 0xef, 0, 0]);
  t.set(d, 20);
  return t;
}

function rawPcap(packets: Uint8Array[]): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(0xa1b2c3d4, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeUInt32LE(65535, 16);
  head.writeUInt32LE(101, 20); // LINKTYPE_RAW
  const recs = packets.map((p) => {
    const h = Buffer.alloc(16);
    h.writeUInt32LE(p.length, 8);
    h.writeUInt32LE(p.length, 12);
    return Buffer.concat([h, Buffer.from(p)]);
  });
  return Buffer.concat([head, ...recs]);
}

describe('checksum helpers', () => {
  it('RFC 1071 example and a known IPv4 header', () => {
    expect(internetChecksum(Uint8Array.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]))).toBe(~0xddf2 & 0xffff);
    // Header from Wikipedia's IPv4 checksum example: checksum 0xb861.
    const h = Uint8Array.from(Buffer.from('450000730000400040110000c0a80001c0a800c7', 'hex'));
    expect(ipv4HeaderChecksum(h)).toBe(0xb861);
  });

  it('fixes same-length and resized TCP/UDP over IPv4 and IPv6; tshark agrees', () => {
    const pkts = [
      fixChecksums(ipv4(17, udp('hello-0'))),
      fixChecksums(ipv4(6, tcp('hello-tcp'))),
      fixChecksums(ipv6(17, udp('hello-6'))),
      fixChecksums(ipv6(6, tcp('hello-tcp6'))),
      withTransportPayload(fixChecksums(ipv4(17, udp('hello'))), Buffer.from('a much longer payload, odd length!')),
      withTransportPayload(fixChecksums(ipv4(6, tcp('hello'))), Buffer.from('x')),
      withTransportPayload(fixChecksums(ipv6(17, udp('hello'))), Buffer.from('')),
      withTransportPayload(fixChecksums(ipv6(6, tcp('hello world'))), Buffer.from('HELLO WORLD, longer')),
    ];
    for (const p of pkts) expect(verifyChecksums(p).transport).toBe(true);
    expect(Buffer.from(transportPayload(pkts[4]!)).toString()).toBe('a much longer payload, odd length!');
    expect(udpChecksum(pkts[0]!)).toBe((pkts[0]![26]! << 8) | pkts[0]![27]!);
    expect(tcpChecksum(pkts[3]!)).toBe((pkts[3]![56]! << 8) | pkts[3]![57]!);
    const dir = mkdtempSync(join(tmpdir(), 'nfq-csum-'));
    try {
      const file = join(dir, 'c.pcap');
      writeFileSync(file, rawPcap(pkts));
      const out = sh([
        'tshark', '-r', file, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE', '-o', 'tcp.check_checksum:TRUE',
        '-T', 'fields', '-E', 'separator=|', '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'tcp.checksum.status', '-e', 'ip.len', '-e', 'ipv6.plen',
      ]);
      const rows = out.trim().split('\n').map((l) => l.split('|'));
      expect(rows).toHaveLength(pkts.length);
      rows.forEach(([ip, u, t, ipLen, plen], i) => {
        const p = pkts[i]!;
        if ((p[0]! >> 4) === 4) {
          expect(ip).toBe('1');
          expect(Number(ipLen)).toBe(p.length);
        } else expect(Number(plen)).toBe(p.length - 40);
        expect(u === '1' || t === '1').toBe(true);
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a stale checksum is detected, fragments and other protocols are refused', () => {
    const p = fixChecksums(ipv4(17, udp('hello')));
    p[30] = p[30]! ^ 0xff;
    expect(verifyChecksums(p)).toEqual({ ipv4Header: true, transport: false });
    const frag = fixChecksums(ipv4(17, udp('hello')));
    frag[6] = 0x20; // more fragments
    expect(() => udpChecksum(frag)).toThrow(ChecksumError);
    expect(() => tcpChecksum(fixChecksums(ipv4(1, new Uint8Array(8))))).toThrow(/not a TCP/);
  });
});
