import { describe, expect, it } from 'vitest';
import { MessageWriter } from '../../src/netlink/writer.js';
import { parseMessages } from '../../src/netlink/message.js';
import { AttributeDecoder } from '../../src/netlink/attributes.js';
import { attr, be16, be32, be64, concat, hex, le32, nest, nlhdr, toHex } from '../support/bytes.js';

describe('MessageWriter', () => {
  it('writes a message byte for byte', () => {
    const w = new MessageWriter();
    w.begin({ type: 0x0301, flags: 0x0005, seq: 0x01020304, pid: 0x0a0b0c0d });
    w.rawU8(2).rawU8(0).rawBe16(0x1234);
    w.attrU8(1, 0xab);
    w.attrU32(2, 0x11223344);
    w.attrBe16(3, 0x5566);
    w.attrBe32(4, 0x8899aabb);
    w.attrBe64(5, 0x0102030405060708n);
    w.attrString(6, 'eth0');
    w.attrBytes(7, [1, 2, 3]);
    w.beginNest(8).attrBe32(8, 42).attrBytes(9, [7]).endNest();
    w.end();
    const expected = hex(
      '68 00 00 00 01 03 05 00 04 03 02 01 0d 0c 0b 0a' + // header, length 104
        '02 00 12 34' + // nfgenmsg-like raw bytes
        '05 00 01 00 ab 00 00 00' +
        '08 00 02 00 44 33 22 11' + // host-order u32
        '06 00 03 00 55 66 00 00' +
        '08 00 04 00 88 99 aa bb' +
        '0c 00 05 00 01 02 03 04 05 06 07 08' +
        '09 00 06 00 65 74 68 30 00 00 00 00' + // "eth0\0" + 3 padding
        '07 00 07 00 01 02 03 00' +
        '14 00 08 80 08 00 08 00 00 00 00 2a 05 00 09 00 07 00 00 00', // nest: NESTED bit, length includes children
    );
    expect(expected.length).toBe(0x68);
    expect(toHex(w.finish())).toBe(toHex(expected));
    // the same bytes from the independent test-side builders
    const built = concat(
      new Uint8Array(nlhdr(0x68, 0x0301, 5, 0x01020304, 0x0a0b0c0d)),
      hex('02 00 12 34'),
      attr(1, [0xab]),
      attr(2, le32(0x11223344)),
      attr(3, be16(0x5566)),
      attr(4, be32(0x8899aabb)),
      attr(5, be64(0x0102030405060708n)),
      attr(6, [0x65, 0x74, 0x68, 0x30, 0]),
      attr(7, [1, 2, 3]),
      nest(8, attr(8, be32(42)), attr(9, [7])),
    );
    expect(toHex(w.finish())).toBe(toHex(built));
  });

  it('pads with zero bytes even when the buffer held other bytes before', () => {
    const w = new MessageWriter(256);
    // dirty the buffer
    w.begin({ type: 0x10, flags: 0, seq: 0 }).raw(new Uint8Array(200).fill(0xff)).end();
    w.reset();
    w.begin({ type: 0x10, flags: 0, seq: 1 });
    w.raw([1, 2, 3]); // unaligned body: the next attribute starts after 1 padding byte
    w.attrBytes(1, [9]);
    w.rawU8(5); // unaligned again, then a nest
    w.beginNest(2).attrU8(1, 6).endNest();
    w.rawBe16(0x0708); // unaligned, then end
    w.end();
    const out = w.finish();
    expect(toHex(out)).toBe(
      toHex(
        hex(
          // nlmsg_len counts the bytes written (46), not the message's trailing padding
          '2e 00 00 00 10 00 00 00 01 00 00 00 00 00 00 00' +
            '01 02 03 00' +
            '05 00 01 00 09 00 00 00' +
            '05 00 00 00' +
            '0c 00 02 80 05 00 01 00 06 00 00 00' +
            '07 08 00 00',
        ),
      ),
    );
  });

  it('writes zero padding after odd-length values', () => {
    const w = new MessageWriter(64);
    w.begin({ type: 0x10, flags: 0, seq: 0 }).raw(new Uint8Array(40).fill(0xee)).end();
    w.reset();
    w.begin({ type: 0x10, flags: 0, seq: 0 }).attrBytes(1, [1]).attrString(2, 'ab').attrU8(3, 3).attrBe16(4, 4).end();
    const out = w.finish();
    expect(toHex(out.subarray(16))).toBe('05 00 01 00 01 00 00 00 07 00 02 00 61 62 00 00 05 00 03 00 03 00 00 00 06 00 04 00 00 04 00 00');
  });

  it('grows beyond its initial size and keeps what was written', () => {
    const w = new MessageWriter(8);
    const big = new Uint8Array(5000);
    for (let i = 0; i < big.length; i++) big[i] = i & 0xff;
    w.begin({ type: 0x10, flags: 1, seq: 77, pid: 3 }).attrBe32(1, 0xcafebabe).attrBytes(2, big).attrBe32(3, 1).end();
    const out = w.finish();
    expect(out.length).toBe(16 + 8 + 5004 + 8);
    const [m] = parseMessages(out);
    expect(m!.header).toEqual({ length: out.length, type: 0x10, flags: 1, seq: 77, pid: 3 });
    const ad = new AttributeDecoder(out, 16, out.length);
    const got: unknown[] = [];
    while (ad.next()) got.push(ad.type === 2 ? ad.bytes().every((b, i) => b === (i & 0xff)) && ad.valueLength : ad.be32());
    expect(got).toEqual([0xcafebabe, 5000, 1]);
  });

  it('grows from an initial size of 0 (does not loop forever)', () => {
    const w = new MessageWriter(0);
    w.begin({ type: 0x10, flags: 0, seq: 1 }).attrBe32(1, 5).end();
    expect(toHex(w.finish())).toBe(toHex(concat(new Uint8Array(nlhdr(24, 0x10, 0, 1, 0)), attr(1, be32(5)))));
  });

  it('writes several messages in one datagram, each aligned', () => {
    const w = new MessageWriter();
    w.begin({ type: 0x10, flags: 1, seq: 1 }).attrBytes(1, [1]).end();
    w.begin({ type: 0x11, flags: 1, seq: 2 }).rawU8(7).end(); // 17 bytes, then zero padding
    w.begin({ type: 0x12, flags: 1, seq: 3 }).end();
    const out = w.finish();
    expect(toHex(out)).toBe(
      toHex(
        hex(
          '18 00 00 00 10 00 01 00 01 00 00 00 00 00 00 00 05 00 01 00 01 00 00 00' +
            '11 00 00 00 11 00 01 00 02 00 00 00 00 00 00 00 07 00 00 00' + // len 17, padded to 20
            '10 00 00 00 12 00 01 00 03 00 00 00 00 00 00 00',
        ),
      ),
    );
    expect(w.length).toBe(out.length);
    expect(parseMessages(out).map((m) => [m.offset, m.header.seq, m.header.type])).toEqual([
      [0, 1, 0x10],
      [24, 2, 0x11],
      [44, 3, 0x12],
    ]);
  });

  it('reset() starts over and finishCopy() is an owned copy', () => {
    const w = new MessageWriter(32);
    w.begin({ type: 0x10, flags: 0, seq: 1 }).end();
    const copy = w.finishCopy();
    const view = w.finish();
    w.reset();
    expect(w.length).toBe(0);
    w.begin({ type: 0x20, flags: 0, seq: 2 }).end();
    expect(copy[4]).toBe(0x10);
    expect(view[4]).toBe(0x20); // the view follows the reused buffer
    expect(copy.buffer).not.toBe(view.buffer);
  });

  it('refuses misuse', () => {
    const w = new MessageWriter();
    expect(() => w.end()).toThrow(/without begin/);
    expect(() => w.endNest()).toThrow(/without beginNest/);
    w.begin({ type: 0x10, flags: 0, seq: 0 });
    expect(() => w.finish()).toThrow(/unfinished/);
    w.beginNest(1);
    expect(() => w.end()).toThrow(/open nest/);
  });

  it('limits attribute values to 65531 bytes', () => {
    const w = new MessageWriter();
    w.begin({ type: 0x10, flags: 0, seq: 0 });
    expect(() => w.attrBytes(1, new Uint8Array(65532))).toThrow(RangeError);
    w.reset().begin({ type: 0x10, flags: 0, seq: 0 }).attrBytes(1, new Uint8Array(65531)).end();
    const out = w.finish();
    expect(out[16]).toBe(0xff);
    expect(out[17]).toBe(0xff);
    expect(out.length).toBe(16 + 65536);
  });

  it('refuses a nest whose length does not fit 16 bits instead of writing a wrong length', () => {
    const w = new MessageWriter();
    w.begin({ type: 0x10, flags: 0, seq: 0 }).beginNest(1).attrBytes(1, new Uint8Array(40000)).attrBytes(2, new Uint8Array(40000));
    expect(() => w.endNest()).toThrow(RangeError);
  });
});
