/**
 * Builders of NFQNL_MSG_CONFIG requests: BIND/UNBIND (and the legacy PF_BIND/PF_UNBIND),
 * PARAMS (copy mode and range), QUEUE_MAXLEN, FLAGS with MASK; and their one decoder, the
 * kernel's reading of them (for the test kit, the test fakes and the describer). Each
 * encoder's optional `h` sets the header's seq, pid and ack flag; NetlinkConn fills those.
 */
import { fixedLayout, layout as lo } from '../netlink/fixed-layout.js';
import type { MessageWriter } from '../netlink/writer.js';
import { beginQueueMessage, readQueueMessage, requireLength, type RequestHeader } from './header.js';
import { NetlinkDecodeError } from '../netlink/errors.js';
import * as C from './constants.js';

/** struct nfqnl_msg_config_cmd { u8 command; u8 _pad; be16 pf; } */
export const CONFIG_COMMAND = fixedLayout<{ command: number; pf: number }>(lo.struct([lo.u8('command'), lo.u8('pad'), lo.u16be('pf')]));
/** struct nfqnl_msg_config_params { be32 copy_range; u8 copy_mode; } __packed: 5 bytes. */
export const CONFIG_PARAMS = fixedLayout<{ copyRange: number; copyMode: number }>(lo.struct([lo.u32be('copyRange'), lo.u8('copyMode')]));

/** Queue flags by name (NFQA_CFG_F_*). */
export interface QueueFlags {
  /** Accept packets instead of dropping them when the queue is full. */
  failOpen?: boolean;
  /** Attach conntrack info (not supported on every kernel). */
  conntrack?: boolean;
  /** Deliver GSO packets whole, without segmenting them first. */
  gso?: boolean;
  /** Report the sending socket's uid and gid. */
  uidGid?: boolean;
  /** Report the security context (needs an LSM). */
  secctx?: boolean;
}

/** The flag bits and mask for a QueueFlags object (mask covers every named flag). */
export function flagBits(f: QueueFlags): { flags: number; mask: number } {
  let flags = 0;
  let mask = 0;
  const set = (v: boolean | undefined, bit: number): void => {
    if (v === undefined) return;
    mask |= bit;
    if (v) flags |= bit;
  };
  set(f.failOpen, C.NFQA_CFG_F_FAIL_OPEN);
  set(f.conntrack, C.NFQA_CFG_F_CONNTRACK);
  set(f.gso, C.NFQA_CFG_F_GSO);
  set(f.uidGid, C.NFQA_CFG_F_UID_GID);
  set(f.secctx, C.NFQA_CFG_F_SECCTX);
  return { flags, mask };
}

/** Copy modes by name. */
export type CopyMode = 'none' | 'meta' | 'packet';

/** Wire value of a copy mode name. */
export function copyModeValue(mode: CopyMode): number {
  switch (mode) {
    case 'none':
      return C.NFQNL_COPY_NONE;
    case 'meta':
      return C.NFQNL_COPY_META;
    case 'packet':
      return C.NFQNL_COPY_PACKET;
    default:
      throw new RangeError(`copy mode must be 'none', 'meta' or 'packet', got ${JSON.stringify(mode)}`);
  }
}

/** Appends a config command (BIND, UNBIND, PF_BIND, PF_UNBIND) for `queue`. */
export function encodeConfigCommand(w: MessageWriter, queue: number, cmd: number, pf: number, h?: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBytes(C.NFQA_CFG_CMD, CONFIG_COMMAND.bytes({ command: cmd & 0xff, pf: pf & 0xffff }));
  w.end();
}

/** Appends a PARAMS request: copy mode and copy range (bytes of each packet to copy). */
export function encodeConfigParams(w: MessageWriter, queue: number, mode: number, range: number, h?: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBytes(C.NFQA_CFG_PARAMS, CONFIG_PARAMS.bytes({ copyRange: range >>> 0, copyMode: mode & 0xff }));
  w.end();
}

/** Appends a QUEUE_MAXLEN request: how many packets may wait for a verdict. */
export function encodeConfigMaxLen(w: MessageWriter, queue: number, maxLen: number, h?: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBe32(C.NFQA_CFG_QUEUE_MAXLEN, maxLen);
  w.end();
}

/** Appends a FLAGS request: set the bits of `flags` that are in `mask` (the kernel needs both). */
export function encodeConfigFlags(w: MessageWriter, queue: number, flags: number, mask: number, h?: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBe32(C.NFQA_CFG_FLAGS, flags);
  w.attrBe32(C.NFQA_CFG_MASK, mask);
  w.end();
}

/** The fields of a config request (absent attribute, absent field). */
export interface ConfigMessageFields {
  /** The queue it configures (nfgenmsg res_id). */
  queue: number;
  /** NFQNL_CFG_CMD_* of NFQA_CFG_CMD. */
  command?: number;
  /** The protocol family of NFQA_CFG_CMD (used by PF_BIND / PF_UNBIND only). */
  pf?: number;
  /** NFQNL_COPY_* of NFQA_CFG_PARAMS. */
  copyMode?: number;
  copyRange?: number;
  maxLen?: number;
  flags?: number;
  mask?: number;
}

/**
 * Decodes the NFQNL_MSG_CONFIG message whose nlmsghdr starts at `offset` in `buf`. Throws a
 * NetlinkDecodeError where the kernel's attribute policy refuses the request: malformed
 * attributes, or a value shorter than its struct (CMD 4 bytes, PARAMS 5, the others 4).
 */
export function decodeConfigMessage(buf: Uint8Array, offset = 0, length = buf.byteLength - offset): ConfigMessageFields {
  const m = readQueueMessage(buf, offset, length);
  if (m.type !== C.NFQ_TYPE_CONFIG) throw new NetlinkDecodeError(`message type 0x${m.type.toString(16)} is not a queue config request`, offset);
  const out: ConfigMessageFields = { queue: m.queue };
  const ad = m.attributes;
  while (ad.next()) {
    switch (ad.type) {
      case C.NFQA_CFG_CMD: {
        requireLength(ad, CONFIG_COMMAND.span, 'NFQA_CFG_CMD');
        const c = CONFIG_COMMAND.decode(buf, ad.valueOffset);
        out.command = c.command;
        out.pf = c.pf;
        break;
      }
      case C.NFQA_CFG_PARAMS: {
        requireLength(ad, CONFIG_PARAMS.span, 'NFQA_CFG_PARAMS');
        const p = CONFIG_PARAMS.decode(buf, ad.valueOffset);
        out.copyRange = p.copyRange;
        out.copyMode = p.copyMode;
        break;
      }
      case C.NFQA_CFG_QUEUE_MAXLEN:
        requireLength(ad, 4, 'NFQA_CFG_QUEUE_MAXLEN');
        out.maxLen = ad.be32();
        break;
      case C.NFQA_CFG_MASK:
        requireLength(ad, 4, 'NFQA_CFG_MASK');
        out.mask = ad.be32();
        break;
      case C.NFQA_CFG_FLAGS:
        requireLength(ad, 4, 'NFQA_CFG_FLAGS');
        out.flags = ad.be32();
        break;
    }
  }
  ad.throwIfError();
  return out;
}
