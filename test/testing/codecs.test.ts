/**
 * The test kit's codecs against the independent test-side encoders: the packet encoder
 * writes the same bytes as test/support/kernel-packet.ts, the verdict decoder inverts
 * encodeVerdict / encodeBatchVerdict, and capture records unwrap to their IP packets.
 */
import { describe, it, expect } from 'vitest';
import fc from 'fast-check';
import { MessageWriter } from '../../src/netlink/writer.js';
import { encodeVerdict, encodeBatchVerdict } from '../../src/nfqueue/verdict.js';
import { decodePacket } from '../../src/nfqueue/packet.js';
import { PcapWriter, readPcap, LINKTYPE_RAW } from '../../src/pcap/index.js';
import { udpPacket, tcpPacket } from '../../src/testing/index.js';
import { encodePacketMessage, decodeVerdictMessage } from '../../src/nfqueue/index.js';
import { ipPacketOfRecord, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2 } from '../../src/pcap/index.js';
import { verifyChecksums, parseIpPacket } from '../../src/packet/index.js';
import { packetSpecArb, verdictArb } from '../support/arbitraries.js';
import { encodeKernelPacket } from '../support/kernel-packet.js';
import { hex } from '../support/bytes.js';

describe('encodePacketMessage', () => {
  it('writes the bytes the kernel writes, attribute for attribute', () => {
    fc.assert(
      fc.property(packetSpecArb, (spec) => {
        const { unknown: _unknown, ...known } = spec;
        const w = new MessageWriter();
        encodePacketMessage(w, known);
        expect(Buffer.from(w.finish()).toString('hex')).toBe(Buffer.from(encodeKernelPacket(known)).toString('hex'));
      }),
      { numRuns: 300 },
    );
  });

  it('decodes back to the same fields', () => {
    const w = new MessageWriter();
    const payload = udpPacket({ payload: 'hi' });
    encodePacketMessage(w, { queue: 3, id: 9, family: 2, hwProtocol: 0x0800, hook: 1, mark: 5, indev: 1, hwaddr: new Uint8Array(6), timestamp: { sec: 1700000000, usec: 250000 }, uid: 1000, gid: 100, payload });
    const p = decodePacket(w.finish(), 0, w.length);
    expect(p).toMatchObject({ queue: 3, id: 9, family: 2, hook: 1, mark: 5, indev: 1, uid: 1000, gid: 100, timestamp: { sec: 1700000000, usec: 250000 } });
    expect(p.hwaddr).toEqual(new Uint8Array(6));
    expect(p.payload).toEqual(payload);
  });
});

describe('decodeVerdictMessage', () => {
  it('inverts encodeVerdict', () => {
    fc.assert(
      fc.property(verdictArb, fc.nat({ max: 0xffff }), fc.nat({ max: 0xffffffff }), (v, queue, id) => {
        const w = new MessageWriter();
        encodeVerdict(w, queue, id, v, { seq: 1, pid: 2 });
        const d = decodeVerdictMessage(w.finish());
        const want = v.verdict === 'queue' ? { ...v, bypass: v.bypass ?? false } : v;
        expect(d).toMatchObject({ batch: false, queue, id });
        expect(d.verdict).toEqual(want);
      }),
      { numRuns: 300 },
    );
  });

  it('reads batch verdicts', () => {
    const w = new MessageWriter();
    encodeBatchVerdict(w, 7, 42, { verdict: 'drop', mark: 3 }, { seq: 1 });
    expect(decodeVerdictMessage(w.finish())).toEqual({ batch: true, queue: 7, id: 42, word: 0, verdict: { verdict: 'drop', mark: 3 } });
  });

  it('refuses what is not a verdict with a NetlinkDecodeError', () => {
    const w = new MessageWriter();
    encodePacketMessage(w, { queue: 0, id: 1, family: 2, hwProtocol: 0x800, hook: 3 });
    expect(() => decodeVerdictMessage(w.finish())).toThrow(/not a verdict/);
    expect(() => decodeVerdictMessage(new Uint8Array(8))).toThrow(/too short/);
  });
});

describe('ip packet builders', () => {
  it('build valid UDP and TCP over IPv4 and IPv6', () => {
    for (const p of [udpPacket({ dst: '10.0.0.1', dstPort: 53, payload: 'x' }), tcpPacket({ src: '2001:db8::1', dst: '::1', flags: 'SA' }), udpPacket({ src: 'fe80::1:2' })]) {
      const c = verifyChecksums(p);
      expect(c.transport).toBe(true);
      expect(c.ipv4Header ?? true).toBe(true);
    }
    expect(parseIpPacket(udpPacket({ dst: '10.0.0.1', dstPort: 53 }))).toMatchObject({ version: 4, dst: '10.0.0.1', protocolName: 'udp', dport: 53 });
    expect(() => udpPacket({ dst: 'nowhere' })).toThrow(TypeError);
    expect(() => udpPacket({ src: '10.0.0.1', dst: '::1' })).toThrow(/both/);
    expect(() => tcpPacket({ flags: 'X' })).toThrow(/flag/);
  });
});

describe('ipPacketOfRecord', () => {
  const ip = udpPacket({ payload: 'abc' });
  const one = (linktype: number, data: Uint8Array, orig?: number) => {
    const w = new PcapWriter(linktype);
    const bytes = Buffer.concat([w.header(), w.record(data, { sec: 1, nsec: 0 }, orig)]);
    return ipPacketOfRecord(readPcap(bytes).records[0]!);
  };
  it('unwraps raw IP, Ethernet with a VLAN tag, SLL and SLL2', () => {
    const raw = one(LINKTYPE_RAW, ip);
    expect(raw).toMatchObject({ version: 4, hwProtocol: 0x0800, wireLength: ip.length });
    expect(Buffer.from(raw!.ip).equals(ip)).toBe(true);
    const eth = Buffer.concat([hex('020000000001 020000000002 8100 0005 0800'), ip]);
    const e = one(LINKTYPE_ETHERNET, eth);
    expect(Buffer.from(e!.ip).equals(ip)).toBe(true);
    expect(Buffer.from(e!.hwaddr!).toString('hex')).toBe('020000000002');
    const sll = Buffer.concat([hex('0004 0001 0006 020000000003 0000 0800'), ip]);
    const s = one(LINKTYPE_LINUX_SLL, sll);
    expect(s?.packetType).toBe('outgoing');
    expect(Buffer.from(s!.hwaddr!).toString('hex')).toBe('020000000003');
    const sll2 = Buffer.concat([hex('0800 0000 00000007 0001 00 06 020000000004 0000'), ip]);
    expect(one(LINKTYPE_LINUX_SLL2, sll2)).toMatchObject({ packetType: 'host', ifindex: 7 });
  });
  it('skips ARP and short records, keeps the wire length of cut ones', () => {
    expect(one(LINKTYPE_ETHERNET, Buffer.concat([hex('ffffffffffff 020000000002 0806'), new Uint8Array(28)]))).toBeUndefined();
    expect(one(LINKTYPE_LINUX_SLL, hex('0000'))).toBeUndefined();
    expect(one(LINKTYPE_RAW, ip.subarray(0, 20), ip.length)?.wireLength).toBe(ip.length);
  });
});
