/**
 * Keeping a socket that cannot survive a receive-buffer overrun from ever overflowing.
 *
 * The `netlink` package's socket aborts the process when the kernel reports an overrun
 * (its poll handler gets EPOLLERR from the pending ENOBUFS and throws a C++ exception out
 * of a libuv callback), and it cannot set NETLINK_NO_ENOBUFS. The kernel holds at most
 * QUEUE_MAXLEN packets of a queue (delivered or not) until their verdicts, so a queue whose
 * maxlen times the largest packet message fits the receive buffer cannot overrun it: the
 * packets beyond maxlen are dropped by the kernel (queue_dropped) or accepted with the
 * failOpen flag instead.
 */
import type { Transport } from '../netlink/transport.js';
import type { KernelSocket } from './kernel-socket.js';
import { NFQNL_COPY_PACKET } from '../nfqueue/constants.js';

/** The kernel's own default QUEUE_MAXLEN (NFQNL_QMAX_DEFAULT). */
export const KERNEL_DEFAULT_MAXLEN = 1024;

// Bytes a packet message costs in the receive buffer besides the copied packet bytes: the
// sk_buff and skb_shared_info and every attribute the kernel reserves room for. Measured
// (Linux 6.x, /proc/net/netlink Rmem over held messages): 832 per message with no payload
// or with a zero-copied payload; a linear copy is rounded up to a power of two (kmalloc).
const MESSAGE_OVERHEAD = 640;
const SKB_STRUCT = 512;
// Room kept for the kernel's acks and error messages beside the packets.
const CONTROL_SLACK = 8192;

/**
 * Largest receive-buffer cost (skb truesize) of one packet message: the copied bytes plus
 * the reserved attributes, rounded up as a linear kmalloc'd copy would be.
 */
export function packetMessageCost(copyMode: number, copyRange: number): number {
  const data = copyMode === NFQNL_COPY_PACKET ? Math.min(copyRange === 0 ? 0xffff : copyRange, 0xffff) : 0;
  let head = 1;
  while (head < data + MESSAGE_OVERHEAD) head *= 2;
  return head + SKB_STRUCT;
}

/**
 * The longest kernel queue whose packets all fit a receive buffer of `receiveBuffer` bytes
 * (the kernel's sk_rcvbuf, as getsockopt(SO_RCVBUF) reports it); at least 1 (the kernel
 * always accepts a message into an empty buffer).
 */
export function overrunSafeMaxLen(receiveBuffer: number, copyMode: number, copyRange: number): number {
  return Math.max(1, Math.floor((receiveBuffer - CONTROL_SLACK) / packetMessageCost(copyMode, copyRange)));
}

let warned = false;

/**
 * The QUEUE_MAXLEN to configure: the user's `maxLen` (undefined: leave the kernel's), cut
 * down to what the receive buffer holds when `transport` cannot survive an overrun. Says
 * so once per process (a process warning) when it cuts.
 */
export function maxLenForTransport(transport: Pick<Transport, 'kind' | 'getReceiveBufferSize'> & KernelSocket, maxLen: number | undefined, copyMode: number, copyRange: number): number | undefined {
  if (transport.overrunIsFatal !== true) return maxLen;
  const rcvbuf = transport.getReceiveBufferSize?.() ?? 0;
  if (!(rcvbuf > 0)) return maxLen;
  const safe = overrunSafeMaxLen(rcvbuf, copyMode, copyRange);
  const wanted = maxLen ?? KERNEL_DEFAULT_MAXLEN;
  if (wanted <= safe) return maxLen;
  if (!warned) {
    warned = true;
    process.emitWarning(
      `the ${transport.kind} socket cannot survive a receive-buffer overrun, so the queue holds at most ${safe} packet(s) ` +
        // The netlink package sets SO_RCVBUF, not SO_RCVBUFFORCE: the sysctl caps what a request gets.
        `(receive buffer ${rcvbuf} bytes, which sysctl net.core.rmem_max caps on this socket; ` +
        `up to ${packetMessageCost(copyMode, copyRange)} bytes per packet message); ` +
        `packets beyond that are dropped by the kernel (accepted with flags.failOpen). ` +
        `Raise receiveBufferSize, lower copyRange, or get the native socket: npm rebuild netfilter-queue`,
      { code: 'NFQUEUE_MAXLEN_BOUNDED' },
    );
  }
  return safe;
}
