/**
 * Comparing what the library sends with what was recorded, message by message: the
 * sequence number and port id are ignored (bytes 8..15), every other byte must be equal.
 */
import { NLMSG_HDRLEN, NLMSG_SEQ_OFFSET } from '../netlink/constants.js';
import { describeField, describeMessage } from '../nfqueue/describe.js';
import type { Expected } from './replay-parse.js';

/** Bytes `from`..`to` of `b` in hex, space-separated. */
export function hex(b: Uint8Array, from: number, to: number): string {
  const out: string[] = [];
  for (let i = Math.max(0, from); i < Math.min(b.byteLength, to); i++) out.push(b[i]!.toString(16).padStart(2, '0'));
  return out.join(' ');
}

/**
 * First byte where messages `a` and `b` differ, seq and pid (bytes 8..15) excepted; the
 * shorter one's length if one is a prefix of the other; -1 when equal.
 */
export function firstDifference(a: Uint8Array, b: Uint8Array): number {
  const n = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < n; i++) {
    if (i === NLMSG_SEQ_OFFSET) i = NLMSG_HDRLEN;
    if (i < n && a[i] !== b[i]) return i;
  }
  return a.byteLength === b.byteLength ? -1 : n;
}

/** Copy of a message with seq and pid zeroed (for showing a difference). */
function normalised(m: Uint8Array): Uint8Array {
  const c = m.slice();
  if (c.byteLength >= NLMSG_HDRLEN) c.fill(0, NLMSG_SEQ_OFFSET, NLMSG_HDRLEN);
  return c;
}

/** The account of sent message #`index`, `m`, differing from `e` first at byte `offset`. */
export function differenceText(index: number, e: Expected, m: Uint8Array, offset: number): string {
  const a = normalised(m);
  const b = normalised(e.bytes);
  const n = Math.min(a.byteLength, b.byteLength);
  const what = describeMessage(e.bytes);
  const got = describeMessage(m);
  let text = `sent message #${index} differs from the recording (frame ${e.frame}): expected ${what}, the library sent ${got === what ? 'different bytes' : got}; `;
  if (offset < n) {
    text += `first difference at byte ${offset} (${describeField(e.bytes, offset)}): expected ${hex(b, offset, offset + 8)}, got ${hex(a, offset, offset + 8)}`;
  } else {
    text += `lengths differ: expected ${b.byteLength} bytes, got ${a.byteLength}`;
  }
  return text;
}
