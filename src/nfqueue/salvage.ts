/** Finding the packet id in a packet message too malformed to decode, so it still gets a verdict. */
import { NLMSG_HDRLEN, NLA_TYPE_MASK, align4 } from '../netlink/constants.js';
import * as C from './constants.js';

/** The queue and packet id of a malformed packet message, if its PACKET_HDR is readable. */
export function salvagePacketId(buf: Uint8Array, off: number, mlen: number, view: DataView): { queue: number; id: number } | undefined {
  const end = Math.min(off + mlen, buf.byteLength);
  const p = off + NLMSG_HDRLEN;
  if (p + C.NFGENMSG_LEN > end) return undefined;
  const queue = view.getUint16(p + 2, false);
  let a = p + C.NFGENMSG_LEN;
  while (a + 4 <= end) {
    const alen = view.getUint16(a, true);
    if (alen < 4 || a + alen > end) return undefined;
    if ((view.getUint16(a + 2, true) & NLA_TYPE_MASK) === C.NFQA_PACKET_HDR && alen >= 8) return { queue, id: view.getUint32(a + 4, false) };
    a += align4(alen);
  }
  return undefined;
}
