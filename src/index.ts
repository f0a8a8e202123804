/// <reference types="node" preserve="true" />
/**
 * netfilter-queue: Linux NFQUEUE for Node.js. The nfnetlink_queue protocol in TypeScript
 * over a raw AF_NETLINK socket; no libnetfilter_queue.
 *
 * The main entry is what a consumer needs: openQueue and its options, the Queue and Packet
 * types, the verdict helpers, the errors and the stats. The rest lives behind subpaths:
 * `netfilter-queue/packet` (checksums, IP/Ethernet parsing, interface names),
 * `netfilter-queue/pcap` (capture files, record, replay), `netfilter-queue/netlink` (codecs,
 * transports) and `netfilter-queue/protocol` (nfqueue codecs and constants).
 */
export { openQueue } from './open-queue.js';
export { kernelFeatures } from './queue/kernel-features.js';
export type { KernelFeatures, KernelFeaturesOptions, QueueFlagName } from './queue/kernel-features.js';
export type { QueueOptions, PacketCallback, CallbackResult } from './queue/queue-options.js';
export type { QueueFlags } from './nfqueue/config.js';
export type { Queue } from './queue/queue.js';
export type { QueueCounters, QueueStats } from './queue/queue-stats.js';
export { readKernelQueueStats, type KernelQueueStats } from './queue/proc.js';
export { Packet } from './nfqueue/packet.js';
export { QueuedPacket } from './queue/queued-packet.js';
export type { PacketTimestamp, PacketVlan } from './nfqueue/packet.js';
export type { Conntrack, ConntrackTuple } from './nfqueue/conntrack.js';
export { accept, drop, repeat, stop, requeue } from './nfqueue/verdict.js';
export type { Verdict, VerdictInput, VerdictName, BatchVerdict } from './nfqueue/verdict.js';
export type { CopyMode } from './nfqueue/config.js';
export type { Transport, TransportHandlers } from './netlink/transport.js';
export type { NetnsTarget } from './netlink/netns.js';
export { NetfilterQueueError, NetlinkError, NetlinkDecodeError, NetlinkKernelError, NetlinkSocketError } from './netlink/errors.js';
export { PacketDecodeError } from './nfqueue/packet.js';
export { QueueKernelError, PacketError, CallbackError, QueueTimeoutError, VerdictStateError, VerdictTimeoutError } from './queue/errors.js';
export type { QueueStep } from './queue/errors.js';
export { ChecksumError } from './packet/checksum.js';
export { PcapFormatError } from './pcap/errors.js';
export { ReplayMismatchError } from './pcap/replay-transport.js';
// Worker pool and metrics (issue 14).
export { openQueuePool, QueuePool, PoolWorkerError } from './pool/pool.js';
export type { QueuePoolOptions, PoolRestartOptions, PoolStats, PoolQueueStats, PoolWorkerStats, PoolWorkerState, PoolWorkerEvent } from './pool/pool.js';
export type { ThreadCpu } from './pool/messages.js';
export { formatMetrics, METRICS_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE } from './metrics.js';
export type { MetricsOptions } from './metrics.js';
