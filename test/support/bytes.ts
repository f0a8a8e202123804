/**
 * Byte builders for tests. They are written independently of src/netlink/writer.ts so
 * that tests of the library's encoders and decoders do not check the library against itself.
 * Netlink headers are host order (little-endian here); nfqueue values are big-endian.
 */

/** Bytes as an array of numbers, accepting nested arrays / Uint8Arrays. */
export type ByteSource = number | readonly ByteSource[] | Uint8Array;

/** Flattens numbers, arrays and Uint8Arrays into one Uint8Array. */
export function bytes(...parts: ByteSource[]): Uint8Array {
  const out: number[] = [];
  const walk = (p: ByteSource): void => {
    if (typeof p === 'number') {
      if (!Number.isInteger(p) || p < 0 || p > 255) throw new RangeError(`not a byte: ${p}`);
      out.push(p);
    } else if (p instanceof Uint8Array) {
      for (const b of p) out.push(b);
    } else {
      for (const q of p) walk(q);
    }
  };
  parts.forEach(walk);
  return Uint8Array.from(out);
}

/** Parses "01 02 ff" (spaces, newlines and `|` ignored) into bytes. */
export function hex(s: string): Uint8Array {
  const clean = s.replace(/[\s|]/g, '');
  if (clean.length % 2 !== 0) throw new Error(`odd hex string: ${s}`);
  const out = new Uint8Array(clean.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(clean.slice(2 * i, 2 * i + 2), 16);
  return out;
}

/** Plain lowercase hex "0102ff" of bytes, as pcap tools and the fixtures' sidecars write it. */
export function hexString(b: Uint8Array): string {
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
}

/** Hex dump "01 02 ff" of bytes, for readable assertion failures. */
export function toHex(b: Uint8Array): string {
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join(' ');
}

export const le16 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff];
export const le32 = (v: number): number[] => [v & 0xff, (v >>> 8) & 0xff, (v >>> 16) & 0xff, (v >>> 24) & 0xff];
export const be16 = (v: number): number[] => [(v >>> 8) & 0xff, v & 0xff];
export const be32 = (v: number): number[] => [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
export function be64(v: bigint | number): number[] {
  const b = BigInt(v);
  const out: number[] = [];
  for (let i = 7; i >= 0; i--) out.push(Number((b >> BigInt(8 * i)) & 0xffn));
  return out;
}
export function le64(v: bigint | number): number[] {
  return be64(v).reverse();
}

/** Zero bytes to pad a length of `n` to 4. */
export function padFor(n: number): number[] {
  return new Array<number>((4 - (n % 4)) % 4).fill(0);
}

/** One netlink attribute: le16 len (value + 4, padding excluded), le16 type, value, zero padding. */
export function attr(type: number, ...value: ByteSource[]): Uint8Array {
  const v = bytes(...value);
  return bytes(le16(v.length + 4), le16(type), v, padFor(v.length));
}

/** A nested attribute (NLA_F_NESTED set) holding `children`. */
export function nest(type: number, ...children: ByteSource[]): Uint8Array {
  return attr(type | 0x8000, ...children);
}

/** nfgenmsg: u8 family, u8 version 0, be16 queue. */
export function nfgenmsg(family: number, queue: number): number[] {
  return [family & 0xff, 0, ...be16(queue)];
}

/** Header fields for `nlmsg`. */
export interface Hdr {
  type: number;
  flags?: number;
  seq?: number;
  pid?: number;
  /** Override nlmsg_len (default: 16 + body length, padding excluded). */
  len?: number;
}

/** One netlink message: 16-byte header (little-endian) + body + zero padding to 4. */
export function nlmsg(h: Hdr, ...body: ByteSource[]): Uint8Array {
  const b = bytes(...body);
  const len = h.len ?? 16 + b.length;
  return bytes(le32(len), le16(h.type), le16(h.flags ?? 0), le32(h.seq ?? 0), le32(h.pid ?? 0), b, padFor(b.length));
}

/** A 16-byte netlink header only (no padding, no body). */
export function nlhdr(len: number, type: number, flags: number, seq: number, pid: number): number[] {
  return [...le32(len), ...le16(type), ...le16(flags), ...le32(seq), ...le32(pid)];
}

/** Concatenates byte arrays. */
export function concat(...parts: Uint8Array[]): Uint8Array {
  let n = 0;
  for (const p of parts) n += p.length;
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** The le32 at `off`. */
export function readLe32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, true);
}
/** The le16 at `off`. */
export function readLe16(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint16(off, true);
}
/** The be32 at `off`. */
export function readBe32(b: Uint8Array, off: number): number {
  return new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(off, false);
}

/** NLMSG_ERROR carrying `errno` (positive) for a request; the whole request is echoed unless `capped`. */
export function nlmsgError(
  errno: number,
  request: Uint8Array,
  opts: { capped?: boolean; ackTlvs?: Uint8Array; seq?: number } = {},
): Uint8Array {
  const capped = opts.capped ?? errno === 0;
  const echoed = capped ? request.subarray(0, 16) : request.subarray(0, readLe32(request, 0));
  let flags = capped ? 0x100 : 0;
  const tlvs = opts.ackTlvs;
  if (tlvs !== undefined) flags |= 0x200;
  const err = (-errno) | 0;
  return nlmsg({ type: 2, flags, seq: opts.seq ?? readLe32(request, 8), pid: 0 }, le32(err >>> 0), echoed, padFor(echoed.length), tlvs ?? []);
}

/** An ack (errno 0, NLM_F_CAPPED) for `request`. */
export function nlmsgAck(request: Uint8Array): Uint8Array {
  return nlmsgError(0, request, { capped: true });
}

/** Splits a datagram into its messages with a plain loop (test-side, independent of src). */
export function splitMessages(d: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  let off = 0;
  while (off + 16 <= d.length) {
    const len = readLe32(d, off);
    if (len < 16 || off + len > d.length) throw new Error(`bad message length ${len} at ${off}`);
    out.push(d.subarray(off, off + len));
    off += (len + 3) & ~3;
  }
  if (off < d.length) throw new Error(`${d.length - off} trailing bytes`);
  return out;
}

/** Attributes of a message body (after the 16-byte header and 4-byte nfgenmsg), test-side. */
export function splitAttrs(msg: Uint8Array, start = 20): { type: number; value: Uint8Array }[] {
  const out: { type: number; value: Uint8Array }[] = [];
  let off = start;
  while (off + 4 <= msg.length) {
    const len = readLe16(msg, off);
    const type = readLe16(msg, off + 2);
    if (len < 4 || off + len > msg.length) throw new Error(`bad attribute length ${len} at ${off}`);
    out.push({ type, value: msg.subarray(off + 4, off + len) });
    off += (len + 3) & ~3;
  }
  return out;
}

/** A cheap assertion for hot property loops (vitest's expect() is slow at 100k calls). */
export function check(cond: boolean, message: string | (() => string)): asserts cond {
  if (!cond) throw new Error(typeof message === 'string' ? message : message());
}
