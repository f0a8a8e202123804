// Checksums against known answers that owe nothing to this library: packets the kernel
// checksummed (the fixtures' recordings) and packets built with an independent
// one's-complement sum (scripts/checksum-vectors.py), with tshark's verdict on each kept in
// fixtures/checksums/vectors.json. TCP and UDP over IPv4 and IPv6, with hop-by-hop,
// destination options, routing, fragment, AH, Mobility and ESP headers. No root, no tshark.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { fixChecksums, verifyChecksums, type ChecksumReport } from '../../src/packet/index.js';
import { ipLayout } from '../../src/packet/checksum.js';
import { hex, toHex } from '../support/bytes.js';

type Status = 'good' | 'bad' | 'unverified' | 'absent' | 'illegal' | null;
interface Vector {
  name: string;
  hex: string;
  tshark: { ipv4Header: Status; udp: Status; tcp: Status; protocols: string };
}
const vectors = (JSON.parse(readFileSync(new URL('../../fixtures/checksums/vectors.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;

/** What verifyChecksums() must say, given tshark's verdict. */
function expected(t: Vector['tshark']): ChecksumReport {
  const verdict = (s: Status): boolean | undefined => {
    if (s === 'good' || s === 'absent') return true; // absent: a UDP checksum of 0 over IPv4 means none
    if (s === 'bad' || s === 'illegal') return false; // illegal: a UDP checksum of 0 over IPv6
    return undefined; // unverified (a fragment) or no such header
  };
  return { ipv4Header: verdict(t.ipv4Header), transport: verdict(t.udp ?? t.tcp) };
}

describe('checksum known answers (kernel, independent builder, tshark)', () => {
  it('the data covers what it claims', () => {
    const names = vectors.map((v) => v.name).join('\n');
    for (const what of ['kernel: ', 'hop-by-hop', 'destination options', 'routing', 'atomic fragment', 'non-first fragment', 'AH', 'Mobility', 'ESP', 'zero checksum']) {
      expect(names).toContain(what);
    }
    for (const proto of ['ipv4 udp', 'ipv4 tcp', 'ipv6 udp', 'ipv6 tcp']) expect(names).toContain(proto);
    expect(vectors.filter((v) => v.tshark.udp === 'bad' || v.tshark.tcp === 'bad').length).toBeGreaterThan(10);
  });

  it.each(vectors.map((v) => [v.name, v] as const))('verifyChecksums agrees with tshark: %s', (_name, v) => {
    expect(verifyChecksums(hex(v.hex))).toEqual(expected(v.tshark));
  });

  const good = vectors.filter((v) => (v.tshark.udp === 'good' || v.tshark.tcp === 'good') && v.tshark.ipv4Header !== 'bad');
  it.each(good.map((v) => [v.name, v] as const))('fixChecksums restores the exact bytes: %s', (_name, v) => {
    const want = hex(v.hex);
    const p = hex(v.hex);
    const l = ipLayout(p);
    const field = l.l4Offset + (l.protocol === 6 ? 16 : 6);
    p[field] = 0x12;
    p[field + 1] = 0x34;
    if (l.version === 4) p[10] = p[11] = 0;
    expect(toHex(fixChecksums(p))).toBe(toHex(want));
  });
});
