import { describe, expect, it } from 'vitest';
import { AttributeDecoder, parseAttributes } from '../../src/netlink/attributes.js';
import { NetlinkDecodeError } from '../../src/netlink/errors.js';
import { align4 } from '../../src/netlink/constants.js';
import { attr, be16, be32, be64, concat, hex, le16, le32, nest, toHex } from '../support/bytes.js';

function all(ad: AttributeDecoder): { type: number; nested: boolean; net: boolean; off: number; len: number }[] {
  const out = [];
  while (ad.next()) out.push({ type: ad.type, nested: ad.nested, net: ad.netByteOrder, off: ad.valueOffset, len: ad.valueLength });
  return out;
}

describe('align4', () => {
  it('rounds up to 4', () => {
    expect([0, 1, 2, 3, 4, 5, 7, 8, 65535].map(align4)).toEqual([0, 4, 4, 4, 4, 8, 8, 8, 65536]);
  });
});

describe('AttributeDecoder', () => {
  it('walks attributes with padding; length excludes padding; flag bits masked', () => {
    const buf = hex(
      '05 00 01 00 aa 00 00 00' + // type 1, 1-byte value, 3 padding bytes
        '0c 00 02 80 08 00 01 00 00 00 00 2a' + // type 2 | NESTED, holds one attribute
        '08 00 03 40 01 02 03 04' + // type 3 | NET_BYTEORDER
        '04 00 ff ff' + // type 0x3fff with both bits, empty value
        '06 00 05 00 12 34 00 00', // type 5, be16, 2 padding bytes
    );
    const ad = new AttributeDecoder(buf);
    expect(all(ad)).toEqual([
      { type: 1, nested: false, net: false, off: 4, len: 1 },
      { type: 2, nested: true, net: false, off: 12, len: 8 },
      { type: 3, nested: false, net: true, off: 24, len: 4 },
      { type: 0x3fff, nested: true, net: true, off: 32, len: 0 },
      { type: 5, nested: false, net: false, off: 36, len: 2 },
    ]);
    expect(ad.error).toBeUndefined();
    expect(() => ad.throwIfError()).not.toThrow();
  });

  it('reads values in both byte orders', () => {
    const buf = concat(
      attr(1, [0xfe]),
      attr(2, le16(0x1234)),
      attr(3, le32(0x89abcdef)),
      attr(4, be16(0x1234)),
      attr(5, be32(0x89abcdef)),
      attr(6, be64(0x0102030405060708n)),
      attr(7, new TextEncoder().encode('eth0'), 0, 0x41),
      attr(8, new TextEncoder().encode('ünï')),
    );
    const ad = new AttributeDecoder(buf);
    const got: unknown[] = [];
    while (ad.next()) {
      switch (ad.type) {
        case 1: got.push(ad.u8()); break;
        case 2: got.push(ad.u16()); break;
        case 3: got.push(ad.u32()); break;
        case 4: got.push(ad.be16()); break;
        case 5: got.push(ad.be32()); break;
        case 6: got.push(ad.be64()); break;
        case 7: got.push(ad.string()); break;
        case 8: got.push(ad.string()); break;
      }
    }
    ad.throwIfError();
    expect(got).toEqual([0xfe, 0x1234, 0x89abcdef, 0x1234, 0x89abcdef, 0x0102030405060708n, 'eth0', 'ünï']);
  });

  it('gives views, not copies, and respects a start/end window', () => {
    const inner = concat(attr(1, [1, 2, 3]), attr(2, be32(7)));
    const buf = concat(hex('de ad be ef'), inner, hex('ff ff ff ff'));
    const ad = new AttributeDecoder(buf, 4, 4 + inner.length);
    expect(ad.next()).toBe(true);
    const v = ad.bytes();
    expect(Array.from(v)).toEqual([1, 2, 3]);
    expect(v.buffer).toBe(buf.buffer);
    expect(v.byteOffset).toBe(buf.byteOffset + 8);
    expect(ad.next()).toBe(true);
    expect(ad.be32()).toBe(7);
    expect(ad.next()).toBe(false);
    expect(ad.error).toBeUndefined();
  });

  it('works on a Uint8Array with a non-zero byteOffset', () => {
    const backing = new Uint8Array(64).fill(0x99);
    const a = attr(3, be32(0x0a0b0c0d));
    backing.set(a, 13);
    const ad = new AttributeDecoder(backing.subarray(13, 13 + a.length));
    expect(ad.next()).toBe(true);
    expect(ad.type).toBe(3);
    expect(ad.be32()).toBe(0x0a0b0c0d);
  });

  it('iterates nested attributes', () => {
    const buf = nest(19, attr(1, be16(0x8100)), attr(2, be16(0x0064)));
    const ad = new AttributeDecoder(buf);
    expect(ad.next()).toBe(true);
    expect(ad.type).toBe(19);
    expect(ad.nested).toBe(true);
    const n = ad.nestedDecoder();
    const vals: [number, number][] = [];
    while (n.next()) vals.push([n.type, n.be16()]);
    expect(vals).toEqual([
      [1, 0x8100],
      [2, 0x64],
    ]);
    expect(ad.next()).toBe(false);
  });

  it('accepts a last attribute without its padding', () => {
    const buf = attr(1, [9]).subarray(0, 5);
    const ad = new AttributeDecoder(buf);
    expect(ad.next()).toBe(true);
    expect(ad.u8()).toBe(9);
    expect(ad.next()).toBe(false);
    expect(ad.error).toBeUndefined();
  });

  it('stops on a truncated attribute header', () => {
    const buf = concat(attr(1, be32(1)), hex('08 00 01'));
    const ad = new AttributeDecoder(buf);
    expect(ad.next()).toBe(true);
    expect(ad.next()).toBe(false);
    expect(ad.error).toBeInstanceOf(NetlinkDecodeError);
    expect(ad.error!.offset).toBe(8);
    expect(ad.error!.truncated).toBe(true);
    expect(() => ad.throwIfError()).toThrow(NetlinkDecodeError);
  });

  it('stops on a length shorter than the header', () => {
    const ad = new AttributeDecoder(concat(attr(1, be32(1)), hex('03 00 01 00 00 00 00 00')));
    expect(ad.next()).toBe(true);
    expect(ad.next()).toBe(false);
    expect(ad.error!.offset).toBe(8);
    expect(ad.error!.truncated).toBe(false);
  });

  it('stops on a length running past the container', () => {
    const buf = concat(attr(1, be32(1)), hex('0c 00 02 00 01 02 03 04'));
    const ad = new AttributeDecoder(buf);
    expect(ad.next()).toBe(true);
    expect(ad.next()).toBe(false);
    expect(ad.error!.offset).toBe(8);
    expect(ad.error!.truncated).toBe(true);
  });

  it('keeps the first error (sticky)', () => {
    const ad = new AttributeDecoder(hex('02 00 01 00 03 00 01 00'));
    expect(ad.next()).toBe(false);
    const first = ad.error;
    expect(first).toBeDefined();
    expect(ad.next()).toBe(false);
    expect(ad.error).toBe(first);
  });

  it('sets the error when an accessor finds the value too short, and stops', () => {
    const buf = concat(attr(1, [1, 2]), attr(2, be32(5)));
    const ad = new AttributeDecoder(buf);
    expect(ad.next()).toBe(true);
    expect(ad.be32()).toBe(0);
    expect(ad.error).toBeInstanceOf(NetlinkDecodeError);
    expect(ad.error!.offset).toBe(0);
    expect(ad.error!.message).toMatch(/holds 2 bytes, be32 needs 4/);
    const first = ad.error;
    expect(ad.u32()).toBe(0);
    expect(ad.error).toBe(first);
    expect(ad.next()).toBe(false);
    expect(() => ad.throwIfError()).toThrow(first!);
  });

  it.each([
    ['u8', 0, (ad: AttributeDecoder) => ad.u8()],
    ['u16', 1, (ad: AttributeDecoder) => ad.u16()],
    ['be16', 1, (ad: AttributeDecoder) => ad.be16()],
    ['u32', 3, (ad: AttributeDecoder) => ad.u32()],
    ['be32', 3, (ad: AttributeDecoder) => ad.be32()],
  ] as const)('%s on a %i-byte value sets the error', (_name, n, read) => {
    const ad = new AttributeDecoder(concat(attr(1, be32(0)), attr(7, new Uint8Array(n).fill(0xff))));
    expect(ad.next()).toBe(true);
    expect(ad.next()).toBe(true);
    expect(read(ad)).toBe(0);
    expect(ad.error!.offset).toBe(8);
  });

  it('be64 on a 7-byte value sets the error', () => {
    const ad = new AttributeDecoder(attr(4, new Uint8Array(7).fill(1)));
    ad.next();
    expect(ad.be64()).toBe(0n);
    expect(ad.error!.offset).toBe(0);
  });

  it('an empty range yields nothing and no error', () => {
    const ad = new AttributeDecoder(new Uint8Array(8), 4, 4);
    expect(ad.next()).toBe(false);
    expect(ad.error).toBeUndefined();
  });
});

describe('parseAttributes', () => {
  it('lists attributes with masked types and nested flags', () => {
    const buf = concat(attr(1, [1]), nest(2, attr(1, [2])), attr(0x4003, [3, 3]));
    const list = parseAttributes(buf);
    expect(list.map((a) => [a.type, a.nested, toHex(a.value)])).toEqual([
      [1, false, '01'],
      [2, true, '05 00 01 00 02 00 00 00'],
      [3, false, '03 03'],
    ]);
  });

  it('throws the decode error', () => {
    expect(() => parseAttributes(hex('09 00 01 00 00'))).toThrow(NetlinkDecodeError);
  });
});
