/**
 * Decoder of NFQNL_MSG_PACKET messages: every packet attribute (1..22) into a Packet whose
 * absent attributes are `undefined` fields. This is the per-packet hot path: one pass over
 * the attributes with a DataView and fixed offsets, no intermediate objects.
 */
import { NLMSG_HDRLEN, NLA_TYPE_MASK, NLA_F_NESTED } from '../netlink/constants.js';
import { NetlinkDecodeError } from '../netlink/errors.js';
import { AttributeDecoder, type RawAttribute } from '../netlink/attributes.js';
import * as C from './constants.js';
import { readQueueMessage } from './header.js';
import { decodeConntrack, type Conntrack } from './conntrack.js';

/** Receive timestamp of a packet: seconds and microseconds since the epoch. */
export interface PacketTimestamp {
  sec: number;
  usec: number;
}

/** VLAN tag of a packet (NFQA_VLAN). */
export interface PacketVlan {
  /** Tag protocol identifier (0x8100, 0x88a8). */
  proto: number;
  /** Tag control information: priority, DEI and VLAN id (`tci & 0xfff`). */
  tci: number;
}

/**
 * An error in a packet message's bytes. `queue` and `id` name the packet when its
 * NFQA_PACKET_HDR could still be read, so that it can get a verdict all the same.
 */
export class PacketDecodeError extends NetlinkDecodeError {
  override name = 'PacketDecodeError';
  /** The queue of the packet (nfgenmsg), when the message reached that far. */
  queue: number | undefined = undefined;
  /** The packet id, when NFQA_PACKET_HDR could be read. */
  id: number | undefined = undefined;
  constructor(message: string, offset: number, truncated = false) {
    super(message, offset, truncated, 'ERR_PACKET_DECODE');
  }
}

const utf8 = new TextDecoder();

/**
 * A queued packet as the kernel described it. Fields whose attribute was absent are
 * `undefined`. `payload`, `hwaddr`, `l2hdr`, `ct`, `exp` and `unknown` values are views
 * into the received datagram: see Queue docs for their lifetime.
 */
export class Packet {
  /** Queue number (nfgenmsg res_id). */
  queue = 0;
  /** Protocol family (nfgenmsg): 2 IPv4, 10 IPv6, 7 bridge… */
  family = 0;
  /** Packet id, used to give the verdict. */
  id = 0;
  /** Link-layer protocol (ETH_P_*), e.g. 0x0800 IPv4, 0x86dd IPv6. */
  hwProtocol = 0;
  /** Netfilter hook: 0 prerouting, 1 input, 2 forward, 3 output, 4 postrouting. */
  hook = 0;
  /** Packet mark (NFQA_MARK). */
  mark: number | undefined = undefined;
  /** Receive timestamp (NFQA_TIMESTAMP). */
  timestamp: PacketTimestamp | undefined = undefined;
  /** Input interface index (NFQA_IFINDEX_INDEV). */
  indev: number | undefined = undefined;
  /** Output interface index (NFQA_IFINDEX_OUTDEV). */
  outdev: number | undefined = undefined;
  /** Physical input interface index, for bridged packets (NFQA_IFINDEX_PHYSINDEV). */
  physindev: number | undefined = undefined;
  /** Physical output interface index, for bridged packets (NFQA_IFINDEX_PHYSOUTDEV). */
  physoutdev: number | undefined = undefined;
  /** Source hardware address, `addrlen` bytes of NFQA_HWADDR. */
  hwaddr: Uint8Array | undefined = undefined;
  /** The packet bytes from the network header on (NFQA_PAYLOAD). */
  payload: Uint8Array | undefined = undefined;
  /** Conntrack info as the raw nested attribute bytes (NFQA_CT). */
  ct: Uint8Array | undefined = undefined;
  /** Conntrack state (NFQA_CT_INFO, enum ip_conntrack_info). */
  ctInfo: number | undefined = undefined;
  /** Original length when the payload was truncated to the copy range (NFQA_CAP_LEN). */
  capLen: number | undefined = undefined;
  /** NFQA_SKB_INFO flags: 1 checksum not ready, 2 GSO, 4 checksum not verified. */
  skbInfo: number | undefined = undefined;
  /** Conntrack expectation, raw nested attribute bytes (NFQA_EXP). */
  exp: Uint8Array | undefined = undefined;
  /** Owner uid of the sending socket (NFQA_UID, needs the UID_GID flag). */
  uid: number | undefined = undefined;
  /** Owner gid of the sending socket (NFQA_GID, needs the UID_GID flag). */
  gid: number | undefined = undefined;
  /** Security context (NFQA_SECCTX, needs the SECCTX flag and an LSM). */
  secctx: string | undefined = undefined;
  /** VLAN tag (NFQA_VLAN). */
  vlan: PacketVlan | undefined = undefined;
  /** Link-layer header (NFQA_L2HDR), for bridge-family packets. */
  l2hdr: Uint8Array | undefined = undefined;
  /** skb->priority (NFQA_PRIORITY). */
  priority: number | undefined = undefined;
  /** net_cls cgroup classid (NFQA_CGROUP_CLASSID). */
  cgroupClassid: number | undefined = undefined;
  /** Attributes this library does not know, kept raw. */
  unknown: RawAttribute[] | undefined = undefined;

  /** Length of the original packet: capLen when truncated, else the payload length. */
  get length(): number | undefined {
    return this.capLen ?? this.payload?.byteLength;
  }

  /**
   * The connection of NFQA_CT, decoded (`ct` keeps the raw bytes); undefined when the kernel
   * sent none (it needs the CONNTRACK flag and a kernel with the nfnetlink_queue conntrack
   * glue). Throws a NetlinkDecodeError on malformed bytes.
   */
  conntrack(): Conntrack | undefined {
    return this.ct === undefined ? undefined : decodeConntrack(this.ct);
  }
}

/**
 * Bytes [start, end) of `buf`, where `v` is a DataView over exactly `buf`. A plain
 * Uint8Array's view is built directly: subarray() looks up the species constructor on every
 * call, which cost as much as the rest of the payload view (perf: 1.3 % of the consumer's CPU
 * at 1400 B). Any other class (a Node Buffer from the fallback transport) keeps subarray(),
 * so the view keeps its class.
 */
function bytesAt(buf: Uint8Array, v: DataView, start: number, end: number): Uint8Array {
  return buf.constructor === Uint8Array ? new Uint8Array(v.buffer, v.byteOffset + start, end - start) : buf.subarray(start, end);
}

function fail(msg: string, offset: number, truncated = false): never {
  throw new PacketDecodeError(msg, offset, truncated);
}

function sizeError(type: number, len: number, need: number, off: number): never {
  fail(`packet attribute ${type} holds ${len} bytes, needs ${need}`, off);
}

/**
 * Decodes the NFQNL_MSG_PACKET message whose nlmsghdr starts at `offset` in `buf`
 * (`length` = nlmsg_len). Throws PacketDecodeError on malformed bytes; unknown attributes
 * are kept in `unknown`. `into` is a fresh Packet (or subclass) to fill: the runtime passes
 * its QueuedPacket, which adds the verdict methods.
 */
export function decodePacket<P extends Packet = Packet>(buf: Uint8Array, offset: number, length: number, view?: DataView, into?: P): P {
  const v = view ?? new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  try {
    return decodeAttributes(buf, offset, length, v, into ?? (new Packet() as P));
  } catch (e) {
    if (e instanceof PacketDecodeError) identify(e, buf, offset, length);
    throw e;
  }
}

/**
 * Names the packet of a malformed message in `e`: its queue, and its id when a PACKET_HDR
 * comes before the first attribute whose header is broken (the values need not be sound).
 */
function identify(e: PacketDecodeError, buf: Uint8Array, offset: number, length: number): void {
  let m;
  try {
    m = readQueueMessage(buf, offset, length);
  } catch {
    return;
  }
  e.queue = m.queue;
  const ad = m.attributes;
  while (ad.next()) {
    if (ad.type === C.NFQA_PACKET_HDR && ad.valueLength >= 4) {
      e.id = ad.be32();
      return;
    }
  }
}

function decodeAttributes<P extends Packet>(buf: Uint8Array, offset: number, length: number, v: DataView, pkt: P): P {
  const end = offset + length;
  if (end > buf.byteLength) fail(`packet message of ${length} bytes runs past the datagram`, offset, true);
  const p = offset + NLMSG_HDRLEN;
  if (p + C.NFGENMSG_LEN > end) fail('packet message too short for nfgenmsg', p, true);
  pkt.family = v.getUint8(p);
  pkt.queue = v.getUint16(p + 2, false);
  let off = p + C.NFGENMSG_LEN;
  let sawHeader = false;
  while (off < end) {
    if (off + 4 > end) fail(`attribute header needs 4 bytes, ${end - off} left`, off, true);
    const alen = v.getUint16(off, true);
    const rawType = v.getUint16(off + 2, true);
    if (alen < 4) fail(`attribute length ${alen} is shorter than its header`, off);
    if (off + alen > end) fail(`attribute type ${rawType & NLA_TYPE_MASK} length ${alen} runs past the message`, off, true);
    const type = rawType & NLA_TYPE_MASK;
    const vo = off + 4;
    const vl = alen - 4;
    switch (type) {
      case C.NFQA_PACKET_HDR:
        if (vl < 7) sizeError(type, vl, 7, off);
        pkt.id = v.getUint32(vo, false);
        pkt.hwProtocol = v.getUint16(vo + 4, false);
        pkt.hook = v.getUint8(vo + 6);
        sawHeader = true;
        break;
      case C.NFQA_MARK:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.mark = v.getUint32(vo, false);
        break;
      case C.NFQA_TIMESTAMP: {
        if (vl < 16) sizeError(type, vl, 16, off);
        // be64 each; seconds fit a double exactly until far beyond any real clock.
        const sec = v.getUint32(vo, false) * 0x100000000 + v.getUint32(vo + 4, false);
        const usec = v.getUint32(vo + 8, false) * 0x100000000 + v.getUint32(vo + 12, false);
        pkt.timestamp = { sec, usec };
        break;
      }
      case C.NFQA_IFINDEX_INDEV:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.indev = v.getUint32(vo, false);
        break;
      case C.NFQA_IFINDEX_OUTDEV:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.outdev = v.getUint32(vo, false);
        break;
      case C.NFQA_IFINDEX_PHYSINDEV:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.physindev = v.getUint32(vo, false);
        break;
      case C.NFQA_IFINDEX_PHYSOUTDEV:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.physoutdev = v.getUint32(vo, false);
        break;
      case C.NFQA_HWADDR: {
        // struct nfqnl_msg_packet_hw { be16 hw_addrlen; u16 _pad; u8 hw_addr[8]; }
        if (vl < 12) sizeError(type, vl, 12, off);
        const n = Math.min(v.getUint16(vo, false), 8);
        pkt.hwaddr = bytesAt(buf, v, vo + 4, vo + 4 + n);
        break;
      }
      case C.NFQA_PAYLOAD:
        pkt.payload = bytesAt(buf, v, vo, vo + vl);
        break;
      case C.NFQA_CT:
        pkt.ct = bytesAt(buf, v, vo, vo + vl);
        break;
      case C.NFQA_CT_INFO:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.ctInfo = v.getUint32(vo, false);
        break;
      case C.NFQA_CAP_LEN:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.capLen = v.getUint32(vo, false);
        break;
      case C.NFQA_SKB_INFO:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.skbInfo = v.getUint32(vo, false);
        break;
      case C.NFQA_EXP:
        pkt.exp = bytesAt(buf, v, vo, vo + vl);
        break;
      case C.NFQA_UID:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.uid = v.getUint32(vo, false);
        break;
      case C.NFQA_GID:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.gid = v.getUint32(vo, false);
        break;
      case C.NFQA_SECCTX: {
        const b = buf.subarray(vo, vo + vl);
        const nul = b.indexOf(0);
        pkt.secctx = utf8.decode(nul === -1 ? b : b.subarray(0, nul));
        break;
      }
      case C.NFQA_VLAN: {
        const ad = new AttributeDecoder(buf, vo, vo + vl);
        let proto: number | undefined;
        let tci: number | undefined;
        while (ad.next()) {
          if (ad.type === C.NFQA_VLAN_PROTO) proto = ad.be16();
          else if (ad.type === C.NFQA_VLAN_TCI) tci = ad.be16();
        }
        if (ad.error !== undefined) fail(`bad NFQA_VLAN: ${ad.error.message}`, ad.error.offset, ad.error.truncated);
        if (proto === undefined || tci === undefined) fail('NFQA_VLAN lacks its protocol or TCI', off);
        pkt.vlan = { proto, tci };
        break;
      }
      case C.NFQA_L2HDR:
        pkt.l2hdr = bytesAt(buf, v, vo, vo + vl);
        break;
      case C.NFQA_PRIORITY:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.priority = v.getUint32(vo, false);
        break;
      case C.NFQA_CGROUP_CLASSID:
        if (vl < 4) sizeError(type, vl, 4, off);
        pkt.cgroupClassid = v.getUint32(vo, false);
        break;
      default:
        (pkt.unknown ??= []).push({ type, nested: (rawType & NLA_F_NESTED) !== 0, value: bytesAt(buf, v, vo, vo + vl) });
    }
    off += (alen + 3) & ~3;
  }
  if (!sawHeader) fail('packet message has no NFQA_PACKET_HDR', p);
  return pkt;
}
