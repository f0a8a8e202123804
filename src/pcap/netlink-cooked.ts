/**
 * The 16-byte "cooked" header in front of every LINKTYPE_NETLINK record, as tcpdump
 * writes it on an nlmon interface (the LINKTYPE_LINUX_SLL layout):
 *
 *   0  be16 packet type     0 = to us (received), 4 = sent by us (outgoing)
 *   2  be16 ARPHRD type     824 = ARPHRD_NETLINK (Wireshark checks this)
 *   4  be16 address length  0 here
 *   6  u8[8] address        zeros
 *  14  be16 protocol        netlink protocol number, e.g. 12 = NETLINK_NETFILTER
 */
import { fixedLayout, layout as lo } from '../netlink/fixed-layout.js';
import { PcapFormatError } from './errors.js';

/** Length of the cooked header in front of a netlink datagram. */
export const NETLINK_COOKED_HEADER_LENGTH = 16;
/** ARPHRD_NETLINK: the hardware type of an nlmon device, at offset 2 of the header. */
export const ARPHRD_NETLINK = 824;
/** Cooked packet type of a datagram received by the recording socket. */
export const COOKED_PACKET_INCOMING = 0;
/** Cooked packet type of a datagram sent by the recording socket. */
export const COOKED_PACKET_OUTGOING = 4;

/** The cooked header's fields (the 8 address bytes are left out: always zero here). */
export interface NetlinkCookedHeader {
  packetType: number;
  hatype: number;
  addressLength: number;
  protocol: number;
}

/** The 16-byte cooked header as a struct. */
export const NETLINK_COOKED_HEADER = fixedLayout<NetlinkCookedHeader>(
  lo.struct([lo.u16be('packetType'), lo.u16be('hatype'), lo.u16be('addressLength'), lo.blob(8, 'address'), lo.u16be('protocol')]),
);

/** Which way a recorded datagram went: `'in'` = received by us, `'out'` = sent by us. */
export type NetlinkDirection = 'in' | 'out';

/** A decoded LINKTYPE_NETLINK record. */
export interface NetlinkCookedRecord {
  /** `'out'` for packet type 4, `'in'` for anything else. */
  direction: NetlinkDirection;
  /** The raw cooked packet type (0, 4, or whatever another tool wrote). */
  packetType: number;
  /** Netlink protocol number (12 = NETLINK_NETFILTER). */
  protocol: number;
  /** The netlink datagram: a view into the record. */
  datagram: Uint8Array;
}

/** Prefix a netlink datagram with its 16-byte cooked header (returns a new array). */
export function encodeNetlinkCooked(
  direction: NetlinkDirection,
  protocol: number,
  datagram: Uint8Array,
): Uint8Array {
  if (direction !== 'in' && direction !== 'out') {
    throw new RangeError(`direction must be 'in' or 'out', got ${String(direction)}`);
  }
  if (!Number.isInteger(protocol) || protocol < 0 || protocol > 0xffff) {
    throw new RangeError(`netlink protocol must be an integer from 0 to 65535, got ${protocol}`);
  }
  const out = new Uint8Array(NETLINK_COOKED_HEADER_LENGTH + datagram.length);
  const packetType = direction === 'out' ? COOKED_PACKET_OUTGOING : COOKED_PACKET_INCOMING;
  NETLINK_COOKED_HEADER.encode({ packetType, hatype: ARPHRD_NETLINK, addressLength: 0, protocol }, out);
  out.set(datagram, NETLINK_COOKED_HEADER_LENGTH);
  return out;
}

/** Split a LINKTYPE_NETLINK record into header fields and datagram; throws PcapFormatError. */
export function decodeNetlinkCooked(record: Uint8Array): NetlinkCookedRecord {
  if (record.length < NETLINK_COOKED_HEADER_LENGTH) {
    throw new PcapFormatError(
      `netlink record of ${record.length} bytes is shorter than the 16-byte cooked header`,
      record.length,
      true,
    );
  }
  const { hatype, packetType, protocol } = NETLINK_COOKED_HEADER.decode(record);
  if (hatype !== ARPHRD_NETLINK) {
    throw new PcapFormatError(
      `cooked header hardware type is ${hatype}, not ARPHRD_NETLINK (824)`,
      2,
    );
  }
  return {
    direction: packetType === COOKED_PACKET_OUTGOING ? 'out' : 'in',
    packetType,
    protocol,
    datagram: record.subarray(NETLINK_COOKED_HEADER_LENGTH),
  };
}
