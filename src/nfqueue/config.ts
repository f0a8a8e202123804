/**
 * Builders of NFQNL_MSG_CONFIG requests: BIND/UNBIND (and the legacy PF_BIND/PF_UNBIND),
 * PARAMS (copy mode and range), QUEUE_MAXLEN, FLAGS with MASK.
 */
import lo from 'buffer-layout';
import { fixedLayout } from '../netlink/fixed-layout.js';
import type { MessageWriter } from '../netlink/writer.js';
import { beginQueueMessage, type RequestHeader } from './verdict.js';
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
export function encodeConfigCommand(w: MessageWriter, queue: number, cmd: number, pf: number, h: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBytes(C.NFQA_CFG_CMD, CONFIG_COMMAND.bytes({ command: cmd & 0xff, pf: pf & 0xffff }));
  w.end();
}

/** Appends a PARAMS request: copy mode and copy range (bytes of each packet to copy). */
export function encodeConfigParams(w: MessageWriter, queue: number, mode: number, range: number, h: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBytes(C.NFQA_CFG_PARAMS, CONFIG_PARAMS.bytes({ copyRange: range >>> 0, copyMode: mode & 0xff }));
  w.end();
}

/** Appends a QUEUE_MAXLEN request: how many packets may wait for a verdict. */
export function encodeConfigMaxLen(w: MessageWriter, queue: number, maxLen: number, h: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBe32(C.NFQA_CFG_QUEUE_MAXLEN, maxLen);
  w.end();
}

/** Appends a FLAGS request: set the bits of `flags` that are in `mask` (the kernel needs both). */
export function encodeConfigFlags(w: MessageWriter, queue: number, flags: number, mask: number, h: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBe32(C.NFQA_CFG_FLAGS, flags);
  w.attrBe32(C.NFQA_CFG_MASK, mask);
  w.end();
}
