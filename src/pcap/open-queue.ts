/**
 * The public openQueue(): the nfqueue layer's openQueue() plus the `record` option, which
 * wraps the transport with the recorder (the nfqueue layer may not import pcap, DESIGN §2).
 */
import type { Transport } from '../netlink/transport.js';
import { openQueue as openQueueCore, openDefaultQueueTransport, splitOpenArguments, type PacketCallback, type Queue, type QueueOptions as CoreQueueOptions } from '../nfqueue/queue.js';
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
export function openQueue(num: number | readonly number[], callback: PacketCallback, options?: QueueOptions): Promise<Queue>;
/**
 * Opens queue `num` without a callback: iterate it with `for await (const packet of queue)`
 * and answer each packet with packet.accept() / drop() / verdict(v) or setVerdict().
 */
export function openQueue(num: number | readonly number[], options?: QueueOptions): Promise<Queue>;
export function openQueue(num: number | readonly number[], callbackOrOptions?: PacketCallback | QueueOptions, maybeOptions?: QueueOptions): Promise<Queue> {
  let callback: PacketCallback | undefined;
  let options: QueueOptions;
  try {
    ({ callback, options } = splitOpenArguments(callbackOrOptions, maybeOptions));
  } catch (e) {
    return Promise.reject(e);
  }
  if (options === null || typeof options !== 'object' || options.record === undefined) return callback === undefined ? openQueueCore(num, options) : openQueueCore(num, callback, options);
  const { record: path, ...rest } = options;
  if (typeof path !== 'string' || path === '') {
    return Promise.reject(new TypeError(`option record must be a file path, got ${JSON.stringify(path)}`));
  }
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
  const o = { ...rest, transport };
  return callback === undefined ? openQueueCore(num, o) : openQueueCore(num, callback, o);
}
