/**
 * A one-line account of any netlink message of a queue's conversation, for the replay's
 * mismatch reports and nfq-dump's reading of recordings. Built on the one decoder of each
 * message kind; off the per-packet path; never throws on malformed bytes (it says what it
 * could read and why it stopped).
 */
import { NLMSG_HDRLEN, NLMSG_ERROR, align4 } from '../netlink/constants.js';
import { errnoName } from '../netlink/errors.js';
import { viewOf } from '../netlink/message.js';
import * as C from './constants.js';
import { decodeConfigMessage } from './config.js';
import { QUEUE_ATTRIBUTES_OFFSET, readQueueMessage } from './header.js';
import { attributeName, configCommandName, messageTypeName, verdictName } from './names.js';
import { decodePacket, PacketDecodeError } from './packet.js';
import { decodeVerdictMessage } from './verdict-decoder.js';

function problem(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}

function describeConfig(m: Uint8Array, queue: number): string {
  const parts = [`CONFIG queue ${queue}`];
  try {
    const c = decodeConfigMessage(m);
    if (c.command !== undefined) parts.push(configCommandName(c.command));
    if (c.copyMode !== undefined) parts.push(`PARAMS mode ${c.copyMode} range ${c.copyRange}`);
    if (c.maxLen !== undefined) parts.push(`MAXLEN ${c.maxLen}`);
    if (c.flags !== undefined) parts.push(`FLAGS 0x${c.flags.toString(16)}`);
    if (c.mask !== undefined) parts.push(`MASK 0x${c.mask.toString(16)}`);
  } catch (e) {
    parts.push(`(malformed: ${problem(e)})`);
  }
  return parts.join(' ');
}

function describeVerdict(m: Uint8Array, type: number, queue: number): string {
  const parts = [`${messageTypeName(type)} queue ${queue}`];
  try {
    const { batch, id, word, verdict: v } = decodeVerdictMessage(m);
    const to = v.queue === undefined ? '' : ` to queue ${v.queue}`;
    parts.push(`${batch ? 'up to packet' : 'packet'} ${id} ${verdictName(word & C.NF_VERDICT_MASK).toUpperCase()}${to}`);
    if (v.mark !== undefined) parts.push(`mark 0x${v.mark.toString(16)}`);
    if (v.payload !== undefined) parts.push(`payload ${v.payload.byteLength} bytes`);
  } catch (e) {
    parts.push(`(malformed: ${problem(e)})`);
  }
  return parts.join(' ');
}

function describePacket(m: Uint8Array, queue: number): string {
  try {
    return `PACKET queue ${queue} packet ${decodePacket(m, 0, m.byteLength).id}`;
  } catch (e) {
    const id = e instanceof PacketDecodeError && e.id !== undefined ? ` packet ${e.id}` : '';
    return `PACKET queue ${queue}${id} (malformed: ${problem(e)})`;
  }
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
  if (type >> 8 !== C.NFNL_SUBSYS_QUEUE || m.byteLength < QUEUE_ATTRIBUTES_OFFSET) return `message type 0x${type.toString(16)}`;
  // Cut to nlmsg_len, so that the decoders see this message only.
  const own = m.subarray(0, Math.min(m.byteLength, Math.max(QUEUE_ATTRIBUTES_OFFSET, v.getUint32(0, true))));
  const queue = readQueueMessage(own).queue;
  switch (type) {
    case C.NFQ_TYPE_CONFIG:
      return describeConfig(own, queue);
    case C.NFQ_TYPE_VERDICT:
    case C.NFQ_TYPE_VERDICT_BATCH:
      return describeVerdict(own, type, queue);
    case C.NFQ_TYPE_PACKET:
      return describePacket(own, queue);
    default:
      return `queue message type 0x${type.toString(16)} queue ${queue}`;
  }
}

const HEADER_FIELDS = ['nlmsg_len', 'nlmsg_len', 'nlmsg_len', 'nlmsg_len', 'nlmsg_type', 'nlmsg_type', 'nlmsg_flags', 'nlmsg_flags'];
const NFGENMSG_FIELDS = ['nfgenmsg family', 'nfgenmsg version', 'nfgenmsg queue', 'nfgenmsg queue'];

/** Names the field of message `m` that holds byte `offset`, e.g. `MARK byte 2`. */
export function describeField(m: Uint8Array, offset: number): string {
  if (offset < NLMSG_HDRLEN) return HEADER_FIELDS[offset] ?? 'header';
  if (offset < QUEUE_ATTRIBUTES_OFFSET) return NFGENMSG_FIELDS[offset - NLMSG_HDRLEN]!;
  if (m.byteLength < QUEUE_ATTRIBUTES_OFFSET) return 'past the message';
  const { type, attributes: ad } = readQueueMessage(m);
  const config = type === C.NFQ_TYPE_CONFIG;
  while (ad.next()) {
    const start = ad.valueOffset - 4;
    if (offset >= start && offset < start + align4(ad.valueLength + 4)) {
      const name = attributeName(ad.type, config);
      return offset < ad.valueOffset ? `${name} attribute header` : `${name} byte ${offset - ad.valueOffset}`;
    }
  }
  return 'past the attributes';
}
