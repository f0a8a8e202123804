/**
 * The one error type of the pcap layer: bytes that are not a readable pcap or pcapng
 * capture (or a record that is not a valid cooked netlink frame).
 */
import { NetfilterQueueError } from '../netlink/errors.js';

/** Bytes that are not a valid pcap/pcapng capture; `offset` is where reading stopped (code ERR_PCAP_FORMAT). */
export class PcapFormatError extends NetfilterQueueError {
  override name = 'PcapFormatError';
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  /** True when the input ended before a header or a length field said it would. */
  readonly truncated: boolean;
  constructor(message: string, offset: number, truncated = false) {
    super(`${message} (at byte ${offset})`, { code: 'ERR_PCAP_FORMAT' });
    this.offset = offset;
    this.truncated = truncated;
  }
}
