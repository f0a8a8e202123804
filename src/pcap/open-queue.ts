/**
 * The public openQueue(): the nfqueue layer's openQueue() plus the `record` option, which
 * wraps the transport with the recorder (the nfqueue layer may not import pcap, DESIGN §2).
 */
import type { Transport } from '../netlink/transport.js';
import { openQueue as openQueueCore, openDefaultQueueTransport, type PacketCallback, type Queue, type QueueOptions as CoreQueueOptions } from '../nfqueue/queue.js';
import { recordTransport } from './record-transport.js';

/** Options of openQueue(). */
export interface QueueOptions extends CoreQueueOptions {
  /**
   * Record the whole netlink conversation (every datagram sent and received, with its
   * direction and time) to this pcap file (LINKTYPE_NETLINK; tshark decodes it), e.g. to
   * make a fixture that `replay()` plays back in tests. Wraps `transport` when one is given.
   */
  record?: string;
}

/**
 * Opens a netlink socket, binds queue `num` (or each of several), sets the copy mode
 * (default: whole packets) and the optional max length and flags, waiting for the kernel's
 * ack at each step. Resolves to the running Queue; rejects with a QueueKernelError that
 * says what went wrong (EPERM, EBUSY, EOPNOTSUPP…) or a TypeError/RangeError for bad
 * arguments, before anything is sent. With `record`, the conversation is written to a pcap.
 */
export function openQueue(num: number | readonly number[], callback: PacketCallback, options: QueueOptions = {}): Promise<Queue> {
  if (options === null || typeof options !== 'object' || options.record === undefined) return openQueueCore(num, callback, options);
  const { record: path, ...rest } = options;
  if (typeof path !== 'string' || path === '') {
    return Promise.reject(new TypeError(`option record must be a file path, got ${JSON.stringify(path)}`));
  }
  const { netns, ...coreOptions } = rest; // the factory below opens the socket in netns
  const inner = rest.transport;
  // A factory: openQueue validates its arguments before the file is created.
  const transport = (): Transport => {
    const t = inner === undefined ? openDefaultQueueTransport(rest) : typeof inner === 'function' ? inner() : inner;
    try {
      return recordTransport(t, path);
    } catch (e) {
      t.close();
      throw e;
    }
  };
  if (netns !== undefined && inner !== undefined) return openQueueCore(num, callback, rest); // rejects the pair
  return openQueueCore(num, callback, { ...coreOptions, transport });
}
