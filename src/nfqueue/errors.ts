/**
 * The root of the errors a queue reports that are not netlink's (a callback that threw, a
 * verdict given twice or too late, a request that timed out, too many packets in flight, a
 * replay that differs from its recording). Here, below the runtime and the replay, so that
 * both can extend it; the kernel's refusals stay NetlinkKernelErrors.
 */
import { NetfilterQueueError, type ErrorOptions } from '../netlink/errors.js';

/** A queue's own error: something about its packets, verdicts or requests; `code` says which. */
export class QueueError extends NetfilterQueueError {
  override name = 'QueueError';
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? 'ERR_QUEUE' });
  }
}
