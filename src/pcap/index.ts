/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/pcap`: captures. The classic pcap writer, the pcap/pcapng reader, the
 * LINKTYPE_NETLINK cooked header, and recording and replaying a queue's netlink conversation.
 */
export { PcapFormatError } from './errors.js';
export {
  LINKTYPE_NETLINK,
  LINKTYPE_RAW,
  PCAP_MAGIC_MICROSECONDS,
  PCAP_MAGIC_NANOSECONDS,
  PCAP_FILE_HEADER_LENGTH,
  PCAP_RECORD_HEADER_LENGTH,
  PCAP_DEFAULT_SNAPLEN,
  PcapWriter,
  PcapFileWriter,
  nowNs,
  type PcapTimestamp,
  type PcapWriterOptions,
} from './writer.js';
export {
  MAX_RECORD_LENGTH,
  PCAPNG_BLOCK_SHB,
  PCAPNG_BLOCK_IDB,
  PCAPNG_BLOCK_PB,
  PCAPNG_BLOCK_SPB,
  PCAPNG_BLOCK_EPB,
  readPcap,
  readPcapFile,
  type PcapCapture,
  type PcapInterface,
  type PcapRecord,
} from './reader.js';
export {
  NETLINK_COOKED_HEADER_LENGTH,
  ARPHRD_NETLINK,
  COOKED_PACKET_INCOMING,
  COOKED_PACKET_OUTGOING,
  encodeNetlinkCooked,
  decodeNetlinkCooked,
  type NetlinkDirection,
  type NetlinkCookedRecord,
} from './netlink-cooked.js';
export { recordTransport, type RecordOptions, type RecordingTransport } from './record-transport.js';
export { replay, ReplayTransport, ReplayMismatchError, type ReplayOptions, type ReplayMismatch, type ReplayResult } from './replay-transport.js';
export {
  LINKTYPE_ETHERNET,
  LINKTYPE_LINUX_SLL,
  LINKTYPE_LINUX_SLL2,
  LINKTYPE_IPV4,
  LINKTYPE_IPV6,
  IP_LINKTYPES,
  ipPacketOfRecord,
  type CapturedIpPacket,
  type CookedPacketType,
} from './link-layer.js';
