/**
 * The IP packet inside a capture record of an ordinary capture: raw IP, Ethernet (with
 * VLAN tags) or Linux "cooked" (SLL and SLL2), with what the link layer says about it
 * (EtherType, source hardware address, direction, interface). Pure: no I/O.
 */
import { ETH_P_IP, ETH_P_IPV6, parseEthernetHeader } from '../packet/ethernet.js';
import type { PcapRecord } from './reader.js';
import { LINKTYPE_RAW } from './writer.js';

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;
export const LINKTYPE_LINUX_SLL2 = 276;

/** Link types whose records carry IP packets that ipPacketOfRecord() can unwrap. */
export const IP_LINKTYPES: readonly number[] = [LINKTYPE_RAW, LINKTYPE_IPV4, LINKTYPE_IPV6, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2];

/** Direction of a cooked-capture packet (sll_pkttype): 0 to us … 4 sent by us. */
export type CookedPacketType = 'host' | 'broadcast' | 'multicast' | 'otherhost' | 'outgoing';
const PKT_TYPES: readonly CookedPacketType[] = ['host', 'broadcast', 'multicast', 'otherhost', 'outgoing'];

/** The IP packet of a capture record. */
export interface CapturedIpPacket {
  /** The bytes from the IP header on (a view into the record). */
  ip: Uint8Array;
  /** Length of the IP packet on the wire (more than `ip.length` when the snaplen cut it). */
  wireLength: number;
  /** 4 or 6, from the first nibble. */
  version: 4 | 6;
  /** EtherType from the link layer (0x0800 / 0x86dd), or from the IP version. */
  hwProtocol: number;
  /** Source hardware address (Ethernet, cooked), when the link layer has one. */
  hwaddr?: Uint8Array;
  /** Direction, for cooked captures. */
  packetType?: CookedPacketType;
  /** Interface index, for SLL2 captures. */
  ifindex?: number;
}

/**
 * The IP packet inside `rec`, or undefined when the record holds something else (ARP, a
 * truncated header, an unsupported link type: check `IP_LINKTYPES`).
 */
export function ipPacketOfRecord(rec: PcapRecord): CapturedIpPacket | undefined {
  const d = rec.data;
  let ip: Uint8Array | undefined;
  let headerLength = 0;
  let hwProtocol: number | undefined;
  const extra: Pick<CapturedIpPacket, 'hwaddr' | 'packetType' | 'ifindex'> = {};
  switch (rec.linktype) {
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      ip = d;
      break;
    case LINKTYPE_ETHERNET: {
      if (d.byteLength < 14) return undefined;
      const h = parseEthernetHeader(d);
      hwProtocol = h.etherType;
      headerLength = h.length;
      extra.hwaddr = d.subarray(6, 12);
      break;
    }
    case LINKTYPE_LINUX_SLL: {
      // be16 pkttype, be16 ARPHRD, be16 addrlen, u8 addr[8], be16 protocol
      if (d.byteLength < 16) return undefined;
      const pt = PKT_TYPES[(d[0]! << 8) | d[1]!];
      if (pt !== undefined) extra.packetType = pt;
      const alen = Math.min((d[4]! << 8) | d[5]!, 8);
      if (alen > 0) extra.hwaddr = d.subarray(6, 6 + alen);
      hwProtocol = (d[14]! << 8) | d[15]!;
      headerLength = 16;
      break;
    }
    case LINKTYPE_LINUX_SLL2: {
      // be16 protocol, u16 reserved, be32 ifindex, be16 ARPHRD, u8 pkttype, u8 addrlen, u8 addr[8]
      if (d.byteLength < 20) return undefined;
      hwProtocol = (d[0]! << 8) | d[1]!;
      extra.ifindex = ((d[4]! << 24) | (d[5]! << 16) | (d[6]! << 8) | d[7]!) >>> 0;
      const pt = PKT_TYPES[d[10]!];
      if (pt !== undefined) extra.packetType = pt;
      const alen = Math.min(d[11]!, 8);
      if (alen > 0) extra.hwaddr = d.subarray(12, 12 + alen);
      headerLength = 20;
      break;
    }
    default:
      return undefined;
  }
  ip ??= d.subarray(headerLength);
  if (hwProtocol !== undefined && hwProtocol !== ETH_P_IP && hwProtocol !== ETH_P_IPV6) return undefined;
  if (ip.byteLength < 1) return undefined;
  const version = ip[0]! >> 4;
  if (version !== 4 && version !== 6) return undefined;
  if (hwProtocol !== undefined && hwProtocol !== (version === 4 ? ETH_P_IP : ETH_P_IPV6)) return undefined;
  return {
    ip,
    wireLength: Math.max(rec.originalLength - headerLength, ip.byteLength),
    version,
    hwProtocol: hwProtocol ?? (version === 4 ? ETH_P_IP : ETH_P_IPV6),
    ...extra,
  };
}
