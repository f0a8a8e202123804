/** The classic pcap file and record headers, as declarative structs in either byte order. */
import { fixedLayout, type FixedLayout, layout as lo } from '../netlink/fixed-layout.js';

/** struct pcap_file_header. */
export interface PcapFileHeader {
  magic: number;
  versionMajor: number;
  versionMinor: number;
  /** GMT offset (always 0). */
  thiszone: number;
  /** Timestamp accuracy (always 0). */
  sigfigs: number;
  snaplen: number;
  /** Link type in the low 16 bits; FCS information above. */
  linktype: number;
}

/** A classic pcap record header. */
export interface PcapRecordHeader {
  sec: number;
  /** Microseconds or nanoseconds, as the file's magic says. */
  frac: number;
  inclLen: number;
  origLen: number;
}

/** The integer layouts of one byte order. */
const ints = (le: boolean) => (le ? { u16: lo.u16, u32: lo.u32, s32: lo.s32 } : { u16: lo.u16be, u32: lo.u32be, s32: lo.s32be });

const fileHeader = (le: boolean): FixedLayout<PcapFileHeader> => {
  const { u16, u32, s32 } = ints(le);
  return fixedLayout(lo.struct<PcapFileHeader>([u32('magic'), u16('versionMajor'), u16('versionMinor'), s32('thiszone'), u32('sigfigs'), u32('snaplen'), u32('linktype')]));
};

const recordHeader = (le: boolean): FixedLayout<PcapRecordHeader> => {
  const { u32 } = ints(le);
  return fixedLayout(lo.struct<PcapRecordHeader>([u32('sec'), u32('frac'), u32('inclLen'), u32('origLen')]));
};

/** The 24-byte file header, little-endian (what the writer writes) and big-endian. */
export const PCAP_FILE_HEADER = { le: fileHeader(true), be: fileHeader(false) };
/** The 16-byte record header, little-endian and big-endian. */
export const PCAP_RECORD_HEADER = { le: recordHeader(true), be: recordHeader(false) };

/** Nanoseconds per second, for the record timestamps (bigint, as the readers and writer keep them). */
export const NS_PER_SEC = 1_000_000_000n;
