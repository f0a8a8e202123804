/**
 * Reading nfqueue requests back, and describing any netlink message of the conversation in
 * one line: for the replay's mismatch reports and nfq-dump's reading of recordings. Off the
 * per-packet path; never throws on malformed bytes (it describes what it can).
 */
import { NLMSG_HDRLEN, NLMSG_ERROR, align4 } from '../netlink/constants.js';
import { AttributeDecoder } from '../netlink/attributes.js';
import { errnoName } from '../netlink/errors.js';
import { viewOf } from '../netlink/message.js';
import * as C from './constants.js';
import { CONFIG_PARAMS } from './config.js';
import { attributeName, configCommandName, messageTypeName, verdictName } from './names.js';

/** The fields of a config request (absent attribute, absent field). */
export interface ConfigMessageFields {
  queue: number;
  command?: number;
  copyMode?: number;
  copyRange?: number;
  maxLen?: number;
  flags?: number;
  mask?: number;
}

/** The fields of a verdict or batch verdict request. */
export interface VerdictMessageFields {
  queue: number;
  /** The packet id (for a batch verdict: the highest id it covers). */
  id: number;
  /** The verdict code (NF_ACCEPT…). */
  code: number;
  /** The target queue of an NF_QUEUE verdict. */
  targetQueue?: number;
  mark?: number;
  /** Length of a replacement payload, when one is sent. */
  payloadLength?: number;
}

const NFGENMSG_END = NLMSG_HDRLEN + C.NFGENMSG_LEN;

/** The nfgenmsg queue number of message `m` (its bytes, from its header on). */
function queueOf(m: Uint8Array): number {
  return (m[NLMSG_HDRLEN + 2]! << 8) | m[NLMSG_HDRLEN + 3]!;
}

/** An attribute decoder over the attributes of message `m`, cut to its nlmsg_len. */
function attributesOf(m: Uint8Array): AttributeDecoder {
  const end = Math.min(m.byteLength, viewOf(m).getUint32(0, true));
  return new AttributeDecoder(m, NFGENMSG_END, Math.max(NFGENMSG_END, end));
}

/** Reads a config request (`m` holds one message, header included); undefined when too short. */
export function readConfigMessage(m: Uint8Array): ConfigMessageFields | undefined {
  if (m.byteLength < NFGENMSG_END) return undefined;
  const out: ConfigMessageFields = { queue: queueOf(m) };
  const ad = attributesOf(m);
  while (ad.next()) {
    const n = ad.valueLength;
    if (ad.type === C.NFQA_CFG_CMD && n >= 1) out.command = ad.u8();
    else if (ad.type === C.NFQA_CFG_PARAMS && n >= CONFIG_PARAMS.span) {
      const p = CONFIG_PARAMS.decode(m, ad.valueOffset);
      out.copyRange = p.copyRange;
      out.copyMode = p.copyMode;
    } else if (ad.type === C.NFQA_CFG_QUEUE_MAXLEN && n >= 4) out.maxLen = ad.be32();
    else if (ad.type === C.NFQA_CFG_FLAGS && n >= 4) out.flags = ad.be32();
    else if (ad.type === C.NFQA_CFG_MASK && n >= 4) out.mask = ad.be32();
  }
  return out;
}

/** Reads a verdict or batch verdict request; undefined without a readable VERDICT_HDR. */
export function readVerdictMessage(m: Uint8Array): VerdictMessageFields | undefined {
  if (m.byteLength < NFGENMSG_END) return undefined;
  let out: VerdictMessageFields | undefined;
  let mark: number | undefined;
  let payloadLength: number | undefined;
  const ad = attributesOf(m);
  while (ad.next()) {
    if (ad.type === C.NFQA_VERDICT_HDR && ad.valueLength >= 8) {
      const v = viewOf(m);
      const word = v.getUint32(ad.valueOffset, false);
      out = { queue: queueOf(m), id: v.getUint32(ad.valueOffset + 4, false), code: word & C.NF_VERDICT_MASK };
      if (out.code === C.NF_QUEUE) out.targetQueue = word >>> C.NF_VERDICT_QBITS;
    } else if (ad.type === C.NFQA_MARK && ad.valueLength >= 4) mark = ad.be32();
    else if (ad.type === C.NFQA_PAYLOAD) payloadLength = ad.valueLength;
  }
  if (out === undefined) return undefined;
  if (mark !== undefined) out.mark = mark;
  if (payloadLength !== undefined) out.payloadLength = payloadLength;
  return out;
}

/** A one-line account of a netlink message, e.g. `VERDICT queue 0 packet 3 ACCEPT mark 0x2a`. */
export function describeMessage(m: Uint8Array): string {
  if (m.byteLength < NLMSG_HDRLEN) return `${m.byteLength} bytes (not a netlink message)`;
  const v = viewOf(m);
  const type = v.getUint16(4, true);
  if (type === NLMSG_ERROR) {
    if (m.byteLength < NLMSG_HDRLEN + 4) return 'NLMSG_ERROR (truncated)';
    const errno = -v.getInt32(NLMSG_HDRLEN, true);
    return errno === 0 ? 'ACK' : `ERROR ${errnoName(errno)} (${errno})`;
  }
  if (type >> 8 !== C.NFNL_SUBSYS_QUEUE || m.byteLength < NFGENMSG_END) return `message type 0x${type.toString(16)}`;
  const queue = queueOf(m);
  switch (type) {
    case C.NFQ_TYPE_CONFIG: {
      const c = readConfigMessage(m)!;
      const parts = [`CONFIG queue ${queue}`];
      if (c.command !== undefined) parts.push(configCommandName(c.command));
      if (c.copyMode !== undefined) parts.push(`PARAMS mode ${c.copyMode} range ${c.copyRange}`);
      if (c.maxLen !== undefined) parts.push(`MAXLEN ${c.maxLen}`);
      if (c.flags !== undefined) parts.push(`FLAGS 0x${c.flags.toString(16)}`);
      if (c.mask !== undefined) parts.push(`MASK 0x${c.mask.toString(16)}`);
      return parts.join(' ');
    }
    case C.NFQ_TYPE_VERDICT:
    case C.NFQ_TYPE_VERDICT_BATCH: {
      const batch = type === C.NFQ_TYPE_VERDICT_BATCH;
      const parts = [`${messageTypeName(type)} queue ${queue}`];
      const r = readVerdictMessage(m);
      if (r !== undefined) {
        const to = r.targetQueue === undefined ? '' : ` to queue ${r.targetQueue}`;
        parts.push(`${batch ? 'up to packet' : 'packet'} ${r.id} ${verdictName(r.code).toUpperCase()}${to}`);
        if (r.mark !== undefined) parts.push(`mark 0x${r.mark.toString(16)}`);
        if (r.payloadLength !== undefined) parts.push(`payload ${r.payloadLength} bytes`);
      }
      return parts.join(' ');
    }
    case C.NFQ_TYPE_PACKET: {
      const ad = attributesOf(m);
      let id: number | undefined;
      while (ad.next()) if (ad.type === C.NFQA_PACKET_HDR && ad.valueLength >= 7) id = ad.be32();
      return `PACKET queue ${queue}${id === undefined ? '' : ` packet ${id}`}`;
    }
    default:
      return `queue message type 0x${type.toString(16)} queue ${queue}`;
  }
}

const HEADER_FIELDS = ['nlmsg_len', 'nlmsg_len', 'nlmsg_len', 'nlmsg_len', 'nlmsg_type', 'nlmsg_type', 'nlmsg_flags', 'nlmsg_flags'];
const NFGENMSG_FIELDS = ['nfgenmsg family', 'nfgenmsg version', 'nfgenmsg queue', 'nfgenmsg queue'];

/** Names the field of message `m` that holds byte `offset`, e.g. `MARK byte 2`. */
export function describeField(m: Uint8Array, offset: number): string {
  if (offset < NLMSG_HDRLEN) return HEADER_FIELDS[offset] ?? 'header';
  if (offset < NFGENMSG_END) return NFGENMSG_FIELDS[offset - NLMSG_HDRLEN]!;
  const config = viewOf(m).getUint16(4, true) === C.NFQ_TYPE_CONFIG;
  const ad = attributesOf(m);
  while (ad.next()) {
    const start = ad.valueOffset - 4;
    if (offset >= start && offset < start + align4(ad.valueLength + 4)) {
      const name = attributeName(ad.type, config);
      return offset < ad.valueOffset ? `${name} attribute header` : `${name} byte ${offset - ad.valueOffset}`;
    }
  }
  return 'past the attributes';
}
