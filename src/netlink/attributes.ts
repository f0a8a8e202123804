/**
 * Netlink attributes (struct nlattr): a zero-copy iterator for decoding and a writer for
 * encoding. Attribute headers are host byte order; values are whatever the family says
 * (nfnetlink uses big-endian), so accessors come in both flavours.
 */
import { NLA_HDRLEN, NLA_TYPE_MASK, NLA_F_NESTED, NLA_F_NET_BYTEORDER, align4 } from './constants.js';
import { NetlinkDecodeError } from './errors.js';

const utf8 = new TextDecoder('utf-8', { fatal: false });

/**
 * Iterates the attributes in `buffer[start, end)`:
 * `while (ad.next()) { switch (ad.type) { ... } } ad.throwIfError();`
 * The first malformed attribute stops the iteration and is kept in `error`; accessors
 * that find the value too short also set it, so one check at the end covers all.
 */
export class AttributeDecoder {
  /** Type with the NESTED and NET_BYTEORDER bits masked off. */
  type = 0;
  /** True when the NLA_F_NESTED bit was set. */
  nested = false;
  /** True when the NLA_F_NET_BYTEORDER bit was set. */
  netByteOrder = false;
  /** Offset of the current attribute's value in `buffer`. */
  valueOffset = 0;
  /** Length of the current attribute's value (padding excluded). */
  valueLength = 0;
  /** The first problem found, if any. */
  error: NetlinkDecodeError | undefined;

  readonly buffer: Uint8Array;
  private readonly view: DataView;
  private offset: number;
  private readonly end: number;

  constructor(buffer: Uint8Array, start = 0, end = buffer.byteLength) {
    this.buffer = buffer;
    this.view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
    this.offset = start;
    this.end = end;
  }

  /** Advances to the next attribute; false at the end or on the first error. */
  next(): boolean {
    if (this.error !== undefined) return false;
    const off = this.offset;
    if (off >= this.end) return false;
    if (off + NLA_HDRLEN > this.end) {
      this.error = new NetlinkDecodeError(`attribute header needs 4 bytes, ${this.end - off} left`, off, true);
      return false;
    }
    const len = this.view.getUint16(off, true);
    const rawType = this.view.getUint16(off + 2, true);
    if (len < NLA_HDRLEN) {
      this.error = new NetlinkDecodeError(`attribute length ${len} is shorter than its header`, off);
      return false;
    }
    if (off + len > this.end) {
      this.error = new NetlinkDecodeError(`attribute type ${rawType & NLA_TYPE_MASK} length ${len} runs past its container`, off, true);
      return false;
    }
    this.type = rawType & NLA_TYPE_MASK;
    this.nested = (rawType & NLA_F_NESTED) !== 0;
    this.netByteOrder = (rawType & NLA_F_NET_BYTEORDER) !== 0;
    this.valueOffset = off + NLA_HDRLEN;
    this.valueLength = len - NLA_HDRLEN;
    this.offset = off + align4(len);
    return true;
  }

  /** Throws the sticky error, if any. */
  throwIfError(): void {
    if (this.error !== undefined) throw this.error;
  }

  private need(n: number, what: string): boolean {
    if (this.valueLength >= n) return true;
    this.error ??= new NetlinkDecodeError(
      `attribute type ${this.type} holds ${this.valueLength} bytes, ${what} needs ${n}`,
      this.valueOffset - NLA_HDRLEN,
    );
    this.offset = this.end; // stop iterating
    return false;
  }

  /** The value bytes (a view, not a copy). */
  bytes(): Uint8Array {
    return this.buffer.subarray(this.valueOffset, this.valueOffset + this.valueLength);
  }
  /** u8 value. */
  u8(): number {
    return this.need(1, 'u8') ? this.view.getUint8(this.valueOffset) : 0;
  }
  /** u16 in host (little-endian) order. */
  u16(): number {
    return this.need(2, 'u16') ? this.view.getUint16(this.valueOffset, true) : 0;
  }
  /** u32 in host (little-endian) order. */
  u32(): number {
    return this.need(4, 'u32') ? this.view.getUint32(this.valueOffset, true) : 0;
  }
  /** u16 in network (big-endian) order. */
  be16(): number {
    return this.need(2, 'be16') ? this.view.getUint16(this.valueOffset, false) : 0;
  }
  /** u32 in network (big-endian) order. */
  be32(): number {
    return this.need(4, 'be32') ? this.view.getUint32(this.valueOffset, false) : 0;
  }
  /** u64 in network (big-endian) order. */
  be64(): bigint {
    return this.need(8, 'be64') ? this.view.getBigUint64(this.valueOffset, false) : 0n;
  }
  /** NUL-terminated (or not) UTF-8 string. */
  string(): string {
    const b = this.bytes();
    const nul = b.indexOf(0);
    return utf8.decode(nul === -1 ? b : b.subarray(0, nul));
  }
  /** A decoder over the current attribute's value, for nested attributes. */
  nestedDecoder(): AttributeDecoder {
    return new AttributeDecoder(this.buffer, this.valueOffset, this.valueOffset + this.valueLength);
  }
}

/** One raw attribute, as kept for unknown or opaque (nested) attributes. */
export interface RawAttribute {
  /** Type with flag bits masked. */
  type: number;
  nested: boolean;
  /** The value bytes (a view into the received datagram unless copied). */
  value: Uint8Array;
}

/** Decodes every attribute in a range into a list (for opaque nests). Throws on bad bytes. */
export function parseAttributes(buffer: Uint8Array, start = 0, end = buffer.byteLength): RawAttribute[] {
  const ad = new AttributeDecoder(buffer, start, end);
  const out: RawAttribute[] = [];
  while (ad.next()) out.push({ type: ad.type, nested: ad.nested, value: ad.bytes() });
  ad.throwIfError();
  return out;
}
