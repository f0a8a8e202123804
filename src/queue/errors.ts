/**
 * Errors of the queue layer, with messages a person can act on. A kernel refusal becomes a
 * QueueKernelError that says which step or packet it answers and what to do about it.
 */
import { NetlinkKernelError, type RequestInfo } from '../netlink/errors.js';
import { NFQA_CFG_F_CONNTRACK } from '../nfqueue/constants.js';
import { QueueError } from '../nfqueue/errors.js';
import { flagNames } from '../nfqueue/names.js';

/** The step of the queue's life a kernel error answers. */
export type QueueStep = 'bind' | 'unbind' | 'params' | 'maxlen' | 'flags' | 'verdict' | 'batch-verdict' | 'request';

/** Context for building a queue kernel error. */
export interface QueueErrorContext {
  step: QueueStep;
  queue: number;
  /** Packet id for verdict errors. */
  packetId?: number;
  /** Flag bits requested, for FLAGS errors. */
  flags?: number;
  request?: RequestInfo;
  extAck?: { message?: string; offset?: number };
  /** Port id of the socket that holds the queue, when another one does. */
  ownerPortId?: number;
  /** The errno the kernel really sent, when the library reports a more precise one. */
  kernelErrno?: number;
}

function explain(errno: number, code: string, c: QueueErrorContext): string {
  const q = `queue ${c.queue}`;
  switch (c.step) {
    case 'bind':
      if (code === 'EPERM') return `binding ${q} needs CAP_NET_ADMIN (EPERM): run as root or with that capability (privileges may be dropped after opening)`;
      if (code === 'EBUSY') {
        const owner = c.ownerPortId === undefined ? '' : ` (netlink port id ${c.ownerPortId})`;
        const kernel = c.kernelErrno === undefined || c.kernelErrno === errno ? '' : `; the kernel answered ${new NetlinkKernelError(c.kernelErrno, '').code}`;
        return `${q} is already bound by another process${owner} (EBUSY${kernel})`;
      }
      break;
    case 'flags':
      if (code === 'EOPNOTSUPP' || code === 'ENOTSUPP' || code === 'ENOTSUP') {
        if (((c.flags ?? 0) & NFQA_CFG_F_CONNTRACK) !== 0) {
          return `the CONNTRACK flag on ${q} needs nfnetlink_queue's conntrack glue (CONFIG_NETFILTER_NETLINK_GLUE_CT, with nf_conntrack_netlink), which this kernel lacks (${code}): open the queue without flags.conntrack, or check kernelFeatures().conntrack (netfilter-queue/diagnosis) first`;
        }
        return `this kernel does not support queue flag ${flagNames(c.flags ?? 0).join(' | ') || '?'} on ${q} (${code})`;
      }
      if (code === 'EINVAL') return `the kernel refused queue flags ${flagNames(c.flags ?? 0).join(' | ')} on ${q}: flags need a mask (EINVAL)`;
      break;
    case 'verdict':
    case 'batch-verdict': {
      const what = c.step === 'verdict' ? `verdict for packet ${c.packetId ?? '?'}` : `batch verdict up to packet ${c.packetId ?? '?'}`;
      if (code === 'ENOENT') return `${what} on ${q}: the kernel has no such packet waiting (ENOENT): it already got a verdict or the queue was flushed`;
      if (code === 'EPERM') {
        return `${what} on ${q} was refused (EPERM): the kernel checks CAP_NET_ADMIN of the sending process on every message, not only at open; a process that dropped privileges after opening must keep CAP_NET_ADMIN (e.g. start it with setpriv --securebits=+no_setuid_fixup) or run unprivileged with only CAP_NET_ADMIN`;
      }
      if (code === 'EINVAL') return `${what} on ${q} was refused as invalid (EINVAL)`;
      return `${what} on ${q} failed (${code})`;
    }
    default:
      break;
  }
  if (code === 'EPERM') return `${c.step} on ${q} was refused (EPERM): the queue is bound by another socket, or CAP_NET_ADMIN is missing`;
  if (code === 'ENODEV') return `${c.step} on ${q}: no such queue is bound (ENODEV)`;
  return `${c.step} on ${q} failed: errno ${errno} (${code})`;
}

/** The kernel refused a queue request (config step or verdict). */
export class QueueKernelError extends NetlinkKernelError {
  override name = 'QueueKernelError';
  /** Which step or kind of request failed. */
  readonly step: QueueStep;
  /** The queue the request was for. */
  readonly queue: number;
  /** Packet id, for verdict errors. */
  readonly packetId: number | undefined;
  /** The errno the kernel sent, when `errno` was refined (EPERM on a queue another socket holds → EBUSY). */
  readonly kernelErrno: number;
  constructor(errno: number, c: QueueErrorContext) {
    // Build the message from the errno name; NetlinkKernelError fills `code` the same way.
    const probe = new NetlinkKernelError(errno, '');
    let message = explain(errno, probe.code, c);
    if (c.extAck?.message !== undefined && c.extAck.message !== '') message += `: ${c.extAck.message}`;
    super(errno, message, c.request, c.extAck);
    this.step = c.step;
    this.queue = c.queue;
    this.packetId = c.packetId;
    this.kernelErrno = c.kernelErrno ?? errno;
  }
}

/** An error about one queued packet: which queue, which packet id. */
export class PacketError extends QueueError {
  override name = 'PacketError';
  /** Queue of the packet. */
  readonly queue: number;
  /** Id of the packet. */
  readonly packetId: number;
  constructor(message: string, queue: number, packetId: number, options: { cause?: unknown; code?: string } = {}) {
    super(message, { ...options, code: options.code ?? 'ERR_PACKET' });
    this.queue = queue;
    this.packetId = packetId;
  }
}

/** The packet callback threw or rejected, or answered something that is not a verdict; the packet got the default verdict. */
export class CallbackError extends PacketError {
  override name = 'CallbackError';
  constructor(message: string, queue: number, packetId: number, cause: unknown) {
    super(message, queue, packetId, { cause, code: 'ERR_CALLBACK' });
  }
}

/** A request got no answer from the kernel in time. */
export class QueueTimeoutError extends QueueError {
  override name = 'QueueTimeoutError';
  constructor(message: string) {
    super(message, { code: 'ETIMEDOUT' });
  }
}

/** A verdict for a packet that already had one, or is not pending. Nothing was sent. */
export class VerdictStateError extends PacketError {
  override name = 'VerdictStateError';
  constructor(message: string, queue: number, packetId: number) {
    super(message, queue, packetId, { code: 'ERR_VERDICT_STATE' });
  }
}

/** A packet's async callback did not answer within verdictTimeout; it got the default verdict. */
export class VerdictTimeoutError extends PacketError {
  override name = 'VerdictTimeoutError';
  constructor(message: string, queue: number, packetId: number) {
    super(message, queue, packetId, { code: 'ERR_VERDICT_TIMEOUT' });
  }
}

/**
 * `maxInFlight` packets were waiting for their callbacks: further packets got the default
 * verdict until some answered. Reported once per overflow.
 */
export class QueueOverflowError extends QueueError {
  override name = 'QueueOverflowError';
  /** The limit that was reached. */
  readonly maxInFlight: number;
  constructor(maxInFlight: number, defaultVerdict: string) {
    super(`${maxInFlight} packets are waiting for their callbacks (maxInFlight): further packets get the default verdict '${defaultVerdict}' until some answer; raise maxInFlight or answer faster`, { code: 'ERR_QUEUE_OVERFLOW' });
    this.maxInFlight = maxInFlight;
  }
}
