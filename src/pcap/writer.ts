/**
 * Classic libpcap writer (little-endian; microsecond or nanosecond timestamps).
 * `PcapWriter` only builds bytes; `PcapFileWriter` appends them to a file with one
 * synchronous write per record, so nothing buffered is lost if the process dies.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { NetfilterQueueError } from '../netlink/errors.js';
import { NS_PER_SEC, PCAP_FILE_HEADER, PCAP_RECORD_HEADER } from './layouts.js';

/** Link type for netlink datagrams behind a 16-byte cooked header (what nlmon captures). */
export const LINKTYPE_NETLINK = 253;
/** Link type for raw IPv4/IPv6 packets without a link-layer header. */
export const LINKTYPE_RAW = 101;

/** Magic of a classic pcap file with microsecond timestamps. */
export const PCAP_MAGIC_MICROSECONDS = 0xa1b2c3d4;
/** Magic of a classic pcap file with nanosecond timestamps. */
export const PCAP_MAGIC_NANOSECONDS = 0xa1b23c4d;
/** Size of the classic pcap file header. */
export const PCAP_FILE_HEADER_LENGTH = 24;
/** Size of the classic pcap per-record header. */
export const PCAP_RECORD_HEADER_LENGTH = 16;
/** Default snapshot length (libpcap's maximum, 256 KiB). */
export const PCAP_DEFAULT_SNAPLEN = 262144;

/** A record timestamp: seconds plus nanoseconds, or nanoseconds since the epoch as a bigint. */
export type PcapTimestamp = { sec: number; nsec: number } | bigint;

/** Options of a pcap writer. */
export interface PcapWriterOptions {
  /** Largest number of bytes kept per record (longer data is cut); default 262144. */
  snaplen?: number;
  /** Write nanosecond timestamps (magic 0xa1b23c4d) instead of microseconds. */
  nanosecond?: boolean;
}

const U32_MAX = 0xffffffff;

// Wall clock with sub-millisecond resolution: Date.now() anchors, hrtime advances.
const wallAnchorNs = BigInt(Date.now()) * 1_000_000n;
const hrAnchorNs = process.hrtime.bigint();

/** Nanoseconds since the Unix epoch, from the wall clock, as a bigint. */
export function nowNs(): bigint {
  return wallAnchorNs + (process.hrtime.bigint() - hrAnchorNs);
}

function checkU32(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 0 || value > U32_MAX) {
    throw new RangeError(`${name} must be an integer from 0 to ${U32_MAX}, got ${value}`);
  }
}

/** Split a timestamp into whole seconds and nanoseconds, validating both. */
function splitTimestamp(ts: PcapTimestamp): { sec: number; nsec: number } {
  if (typeof ts === 'bigint') {
    if (ts < 0n || ts / NS_PER_SEC > BigInt(U32_MAX)) {
      throw new RangeError(`timestamp ${ts} ns does not fit a pcap record (32-bit seconds)`);
    }
    return { sec: Number(ts / NS_PER_SEC), nsec: Number(ts % NS_PER_SEC) };
  }
  checkU32('timestamp seconds', ts.sec);
  if (!Number.isInteger(ts.nsec) || ts.nsec < 0 || ts.nsec > 999_999_999) {
    throw new RangeError(`timestamp nanoseconds must be an integer from 0 to 999999999, got ${ts.nsec}`);
  }
  return ts;
}

/** Builds the bytes of a classic pcap file: one header, then records. Does no I/O. */
export class PcapWriter {
  /** Link type written in the file header (e.g. LINKTYPE_NETLINK). */
  readonly linktype: number;
  /** Snapshot length: records are cut to this many bytes. */
  readonly snaplen: number;
  /** Whether timestamps are written in nanoseconds. */
  readonly nanosecond: boolean;

  constructor(linktype: number, options: PcapWriterOptions = {}) {
    checkU32('linktype', linktype);
    const snaplen = options.snaplen ?? PCAP_DEFAULT_SNAPLEN;
    checkU32('snaplen', snaplen);
    if (snaplen === 0) throw new RangeError('snaplen must be at least 1');
    this.linktype = linktype;
    this.snaplen = snaplen;
    this.nanosecond = options.nanosecond ?? false;
  }

  /** The 24-byte file header. */
  header(): Uint8Array {
    return PCAP_FILE_HEADER.le.bytes({
      magic: this.nanosecond ? PCAP_MAGIC_NANOSECONDS : PCAP_MAGIC_MICROSECONDS,
      versionMajor: 2,
      versionMinor: 4,
      thiszone: 0,
      sigfigs: 0,
      snaplen: this.snaplen,
      linktype: this.linktype,
    });
  }

  /**
   * One record (16-byte header + data, cut to snaplen). `timestamp` defaults to now;
   * `origLen` (the length on the wire) defaults to `data.length`.
   */
  record(data: Uint8Array, timestamp?: PcapTimestamp, origLen?: number): Uint8Array {
    const { sec, nsec } = splitTimestamp(timestamp ?? nowNs());
    const inclLen = Math.min(data.length, this.snaplen);
    const orig = origLen ?? data.length;
    checkU32('origLen', orig);
    if (orig < inclLen) {
      throw new RangeError(`origLen ${orig} is smaller than the ${inclLen} bytes recorded`);
    }
    const out = new Uint8Array(PCAP_RECORD_HEADER_LENGTH + inclLen);
    PCAP_RECORD_HEADER.le.encode({ sec, frac: this.nanosecond ? nsec : Math.floor(nsec / 1000), inclLen, origLen: orig }, out);
    out.set(inclLen === data.length ? data : data.subarray(0, inclLen), PCAP_RECORD_HEADER_LENGTH);
    return out;
  }
}

/** Writes a pcap file synchronously: the header on open, then one write per record. */
export class PcapFileWriter {
  /** The path the file was opened at. */
  readonly path: string;
  /** The byte builder behind this file (link type, snaplen, resolution). */
  readonly writer: PcapWriter;
  private fd: number | undefined;

  /** Create (or truncate) `path` and write the file header. */
  constructor(path: string, linktype: number, options: PcapWriterOptions = {}) {
    this.path = path;
    this.writer = new PcapWriter(linktype, options);
    const fd = openSync(path, 'w');
    this.fd = fd;
    try {
      writeAll(fd, this.writer.header());
    } catch (err) {
      this.close();
      throw err;
    }
  }

  /** Whether close() has been called. */
  get closed(): boolean {
    return this.fd === undefined;
  }

  /** Append one record; it is in the file (the OS page cache) when this returns. */
  write(data: Uint8Array, timestamp?: PcapTimestamp, origLen?: number): void {
    if (this.fd === undefined) throw new NetfilterQueueError(`pcap file ${this.path} is closed`, { code: 'EBADF' });
    writeAll(this.fd, this.writer.record(data, timestamp, origLen));
  }

  /** Close the file. Calling it again does nothing. */
  close(): void {
    const fd = this.fd;
    if (fd === undefined) return;
    this.fd = undefined;
    closeSync(fd);
  }
}

function writeAll(fd: number, bytes: Uint8Array): void {
  let done = 0;
  while (done < bytes.length) {
    done += writeSync(fd, bytes, done, bytes.length - done);
  }
}
