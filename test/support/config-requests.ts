/** Config requests the library never sends, for reproducing the kernel's answers to them. */
import type { MessageWriter } from '../../src/netlink/writer.js';
import * as C from '../../src/nfqueue/constants.js';
import { beginQueueMessage, type RequestHeader } from '../../src/nfqueue/header.js';

/** Appends a FLAGS request without its MASK: the kernel answers EINVAL. */
export function encodeConfigFlagsWithoutMask(w: MessageWriter, queue: number, flags: number, h?: RequestHeader): void {
  beginQueueMessage(w, C.NFQNL_MSG_CONFIG, queue, C.NFPROTO_UNSPEC, h);
  w.attrBe32(C.NFQA_CFG_FLAGS, flags);
  w.end();
}
