/** The replay's options, its findings and its error (see replay-transport.ts). */
import { QueueError } from '../nfqueue/errors.js';

/** Options of replay(). */
export interface ReplayOptions {
  /** Reject `done` and throw from `send()` at the first mismatch (default false: collect them). */
  strict?: boolean;
  /**
   * Port id of the recorded socket; also the replay's `portId`. Default: the destination
   * port of the first recorded NLMSG_ERROR, else the port id of the first recorded request,
   * else 0. When given, recorded requests from other ports and errors sent to other ports
   * are left out (for nlmon captures of several sockets).
   */
  portId?: number;
  /** Netlink protocol of the conversation (default 12, NETLINK_NETFILTER). */
  protocol?: number;
  /** How long to wait for a send the recording expects before moving on, in ms (default 1000). */
  stallTimeout?: number;
}

/** One difference between what the library sent and what was recorded. */
export interface ReplayMismatch {
  /**
   * `'differs'`: the message is not the recorded one; `'extra'`: sent beyond the end of the
   * recording; `'missing'`: recorded but never sent; `'malformed'`: the library sent bytes
   * that are not netlink messages.
   */
  kind: 'differs' | 'extra' | 'missing' | 'malformed';
  /** Position in the stream of sent messages (0-based). */
  index: number;
  /** 1-based record number of the expected message in the capture (tshark's frame.number). */
  frame: number | undefined;
  /** The recorded message (as recorded, seq and pid included). */
  expected: Uint8Array | undefined;
  /** The message the library sent. */
  actual: Uint8Array | undefined;
  /** First differing byte (seq and pid excepted), for `'differs'`. */
  offset: number | undefined;
  /** A readable account: which message, which attribute, which bytes. */
  message: string;
}

/** The outcome of a replay. */
export interface ReplayResult {
  /** Every difference found (empty when the library sent exactly what was recorded). */
  mismatches: ReplayMismatch[];
  /** Messages the library sent. */
  sent: number;
  /** Messages the recording expected it to send. */
  expected: number;
  /** Recorded datagrams delivered to the library. */
  delivered: number;
  /** Frames of recorded 'in' datagrams never delivered (an ack whose request never came…). */
  skipped: number[];
  /** Things the replay did that are not mismatches (made-up acks for a trailing UNBIND…). */
  notes: string[];
}

/** A send that differs from the recording, in strict mode. */
export class ReplayMismatchError extends QueueError {
  override name = 'ReplayMismatchError';
  /** The difference. */
  readonly mismatch: ReplayMismatch;
  constructor(mismatch: ReplayMismatch) {
    super(mismatch.message, { code: 'ERR_REPLAY_MISMATCH' });
    this.mismatch = mismatch;
  }
}
