/**
 * Encoder of NFQNL_MSG_PACKET messages, the kernel's side of the protocol
 * (net/netfilter/nfnetlink_queue.c, nfqnl_build_packet_message): attributes in the order the
 * kernel writes them, absent fields left out. Used by the test kit to feed a real Queue
 * without a kernel; off the per-packet path, so it favours clarity over speed.
 */
import type { MessageWriter } from '../netlink/writer.js';
import { NLA_F_NESTED } from '../netlink/constants.js';
import * as C from './constants.js';
import type { PacketTimestamp, PacketVlan } from './packet.js';

/** The fields of a packet message: those of a decoded Packet; absent ones are left out. */
export interface PacketMessageFields {
  queue: number;
  id: number;
  /** NFPROTO_* of the packet: 2 IPv4, 10 IPv6. */
  family: number;
  /** ETH_P_* of the packet, e.g. 0x0800. */
  hwProtocol: number;
  /** NF_INET_* hook number. */
  hook: number;
  mark?: number | undefined;
  timestamp?: PacketTimestamp | undefined;
  indev?: number | undefined;
  outdev?: number | undefined;
  physindev?: number | undefined;
  physoutdev?: number | undefined;
  /** Up to 8 bytes. */
  hwaddr?: Uint8Array | undefined;
  payload?: Uint8Array | undefined;
  ct?: Uint8Array | undefined;
  ctInfo?: number | undefined;
  capLen?: number | undefined;
  skbInfo?: number | undefined;
  exp?: Uint8Array | undefined;
  uid?: number | undefined;
  gid?: number | undefined;
  secctx?: string | undefined;
  vlan?: PacketVlan | undefined;
  l2hdr?: Uint8Array | undefined;
  priority?: number | undefined;
  cgroupClassid?: number | undefined;
}

/** Appends one PACKET message (as the kernel sends it: seq 0, pid 0) to `w`. */
export function encodePacketMessage(w: MessageWriter, p: PacketMessageFields): void {
  w.begin({ type: C.NFQ_TYPE_PACKET, flags: 0, seq: 0, pid: 0 });
  w.rawU8(p.family).rawU8(C.NFNETLINK_V0).rawBe16(p.queue);
  // struct nfqnl_msg_packet_hdr { be32 packet_id; be16 hw_protocol; u8 hook; } (7 bytes)
  const hdr = [(p.id >>> 24) & 0xff, (p.id >>> 16) & 0xff, (p.id >>> 8) & 0xff, p.id & 0xff, (p.hwProtocol >>> 8) & 0xff, p.hwProtocol & 0xff, p.hook & 0xff];
  w.attrBytes(C.NFQA_PACKET_HDR, hdr);
  if (p.indev !== undefined) w.attrBe32(C.NFQA_IFINDEX_INDEV, p.indev);
  if (p.physindev !== undefined) w.attrBe32(C.NFQA_IFINDEX_PHYSINDEV, p.physindev);
  if (p.outdev !== undefined) w.attrBe32(C.NFQA_IFINDEX_OUTDEV, p.outdev);
  if (p.physoutdev !== undefined) w.attrBe32(C.NFQA_IFINDEX_PHYSOUTDEV, p.physoutdev);
  if (p.mark !== undefined) w.attrBe32(C.NFQA_MARK, p.mark);
  if (p.priority !== undefined) w.attrBe32(C.NFQA_PRIORITY, p.priority);
  if (p.hwaddr !== undefined) {
    // struct nfqnl_msg_packet_hw { be16 hw_addrlen; u16 _pad; u8 hw_addr[8]; }
    const n = Math.min(p.hwaddr.byteLength, 8);
    const hw = new Uint8Array(12);
    hw[1] = n;
    hw.set(p.hwaddr.subarray(0, n), 4);
    w.attrBytes(C.NFQA_HWADDR, hw);
  }
  if (p.vlan !== undefined) w.beginNest(C.NFQA_VLAN).attrBe16(C.NFQA_VLAN_PROTO, p.vlan.proto).attrBe16(C.NFQA_VLAN_TCI, p.vlan.tci).endNest();
  if (p.l2hdr !== undefined) w.attrBytes(C.NFQA_L2HDR, p.l2hdr);
  if (p.timestamp !== undefined) {
    // struct nfqnl_msg_packet_timestamp { be64 sec; be64 usec; }
    const ts = new Uint8Array(16);
    const v = new DataView(ts.buffer);
    v.setBigUint64(0, BigInt(p.timestamp.sec), false);
    v.setBigUint64(8, BigInt(p.timestamp.usec), false);
    w.attrBytes(C.NFQA_TIMESTAMP, ts);
  }
  if (p.uid !== undefined) w.attrBe32(C.NFQA_UID, p.uid);
  if (p.gid !== undefined) w.attrBe32(C.NFQA_GID, p.gid);
  if (p.secctx !== undefined) w.attrString(C.NFQA_SECCTX, p.secctx);
  if (p.ct !== undefined) w.attrBytes(C.NFQA_CT | NLA_F_NESTED, p.ct);
  if (p.ctInfo !== undefined) w.attrBe32(C.NFQA_CT_INFO, p.ctInfo);
  if (p.exp !== undefined) w.attrBytes(C.NFQA_EXP | NLA_F_NESTED, p.exp);
  if (p.capLen !== undefined) w.attrBe32(C.NFQA_CAP_LEN, p.capLen);
  if (p.skbInfo !== undefined) w.attrBe32(C.NFQA_SKB_INFO, p.skbInfo);
  if (p.cgroupClassid !== undefined) w.attrBe32(C.NFQA_CGROUP_CLASSID, p.cgroupClassid);
  if (p.payload !== undefined) w.attrBytes(C.NFQA_PAYLOAD, p.payload);
  w.end();
}
