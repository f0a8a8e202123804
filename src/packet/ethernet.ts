/**
 * Link-layer headers as bridge-family packets carry them (NFQA_L2HDR, NFQA_VLAN): an
 * Ethernet header with up to two VLAN tags. This kernel cannot queue bridge-family packets
 * (no nft queue, no ebtables NFQUEUE), so these are decoded from bytes only.
 */

export const ETH_P_IP = 0x0800;
export const ETH_P_IPV6 = 0x86dd;
export const ETH_P_8021Q = 0x8100;
export const ETH_P_8021AD = 0x88a8;

/** One VLAN tag. */
export interface VlanTag {
  /** Tag protocol identifier: 0x8100 or 0x88a8. */
  proto: number;
  /** Tag control information (priority << 13 | DEI << 12 | id). */
  tci: number;
  /** VLAN id, tci & 0xfff. */
  id: number;
  /** Priority code point, tci >> 13. */
  pcp: number;
}

/** A decoded Ethernet header. */
export interface EthernetHeader {
  dst: string;
  src: string;
  /** VLAN tags, outermost first. */
  vlans: VlanTag[];
  /** EtherType after the tags. */
  etherType: number;
  /** Header length in bytes (14 + 4 per tag). */
  length: number;
}

function mac(b: Uint8Array, off: number): string {
  let s = '';
  for (let i = 0; i < 6; i++) s += (i === 0 ? '' : ':') + b[off + i]!.toString(16).padStart(2, '0');
  return s;
}

/** Splits a VLAN TCI into id and priority. */
export function vlanTag(proto: number, tci: number): VlanTag {
  return { proto, tci, id: tci & 0xfff, pcp: tci >> 13 };
}

/** Decodes an Ethernet header (with 802.1Q / 802.1ad tags) from the start of `b`. */
export function parseEthernetHeader(b: Uint8Array): EthernetHeader {
  if (b.byteLength < 14) throw new RangeError(`an Ethernet header needs 14 bytes, got ${b.byteLength}`);
  const vlans: VlanTag[] = [];
  let off = 12;
  let type = (b[off]! << 8) | b[off + 1]!;
  while ((type === ETH_P_8021Q || type === ETH_P_8021AD) && off + 6 <= b.byteLength) {
    vlans.push(vlanTag(type, (b[off + 2]! << 8) | b[off + 3]!));
    off += 4;
    type = (b[off]! << 8) | b[off + 1]!;
  }
  return { dst: mac(b, 0), src: mac(b, 6), vlans, etherType: type, length: off + 2 };
}
