import { describe, expect, it } from 'vitest';
import { readHeader, writeHeader, viewOf, parseMessages, parseErrorMessage, type NetlinkMessage } from '../../src/netlink/message.js';
import { NetlinkDecodeError, NetlinkKernelError, errnoName } from '../../src/netlink/errors.js';
import { attr, be32, bytes, concat, hex, le32, nlmsg, nlmsgError, toHex } from '../support/bytes.js';

function decodeErrorOf(fn: () => unknown): NetlinkDecodeError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(NetlinkDecodeError);
    return e as NetlinkDecodeError;
  }
  throw new Error('expected a NetlinkDecodeError, nothing was thrown');
}

describe('nlmsghdr', () => {
  // len 28, type 0x0300, flags 0x0005, seq 0x12345678, pid 0x0a0b0c0d: all little-endian (host order)
  const HDR = hex('1c 00 00 00 | 00 03 | 05 00 | 78 56 34 12 | 0d 0c 0b 0a');

  it('reads a header in host byte order', () => {
    const buf = concat(HDR, new Uint8Array(12));
    expect(readHeader(viewOf(buf), 0)).toEqual({ length: 28, type: 0x0300, flags: 5, seq: 0x12345678, pid: 0x0a0b0c0d });
  });

  it('writes the same bytes it reads', () => {
    const out = new Uint8Array(20).fill(0xee);
    writeHeader(viewOf(out), 2, { length: 28, type: 0x0300, flags: 5, seq: 0x12345678, pid: 0x0a0b0c0d });
    expect(toHex(out.subarray(2, 18))).toBe(toHex(HDR));
    expect(out[0]).toBe(0xee);
    expect(out[1]).toBe(0xee);
    expect(out[18]).toBe(0xee);
  });

  it('reads at an offset and through a view with a non-zero byteOffset', () => {
    const backing = new Uint8Array(64).fill(0x55);
    backing.set(HDR, 7 + 4);
    const sub = backing.subarray(7, 7 + 4 + 28);
    expect(readHeader(viewOf(sub), 4).seq).toBe(0x12345678);
  });

  it('refuses a header that does not fit, with offset and truncated', () => {
    const buf = concat(new Uint8Array(8), HDR.subarray(0, 12));
    const e = decodeErrorOf(() => readHeader(viewOf(buf), 8));
    expect(e.offset).toBe(8);
    expect(e.truncated).toBe(true);
    expect(e.message).toContain('(at byte 8)');
  });

  it('refuses a length shorter than the header (not truncated)', () => {
    const buf = hex('0f 00 00 00 00 03 00 00 00 00 00 00 00 00 00 00');
    const e = decodeErrorOf(() => readHeader(viewOf(buf), 0));
    expect(e.offset).toBe(0);
    expect(e.truncated).toBe(false);
  });

  it('refuses a length running past the buffer (truncated)', () => {
    const buf = hex('11 00 00 00 00 03 00 00 00 00 00 00 00 00 00 00');
    const e = decodeErrorOf(() => readHeader(viewOf(buf), 0));
    expect(e.truncated).toBe(true);
    expect(e.offset).toBe(0);
  });
});

describe('parseMessages', () => {
  it('splits several messages with padding', () => {
    const m1 = nlmsg({ type: 0x10, flags: 1, seq: 1, pid: 9 }, [0xaa]); // len 17, padded to 20
    const m2 = nlmsg({ type: 0x11, seq: 2 }, [1, 2, 3, 4, 5, 6]); // len 22, padded to 24
    const m3 = nlmsg({ type: 3, seq: 3 }); // NLMSG_DONE, len 16
    const d = concat(m1, m2, m3);
    expect(d.length).toBe(20 + 24 + 16);
    expect(toHex(m1)).toBe('11 00 00 00 10 00 01 00 01 00 00 00 09 00 00 00 aa 00 00 00');
    const msgs = parseMessages(d);
    expect(msgs.map((m) => [m.offset, m.payloadOffset, m.payloadLength, m.header.length, m.header.type, m.header.seq])).toEqual([
      [0, 16, 1, 17, 0x10, 1],
      [20, 36, 6, 22, 0x11, 2],
      [44, 60, 0, 16, 3, 3],
    ]);
    expect(msgs[0]!.header.pid).toBe(9);
    expect(msgs[0]!.header.flags).toBe(1);
    expect(msgs[1]!.buffer).toBe(d);
    expect(Array.from(d.subarray(msgs[1]!.payloadOffset, msgs[1]!.payloadOffset + msgs[1]!.payloadLength))).toEqual([1, 2, 3, 4, 5, 6]);
  });

  it('accepts a last message without its trailing padding', () => {
    const m1 = nlmsg({ type: 0x10 }, [1, 2, 3, 4]);
    const m2 = nlmsg({ type: 0x10 }, [7]).subarray(0, 17);
    const msgs = parseMessages(concat(m1, m2));
    expect(msgs).toHaveLength(2);
    expect(msgs[1]!.payloadLength).toBe(1);
  });

  it('returns nothing for an empty datagram', () => {
    expect(parseMessages(new Uint8Array(0))).toEqual([]);
  });

  it('reports a truncated second message at its own offset', () => {
    const m1 = nlmsg({ type: 0x10 }, [1, 2, 3, 4]); // 20 bytes
    const m2 = nlmsg({ type: 0x10, len: 40 }, [1, 2, 3, 4]); // says 40, has 20
    const e = decodeErrorOf(() => parseMessages(concat(m1, m2)));
    expect(e.offset).toBe(20);
    expect(e.truncated).toBe(true);
  });

  it('reports an oversized length (0xffffffff) as truncated', () => {
    const m = nlmsg({ type: 0x10, len: 0xffffffff }, [1, 2, 3, 4]);
    const e = decodeErrorOf(() => parseMessages(m));
    expect(e.offset).toBe(0);
    expect(e.truncated).toBe(true);
  });

  it('reports a length below 16 as malformed, not truncated', () => {
    const m1 = nlmsg({ type: 0x10 }, [1, 2, 3, 4]);
    const m2 = nlmsg({ type: 0x10, len: 4 }, [1, 2, 3, 4]);
    const e = decodeErrorOf(() => parseMessages(concat(m1, m2)));
    expect(e.offset).toBe(20);
    expect(e.truncated).toBe(false);
  });

  it('reports a zero length instead of looping', () => {
    const e = decodeErrorOf(() => parseMessages(new Uint8Array(32)));
    expect(e.offset).toBe(0);
    expect(e.truncated).toBe(false);
  });

  it('reports trailing bytes shorter than a header', () => {
    const m1 = nlmsg({ type: 0x10 }, [1, 2, 3, 4]);
    const e = decodeErrorOf(() => parseMessages(concat(m1, new Uint8Array(5))));
    expect(e.offset).toBe(20);
    expect(e.truncated).toBe(true);
  });
});

function only(d: Uint8Array): NetlinkMessage {
  const msgs = parseMessages(d);
  expect(msgs).toHaveLength(1);
  return msgs[0]!;
}

describe('parseErrorMessage', () => {
  // A BIND request: len 28, type 0x0302, flags REQUEST|ACK, seq 7, pid 4242
  const BIND = hex('1c 00 00 00 02 03 05 00 07 00 00 00 92 10 00 00 | 00 00 00 00 | 08 00 01 00 01 00 00 00');

  it('decodes an ack: errno 0, capped, echoed header only', () => {
    const ack = hex(
      '24 00 00 00 02 00 00 01 07 00 00 00 00 00 00 00' + // len 36, NLMSG_ERROR, flags CAPPED
        '00 00 00 00' + // error 0
        '1c 00 00 00 02 03 05 00 07 00 00 00 92 10 00 00', // echoed request header
    );
    expect(toHex(ack)).toBe(toHex(nlmsgError(0, BIND)));
    const m = parseErrorMessage(only(ack));
    expect(m.errno).toBe(0); // +0, not -0
    expect(Object.is(m.errno, 0)).toBe(true);
    expect(m.capped).toBe(true);
    expect(m.requestPayload).toBeUndefined();
    expect(m.request).toEqual({ length: 28, type: 0x0302, flags: 5, seq: 7, pid: 4242 });
    expect(m.extAckMessage).toBeUndefined();
    expect(m.extAckOffset).toBeUndefined();
  });

  it('decodes an error with the whole request echoed', () => {
    const err = hex(
      '30 00 00 00 02 00 00 00 07 00 00 00 00 00 00 00' + // len 48, flags 0
        'f0 ff ff ff' + // -16 (EBUSY)
        '1c 00 00 00 02 03 05 00 07 00 00 00 92 10 00 00 | 00 00 00 00 | 08 00 01 00 01 00 00 00',
    );
    expect(toHex(err)).toBe(toHex(nlmsgError(16, BIND)));
    const m = parseErrorMessage(only(err));
    expect(m.errno).toBe(16);
    expect(errnoName(m.errno)).toBe('EBUSY');
    expect(m.capped).toBe(false);
    expect(toHex(m.requestPayload!)).toBe(toHex(BIND.subarray(16)));
    expect(m.request.seq).toBe(7);
    expect(m.request.type).toBe(0x0302);
  });

  it('decodes extended-ack TLVs after a capped echo', () => {
    const tlvs = concat(attr(1, new TextEncoder().encode('Invalid flags'), 0), attr(2, le32(20)));
    const err = nlmsgError(22, BIND, { capped: true, ackTlvs: tlvs });
    // flags: CAPPED | ACK_TLVS
    expect(err[6]).toBe(0x00);
    expect(err[7]).toBe(0x03);
    const m = parseErrorMessage(only(err));
    expect(m.errno).toBe(22);
    expect(m.capped).toBe(true);
    expect(m.extAckMessage).toBe('Invalid flags');
    expect(m.extAckOffset).toBe(20);
  });

  it('decodes extended-ack TLVs after a full echo of an unaligned request', () => {
    // a request whose length (21) is not a multiple of 4: its echo is padded before the TLVs
    const req = concat(hex('15 00 00 00 02 03 01 00 09 00 00 00 00 00 00 00'), bytes(0, 0, 0, 0, 0xaa), bytes(0, 0, 0));
    const tlvs = concat(attr(2, le32(0x14)), attr(1, new TextEncoder().encode('bad'), 0));
    const err = nlmsgError(1, req, { ackTlvs: tlvs });
    const m = parseErrorMessage(only(err));
    expect(m.errno).toBe(1);
    expect(m.capped).toBe(false);
    expect(Array.from(m.requestPayload!)).toEqual([0, 0, 0, 0, 0xaa]);
    expect(m.extAckOffset).toBe(0x14);
    expect(m.extAckMessage).toBe('bad');
  });

  it('ignores TLVs without NLM_F_ACK_TLVS', () => {
    const tlvs = attr(1, new TextEncoder().encode('x'), 0);
    const err = nlmsgError(22, BIND, { capped: true, ackTlvs: tlvs });
    err[7] = 0x01; // clear ACK_TLVS, keep CAPPED
    const m = parseErrorMessage(only(err));
    expect(m.extAckMessage).toBeUndefined();
  });

  it('refuses a payload shorter than 20 bytes (truncated)', () => {
    const short = nlmsg({ type: 2 }, le32(0), [1, 2, 3, 4]);
    const e = decodeErrorOf(() => parseErrorMessage(only(short)));
    expect(e.truncated).toBe(true);
    expect(e.offset).toBe(16);
  });

  it('refuses a message that is not NLMSG_ERROR', () => {
    const e = decodeErrorOf(() => parseErrorMessage(only(nlmsg({ type: 3 }, new Uint8Array(20)))));
    expect(e.offset).toBe(0);
  });

  it('reports malformed TLVs and a too-short OFFS value as decode errors', () => {
    const badLen = concat(hex('02 00 01 00'), new Uint8Array(4));
    const e1 = decodeErrorOf(() => parseErrorMessage(only(nlmsgError(22, BIND, { capped: true, ackTlvs: badLen }))));
    expect(e1.offset).toBe(16 + 4 + 16);
    const shortOffs = attr(2, [1, 0]);
    const e2 = decodeErrorOf(() => parseErrorMessage(only(nlmsgError(22, BIND, { capped: true, ackTlvs: shortOffs }))));
    expect(e2.offset).toBe(16 + 4 + 16);
    expect(e2.truncated).toBe(false);
  });

  it('reads the error of a second message in a datagram', () => {
    const d = concat(nlmsgError(0, BIND), nlmsgError(2, concat(BIND.subarray(0, 8), bytes(le32(8)), BIND.subarray(12))));
    const msgs = parseMessages(d);
    expect(msgs.map((m) => parseErrorMessage(m)).map((m) => [m.errno, m.request.seq])).toEqual([
      [0, 7],
      [2, 8],
    ]);
  });

  it('keeps be32 attribute values readable next to host-order headers', () => {
    expect(be32(0x01020304)).toEqual([1, 2, 3, 4]);
    expect(le32(0x01020304)).toEqual([4, 3, 2, 1]);
  });
});

describe('errnoName and NetlinkKernelError', () => {
  it('names errno values', () => {
    expect(errnoName(16)).toBe('EBUSY');
    expect(errnoName(1)).toBe('EPERM');
    expect(errnoName(2)).toBe('ENOENT');
    expect(errnoName(19)).toBe('ENODEV');
    expect(errnoName(22)).toBe('EINVAL');
    expect(errnoName(105)).toBe('ENOBUFS');
    expect(errnoName(524)).toBe('ENOTSUPP');
    expect(errnoName(99999)).toBe('E99999');
  });

  it('names 95 EOPNOTSUPP, the name the kernel and the docs use', () => {
    // Node's table lists ENOTSUP before EOPNOTSUPP for 95; the queue layer matches 'EOPNOTSUPP'.
    expect(errnoName(95)).toBe('EOPNOTSUPP');
  });

  it('carries errno, code and extended ack', () => {
    const e = new NetlinkKernelError(16, 'busy', { type: 0x0302, seq: 3 }, { message: 'm', offset: 20 });
    expect(e).toBeInstanceOf(Error);
    expect(e.errno).toBe(16);
    expect(e.code).toBe('EBUSY');
    expect(e.request).toEqual({ type: 0x0302, seq: 3 });
    expect(e.extAckMessage).toBe('m');
    expect(e.extAckOffset).toBe(20);
    expect(e.name).toBe('NetlinkKernelError');
  });

  it('NetlinkDecodeError carries offset and truncated', () => {
    const e = new NetlinkDecodeError('bad', 12, true);
    expect(e.message).toBe('bad (at byte 12)');
    expect(e.offset).toBe(12);
    expect(e.truncated).toBe(true);
    expect(new NetlinkDecodeError('x', 0).truncated).toBe(false);
  });
});
