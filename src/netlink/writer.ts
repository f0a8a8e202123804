/**
 * Builds one datagram holding one or more netlink messages. One writer is reused for many
 * datagrams: `reset()`, `begin()`, attributes, `end()`, ..., then `finish()` returns a view
 * of the bytes (valid until the next `reset()`), or `finishCopy()` an owned copy.
 */
import { NLMSG_HDRLEN, NLA_HDRLEN, NLA_F_NESTED, align4 } from './constants.js';
import { NetlinkError } from './errors.js';

const utf8 = new TextEncoder();

/** Fields of a header to begin a message with; the length is filled in by `end()`. */
export interface MessageStart {
  type: number;
  flags: number;
  seq: number;
  pid?: number;
}

export class MessageWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;
  private msgStart = -1;
  private readonly nests: number[] = [];

  constructor(initialSize = 4096) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  /** Bytes written so far. */
  get length(): number {
    return this.pos;
  }

  /** Discards everything written; the buffer is kept for reuse. */
  reset(): this {
    this.pos = 0;
    this.msgStart = -1;
    if (this.nests.length !== 0) this.nests.length = 0; // setting length is a runtime call: skip it when empty
    return this;
  }

  private reserve(n: number): void {
    const need = this.pos + n;
    if (need <= this.buf.byteLength) return;
    let size = Math.max(this.buf.byteLength * 2, 64);
    while (size < need) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  /** Starts a message; its length is written by `end()`. */
  begin(h: MessageStart): this {
    if ((this.pos & 3) !== 0) this.padTo4();
    this.reserve(NLMSG_HDRLEN);
    this.msgStart = this.pos;
    const v = this.view;
    v.setUint32(this.pos, 0, true);
    v.setUint16(this.pos + 4, h.type, true);
    v.setUint16(this.pos + 6, h.flags, true);
    v.setUint32(this.pos + 8, h.seq >>> 0, true);
    v.setUint32(this.pos + 12, (h.pid ?? 0) >>> 0, true);
    this.pos += NLMSG_HDRLEN;
    return this;
  }

  /** Ends the current message: writes its length and pads to 4 bytes. */
  end(): this {
    if (this.msgStart < 0) throw new NetlinkError('MessageWriter.end() without begin()', { code: 'ERR_MESSAGE_WRITER' });
    if (this.nests.length !== 0) throw new NetlinkError('MessageWriter.end() with an open nest', { code: 'ERR_MESSAGE_WRITER' });
    this.view.setUint32(this.msgStart, this.pos - this.msgStart, true);
    this.padTo4();
    this.msgStart = -1;
    return this;
  }

  private padTo4(): void {
    const padded = align4(this.pos);
    this.reserve(padded - this.pos);
    this.buf.fill(0, this.pos, padded);
    this.pos = padded;
  }

  /** Raw bytes in the message body (e.g. a family header such as nfgenmsg). */
  raw(bytes: ArrayLike<number>): this {
    this.reserve(bytes.length);
    this.buf.set(bytes, this.pos);
    this.pos += bytes.length;
    return this;
  }

  /** Raw u8 / be16 in the body, for fixed family headers. */
  rawU8(v: number): this {
    this.reserve(1);
    this.view.setUint8(this.pos, v);
    this.pos += 1;
    return this;
  }
  rawBe16(v: number): this {
    this.reserve(2);
    this.view.setUint16(this.pos, v, false);
    this.pos += 2;
    return this;
  }

  private attrHeader(type: number, valueLen: number): number {
    if ((this.pos & 3) !== 0) this.padTo4();
    const len = NLA_HDRLEN + valueLen;
    if (len > 0xffff) throw new RangeError(`attribute type ${type} value of ${valueLen} bytes exceeds the 65531-byte netlink limit`);
    this.reserve(align4(len));
    this.view.setUint16(this.pos, len, true);
    this.view.setUint16(this.pos + 2, type, true);
    this.pos += NLA_HDRLEN;
    return this.pos;
  }

  /** An attribute whose value is the given bytes. */
  attrBytes(type: number, value: ArrayLike<number>): this {
    const at = this.attrHeader(type, value.length);
    this.buf.set(value, at);
    this.pos = at + value.length;
    this.padTo4();
    return this;
  }
  /** An attribute holding a u8. */
  attrU8(type: number, v: number): this {
    const at = this.attrHeader(type, 1);
    this.view.setUint8(at, v);
    this.pos = at + 1;
    this.padTo4();
    return this;
  }
  /** An attribute holding a host-order u32. */
  attrU32(type: number, v: number): this {
    const at = this.attrHeader(type, 4);
    this.view.setUint32(at, v >>> 0, true);
    this.pos = at + 4;
    return this;
  }
  /** An attribute holding a big-endian u16. */
  attrBe16(type: number, v: number): this {
    const at = this.attrHeader(type, 2);
    this.view.setUint16(at, v, false);
    this.pos = at + 2;
    this.padTo4();
    return this;
  }
  /** An attribute holding a big-endian u32. */
  attrBe32(type: number, v: number): this {
    const at = this.attrHeader(type, 4);
    this.view.setUint32(at, v >>> 0, false);
    this.pos = at + 4;
    return this;
  }
  /** An attribute holding a big-endian u64. */
  attrBe64(type: number, v: bigint): this {
    const at = this.attrHeader(type, 8);
    this.view.setBigUint64(at, v, false);
    this.pos = at + 8;
    return this;
  }
  /** An attribute holding a NUL-terminated string. */
  attrString(type: number, s: string): this {
    const bytes = utf8.encode(s);
    const at = this.attrHeader(type, bytes.length + 1);
    this.buf.set(bytes, at);
    this.buf[at + bytes.length] = 0;
    this.pos = at + bytes.length + 1;
    this.padTo4();
    return this;
  }

  /** Opens a nested attribute (NLA_F_NESTED set); close it with `endNest()`. */
  beginNest(type: number): this {
    if ((this.pos & 3) !== 0) this.padTo4();
    this.reserve(NLA_HDRLEN);
    this.nests.push(this.pos);
    this.view.setUint16(this.pos + 2, type | NLA_F_NESTED, true);
    this.pos += NLA_HDRLEN;
    return this;
  }
  /** Closes the innermost nested attribute. */
  endNest(): this {
    const start = this.nests.pop();
    if (start === undefined) throw new NetlinkError('MessageWriter.endNest() without beginNest()', { code: 'ERR_MESSAGE_WRITER' });
    if (this.pos - start > 0xffff) throw new RangeError(`nested attribute of ${this.pos - start} bytes exceeds the 65535-byte netlink limit`);
    this.view.setUint16(start, this.pos - start, true);
    return this;
  }

  /**
   * Fast path for fixed-size messages: reserves `length` bytes (a multiple of 4) for a whole
   * message at the end and returns their offset in `dataView`. The caller writes every byte,
   * header included. Not inside an open message.
   */
  appendFixed(length: number): number {
    if (this.msgStart >= 0) throw new NetlinkError('MessageWriter.appendFixed() inside an open message', { code: 'ERR_MESSAGE_WRITER' });
    if ((this.pos & 3) !== 0) this.padTo4();
    this.reserve(length);
    const at = this.pos;
    this.pos = at + length;
    return at;
  }

  /** A DataView over the whole current buffer (replaced when the buffer grows). */
  get dataView(): DataView {
    return this.view;
  }

  /** The datagram so far, as a view valid until the next write or reset. */
  finish(): Uint8Array {
    if (this.msgStart >= 0) throw new NetlinkError('MessageWriter.finish() with an unfinished message', { code: 'ERR_MESSAGE_WRITER' });
    return this.buf.subarray(0, this.pos);
  }
  /** The datagram so far, as an owned copy. */
  finishCopy(): Uint8Array {
    return this.finish().slice();
  }
}
