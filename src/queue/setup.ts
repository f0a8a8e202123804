/**
 * Starting a Queue on a transport: the default socket, and the setup steps (BIND, PARAMS,
 * QUEUE_MAXLEN, FLAGS), each waiting for the kernel's ack.
 */
import { constants as osConstants } from 'node:os';
import { accessSync, constants as fsConstants } from 'node:fs';
import { NETLINK_NETFILTER } from '../netlink/constants.js';
import type { Transport } from '../netlink/transport.js';
import { openDefaultTransport, type DefaultTransportOptions } from '../netlink/default-transport.js';
import { maxLenForTransport } from './overrun-bound.js';
import type { KernelSocket } from './kernel-socket.js';
import * as C from '../nfqueue/constants.js';
import { encodeConfigCommand, encodeConfigParams, encodeConfigMaxLen, encodeConfigFlags, copyModeValue, flagBits } from '../nfqueue/config.js';
import { QueueKernelError } from './errors.js';
import { readKernelQueueStatsOf, PROC_NFNETLINK_QUEUE, NFNETLINK_QUEUE_PROC_NET } from './proc.js';
import type { PacketCallback, QueueOptions } from './queue-options.js';
import { Queue } from './queue.js';

/** errno EBUSY: what a bind refused because another socket holds the queue is reported as. */
const { EBUSY } = osConstants.errno;

/**
 * How often a request answered EAGAIN is sent again, and the pause before each retry.
 * nfnetlink_queue answers EAGAIN to the CONNTRACK flag when it had to load
 * nf_conntrack_netlink for it: the request is fine, it only has to be repeated. nfnetlink
 * replays such a request itself (a fresh Debian 6.1 acked the first one); this is the net
 * for a kernel that lets the EAGAIN through.
 */
const MODULE_LOAD_RETRIES = 5;
const MODULE_LOAD_PAUSE_MS = 50;

/**
 * Runs `attempt` and runs it again, after a short pause, while it fails with EAGAIN: the
 * kernel's answer when it loaded a module for the request (the CONNTRACK flag loads
 * nf_conntrack_netlink), which libnetfilter_queue leaves its users to handle by hand.
 */
export async function retryWhileModuleLoads<T>(attempt: () => Promise<T>): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt();
    } catch (e) {
      if (!(e instanceof QueueKernelError) || e.code !== 'EAGAIN' || i >= MODULE_LOAD_RETRIES) throw e;
      await new Promise((r) => setTimeout(r, MODULE_LOAD_PAUSE_MS * (i + 1)));
    }
  }
}

/**
 * The socket a queue uses when no transport is given: the native addon's (receive slots
 * sized to the copy range), else the `netlink` package's. Overruns are normally seen as the
 * rise of user_dropped in /proc, so the native socket silences ENOBUFS; where /proc is not
 * readable (a non-root user with CAP_NET_ADMIN: the file is mode 0440), ENOBUFS stays on
 * so overruns are still reported.
 */
export function openDefaultQueueTransport(options: Pick<QueueOptions, 'copyMode' | 'copyRange' | 'netns'> = {}): Transport {
  const packets = copyModeValue(options.copyMode ?? 'packet') === C.NFQNL_COPY_PACKET;
  let procReadable = true;
  try {
    accessSync(PROC_NFNETLINK_QUEUE, fsConstants.R_OK);
  } catch {
    procReadable = false;
  }
  const o: DefaultTransportOptions = { maxDatagramSize: (packets ? options.copyRange || 0xffff : 0) + 4096, reportOverruns: !procReadable };
  // In another namespace, this process's /proc shows its own: read that namespace's table.
  if (options.netns !== undefined) Object.assign(o, { netns: options.netns, procNetFiles: [NFNETLINK_QUEUE_PROC_NET] });
  return openDefaultTransport(NETLINK_NETFILTER, o);
}

/**
 * The kernel answers EPERM both for a missing CAP_NET_ADMIN and for a queue that another
 * socket holds (it checks the owner before the command). /proc tells the two apart: when
 * another port id holds the queue, report EBUSY, which is what the user needs to know.
 */
function refineBindError(e: unknown, queue: number, transport: Transport, socket: KernelSocket): unknown {
  const ourPortId = transport.portId;
  if (!(e instanceof QueueKernelError) || e.code !== 'EPERM') return e;
  let owner: number | undefined;
  try {
    owner = readKernelQueueStatsOf(socket).find((r) => r.queue === queue && r.portId !== ourPortId)?.portId;
  } catch {
    return e;
  }
  if (owner === undefined) return e;
  const ctx: ConstructorParameters<typeof QueueKernelError>[1] = { step: 'bind', queue, ownerPortId: owner, kernelErrno: e.errno };
  if (e.request !== undefined) ctx.request = e.request;
  return new QueueKernelError(EBUSY, ctx);
}

/**
 * Starts a Queue for the (checked) queue numbers on `transport` and runs the setup steps;
 * on a failure the transport is closed and the error thrown. `socket` is the transport
 * under any wrapper (a recorder): what it is decides /proc, the drain and the overrun bound.
 */
export async function startQueue(nums: number[], callback: PacketCallback | undefined, transport: Transport, options: QueueOptions, socket: Transport & KernelSocket = transport): Promise<Queue> {
  const copyMode = copyModeValue(options.copyMode ?? 'packet');
  const copyRange = options.copyRange ?? 0xffff;
  const queue = new Queue(nums, callback, transport, options, socket);
  try {
    if (options.receiveBufferSize !== undefined) transport.setReceiveBufferSize?.(options.receiveBufferSize);
    if (options.keepAlive === false) transport.setKeepAlive?.(false);
    queue.start();
    const maxLen = maxLenForTransport(socket, options.maxLen, copyMode, copyRange);
    const { flags, mask } = flagBits(options.flags ?? {});
    for (const q of nums) {
      await queue
        .configure('bind', q, encodeConfigCommand, q, C.NFQNL_CFG_CMD_BIND, C.NFPROTO_UNSPEC)
        .catch((e: unknown) => {
          throw socket.live === true ? refineBindError(e, q, transport, socket) : e;
        });
      // Right after BIND the copy mode is NONE, which drops every packet: set it at once.
      await queue.configure('params', q, encodeConfigParams, q, copyMode, copyRange);
      if (maxLen !== undefined) {
        await queue.configure('maxlen', q, encodeConfigMaxLen, q, maxLen, undefined);
      }
      if (mask !== 0) {
        // EAGAIN: the kernel loaded nf_conntrack_netlink for the CONNTRACK flag; ask again.
        await retryWhileModuleLoads(() => queue.configure('flags', q, encodeConfigFlags, q, flags, mask, flags & mask));
      }
    }
  } catch (e) {
    queue.abort();
    throw e;
  }
  return queue;
}
