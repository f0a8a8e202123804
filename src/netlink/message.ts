/**
 * nlmsghdr framing: walking the messages of a datagram and decoding NLMSG_ERROR.
 * Headers are in host byte order (little-endian on every platform Node supports with
 * the `netlink` package prebuilds we use: x64, arm64, arm, ia32).
 */
import {
  NLMSG_HDRLEN,
  NLMSG_SEQ_OFFSET,
  NLMSG_PID_OFFSET,
  NLMSG_ERROR,
  NLM_F_CAPPED,
  NLM_F_ACK_TLVS,
  NLMSGERR_ATTR_MSG,
  NLMSGERR_ATTR_OFFS,
  align4,
} from './constants.js';
import { NetlinkDecodeError } from './errors.js';
import { AttributeDecoder } from './attributes.js';

/** A decoded `struct nlmsghdr`. */
export interface NetlinkHeader {
  /** Total message length including the header, as written on the wire. */
  length: number;
  type: number;
  flags: number;
  seq: number;
  /** Sending port id (0 for the kernel). */
  pid: number;
}

/** One message of a datagram: its header and where its payload lies in `buffer`. */
export interface NetlinkMessage {
  header: NetlinkHeader;
  /** The datagram the message lives in (not copied). */
  buffer: Uint8Array;
  /** Offset of the message's first header byte in `buffer`. */
  offset: number;
  /** Offset of the payload (just after the 16-byte header). */
  payloadOffset: number;
  /** Payload length in bytes (header excluded, padding excluded). */
  payloadLength: number;
}

/**
 * The framing check: the nlmsg_len of the message at `offset` in `view`, or -1 when its
 * header is malformed (headerProblem() says why). Every walk over a datagram's messages
 * (MessageCursor, and the connection's receive loop, which keeps its DataView local so
 * that the per-packet path allocates nothing) steps with it.
 */
export function messageLengthAt(view: DataView, offset: number): number {
  const left = view.byteLength - offset;
  const length = left >= NLMSG_HDRLEN ? view.getUint32(offset, true) : 0;
  return length < NLMSG_HDRLEN || length > left ? -1 : length;
}

/** Why a header cannot be read at `offset` (undefined when it can). */
export function headerProblem(view: DataView, offset: number): NetlinkDecodeError | undefined {
  if (offset + NLMSG_HDRLEN > view.byteLength) {
    return new NetlinkDecodeError(`netlink header needs ${NLMSG_HDRLEN} bytes, ${view.byteLength - offset} left`, offset, true);
  }
  const length = view.getUint32(offset, true);
  if (length < NLMSG_HDRLEN) return new NetlinkDecodeError(`netlink message length ${length} is shorter than its header`, offset);
  if (offset + length > view.byteLength) {
    return new NetlinkDecodeError(`netlink message length ${length} runs past the end of the datagram (${view.byteLength - offset} bytes left)`, offset, true);
  }
  return undefined;
}

/** Reads the 16-byte header at `offset`; throws NetlinkDecodeError when it does not fit. */
export function readHeader(view: DataView, offset: number): NetlinkHeader {
  const problem = headerProblem(view, offset);
  if (problem !== undefined) throw problem;
  return peekHeader(view, offset);
}

/**
 * Reads the 16 header bytes at `offset` (which must be there) without checking nlmsg_len
 * against what follows: for the request echoed in an NLMSG_ERROR, whose length is the
 * original request's, and for reporting a malformed message.
 */
export function peekHeader(view: DataView, offset: number): NetlinkHeader {
  return {
    length: view.getUint32(offset, true),
    type: view.getUint16(offset + 4, true),
    flags: view.getUint16(offset + 6, true),
    seq: view.getUint32(offset + NLMSG_SEQ_OFFSET, true),
    pid: view.getUint32(offset + NLMSG_PID_OFFSET, true),
  };
}

const EMPTY = new Uint8Array(0);

/**
 * Walks the messages of a datagram in place, allocating nothing per message.
 *
 *     cursor.reset(datagram);
 *     while (cursor.next()) { switch (cursor.type) { ... } }
 *     if (cursor.error !== undefined) ...
 *
 * The first malformed header ends the walk and stays in `error`; the messages before it
 * were delivered. Trailing bytes shorter than a header are malformed too (the kernel never
 * sends them).
 */
export class MessageCursor {
  /** The datagram being walked. */
  buffer: Uint8Array = EMPTY;
  /** A DataView over exactly `buffer`. */
  view: DataView = new DataView(EMPTY.buffer);
  /** Offset of the current message's header in `buffer`. */
  offset = 0;
  /** The current message's nlmsg_len (header included, padding excluded). */
  length = 0;
  /** The current message's nlmsg_type. */
  type = 0;
  /** The current message's nlmsg_flags. */
  flags = 0;
  /** Why the walk stopped early, if it did. */
  error: NetlinkDecodeError | undefined = undefined;
  private nextOffset = 0;

  /** Starts a walk over `datagram` (`view` when the caller already has one over it). */
  reset(datagram: Uint8Array, view: DataView = viewOf(datagram)): this {
    this.buffer = datagram;
    this.view = view;
    this.nextOffset = 0;
    this.error = undefined;
    return this;
  }

  /** Moves to the next message; false at the end of the datagram or at a malformed header. */
  next(): boolean {
    const off = this.nextOffset;
    const view = this.view;
    if (off >= view.byteLength) return false;
    const mlen = messageLengthAt(view, off);
    if (mlen < 0) {
      this.error = headerProblem(view, off);
      this.nextOffset = view.byteLength;
      return false;
    }
    this.offset = off;
    this.length = mlen;
    this.type = view.getUint16(off + 4, true);
    this.flags = view.getUint16(off + 6, true);
    this.nextOffset = off + align4(mlen);
    return true;
  }

  /** The current message's nlmsg_seq. */
  get seq(): number {
    return this.view.getUint32(this.offset + NLMSG_SEQ_OFFSET, true);
  }

  /** The current message's nlmsg_pid. */
  get pid(): number {
    return this.view.getUint32(this.offset + NLMSG_PID_OFFSET, true);
  }

  /** The current message's bytes (a view: header included, padding excluded). */
  bytes(): Uint8Array {
    return this.buffer.subarray(this.offset, this.offset + this.length);
  }

  /** The current message as a NetlinkMessage (allocates: for the paths off the per-packet one). */
  message(): NetlinkMessage {
    const off = this.offset;
    return { header: readHeader(this.view, off), buffer: this.buffer, offset: off, payloadOffset: off + NLMSG_HDRLEN, payloadLength: this.length - NLMSG_HDRLEN };
  }
}

/** Writes a 16-byte header at `offset`. */
export function writeHeader(view: DataView, offset: number, h: NetlinkHeader): void {
  view.setUint32(offset, h.length, true);
  view.setUint16(offset + 4, h.type, true);
  view.setUint16(offset + 6, h.flags, true);
  view.setUint32(offset + 8, h.seq, true);
  view.setUint32(offset + 12, h.pid, true);
}

/** A DataView over exactly the bytes of `buf`. */
export function viewOf(buf: Uint8Array): DataView {
  return new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
}

/**
 * Splits a datagram into its messages. Throws NetlinkDecodeError on the first malformed
 * header; trailing bytes shorter than a header are an error too (the kernel never sends them).
 */
export function parseMessages(datagram: Uint8Array): NetlinkMessage[] {
  const cursor = new MessageCursor().reset(datagram);
  const out: NetlinkMessage[] = [];
  while (cursor.next()) out.push(cursor.message());
  if (cursor.error !== undefined) throw cursor.error;
  return out;
}

/** A decoded NLMSG_ERROR: an ack when `errno` is 0. */
export interface NetlinkErrorMessage {
  /** Positive errno; 0 for an ack. */
  errno: number;
  /** Header of the request being answered (echoed by the kernel). */
  request: NetlinkHeader;
  /** True when the kernel echoed only the request's header (NLM_F_CAPPED). */
  capped: boolean;
  /** The echoed request's payload when not capped (a view into the datagram). */
  requestPayload: Uint8Array | undefined;
  /** Extended-ack text (NLMSGERR_ATTR_MSG). */
  extAckMessage?: string;
  /** Extended-ack offset (NLMSGERR_ATTR_OFFS) of the faulty attribute in the request. */
  extAckOffset?: number;
}

/** Decodes the payload of an NLMSG_ERROR message. */
export function parseErrorMessage(msg: NetlinkMessage): NetlinkErrorMessage {
  if (msg.header.type !== NLMSG_ERROR) {
    throw new NetlinkDecodeError(`message type ${msg.header.type} is not NLMSG_ERROR`, msg.offset);
  }
  const view = viewOf(msg.buffer);
  const p = msg.payloadOffset;
  const end = msg.offset + msg.header.length;
  if (msg.payloadLength < 4 + NLMSG_HDRLEN) {
    throw new NetlinkDecodeError(`NLMSG_ERROR payload of ${msg.payloadLength} bytes is shorter than 20`, p, true);
  }
  const error = view.getInt32(p, true);
  // The echoed request header: its length field describes the original request, not the echo.
  const request = peekHeader(view, p + 4);
  const capped = (msg.header.flags & NLM_F_CAPPED) !== 0;
  let tlvStart = p + 4 + NLMSG_HDRLEN;
  let requestPayload: Uint8Array | undefined;
  if (!capped) {
    const reqPayloadLen = Math.max(0, Math.min(request.length - NLMSG_HDRLEN, end - tlvStart));
    requestPayload = msg.buffer.subarray(tlvStart, tlvStart + reqPayloadLen);
    tlvStart += align4(reqPayloadLen);
  }
  // `-error` of 0 would be -0, which is not Object.is-equal to 0.
  const out: NetlinkErrorMessage = { errno: error === 0 ? 0 : -error, request, capped, requestPayload };
  if ((msg.header.flags & NLM_F_ACK_TLVS) !== 0 && tlvStart < end) {
    const ad = new AttributeDecoder(msg.buffer, tlvStart, end);
    while (ad.next()) {
      if (ad.type === NLMSGERR_ATTR_MSG) out.extAckMessage = ad.string();
      else if (ad.type === NLMSGERR_ATTR_OFFS) out.extAckOffset = ad.u32();
    }
    ad.throwIfError();
  }
  return out;
}
