/**
 * Reading a recorded conversation for replay (see replay-transport.ts for how it is played):
 * the expected stream of messages the library must send, the 'in' datagrams to deliver with
 * the replies they hold, the recorded socket's port id and where the recorded close begins.
 */
import { NLMSG_ERROR, NLMSG_HDRLEN, NLM_F_ACK } from '../netlink/constants.js';
import { MessageCursor, parseErrorMessage, peekHeader, viewOf, type NetlinkHeader } from '../netlink/message.js';
import * as C from '../nfqueue/constants.js';
import { decodeConfigMessage, type ConfigMessageFields } from '../nfqueue/config.js';
import { describeMessage } from '../nfqueue/describe.js';
import { PcapFormatError } from './errors.js';
import { NETLINK_COOKED_HEADER, NETLINK_COOKED_HEADER_LENGTH, ARPHRD_NETLINK, COOKED_PACKET_OUTGOING } from './netlink-cooked.js';
import type { PcapCapture } from './reader.js';
import { LINKTYPE_NETLINK } from './writer.js';

/** nlmon's cooked packet type for messages the socket sent (PACKET_KERNEL in its terms). */
const NLMON_PACKET_KERNEL = 7;

/** The header of message `m` (at least 16 bytes; a malformed one's too, as it reads). */
export function headerOf(m: Uint8Array): NetlinkHeader {
  return peekHeader(viewOf(m), 0);
}

/** A recorded message the library is expected to send. */
export interface Expected {
  bytes: Uint8Array;
  frame: number;
}

/** A datagram to deliver to the library. */
export interface InEvent {
  frame: number;
  datagram: Uint8Array;
  /** Messages the library must have sent before this is delivered (soft: the stall overrides). */
  softGate: number;
  /**
   * NLMSG_ERROR messages answering recorded requests: offset in the datagram, stream index
   * answered. Held until the library has sent its counterpart of each (hard: see `counterpart`).
   */
  replies: { offset: number; answers: number }[];
  synthetic: boolean;
}

/** A conversation read for replay. */
export interface Conversation {
  /** The recorded socket's port id. */
  portId: number;
  /** What the library is expected to send, in order. */
  expected: Expected[];
  /** Recorded 'in' datagrams, in recorded order. */
  incoming: InEvent[];
  /** Recorded requests (stream indexes) that have a recorded reply. */
  answered: Set<number>;
  /** First stream index of the recorded close (trailing UNBINDs), or the stream length. */
  closeStart: number;
  /** Things left out that are not mismatches. */
  notes: string[];
}

/** Cooked packet types meaning "sent by the recording socket": 4 (recorder, SLL outgoing), 7 (nlmon). */
function isOutgoing(packetType: number): boolean {
  return packetType === COOKED_PACKET_OUTGOING || packetType === NLMON_PACKET_KERNEL;
}

/** Splits a datagram into message extents; a malformed tail becomes one last extent. */
export function messageExtents(d: Uint8Array): { offset: number; length: number; malformed: boolean }[] {
  const c = new MessageCursor().reset(d);
  const out: { offset: number; length: number; malformed: boolean }[] = [];
  while (c.next()) out.push({ offset: c.offset, length: c.length, malformed: false });
  if (c.error !== undefined) out.push({ offset: c.error.offset, length: d.byteLength - c.error.offset, malformed: true });
  return out;
}

/** The config request `m`, or undefined when `m` is another kind of message or malformed. */
function configOf(m: Uint8Array): ConfigMessageFields | undefined {
  if (m.byteLength < NLMSG_HDRLEN || headerOf(m).type !== C.NFQ_TYPE_CONFIG) return undefined;
  try {
    return decodeConfigMessage(m);
  } catch {
    return undefined;
  }
}

/**
 * A config message close() sends to a live socket before UNBIND to stop new deliveries
 * (FLAGS/MASK with only FAIL_OPEN, or QUEUE_MAXLEN 0), without asking for an ack. A replayed
 * queue is not live and does not send it, so a recording's copy is not expected.
 */
function isCloseDrain(m: Uint8Array): boolean {
  const c = configOf(m);
  if (c === undefined || (headerOf(m).flags & NLM_F_ACK) !== 0 || c.command !== undefined || c.copyMode !== undefined) return false;
  if (c.maxLen === undefined && c.flags === undefined && c.mask === undefined) return false;
  const failOpenOnly = (v: number | undefined): boolean => v === undefined || v === C.NFQA_CFG_F_FAIL_OPEN;
  return (c.maxLen === undefined || c.maxLen === 0) && failOpenOnly(c.flags) && failOpenOnly(c.mask);
}

/** Whether message `m` is an UNBIND request. */
export function isUnbind(m: Uint8Array): boolean {
  return configOf(m)?.command === C.NFQNL_CFG_CMD_UNBIND;
}

/** The recorded socket's port id: where the kernel sent its acks, else what requests carried. */
function defaultPortId(records: { out: boolean; datagram: Uint8Array }[]): number {
  const c = new MessageCursor();
  for (const r of records) {
    if (!r.out && c.reset(r.datagram).next() && c.type === NLMSG_ERROR) return c.pid;
  }
  for (const r of records) {
    if (r.out && c.reset(r.datagram).next()) return c.pid;
  }
  return 0;
}

/**
 * Reads the conversation of netlink `protocol` in `capture`; with `portId`, only that
 * socket's. Throws PcapFormatError when the capture holds none.
 */
export function parseConversation(capture: PcapCapture, protocol: number, portId: number | undefined): Conversation {
  const records: { frame: number; out: boolean; datagram: Uint8Array }[] = [];
  capture.records.forEach((r, i) => {
    if (r.linktype !== LINKTYPE_NETLINK || r.data.byteLength < NETLINK_COOKED_HEADER_LENGTH) return;
    const h = NETLINK_COOKED_HEADER.decode(r.data);
    if (h.hatype !== ARPHRD_NETLINK || h.protocol !== protocol) return;
    records.push({ frame: i + 1, out: isOutgoing(h.packetType), datagram: r.data.slice(NETLINK_COOKED_HEADER_LENGTH) });
  });
  if (records.length === 0) {
    throw new PcapFormatError(`the capture holds no LINKTYPE_NETLINK records of netlink protocol ${protocol}`, 0);
  }
  const conv: Conversation = { portId: portId ?? defaultPortId(records), expected: [], incoming: [], answered: new Set(), closeStart: 0, notes: [] };
  const { expected } = conv;

  for (const r of records) {
    const extents = messageExtents(r.datagram);
    if (r.out) {
      for (const x of extents) {
        const m = r.datagram.subarray(x.offset, x.offset + x.length);
        if (portId !== undefined && !x.malformed && headerOf(m).pid !== portId) continue;
        if (!x.malformed && isCloseDrain(m)) {
          conv.notes.push(`frame ${r.frame}: ${describeMessage(m)} is close()'s drain of a live socket, which a replay does not repeat`);
          continue;
        }
        expected.push({ bytes: m, frame: r.frame });
      }
      continue;
    }
    const ev: InEvent = { frame: r.frame, datagram: r.datagram, softGate: expected.length, replies: [], synthetic: false };
    let foreign = extents.length > 0;
    for (const x of extents) {
      const m = r.datagram.subarray(x.offset, x.offset + x.length);
      const header = x.malformed ? undefined : headerOf(m);
      if (header === undefined || header.type !== NLMSG_ERROR || x.length < NLMSG_HDRLEN + 4 + NLMSG_HDRLEN) {
        foreign = false;
        continue;
      }
      if (portId === undefined || header.pid === portId) foreign = false;
      const { request } = parseErrorMessage({ header, buffer: m, offset: 0, payloadOffset: NLMSG_HDRLEN, payloadLength: x.length - NLMSG_HDRLEN });
      for (let j = expected.length - 1; j >= 0; j--) {
        const e = expected[j]!.bytes;
        if (e.byteLength < NLMSG_HDRLEN) continue;
        const sent = headerOf(e);
        if (sent.type === request.type && sent.seq === request.seq) {
          ev.replies.push({ offset: x.offset, answers: j });
          conv.answered.add(j);
          break;
        }
      }
    }
    if (!foreign) conv.incoming.push(ev);
  }

  let closeStart = expected.length;
  while (closeStart > 0 && isUnbind(expected[closeStart - 1]!.bytes)) closeStart--;
  conv.closeStart = closeStart;
  return conv;
}
