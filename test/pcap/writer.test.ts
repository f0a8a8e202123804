import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LINKTYPE_NETLINK,
  LINKTYPE_RAW,
  PcapFileWriter,
  PcapWriter,
  nowNs,
  readPcapFile,
} from '../../src/pcap/index.js';
import { hex, hexString } from '../support/bytes.js';

const dir = mkdtempSync(join(tmpdir(), 'pcap-writer-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('PcapWriter', () => {
  it('exposes the link-type constants', () => {
    expect(LINKTYPE_NETLINK).toBe(253);
    expect(LINKTYPE_RAW).toBe(101);
  });

  it('writes a microsecond little-endian header', () => {
    expect(hexString(new PcapWriter(LINKTYPE_NETLINK).header())).toBe(
      'd4c3b2a1' + '0200' + '0400' + '00000000' + '00000000' + '00000400' + 'fd000000',
    );
  });

  it('writes a nanosecond header with a custom snaplen', () => {
    expect(hexString(new PcapWriter(LINKTYPE_RAW, { snaplen: 65535, nanosecond: true }).header())).toBe(
      '4d3cb2a1' + '0200' + '0400' + '00000000' + '00000000' + 'ffff0000' + '65000000',
    );
  });

  it('writes a record with a {sec, nsec} timestamp in microseconds', () => {
    const rec = new PcapWriter(LINKTYPE_RAW).record(hex('deadbeef'), { sec: 0x01020304, nsec: 123_456_789 });
    // 123456789 ns -> 123456 us = 0x0001e240
    expect(hexString(rec)).toBe('04030201' + '40e20100' + '04000000' + '04000000' + 'deadbeef');
  });

  it('writes a record with a bigint timestamp in nanoseconds', () => {
    const rec = new PcapWriter(LINKTYPE_RAW, { nanosecond: true }).record(
      hex('aa'),
      5_000_000_000n + 7n,
    );
    expect(hexString(rec)).toBe('05000000' + '07000000' + '01000000' + '01000000' + 'aa');
  });

  it('cuts data at snaplen and keeps the original length', () => {
    const rec = new PcapWriter(LINKTYPE_RAW, { snaplen: 2 }).record(hex('010203'), { sec: 0, nsec: 0 });
    expect(hexString(rec)).toBe('00000000' + '00000000' + '02000000' + '03000000' + '0102');
    const rec2 = new PcapWriter(LINKTYPE_RAW).record(hex('0102'), 0n, 1500);
    expect(hexString(rec2.subarray(8, 16))).toBe('02000000' + 'dc050000');
  });

  it('defaults the timestamp to now', () => {
    const before = nowNs();
    const rec = new PcapWriter(LINKTYPE_RAW, { nanosecond: true }).record(hex('00'));
    const after = nowNs();
    const v = new DataView(rec.buffer);
    const ts = BigInt(v.getUint32(0, true)) * 1_000_000_000n + BigInt(v.getUint32(4, true));
    expect(ts >= before && ts <= after).toBe(true);
    expect(Math.abs(Number(ts / 1_000_000n) - Date.now())).toBeLessThan(5000);
  });

  it('rejects bad arguments with RangeError', () => {
    const w = new PcapWriter(LINKTYPE_RAW);
    expect(() => w.record(hex('00'), -1n)).toThrow(RangeError);
    expect(() => w.record(hex('00'), 2n ** 32n * 1_000_000_000n)).toThrow(RangeError);
    expect(() => w.record(hex('00'), { sec: 1, nsec: 1_000_000_000 })).toThrow(RangeError);
    expect(() => w.record(hex('00'), { sec: 1.5, nsec: 0 })).toThrow(RangeError);
    expect(() => w.record(hex('0000'), 0n, 1)).toThrow(RangeError);
    expect(() => new PcapWriter(LINKTYPE_RAW, { snaplen: 0 })).toThrow(RangeError);
    expect(() => new PcapWriter(-1)).toThrow(RangeError);
  });
});

describe('PcapFileWriter', () => {
  it('writes the header on open and each record synchronously', () => {
    const path = join(dir, 'a.pcap');
    const f = new PcapFileWriter(path, LINKTYPE_RAW);
    expect(readFileSync(path).length).toBe(24);
    f.write(hex('0102'), { sec: 1, nsec: 2000 });
    expect(readFileSync(path).length).toBe(24 + 16 + 2); // visible before close
    f.write(hex('03'), 9n);
    f.close();
    f.close(); // idempotent
    expect(f.closed).toBe(true);
    expect(() => f.write(hex('00'))).toThrow(/closed/);
    const cap = readPcapFile(path);
    expect(cap.format).toBe('pcap');
    expect(cap.records.map((r) => [hexString(r.data), r.timestampNs])).toEqual([
      ['0102', 1_000_002_000n],
      ['03', 0n],
    ]);
  });

  it('truncates an existing file', () => {
    const path = join(dir, 'b.pcap');
    const f1 = new PcapFileWriter(path, LINKTYPE_RAW);
    f1.write(hex('01020304'));
    f1.close();
    const f2 = new PcapFileWriter(path, LINKTYPE_NETLINK, { nanosecond: true });
    f2.close();
    expect(hexString(readFileSync(path))).toBe(hexString(new PcapWriter(LINKTYPE_NETLINK, { nanosecond: true }).header()));
  });
});
