/**
 * A test-side encoder of NFQNL_MSG_PACKET messages as the kernel writes them
 * (net/netfilter/nfnetlink_queue.c, nfqnl_build_packet_message), written without the
 * library's MessageWriter so decoder tests do not check the library against itself.
 */
import { attr, be16, be32, be64, concat, nest, nfgenmsg, nlmsg } from './bytes.js';

/** Field values of a packet to encode; absent fields produce no attribute. */
export interface PacketSpec {
  queue: number;
  family: number;
  id: number;
  hwProtocol: number;
  hook: number;
  mark?: number;
  timestamp?: { sec: number; usec: number };
  indev?: number;
  outdev?: number;
  physindev?: number;
  physoutdev?: number;
  /** 0..8 bytes; encoded in the 8-byte field with be16 length. */
  hwaddr?: Uint8Array;
  payload?: Uint8Array;
  ct?: Uint8Array;
  ctInfo?: number;
  capLen?: number;
  skbInfo?: number;
  exp?: Uint8Array;
  uid?: number;
  gid?: number;
  secctx?: string;
  vlan?: { proto: number; tci: number };
  l2hdr?: Uint8Array;
  priority?: number;
  cgroupClassid?: number;
  /** Extra raw attributes: [type (flag bits included), value]. */
  unknown?: { type: number; value: Uint8Array }[];
}

/** The attributes of a packet, each as its own padded byte block, in the kernel's order. */
export function packetAttributes(p: PacketSpec): Uint8Array[] {
  const a: Uint8Array[] = [];
  a.push(attr(1, be32(p.id), be16(p.hwProtocol), p.hook & 0xff));
  if (p.indev !== undefined) a.push(attr(5, be32(p.indev)));
  if (p.physindev !== undefined) a.push(attr(7, be32(p.physindev)));
  if (p.outdev !== undefined) a.push(attr(6, be32(p.outdev)));
  if (p.physoutdev !== undefined) a.push(attr(8, be32(p.physoutdev)));
  if (p.mark !== undefined) a.push(attr(3, be32(p.mark)));
  if (p.priority !== undefined) a.push(attr(21, be32(p.priority)));
  if (p.hwaddr !== undefined) {
    const hw = new Uint8Array(8);
    hw.set(p.hwaddr);
    a.push(attr(9, be16(p.hwaddr.length), 0, 0, hw));
  }
  if (p.vlan !== undefined) a.push(nest(19, attr(1, be16(p.vlan.proto)), attr(2, be16(p.vlan.tci))));
  if (p.l2hdr !== undefined) a.push(attr(20, p.l2hdr));
  if (p.timestamp !== undefined) a.push(attr(4, be64(p.timestamp.sec), be64(p.timestamp.usec)));
  if (p.uid !== undefined) a.push(attr(16, be32(p.uid)));
  if (p.gid !== undefined) a.push(attr(17, be32(p.gid)));
  if (p.secctx !== undefined) a.push(attr(18, new TextEncoder().encode(p.secctx), 0));
  if (p.ct !== undefined) a.push(nest(11, p.ct));
  if (p.ctInfo !== undefined) a.push(attr(12, be32(p.ctInfo)));
  if (p.exp !== undefined) a.push(nest(15, p.exp));
  if (p.capLen !== undefined) a.push(attr(13, be32(p.capLen)));
  if (p.skbInfo !== undefined) a.push(attr(14, be32(p.skbInfo)));
  if (p.cgroupClassid !== undefined) a.push(attr(22, be32(p.cgroupClassid)));
  for (const u of p.unknown ?? []) a.push(attr(u.type, u.value));
  if (p.payload !== undefined) a.push(attr(10, p.payload));
  return a;
}

/** A complete PACKET message (type 0x0300) for `p`, attributes in the kernel's order. */
export function encodeKernelPacket(p: PacketSpec, opts: { seq?: number } = {}): Uint8Array {
  return nlmsg({ type: 0x0300, flags: 0, seq: opts.seq ?? 0, pid: 0 }, nfgenmsg(p.family, p.queue), concat(...packetAttributes(p)));
}

/** Shuffles the attribute blocks of `p` with a permutation (an array of distinct indices). */
export function encodeKernelPacketPermuted(p: PacketSpec, perm: readonly number[]): Uint8Array {
  const attrs = packetAttributes(p);
  const order = perm.filter((i) => i < attrs.length);
  for (let i = 0; i < attrs.length; i++) if (!order.includes(i)) order.push(i);
  return nlmsg({ type: 0x0300 }, nfgenmsg(p.family, p.queue), concat(...order.map((i) => attrs[i]!)));
}

/** Shorthand used by tests: bytes of a packet seen at OUTPUT on this kernel (§8: PACKET_HDR, OUTDEV, PAYLOAD). */
export function outputPacket(id: number, payload: Uint8Array, opts: { queue?: number; outdev?: number; seq?: number } = {}): Uint8Array {
  return nlmsg(
    { type: 0x0300, seq: opts.seq ?? 0 },
    nfgenmsg(2, opts.queue ?? 0),
    attr(1, be32(id), be16(0x0800), 3),
    attr(6, be32(opts.outdev ?? 1)),
    attr(10, payload),
  );
}
