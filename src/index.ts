/// <reference types="node" preserve="true" />
/**
 * netfilter-queue: Linux NFQUEUE for Node.js. The nfnetlink_queue protocol in TypeScript
 * over a raw AF_NETLINK socket; no libnetfilter_queue.
 */
export { Queue, flagBits } from './nfqueue/queue.js';
export { openQueue } from './open-queue.js';
export type { QueueOptions } from './open-queue.js';
export type { QueueFlags, QueueCounters, QueueStats, PacketCallback, CallbackResult } from './nfqueue/queue.js';
export { Packet, PacketDecodeError, decodePacket } from './nfqueue/packet.js';
export type { PacketTimestamp, PacketVlan } from './nfqueue/packet.js';
export { accept, drop, repeat, stop, requeue, normalizeVerdict, verdictWord, encodeVerdict, encodeBatchVerdict, MAX_VERDICT_PAYLOAD } from './nfqueue/verdict.js';
export type { Verdict, VerdictInput, VerdictName, BatchVerdict } from './nfqueue/verdict.js';
export { encodeConfigCommand, encodeConfigParams, encodeConfigMaxLen, encodeConfigFlags, copyModeValue } from './nfqueue/config.js';
export type { CopyMode } from './nfqueue/config.js';
export { QueueKernelError, PacketError, CallbackError, QueueTimeoutError, VerdictStateError, VerdictTimeoutError, flagNames } from './nfqueue/errors.js';
export type { QueueStep } from './nfqueue/errors.js';
export { readKernelQueueStats, parseKernelQueueStats, PROC_NFNETLINK_QUEUE } from './nfqueue/proc.js';
export type { KernelQueueStats } from './nfqueue/proc.js';
export * as nfq from './nfqueue/constants.js';
export { NetlinkError, NetlinkDecodeError, NetlinkKernelError, NetlinkSocketError, errnoName } from './netlink/errors.js';
export type { RequestInfo } from './netlink/errors.js';
export { MessageWriter } from './netlink/writer.js';
export { AttributeDecoder, parseAttributes } from './netlink/attributes.js';
export type { RawAttribute } from './netlink/attributes.js';
export { parseMessages, parseErrorMessage } from './netlink/message.js';
export type { NetlinkHeader, NetlinkMessage, NetlinkErrorMessage } from './netlink/message.js';
export type { Transport, TransportHandlers, TransportFactory } from './netlink/transport.js';
export { openSocketTransport } from './netlink/socket-transport.js';
export type { SocketTransportOptions } from './netlink/socket-transport.js';
export { openNativeTransport, nativeTransportUnavailable, nativeAddonPath, prebuiltAddonPath, NATIVE_ADDON_PATH } from './netlink/native-transport.js';
export type { NativeTransport, NativeTransportOptions, NativeTransportStats } from './netlink/native-transport.js';
export { openDefaultTransport } from './netlink/default-transport.js';
export type { DefaultTransportOptions } from './netlink/default-transport.js';
export type { NetnsTarget } from './netlink/netns.js';
export { interfaceName, interfaceNames, clearInterfaceNameCache, formatHwaddr } from './nfqueue/ifnames.js';
export { decodeConntrack, ctInfoName, CT_INFO_NAMES } from './nfqueue/conntrack.js';
export type { Conntrack, ConntrackTuple } from './nfqueue/conntrack.js';
export { ipLayout, sum16, finishChecksum, internetChecksum, ipv4HeaderChecksum, fixIpv4HeaderChecksum, transportChecksum, tcpChecksum, udpChecksum, fixChecksums, transportHeaderLength, transportPayload, withTransportPayload, verifyChecksums, ChecksumError, IPPROTO_TCP, IPPROTO_UDP } from './packet/checksum.js';
export type { IpLayout, ChecksumReport } from './packet/checksum.js';
export { parseEthernetHeader, vlanTag, ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD } from './packet/ethernet.js';
export type { EthernetHeader, VlanTag } from './packet/ethernet.js';
export { PcapFormatError, PcapWriter, PcapFileWriter, readPcap, readPcapFile, encodeNetlinkCooked, decodeNetlinkCooked, LINKTYPE_NETLINK, LINKTYPE_RAW } from './pcap/index.js';
export type { PcapCapture, PcapRecord, PcapTimestamp, PcapWriterOptions, NetlinkCookedRecord, NetlinkDirection } from './pcap/index.js';
export { parseIpPacket, formatIpv4, formatIpv6, ipProtocolName, icmpTypeName, tcpFlagsText, IPPROTO_ICMP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE, IPPROTO_DCCP } from './packet/ip.js';
export type { IpPacketInfo, TcpHeader, UdpHeader, IcmpHeader } from './packet/ip.js';
export { recordTransport } from './pcap/record-transport.js';
export type { RecordOptions, RecordingTransport } from './pcap/record-transport.js';
export { replay, ReplayTransport, ReplayMismatchError, describeMessage } from './pcap/replay-transport.js';
export type { ReplayOptions, ReplayMismatch, ReplayResult } from './pcap/replay-transport.js';
// Worker pool and metrics (issue 14).
export { openQueuePool, QueuePool, PoolWorkerError } from './pool/pool.js';
export type { QueuePoolOptions, PoolRestartOptions, PoolStats, PoolQueueStats, PoolWorkerStats, PoolWorkerState, PoolWorkerEvent } from './pool/pool.js';
export type { ThreadCpu } from './pool/messages.js';
export { formatMetrics, METRICS_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE } from './metrics.js';
export type { MetricsOptions } from './metrics.js';
