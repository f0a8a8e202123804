/**
 * The drain before UNBIND. UNBIND drops every packet still waiting in the kernel, including
 * those already sitting in our socket's receive buffer (under load there are many). So
 * first stop new deliveries: FAIL_OPEN (when the default verdict is accept, so new packets
 * pass as it says) and QUEUE_MAXLEN 0, both in force once sendto() returns. This is done
 * even when /proc shows nothing waiting, because under a flood packets arrive between that
 * look and the UNBIND. Then keep reading (each packet gets the default verdict) until /proc
 * shows none waiting, or the count has not fallen for `timeout` ms. No ack is awaited:
 * under a flood the kernel may drop acks with the packets it cannot deliver.
 * Fake and replayed transports are not this kernel's sockets: they skip this.
 */
import type { NetlinkConn } from '../netlink/conn.js';
import * as C from '../nfqueue/constants.js';
import { encodeConfigFlags, encodeConfigMaxLen } from '../nfqueue/config.js';
import { readKernelQueueStatsOf } from './proc.js';
import type { KernelSocket } from './kernel-socket.js';

/** Without /proc, the socket counts as quiet after this long without a datagram. */
const QUIET_MS = 50;
/** How often /proc's waiting count is read while draining. */
const POLL_MS = 5;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Drains `queues` on `conn` before they are unbound; see the file comment. */
export async function drainBeforeUnbind(conn: NetlinkConn, socket: KernelSocket, queues: readonly number[], failOpen: boolean, timeout: number): Promise<void> {
  if (socket.live !== true) return;
  const pid = conn.portId;
  for (const q of queues) {
    if (failOpen) conn.send(encodeConfigFlags, q, C.NFQA_CFG_F_FAIL_OPEN, C.NFQA_CFG_F_FAIL_OPEN);
    conn.send(encodeConfigMaxLen, q, 0, undefined);
  }
  conn.flush();
  let procReadable = true;
  const waiting = (): number => {
    try {
      let n = 0;
      for (const r of readKernelQueueStatsOf(socket)) if (r.portId === pid && queues.includes(r.queue)) n += r.waiting;
      return n;
    } catch {
      procReadable = false;
      return 0;
    }
  };
  if (waiting() === 0 && !procReadable) {
    // No /proc for this user (mode 0440): read until the socket has been quiet for QUIET_MS.
    const until = performance.now() + timeout;
    let seen = -1;
    while (seen !== conn.datagramsReceived && performance.now() < until) {
      seen = conn.datagramsReceived;
      await sleep(QUIET_MS);
    }
    return;
  }
  // A slow consumer (one that prints every packet, say) may need longer than `timeout` to
  // work through a full receive buffer: give up only when the count stops falling.
  let last = waiting();
  let lastProgress = performance.now();
  while (last > 0 && performance.now() - lastProgress < timeout) {
    await sleep(POLL_MS);
    const now = waiting();
    if (now < last) lastProgress = performance.now();
    last = now;
  }
}
