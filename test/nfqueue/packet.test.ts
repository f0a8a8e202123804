import { describe, expect, it } from 'vitest';
import { decodePacket, Packet, PacketDecodeError } from '../../src/nfqueue/packet.js';
import { NetlinkDecodeError } from '../../src/netlink/errors.js';
import { parseMessages } from '../../src/netlink/message.js';
import { attr, be32, concat, hex, nfgenmsg, nlmsg, toHex } from '../support/bytes.js';
import { encodeKernelPacket, encodeKernelPacketPermuted, outputPacket, type PacketSpec } from '../support/kernel-packet.js';

function decode(msg: Uint8Array): Packet {
  return decodePacket(msg, 0, msg.length);
}

function decodeError(msg: Uint8Array, length = msg.length, offset = 0): PacketDecodeError {
  try {
    decodePacket(msg, offset, length);
  } catch (e) {
    expect(e).toBeInstanceOf(PacketDecodeError);
    expect(e).toBeInstanceOf(NetlinkDecodeError);
    expect((e as Error).name).toBe('PacketDecodeError');
    return e as PacketDecodeError;
  }
  throw new Error('expected a PacketDecodeError');
}

// Every attribute 1..22, each written out byte by byte (attribute headers are little-endian,
// values big-endian). Offsets from the start of the message are noted for the error tests.
const ALL_ATTRS = hex(`
  0b 00 01 00   de ad be ef  86 dd  02  00
  0c 00 02 00   00 00 00 01  00 00 00 07
  08 00 03 00   01 02 03 04
  14 00 04 00   00 00 00 00 65 a1 b2 c3   00 00 00 00 00 01 e2 40
  08 00 05 00   00 00 00 02
  08 00 06 00   00 00 00 03
  08 00 07 00   00 00 00 04
  08 00 08 00   00 00 00 05
  10 00 09 00   00 06  00 00  52 54 00 12 34 56 ee ee
  09 00 0a 00   45 00 00 05 aa  00 00 00
  0c 00 0b 80   08 00 08 00 00 00 00 2a
  08 00 0c 00   00 00 00 02
  08 00 0d 00   00 00 05 dc
  08 00 0e 00   00 00 00 03
  08 00 0f 80   01 02 03 04
  08 00 10 00   00 00 03 e8
  08 00 11 00   00 00 00 64
  0f 00 12 00   73 79 73 74 65 6d 5f 75 3a 72 00  00
  14 00 13 80   06 00 01 00 81 00 00 00   06 00 02 00 20 64 00 00
  12 00 14 00   ff ff ff ff ff ff 02 00 00 00 00 01 81 00  00 00
  08 00 15 00   00 00 00 06
  08 00 16 00   00 10 00 01
  08 00 28 00   ca fe ba be
  0c 00 28 80   08 00 01 00 00 00 00 09
`);
//             nlmsghdr: type 0x0300 PACKET           nfgenmsg: AF_INET6, v0, queue 0x0102
const FULL = concat(nlmsg({ type: 0x0300, seq: 0, pid: 0 }, hex('0a 00 01 02'), ALL_ATTRS));

describe('decodePacket', () => {
  it('decodes every attribute 1..22 from byte literals', () => {
    expect(FULL.length).toBe(16 + 4 + ALL_ATTRS.length);
    expect(FULL.length).toBe(0x11c);
    expect(toHex(FULL.subarray(0, 20))).toBe('1c 01 00 00 00 03 00 00 00 00 00 00 00 00 00 00 0a 00 01 02');
    const p = decode(FULL);
    expect(p).toBeInstanceOf(Packet);
    expect(p.family).toBe(10);
    expect(p.queue).toBe(0x0102);
    expect(p.id).toBe(0xdeadbeef);
    expect(p.hwProtocol).toBe(0x86dd);
    expect(p.hook).toBe(2);
    expect(p.mark).toBe(0x01020304);
    expect(p.timestamp).toEqual({ sec: 0x65a1b2c3, usec: 123456 });
    expect(p.indev).toBe(2);
    expect(p.outdev).toBe(3);
    expect(p.physindev).toBe(4);
    expect(p.physoutdev).toBe(5);
    expect(toHex(p.hwaddr!)).toBe('52 54 00 12 34 56');
    expect(toHex(p.payload!)).toBe('45 00 00 05 aa');
    expect(toHex(p.ct!)).toBe('08 00 08 00 00 00 00 2a');
    expect(p.ctInfo).toBe(2);
    expect(p.capLen).toBe(1500);
    expect(p.skbInfo).toBe(3);
    expect(toHex(p.exp!)).toBe('01 02 03 04');
    expect(p.uid).toBe(1000);
    expect(p.gid).toBe(100);
    expect(p.secctx).toBe('system_u:r');
    expect(p.vlan).toEqual({ proto: 0x8100, tci: 0x2064 });
    expect(toHex(p.l2hdr!)).toBe('ff ff ff ff ff ff 02 00 00 00 00 01 81 00');
    expect(p.priority).toBe(6);
    expect(p.cgroupClassid).toBe(0x00100001);
    expect(p.length).toBe(1500); // capLen wins over the payload length
    // attribute 2 (VERDICT_HDR) is not a packet attribute; 40 is unknown: all kept raw
    expect(p.unknown!.map((u) => [u.type, u.nested, toHex(u.value)])).toEqual([
      [2, false, '00 00 00 01 00 00 00 07'],
      [40, false, 'ca fe ba be'],
      [40, true, '08 00 01 00 00 00 00 09'],
    ]);
  });

  it('returns views into the datagram, not copies', () => {
    const p = decode(FULL);
    expect(p.payload!.buffer).toBe(FULL.buffer);
    expect(p.hwaddr!.buffer).toBe(FULL.buffer);
    expect(p.unknown![0]!.value.buffer).toBe(FULL.buffer);
  });

  it('decodes the OUTPUT packet this kernel sends (PACKET_HDR, OUTDEV, PAYLOAD)', () => {
    // UDP 127.0.0.1:12345 -> 127.0.0.1:5000, no data, as queued from iptables -A OUTPUT -j NFQUEUE
    const msg = hex(`
      48 00 00 00  00 03  00 00  00 00 00 00  00 00 00 00
      02 00 00 00
      0b 00 01 00  00 00 00 01  08 00  03  00
      08 00 06 00  00 00 00 01
      20 00 0a 00  45 00 00 1c 12 34 40 00 40 11 2a 9b 7f 00 00 01 7f 00 00 01
                   30 39 13 88 00 08 fe 1b
    `);
    expect(msg.length).toBe(0x48);
    expect(toHex(msg)).toBe(toHex(outputPacket(1, msg.subarray(44), { outdev: 1 })));
    const p = decode(msg);
    expect([p.family, p.queue, p.id, p.hwProtocol, p.hook, p.outdev]).toEqual([2, 0, 1, 0x0800, 3, 1]);
    expect(p.payload!.length).toBe(28);
    expect(p.payload![0]).toBe(0x45);
    expect(p.length).toBe(28);
    for (const k of ['mark', 'timestamp', 'indev', 'physindev', 'physoutdev', 'hwaddr', 'ct', 'ctInfo', 'capLen', 'skbInfo', 'exp', 'uid', 'gid', 'secctx', 'vlan', 'l2hdr', 'priority', 'cgroupClassid', 'unknown'] as const) {
      expect(p[k], k).toBeUndefined();
    }
  });

  it('decodes a packet in the middle of a datagram held at a non-zero byteOffset', () => {
    const first = outputPacket(7, hex('45 00'), { queue: 3 });
    const second = outputPacket(8, hex('45 00 00 14'), { queue: 3 });
    const backing = new Uint8Array(5 + first.length + second.length + 3).fill(0xcc);
    backing.set(concat(first, second), 5);
    const dgram = backing.subarray(5, 5 + first.length + second.length);
    const msgs = parseMessages(dgram);
    const p = decodePacket(dgram, msgs[1]!.offset, msgs[1]!.header.length);
    expect([p.id, p.queue]).toEqual([8, 3]);
    expect(toHex(p.payload!)).toBe('45 00 00 14');
  });

  it('does not depend on attribute order', () => {
    const spec: PacketSpec = { queue: 9, family: 2, id: 77, hwProtocol: 0x0800, hook: 1, mark: 5, indev: 2, payload: hex('45'), uid: 0, vlan: { proto: 0x88a8, tci: 1 } };
    const forward = decode(encodeKernelPacket(spec));
    const reversed = decode(encodeKernelPacketPermuted(spec, [6, 5, 4, 3, 2, 1, 0]));
    expect(reversed).toEqual(forward);
    expect(reversed.id).toBe(77);
    expect(reversed.vlan).toEqual({ proto: 0x88a8, tci: 1 });
  });

  it('masks the NET_BYTEORDER bit of a known attribute', () => {
    const msg = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, be32(1), 8, 0, 1), attr(0x4003, be32(0x77)));
    expect(decode(msg).mark).toBe(0x77);
  });

  it('clamps a hardware address length above 8 and accepts 0', () => {
    const long = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, be32(1), 8, 0, 1), attr(9, hex('00 20 00 00 01 02 03 04 05 06 07 08')));
    expect(toHex(decode(long).hwaddr!)).toBe('01 02 03 04 05 06 07 08');
    const none = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, be32(1), 8, 0, 1), attr(9, hex('00 00 00 00 01 02 03 04 05 06 07 08')));
    expect(decode(none).hwaddr!.length).toBe(0);
  });

  it('keeps an empty payload as an empty view and a SECCTX without NUL whole', () => {
    const msg = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, be32(1), 8, 0, 1), attr(10), attr(18, [0x61, 0x62]));
    const p = decode(msg);
    expect(p.payload).toBeInstanceOf(Uint8Array);
    expect(p.payload!.length).toBe(0);
    expect(p.length).toBe(0);
    expect(p.secctx).toBe('ab');
  });

  it('refuses a message without PACKET_HDR', () => {
    const msg = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(3, be32(1)));
    const e = decodeError(msg);
    expect(e.offset).toBe(16);
    expect(e.message).toMatch(/no NFQA_PACKET_HDR/);
  });

  it('refuses a message too short for nfgenmsg', () => {
    const msg = nlmsg({ type: 0x0300 }, [2, 0]); // nlmsg_len 18 (padded to 20 in the buffer)
    const e = decodeError(msg, 18);
    expect(e.truncated).toBe(true);
    expect(e.offset).toBe(16);
  });

  it('refuses a length running past the buffer', () => {
    const msg = outputPacket(1, hex('45'));
    const e = decodeError(msg, msg.length + 4);
    expect(e.truncated).toBe(true);
    expect(e.offset).toBe(0);
  });

  // [type, size the decoder needs]
  const FIXED: [number, number][] = [
    [3, 4], [4, 16], [5, 4], [6, 4], [7, 4], [8, 4], [9, 12], [12, 4], [13, 4], [14, 4], [16, 4], [17, 4], [21, 4], [22, 4],
  ];
  it.each(FIXED)('refuses attribute %i one byte shorter than %i bytes, at its offset', (type, size) => {
    const hdr = attr(1, be32(1), 8, 0, 1); // 12 bytes at offset 20
    const msg = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, attr(type, new Uint8Array(size - 1)));
    const e = decodeError(msg);
    expect(e.offset).toBe(32);
    expect(e.truncated).toBe(false);
    expect(e.message).toContain(`attribute ${type} holds ${size - 1} bytes, needs ${size}`);
    // exactly the needed size decodes
    expect(() => decode(nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, attr(type, new Uint8Array(size))))).not.toThrow();
  });

  it('refuses a 6-byte PACKET_HDR', () => {
    const e = decodeError(nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, be32(1), 8, 0)));
    expect(e.offset).toBe(20);
  });

  it('refuses a VLAN nest without its TCI, or with a short protocol', () => {
    const hdr = attr(1, be32(1), 8, 0, 1);
    const noTci = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, hex('0c 00 13 80 06 00 01 00 81 00 00 00'));
    expect(decodeError(noTci).offset).toBe(32);
    const shortProto = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, hex('10 00 13 80 05 00 01 00 81 00 00 00 06 00 02 00 00 01 00 00'));
    expect(decodeError(shortProto).offset).toBe(36);
    const badInner = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, hex('08 00 13 80 09 00 01 00'));
    const e = decodeError(badInner);
    expect(e.offset).toBe(36);
    expect(e.truncated).toBe(true);
  });

  it('refuses an attribute length below 4 and one that runs past the message', () => {
    const hdr = attr(1, be32(1), 8, 0, 1);
    const tiny = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, hex('03 00 03 00 00 00 00 00'));
    const e1 = decodeError(tiny);
    expect([e1.offset, e1.truncated]).toEqual([32, false]);
    const long = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, hex('10 00 03 00 00 00 00 00'));
    const e2 = decodeError(long);
    expect([e2.offset, e2.truncated]).toEqual([32, true]);
    const stub = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), hdr, hex('08 00'));
    const e3 = decodeError(stub, stub.length - 2);
    expect([e3.offset, e3.truncated]).toEqual([32, true]);
  });
});
