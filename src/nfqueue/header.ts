/**
 * The start every nfnetlink_queue message shares: nlmsghdr, then struct nfgenmsg (u8 family,
 * u8 version, be16 res_id = the queue number), then attributes. Written by the encoders,
 * read by the decoders, so that each of them frames a queue message the same way.
 */
import { NLMSG_HDRLEN, NLM_F_REQUEST, NLM_F_ACK } from '../netlink/constants.js';
import { AttributeDecoder } from '../netlink/attributes.js';
import { NetlinkDecodeError } from '../netlink/errors.js';
import type { MessageWriter } from '../netlink/writer.js';
import * as C from './constants.js';

/** Offset of the first attribute of a queue message, from its nlmsghdr. */
export const QUEUE_ATTRIBUTES_OFFSET = NLMSG_HDRLEN + C.NFGENMSG_LEN;

/** Header fields of a request. */
export interface RequestHeader {
  seq: number;
  /** Our port id; 0 lets the kernel fill it in. */
  pid?: number;
  /** Ask for an ack even on success. */
  ack?: boolean;
}

/** Writes nlmsghdr + nfgenmsg of a queue request of `kind` (NFQNL_MSG_*). */
export function beginQueueMessage(w: MessageWriter, kind: number, queue: number, family: number, h: RequestHeader = { seq: 0 }): void {
  w.begin({ type: (C.NFNL_SUBSYS_QUEUE << 8) | kind, flags: NLM_F_REQUEST | (h.ack === true ? NLM_F_ACK : 0), seq: h.seq, pid: h.pid ?? 0 });
  w.rawU8(family).rawU8(C.NFNETLINK_V0).rawBe16(queue);
}

/** A queue message read up to its attributes: where they are, and its nfgenmsg fields. */
export interface QueueMessageStart {
  /** nlmsg_type. */
  type: number;
  /** nfgenmsg family. */
  family: number;
  /** nfgenmsg res_id: the queue number. */
  queue: number;
  /** The message's attributes (cut to its nlmsg_len and to `buf`). */
  attributes: AttributeDecoder;
}

/**
 * Reads the header of the queue message at `offset` in `buf` (at most `length` bytes of it;
 * nlmsg_len cuts it shorter). Throws NetlinkDecodeError when it is too short for nfgenmsg.
 */
export function readQueueMessage(buf: Uint8Array, offset = 0, length = buf.byteLength - offset): QueueMessageStart {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let end = Math.min(offset + length, buf.byteLength);
  if (end - offset < QUEUE_ATTRIBUTES_OFFSET) throw new NetlinkDecodeError(`queue message too short: needs ${QUEUE_ATTRIBUTES_OFFSET} bytes, got ${Math.max(0, end - offset)}`, offset, true);
  const nlmsgLen = view.getUint32(offset, true);
  if (nlmsgLen >= QUEUE_ATTRIBUTES_OFFSET) end = Math.min(end, offset + nlmsgLen);
  return {
    type: view.getUint16(offset + 4, true),
    family: view.getUint8(offset + NLMSG_HDRLEN),
    queue: view.getUint16(offset + NLMSG_HDRLEN + 2, false),
    attributes: new AttributeDecoder(buf, offset + QUEUE_ATTRIBUTES_OFFSET, end),
  };
}

/** Throws NetlinkDecodeError when the current attribute of `ad` holds fewer than `need` bytes. */
export function requireLength(ad: AttributeDecoder, need: number, name: string): void {
  if (ad.valueLength < need) throw new NetlinkDecodeError(`${name} holds ${ad.valueLength} bytes, needs ${need}`, ad.valueOffset - 4);
}
