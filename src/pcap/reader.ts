/**
 * Reader for classic pcap (either byte order, micro- or nanosecond) and pcapng (sections
 * in either byte order, several interfaces, EPB / SPB / obsolete packet blocks). Record
 * data are views into the input, never copies. Any malformed input raises PcapFormatError.
 */
import { readFileSync } from 'node:fs';
import { PcapFormatError } from './errors.js';
import { NS_PER_SEC, PCAP_FILE_HEADER, PCAP_RECORD_HEADER } from './layouts.js';

/** Largest record (or pcapng block) the reader accepts: 256 MiB. */
export const MAX_RECORD_LENGTH = 256 * 1024 * 1024;

/** pcapng Section Header Block type (also the file's first four bytes). */
export const PCAPNG_BLOCK_SHB = 0x0a0d0d0a;
/** pcapng Interface Description Block type. */
export const PCAPNG_BLOCK_IDB = 0x00000001;
/** pcapng obsolete Packet Block type. */
export const PCAPNG_BLOCK_PB = 0x00000002;
/** pcapng Simple Packet Block type. */
export const PCAPNG_BLOCK_SPB = 0x00000003;
/** pcapng Enhanced Packet Block type. */
export const PCAPNG_BLOCK_EPB = 0x00000006;

const BYTE_ORDER_MAGIC = 0x1a2b3c4d;
const OPT_ENDOFOPT = 0;
const OPT_IF_TSRESOL = 9;
const OPT_IF_TSOFFSET = 14;

/** One captured packet. */
export interface PcapRecord {
  /** Link type of the interface the record was captured on. */
  linktype: number;
  /** Index into `PcapCapture.interfaces` (always 0 for classic pcap). */
  interfaceId: number;
  /** Capture time in nanoseconds since the Unix epoch (0n when the block has none). */
  timestampNs: bigint;
  /** The captured bytes: a view into the input. */
  data: Uint8Array;
  /** Length of the packet on the wire (may exceed `data.length` when cut by snaplen). */
  originalLength: number;
}

/** One capture interface (the file header of a classic pcap, or a pcapng IDB). */
export interface PcapInterface {
  /** Link type, e.g. 253 (LINKTYPE_NETLINK) or 101 (LINKTYPE_RAW). */
  linktype: number;
  /** Snapshot length (0 = unlimited in pcapng). */
  snaplen: number;
}

/** A whole decoded capture file. */
export interface PcapCapture {
  /** Which container the bytes were. */
  format: 'pcap' | 'pcapng';
  /** Every interface seen, in order (pcapng: across all sections). */
  interfaces: PcapInterface[];
  /** Every packet, in file order. */
  records: PcapRecord[];
}

/** Decode a classic pcap or pcapng file held in memory; throws PcapFormatError on bad input. */
export function readPcap(bytes: Uint8Array): PcapCapture {
  if (bytes.length < 4) {
    throw new PcapFormatError('file too short for a pcap or pcapng magic number', 0, true);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0, true);
  switch (magic) {
    case 0xa1b2c3d4:
      return readClassic(bytes, true, false);
    case 0xa1b23c4d:
      return readClassic(bytes, true, true);
    case 0xd4c3b2a1:
      return readClassic(bytes, false, false);
    case 0x4d3cb2a1:
      return readClassic(bytes, false, true);
    case PCAPNG_BLOCK_SHB:
      return readPcapng(bytes, view);
    default:
      throw new PcapFormatError(
        `not a pcap or pcapng file (magic 0x${magic.toString(16).padStart(8, '0')})`,
        0,
      );
  }
}

/** Read and decode a pcap or pcapng file; throws PcapFormatError on bad content. */
export function readPcapFile(path: string): PcapCapture {
  const buf = readFileSync(path);
  return readPcap(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}

function readClassic(bytes: Uint8Array, le: boolean, nano: boolean): PcapCapture {
  const len = bytes.length;
  const fileHeader = le ? PCAP_FILE_HEADER.le : PCAP_FILE_HEADER.be;
  const recordHeader = le ? PCAP_RECORD_HEADER.le : PCAP_RECORD_HEADER.be;
  if (len < fileHeader.span) throw new PcapFormatError('pcap file header cut short', len, true);
  const h = fileHeader.decode(bytes);
  if (h.versionMajor !== 2) throw new PcapFormatError(`unsupported pcap version ${h.versionMajor}`, 4);
  const snaplen = h.snaplen;
  // The upper bits of the link-type field hold FCS information; the type is the low 16 bits.
  const linktype = h.linktype & 0xffff;
  const fracScale = nano ? 1n : 1000n;
  const records: PcapRecord[] = [];
  let off = fileHeader.span;
  while (off < len) {
    if (len - off < recordHeader.span) throw new PcapFormatError('record header cut short', off, true);
    const { sec, frac, inclLen, origLen } = recordHeader.decode(bytes, off);
    if (inclLen > MAX_RECORD_LENGTH) {
      throw new PcapFormatError(
        `record length ${inclLen} exceeds the ${MAX_RECORD_LENGTH}-byte limit`,
        off + 8,
      );
    }
    const start = off + recordHeader.span;
    if (inclLen > len - start) {
      throw new PcapFormatError(
        `record of ${inclLen} bytes is longer than the ${len - start} bytes left in the file`,
        off + 8,
        true,
      );
    }
    records.push({
      linktype,
      interfaceId: 0,
      timestampNs: BigInt(sec) * NS_PER_SEC + BigInt(frac) * fracScale,
      data: bytes.subarray(start, start + inclLen),
      originalLength: origLen,
    });
    off = start + inclLen;
  }
  return { format: 'pcap', interfaces: [{ linktype, snaplen }], records };
}

/** Timestamp conversion of one pcapng interface. */
interface TsUnit {
  /** Multiply the raw count by this... */
  mul: bigint;
  /** ...then divide by this to get nanoseconds. */
  div: bigint;
  /** Offset in nanoseconds added after conversion (if_tsoffset). */
  offsetNs: bigint;
}

interface NgInterface extends PcapInterface {
  ts: TsUnit;
  /** Index in the capture's `interfaces` list. */
  globalId: number;
}

const DEFAULT_TS: TsUnit = { mul: 1000n, div: 1n, offsetNs: 0n };

function readPcapng(bytes: Uint8Array, view: DataView): PcapCapture {
  const len = bytes.length;
  const interfaces: PcapInterface[] = [];
  const records: PcapRecord[] = [];
  let section: NgInterface[] = [];
  let le = true;
  let off = 0;
  while (off < len) {
    if (len - off < 12) throw new PcapFormatError('pcapng block header cut short', off, true);
    // The SHB type reads the same in both byte orders, so it is recognised before the order is known.
    const type = view.getUint32(off, le);
    if (type === PCAPNG_BLOCK_SHB) {
      const bom = view.getUint32(off + 8, true);
      if (bom === BYTE_ORDER_MAGIC) le = true;
      else if (bom === 0x4d3c2b1a) le = false;
      else throw new PcapFormatError('bad pcapng byte-order magic', off + 8);
      section = [];
    } else if (off === 0) {
      throw new PcapFormatError('pcapng file does not start with a section header', 0);
    }
    const blockLen = view.getUint32(off + 4, le);
    if (blockLen < 12 || blockLen % 4 !== 0) {
      throw new PcapFormatError(`bad pcapng block length ${blockLen}`, off + 4);
    }
    if (blockLen > MAX_RECORD_LENGTH) {
      throw new PcapFormatError(
        `pcapng block length ${blockLen} exceeds the ${MAX_RECORD_LENGTH}-byte limit`,
        off + 4,
      );
    }
    if (blockLen > len - off) {
      throw new PcapFormatError(
        `pcapng block of ${blockLen} bytes is longer than the ${len - off} bytes left in the file`,
        off + 4,
        true,
      );
    }
    const end = off + blockLen;
    if (view.getUint32(end - 4, le) !== blockLen) {
      throw new PcapFormatError('pcapng block lengths at start and end differ', end - 4);
    }
    const body = off + 8;
    const bodyEnd = end - 4;
    const bodyLen = bodyEnd - body;
    switch (type) {
      case PCAPNG_BLOCK_SHB: {
        if (bodyLen < 16) throw new PcapFormatError('section header block too short', off);
        const major = view.getUint16(body + 4, le);
        if (major !== 1) throw new PcapFormatError(`unsupported pcapng version ${major}`, body + 4);
        break;
      }
      case PCAPNG_BLOCK_IDB: {
        if (bodyLen < 8) throw new PcapFormatError('interface description block too short', off);
        const linktype = view.getUint16(body, le);
        const snaplen = view.getUint32(body + 4, le);
        const ts = readIdbOptions(view, body + 8, bodyEnd, le);
        const iface: PcapInterface = { linktype, snaplen };
        section.push({ ...iface, ts, globalId: interfaces.length });
        interfaces.push(iface);
        break;
      }
      case PCAPNG_BLOCK_EPB:
      case PCAPNG_BLOCK_PB: {
        // The obsolete Packet Block is an Enhanced Packet Block with a 16-bit interface id
        // (and drop count in the other 16 bits).
        const enhanced = type === PCAPNG_BLOCK_EPB;
        if (bodyLen < 20) throw new PcapFormatError(`${enhanced ? 'enhanced packet' : 'packet'} block too short`, off);
        const iface = lookup(section, enhanced ? view.getUint32(body, le) : view.getUint16(body, le), body);
        const capLen = view.getUint32(body + 12, le);
        const origLen = view.getUint32(body + 16, le);
        const start = body + 20;
        if (capLen > bodyEnd - start) {
          throw new PcapFormatError(
            `captured length ${capLen} is longer than its ${bodyEnd - start}-byte block`,
            body + 12,
          );
        }
        records.push({
          linktype: iface.linktype,
          interfaceId: iface.globalId,
          timestampNs: toNs(iface.ts, view.getUint32(body + 4, le), view.getUint32(body + 8, le)),
          data: bytes.subarray(start, start + capLen),
          originalLength: origLen,
        });
        break;
      }
      case PCAPNG_BLOCK_SPB: {
        if (bodyLen < 4) throw new PcapFormatError('simple packet block too short', off);
        const iface = lookup(section, 0, body);
        const origLen = view.getUint32(body, le);
        const start = body + 4;
        let capLen = Math.min(origLen, bodyEnd - start);
        if (iface.snaplen > 0) capLen = Math.min(capLen, iface.snaplen);
        records.push({
          linktype: iface.linktype,
          interfaceId: iface.globalId,
          timestampNs: 0n,
          data: bytes.subarray(start, start + capLen),
          originalLength: origLen,
        });
        break;
      }
      default:
        break; // unknown or uninteresting block (statistics, name resolution, ...): skip
    }
    off = end;
  }
  return { format: 'pcapng', interfaces, records };
}

function lookup(section: NgInterface[], id: number, at: number): NgInterface {
  const iface = section[id];
  if (iface === undefined) {
    throw new PcapFormatError(`packet refers to interface ${id}, which is not described`, at);
  }
  return iface;
}

function readIdbOptions(view: DataView, start: number, end: number, le: boolean): TsUnit {
  let ts = DEFAULT_TS;
  let offsetNs = 0n;
  let off = start;
  while (end - off >= 4) {
    const code = view.getUint16(off, le);
    const optLen = view.getUint16(off + 2, le);
    if (code === OPT_ENDOFOPT) break;
    const value = off + 4;
    if (optLen > end - value) {
      throw new PcapFormatError(`option ${code} of ${optLen} bytes overruns its block`, off + 2);
    }
    if (code === OPT_IF_TSRESOL && optLen >= 1) {
      const r = view.getUint8(value);
      const exp = BigInt(r & 0x7f);
      const denom = r & 0x80 ? 2n ** exp : 10n ** exp; // units per second
      // ns = count * 1e9 / denom, kept exact with a multiplier and a divisor.
      ts = denom <= NS_PER_SEC && NS_PER_SEC % denom === 0n
        ? { mul: NS_PER_SEC / denom, div: 1n, offsetNs: 0n }
        : { mul: NS_PER_SEC, div: denom, offsetNs: 0n };
    } else if (code === OPT_IF_TSOFFSET && optLen >= 8) {
      offsetNs = view.getBigInt64(value, le) * NS_PER_SEC;
    }
    off = value + ((optLen + 3) & ~3);
  }
  return { mul: ts.mul, div: ts.div, offsetNs };
}

function toNs(ts: TsUnit, high: number, low: number): bigint {
  const count = (BigInt(high) << 32n) | BigInt(low);
  return (count * ts.mul) / ts.div + ts.offsetNs;
}
