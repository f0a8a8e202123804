import { describe, expect, it } from 'vitest';
import {
  ARPHRD_NETLINK,
  PcapFormatError,
  decodeNetlinkCooked,
  encodeNetlinkCooked,
} from '../../src/pcap/index.js';
import { hex, hexString } from '../support/bytes.js';

describe('LINKTYPE_NETLINK cooked header', () => {
  it('encodes an outgoing NETLINK_NETFILTER datagram', () => {
    expect(ARPHRD_NETLINK).toBe(824);
    const rec = encodeNetlinkCooked('out', 12, hex('10000000 0100 0000 01000000 00000000'));
    expect(hexString(rec)).toBe(
      '0004' + '0338' + '0000' + '0000000000000000' + '000c' + '10000000010000000100000000000000',
    );
  });

  it('encodes an incoming datagram with packet type 0', () => {
    expect(hexString(encodeNetlinkCooked('in', 0, hex('ab')))).toBe('0000033800000000000000000000' + '0000' + 'ab');
  });

  it('decodes what it encodes, as a view', () => {
    const rec = encodeNetlinkCooked('in', 12, hex('0102030405'));
    const d = decodeNetlinkCooked(rec);
    expect(d.direction).toBe('in');
    expect(d.packetType).toBe(0);
    expect(d.protocol).toBe(12);
    expect(hexString(d.datagram)).toBe('0102030405');
    expect(d.datagram.buffer).toBe(rec.buffer);
    expect(decodeNetlinkCooked(encodeNetlinkCooked('out', 16, hex(''))).direction).toBe('out');
  });

  it('treats packet types other than 4 as incoming', () => {
    const rec = encodeNetlinkCooked('in', 12, hex('00'));
    rec[1] = 6; // PACKET_USER as the kernel's nlmon tap marks it
    expect(decodeNetlinkCooked(rec)).toMatchObject({ direction: 'in', packetType: 6 });
  });

  it('rejects short records and a wrong hardware type', () => {
    expect(() => decodeNetlinkCooked(new Uint8Array(15))).toThrow(PcapFormatError);
    const rec = encodeNetlinkCooked('in', 12, hex('00'));
    rec[3] = 0x39;
    expect(() => decodeNetlinkCooked(rec)).toThrow(/ARPHRD_NETLINK/);
  });

  it('rejects bad arguments', () => {
    expect(() => encodeNetlinkCooked('in', 65536, hex(''))).toThrow(RangeError);
    expect(() => encodeNetlinkCooked('sideways' as 'in', 12, hex(''))).toThrow(RangeError);
  });
});
