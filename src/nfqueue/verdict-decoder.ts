/**
 * Decoder of NFQNL_MSG_VERDICT and NFQNL_MSG_VERDICT_BATCH messages: the kernel's reading
 * of what a program answered. The inverse of encodeVerdict / encodeBatchVerdict, and the one
 * reading of verdicts for the test kit, the test fakes, the describer and nfq-dump's replay;
 * off the per-packet path.
 */
import { NetlinkDecodeError } from '../netlink/errors.js';
import * as C from './constants.js';
import { CTA_MARK } from './conntrack.js';
import { readQueueMessage, requireLength } from './header.js';
import { verdictName } from './names.js';
import type { Verdict, VerdictName } from './verdict.js';

/** A decoded verdict message. */
export interface DecodedVerdict {
  /** True for a VERDICT_BATCH (applies to every packet of `queue` with id <= `id`). */
  batch: boolean;
  /** The queue it answers (nfgenmsg res_id). */
  queue: number;
  /** Packet id (for a batch: the highest id it covers). */
  id: number;
  /** The 32-bit verdict word as sent. */
  word: number;
  /** The verdict with its options, as a callback would have written it. */
  verdict: Verdict;
}

/**
 * Decodes the (batch) verdict message whose nlmsghdr starts at `offset` in `buf`. Throws a
 * NetlinkDecodeError when the bytes are malformed, lack NFQA_VERDICT_HDR, or hold a verdict
 * code this library does not send (STOLEN, or an unknown one).
 */
export function decodeVerdictMessage(buf: Uint8Array, offset = 0, length = buf.byteLength - offset): DecodedVerdict {
  const m = readQueueMessage(buf, offset, length);
  const type = m.type;
  if (type !== C.NFQ_TYPE_VERDICT && type !== C.NFQ_TYPE_VERDICT_BATCH) throw new NetlinkDecodeError(`message type 0x${type.toString(16)} is not a verdict`, offset);
  const queue = m.queue;
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  let word: number | undefined;
  let id = 0;
  const extra: Omit<Verdict, 'verdict'> = {};
  const ad = m.attributes;
  while (ad.next()) {
    switch (ad.type) {
      case C.NFQA_VERDICT_HDR:
        requireLength(ad, 8, 'NFQA_VERDICT_HDR');
        word = view.getUint32(ad.valueOffset, false);
        id = view.getUint32(ad.valueOffset + 4, false);
        break;
      case C.NFQA_MARK:
        extra.mark = ad.be32();
        break;
      case C.NFQA_PRIORITY:
        extra.priority = ad.be32();
        break;
      case C.NFQA_PAYLOAD:
        extra.payload = ad.bytes();
        break;
      case C.NFQA_L2HDR:
        extra.l2hdr = ad.bytes();
        break;
      case C.NFQA_CT: {
        const ct = ad.nestedDecoder();
        while (ct.next()) if (ct.type === CTA_MARK) extra.connmark = ct.be32();
        ct.throwIfError();
        break;
      }
      case C.NFQA_VLAN: {
        const vd = ad.nestedDecoder();
        const vlan = { proto: 0, tci: 0 };
        while (vd.next()) {
          if (vd.type === C.NFQA_VLAN_PROTO) vlan.proto = vd.be16();
          else if (vd.type === C.NFQA_VLAN_TCI) vlan.tci = vd.be16();
        }
        vd.throwIfError();
        extra.vlan = vlan;
        break;
      }
    }
  }
  ad.throwIfError();
  if (word === undefined) throw new NetlinkDecodeError('verdict message has no NFQA_VERDICT_HDR', offset);
  const code = word & C.NF_VERDICT_MASK;
  const name = code <= C.NF_STOP ? verdictName(code) : undefined;
  if (name === undefined || code === C.NF_STOLEN) throw new NetlinkDecodeError(`verdict code ${code} is not one a queue may answer`, offset);
  const verdict: Verdict = { verdict: name as VerdictName, ...extra };
  if (code === C.NF_QUEUE) {
    verdict.queue = word >>> C.NF_VERDICT_QBITS;
    verdict.bypass = (word & C.NF_VERDICT_FLAG_QUEUE_BYPASS) !== 0;
  }
  return { batch: type === C.NFQ_TYPE_VERDICT_BATCH, queue, id, word, verdict };
}
