import { describe, expect, it } from 'vitest';
import {
  LINKTYPE_NETLINK,
  LINKTYPE_RAW,
  MAX_RECORD_LENGTH,
  PcapFormatError,
  PcapWriter,
  readPcap,
} from '../../src/pcap/index.js';
import { Bytes, concat, ngBlock, shbBody } from '../support/pcap.js';
import { hex, hexString } from '../support/bytes.js';

function formatError(fn: () => unknown): PcapFormatError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(PcapFormatError);
    return err as PcapFormatError;
  }
  throw new Error('expected a PcapFormatError');
}

describe('readPcap: classic pcap', () => {
  for (const nanosecond of [false, true]) {
    it(`round-trips records written with ${nanosecond ? 'nano' : 'micro'}second timestamps`, () => {
      const w = new PcapWriter(LINKTYPE_NETLINK, { nanosecond, snaplen: 8 });
      const ts = 1_700_000_000_123_456_789n;
      const bytes = concat(
        w.header(),
        w.record(hex('00112233'), ts),
        w.record(hex(''), { sec: 3, nsec: 999_999_999 }),
        w.record(hex('000102030405060708090a'), 0n), // cut to snaplen 8
      );
      const cap = readPcap(bytes);
      expect(cap.format).toBe('pcap');
      expect(cap.interfaces).toEqual([{ linktype: 253, snaplen: 8 }]);
      const expectTs = (ns: bigint) => (nanosecond ? ns : (ns / 1000n) * 1000n);
      expect(
        cap.records.map((r) => ({ ...r, data: hexString(r.data) })),
      ).toEqual([
        { linktype: 253, interfaceId: 0, timestampNs: expectTs(ts), data: '00112233', originalLength: 4 },
        { linktype: 253, interfaceId: 0, timestampNs: expectTs(3_999_999_999n), data: '', originalLength: 0 },
        { linktype: 253, interfaceId: 0, timestampNs: 0n, data: '0001020304050607', originalLength: 11 },
      ]);
      // record data are views into the input, not copies
      expect(cap.records[0]!.data.buffer).toBe(bytes.buffer);
    });
  }

  it('reads an empty capture (header only)', () => {
    const cap = readPcap(new PcapWriter(LINKTYPE_RAW).header());
    expect(cap.records).toEqual([]);
    expect(cap.interfaces[0]!.linktype).toBe(101);
  });

  it('reads a big-endian microsecond pcap built by hand', () => {
    const bytes = hex(`
      a1b2c3d4 0002 0004 00000000 00000000 0000ffff 00000065
      00000010 000f4240 00000003 00000005 aabbcc
      00000011 00000001 00000001 00000001 dd`);
    // second record's usec field is 1000000 (0x000f4240): out of range but accepted as is
    const cap = readPcap(bytes);
    expect(cap.interfaces).toEqual([{ linktype: 101, snaplen: 65535 }]);
    expect(cap.records.map((r) => [r.linktype, r.timestampNs, hexString(r.data), r.originalLength])).toEqual([
      [101, 17_000_000_000n, 'aabbcc', 5],
      [101, 17_000_001_000n, 'dd', 1],
    ]);
  });

  it('reads a big-endian nanosecond pcap built by hand', () => {
    const bytes = hex(`
      a1b23c4d 0002 0004 00000000 00000000 00040000 000000fd
      00000002 00000005 00000002 00000002 0102`);
    const cap = readPcap(bytes);
    expect(cap.records[0]!.timestampNs).toBe(2_000_000_005n);
    expect(cap.records[0]!.linktype).toBe(253);
  });

  it('masks FCS bits out of the link-type field', () => {
    const bytes = new PcapWriter(LINKTYPE_RAW).header();
    bytes[23] = 0x14; // F bit + FCS length bits
    expect(readPcap(bytes).interfaces[0]!.linktype).toBe(101);
  });

  it('rejects bad magic', () => {
    const e = formatError(() => readPcap(hex('0123456789abcdef0000000000000000')));
    expect(e.message).toMatch(/not a pcap or pcapng file/);
    expect(e.truncated).toBe(false);
    expect(e.offset).toBe(0);
  });

  it('rejects a file too short for a magic number', () => {
    for (const b of [hex(''), hex('d4c3b2')]) {
      expect(formatError(() => readPcap(b)).truncated).toBe(true);
    }
  });

  it('rejects a truncated file header', () => {
    const e = formatError(() => readPcap(new PcapWriter(LINKTYPE_RAW).header().subarray(0, 20)));
    expect(e.truncated).toBe(true);
  });

  it('rejects an unsupported version', () => {
    const h = new PcapWriter(LINKTYPE_RAW).header();
    h[4] = 1;
    expect(formatError(() => readPcap(h)).message).toMatch(/version/);
  });

  it('rejects a truncated record header', () => {
    const w = new PcapWriter(LINKTYPE_RAW);
    const full = concat(w.header(), w.record(hex('0102'), 0n));
    const e = formatError(() => readPcap(full.subarray(0, 24 + 10)));
    expect(e.truncated).toBe(true);
    expect(e.offset).toBe(24);
  });

  it('rejects a record longer than the file', () => {
    const w = new PcapWriter(LINKTYPE_RAW);
    const full = concat(w.header(), w.record(hex('01020304'), 0n));
    const e = formatError(() => readPcap(full.subarray(0, full.length - 1)));
    expect(e.truncated).toBe(true);
    expect(e.message).toMatch(/longer than/);
    expect(e.offset).toBe(24 + 8);
  });

  it('rejects an absurd record length without allocating', () => {
    const w = new PcapWriter(LINKTYPE_RAW);
    const full = concat(w.header(), w.record(hex('01'), 0n));
    new DataView(full.buffer).setUint32(24 + 8, MAX_RECORD_LENGTH + 1, true);
    const e = formatError(() => readPcap(full));
    expect(e.truncated).toBe(false);
    expect(e.message).toMatch(/limit/);
  });

  it('accepts a Uint8Array that is a view at an offset', () => {
    const w = new PcapWriter(LINKTYPE_RAW);
    const inner = concat(w.header(), w.record(hex('abcd'), 0n));
    const outer = new Uint8Array(inner.length + 7);
    outer.set(inner, 3);
    const cap = readPcap(outer.subarray(3, 3 + inner.length));
    expect(hexString(cap.records[0]!.data)).toBe('abcd');
  });
});

/** A pcapng section with two interfaces, in either byte order. */
function twoInterfaceSection(le: boolean): Uint8Array {
  const b = () => new Bytes(le);
  // IDB 0: LINKTYPE_NETLINK, snaplen 0, if_tsresol = 9 (10^-9), then opt_endofopt
  const idb0 = b().u16(253).u16(0).u32(0)
    .u16(9).u16(1).u8(9).pad4()
    .u16(0).u16(0)
    .done();
  // IDB 1: LINKTYPE_RAW, snaplen 3, no options: default resolution 10^-6
  const idb1 = b().u16(101).u16(0).u32(3).done();
  // EPB on interface 1: ts = 1_500_000 us, caplen 2, origlen 9, data 0x0a0b, plus an option
  const epb1 = b().u32(1).u32(0).u32(1_500_000).u32(2).u32(9).raw([0x0a, 0x0b]).pad4()
    .u16(1).u16(3).raw([0x68, 0x69, 0x21]).pad4() // opt_comment "hi!"
    .u16(0).u16(0)
    .done();
  // EPB on interface 0: ts = 2^32 + 5 ns, 5 bytes
  const epb0 = b().u32(0).u32(1).u32(5).u32(5).u32(5).raw([1, 2, 3, 4, 5]).pad4().done();
  // an unknown block type (custom, 0x40000BAD) and a name-resolution block to skip
  const unknown = ngBlock(le, 0x40000bad, hex('0102030405060708'));
  const nrb = ngBlock(le, 4, b().u16(0).u16(0).done());
  // SPB: original length 4 goes to interface 0 (snaplen 0 = unlimited)
  const spb = b().u32(4).raw([0xc0, 0xff, 0xee, 0x00]).done();
  return concat(
    ngBlock(le, 0x0a0d0d0a, shbBody(le)),
    ngBlock(le, 1, idb0),
    ngBlock(le, 1, idb1),
    ngBlock(le, 6, epb1),
    unknown,
    ngBlock(le, 6, epb0),
    nrb,
    ngBlock(le, 3, spb),
  );
}

describe('readPcap: pcapng', () => {
  for (const le of [true, false]) {
    it(`reads a hand-made ${le ? 'little' : 'big'}-endian section with two interfaces`, () => {
      const cap = readPcap(twoInterfaceSection(le));
      expect(cap.format).toBe('pcapng');
      expect(cap.interfaces).toEqual([
        { linktype: 253, snaplen: 0 },
        { linktype: 101, snaplen: 3 },
      ]);
      expect(cap.records.map((r) => ({ ...r, data: hexString(r.data) }))).toEqual([
        { linktype: 101, interfaceId: 1, timestampNs: 1_500_000_000n, data: '0a0b', originalLength: 9 },
        { linktype: 253, interfaceId: 0, timestampNs: 4_294_967_301n, data: '0102030405', originalLength: 5 },
        { linktype: 253, interfaceId: 0, timestampNs: 0n, data: 'c0ffee00', originalLength: 4 },
      ]);
    });
  }

  it('checks the byte-literal start of the little-endian section', () => {
    const bytes = twoInterfaceSection(true);
    expect(hexString(bytes.subarray(0, 28))).toBe(
      '0a0d0d0a' + '1c000000' + '4d3c2b1a' + '0100' + '0000' + 'ffffffffffffffff' + '1c000000',
    );
  });

  it('starts a new interface list at each section, which may switch byte order', () => {
    const sectionB = concat(
      ngBlock(false, 0x0a0d0d0a, shbBody(false)),
      ngBlock(false, 1, new Bytes(false).u16(1).u16(0).u32(0).done()),
      ngBlock(false, 6, new Bytes(false).u32(0).u32(0).u32(7).u32(1).u32(1).raw([0x99]).pad4().done()),
    );
    const cap = readPcap(concat(twoInterfaceSection(true), sectionB));
    expect(cap.interfaces.map((i) => i.linktype)).toEqual([253, 101, 1]);
    const last = cap.records[cap.records.length - 1]!;
    expect([last.linktype, last.interfaceId, last.timestampNs, hexString(last.data)]).toEqual([1, 2, 7000n, '99']);
    // a packet in the second section cannot refer to the first section's interface 1
    const bad = concat(
      twoInterfaceSection(true),
      ngBlock(true, 0x0a0d0d0a, shbBody(true)),
      ngBlock(true, 1, new Bytes(true).u16(1).u16(0).u32(0).done()),
      ngBlock(true, 6, new Bytes(true).u32(1).u32(0).u32(0).u32(0).u32(0).done()),
    );
    expect(formatError(() => readPcap(bad)).message).toMatch(/interface 1/);
  });

  it('honours binary if_tsresol and if_tsoffset', () => {
    const le = true;
    const idb = new Bytes(le).u16(101).u16(0).u32(0)
      .u16(9).u16(1).u8(0x80 | 10).pad4() // 2^-10 s
      .u16(14).u16(8).u32(100).u32(0) // if_tsoffset = +100 s
      .done();
    const epb = new Bytes(le).u32(0).u32(0).u32(3 * 1024 + 512).u32(0).u32(0).done();
    const cap = readPcap(concat(ngBlock(le, 0x0a0d0d0a, shbBody(le)), ngBlock(le, 1, idb), ngBlock(le, 6, epb)));
    expect(cap.records[0]!.timestampNs).toBe(103_500_000_000n);
  });

  it('reads obsolete packet blocks', () => {
    const le = true;
    const idb = new Bytes(le).u16(101).u16(0).u32(0).done();
    const pb = new Bytes(le).u16(0).u16(0).u32(0).u32(42).u32(1).u32(1).raw([0x55]).pad4().done();
    const cap = readPcap(concat(ngBlock(le, 0x0a0d0d0a, shbBody(le)), ngBlock(le, 1, idb), ngBlock(le, 2, pb)));
    expect(cap.records[0]!.timestampNs).toBe(42_000n);
    expect(hexString(cap.records[0]!.data)).toBe('55');
  });

  it('cuts a simple packet block at the interface snaplen', () => {
    const le = true;
    const idb = new Bytes(le).u16(101).u16(0).u32(2).done();
    const spb = new Bytes(le).u32(4).raw([1, 2, 3, 4]).done();
    const cap = readPcap(concat(ngBlock(le, 0x0a0d0d0a, shbBody(le)), ngBlock(le, 1, idb), ngBlock(le, 3, spb)));
    expect(hexString(cap.records[0]!.data)).toBe('0102');
    expect(cap.records[0]!.originalLength).toBe(4);
  });

  it('rejects a truncated block', () => {
    const bytes = twoInterfaceSection(true);
    const e = formatError(() => readPcap(bytes.subarray(0, bytes.length - 4)));
    expect(e.truncated).toBe(true);
    const e2 = formatError(() => readPcap(bytes.subarray(0, 10)));
    expect(e2.truncated).toBe(true);
  });

  it('rejects a bad byte-order magic, bad lengths and unknown interfaces', () => {
    const le = true;
    const shb = ngBlock(le, 0x0a0d0d0a, shbBody(le));
    const badBom = shb.slice();
    badBom[8] = 0;
    expect(formatError(() => readPcap(badBom)).message).toMatch(/byte-order/);
    const badTrailer = shb.slice();
    badTrailer[badTrailer.length - 4] = 0;
    expect(formatError(() => readPcap(badTrailer)).message).toMatch(/differ/);
    const oddLen = concat(shb, new Bytes(le).u32(1).u32(13).u32(0).u32(0).done());
    expect(formatError(() => readPcap(oddLen)).message).toMatch(/block length 13/);
    const huge = concat(shb, new Bytes(le).u32(1).u32(MAX_RECORD_LENGTH + 4).u32(0).done());
    const e = formatError(() => readPcap(huge));
    expect(e.truncated).toBe(false);
    expect(e.message).toMatch(/limit/);
    const orphan = concat(shb, ngBlock(le, 6, new Bytes(le).u32(0).u32(0).u32(0).u32(0).u32(0).done()));
    expect(formatError(() => readPcap(orphan)).message).toMatch(/interface 0/);
    const capTooLong = concat(
      shb,
      ngBlock(le, 1, new Bytes(le).u16(1).u16(0).u32(0).done()),
      ngBlock(le, 6, new Bytes(le).u32(0).u32(0).u32(0).u32(5).u32(5).raw([1, 2, 3, 4]).done()),
    );
    expect(formatError(() => readPcap(capTooLong)).message).toMatch(/captured length 5/);
    const badOption = concat(
      shb,
      ngBlock(le, 1, new Bytes(le).u16(1).u16(0).u32(0).u16(9).u16(200).done()),
    );
    expect(formatError(() => readPcap(badOption)).message).toMatch(/overruns/);
  });
});
