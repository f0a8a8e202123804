/**
 * The one error type of the pcap layer: bytes that are not a readable pcap or pcapng
 * capture (or a record that is not a valid cooked netlink frame).
 */

/** Bytes that are not a valid pcap/pcapng capture; `offset` is where reading stopped. */
export class PcapFormatError extends Error {
  override name = 'PcapFormatError';
  /** Byte offset in the input where the problem was found. */
  readonly offset: number;
  /** True when the input ended before a header or a length field said it would. */
  readonly truncated: boolean;
  constructor(message: string, offset: number, truncated = false) {
    super(`${message} (at byte ${offset})`);
    this.offset = offset;
    this.truncated = truncated;
  }
}
