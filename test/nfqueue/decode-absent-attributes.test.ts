// Decoding what this kernel cannot produce: conntrack attributes (NFQA_CT / CT_INFO, the
// kernel refuses the CONNTRACK flag here) and bridge-family link-layer data (NFQA_VLAN,
// NFQA_L2HDR, no bridge queueing here), from message bytes laid out as the kernel's
// nfqnl_build_packet_message and ctnetlink_glue_build write them. Plus ifindex names.
import { mkdtempSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseEthernetHeader, interfaceName, formatHwaddr } from '../../src/packet/index.js';
import { decodePacket, decodeConntrack, ctInfoName } from '../../src/nfqueue/index.js';
import { setInterfaceNameSource } from '../../src/packet/ifnames.js';
import { attr, be16, be32, nest, nfgenmsg, nlmsg } from '../support/bytes.js';

/** A PACKET message (type 0x0300) of `family` on `queue` holding `attrs`. */
function packetMessage(family: number, queue: number, attrs: Uint8Array[]): Uint8Array {
  return nlmsg({ type: 0x0300 }, nfgenmsg(family, queue), ...attrs);
}

describe('decoding attributes this kernel does not emit', () => {
  it('conntrack: NFQA_CT tuples, status, mark, id and NFQA_CT_INFO', () => {
    const tuple = (src: number[], dst: number[], sport: number, dport: number): Uint8Array[] => [
      nest(1, attr(1, src), attr(2, dst)),
      nest(2, attr(1, [17]), attr(2, be16(sport)), attr(3, be16(dport))),
    ];
    const ct = nest(
      11,
      nest(1, ...tuple([10, 202, 1, 2], [10, 202, 2, 2], 40000, 53)),
      nest(2, ...tuple([10, 202, 2, 2], [10, 202, 1, 2], 53, 40000)),
      attr(3, be32(0x188)),
      attr(7, be32(30)),
      attr(8, be32(0x42)),
      attr(12, be32(123456)),
      attr(11, be32(1)),
      attr(99, [1, 2, 3, 4]),
    );
    const msg = packetMessage(2, 1, [attr(1, [...be32(7), ...be16(0x0800), 1]), ct, attr(12, be32(2)), attr(10, [0x45])]);
    const p = decodePacket(msg, 0, msg.length);
    expect(p.id).toBe(7);
    expect(ctInfoName(p.ctInfo)).toBe('NEW');
    const c = decodeConntrack(p.ct!);
    expect(c.orig).toEqual({ src: '10.202.1.2', dst: '10.202.2.2', proto: 17, srcPort: 40000, dstPort: 53 });
    expect(c.reply).toEqual({ src: '10.202.2.2', dst: '10.202.1.2', proto: 17, srcPort: 53, dstPort: 40000 });
    expect(c).toMatchObject({ status: 0x188, timeout: 30, mark: 0x42, id: 123456, use: 1 });
    expect(c.unknown?.map((a) => a.type)).toEqual([99]);
  });

  it('conntrack over IPv6 with an ICMPv6 tuple', () => {
    const a6 = [0xfd, 0, 2, 2, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const b6 = [0xfd, 0, 2, 2, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2];
    const ct = nest(1, nest(1, attr(3, a6), attr(4, b6)), nest(2, attr(1, [58]), attr(7, be16(9)), attr(8, [128]), attr(9, [0])));
    expect(decodeConntrack(ct).orig).toEqual({ src: 'fd00:202:1::2', dst: 'fd00:202:2::2', proto: 58, icmpId: 9, icmpType: 128, icmpCode: 0 });
  });

  it('bridge family: NFQA_VLAN and NFQA_L2HDR, and the Ethernet/802.1Q header parser', () => {
    const l2 = [0x02, 0, 0, 0, 0, 2, 0x02, 0, 0, 0, 0, 1, 0x81, 0x00, 0x20, 0x64, 0x08, 0x00];
    const msg = packetMessage(7, 3, [
      attr(1, [...be32(1), ...be16(0x8100), 0]),
      nest(19, attr(1, be16(0x8100)), attr(2, be16(0x2064))),
      attr(20, l2),
      attr(10, [0x45, 0]),
    ]);
    const p = decodePacket(msg, 0, msg.length);
    expect(p.family).toBe(7);
    expect(p.vlan).toEqual({ proto: 0x8100, tci: 0x2064 });
    const eth = parseEthernetHeader(p.l2hdr!);
    expect(eth).toEqual({
      dst: '02:00:00:00:00:02',
      src: '02:00:00:00:00:01',
      vlans: [{ proto: 0x8100, tci: 0x2064, id: 100, pcp: 1 }],
      etherType: 0x0800,
      length: 18,
    });
  });

  it('interface names from a /sys/class/net layout, refreshed when an index appears or is reused', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfq-ifn-'));
    try {
      const add = (name: string, idx: number): void => {
        mkdirSync(join(dir, name), { recursive: true });
        writeFileSync(join(dir, name, 'ifindex'), `${idx}\n`);
      };
      add('lo', 1);
      add('eth0', 2);
      setInterfaceNameSource(dir, 0);
      expect(interfaceName(1)).toBe('lo');
      expect(interfaceName(2)).toBe('eth0');
      expect(interfaceName(0)).toBeUndefined();
      expect(interfaceName(undefined)).toBeUndefined();
      expect(interfaceName(3)).toBeUndefined();
      add('veth9', 3);
      expect(interfaceName(3)).toBe('veth9');
      rmSync(join(dir, 'eth0'), { recursive: true });
      add('br0', 2);
      expect(interfaceName(2)).toBe('br0');
    } finally {
      setInterfaceNameSource('/sys/class/net');
      rmSync(dir, { recursive: true, force: true });
    }
    expect(formatHwaddr(Uint8Array.from([0, 0x1b, 0x21, 0xa, 0xb, 0xc]))).toBe('00:1b:21:0a:0b:0c');
  });
});
