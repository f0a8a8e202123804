/// <reference types="node" preserve="true" />
/**
 * netfilter-queue: Linux NFQUEUE for Node.js. The nfnetlink_queue protocol in TypeScript
 * over a raw AF_NETLINK socket; no libnetfilter_queue.
 *
 * The main entry is what a consumer needs: openQueue and its options (the managed rule
 * included), the Queue and Packet types, the verdict helpers, the errors to catch, the stats,
 * the pool and metrics. The rest lives behind subpaths: `netfilter-queue/diagnosis` (why a
 * queue receives nothing, what the kernel can do, /proc), `netfilter-queue/nftables`
 * (nf_tables codecs, the ruleset dump, managed rules), `netfilter-queue/packet` (checksums,
 * IP/Ethernet parsing, interface names), `netfilter-queue/pcap` (capture files, record,
 * replay), `netfilter-queue/netlink` (codecs, transports, the netlink errors),
 * `netfilter-queue/protocol` (nfqueue codecs and constants) and `netfilter-queue/testing`
 * (the test kit).
 */
export { openQueue } from './open-queue.js';
export type { QueueOptions, PacketCallback, CallbackResult, RuleOptions } from './queue/queue-options.js';
export type { QueueRuleSpec, HookName, RuleFamily, ProtocolName, PortMatch, MarkMatch } from './nftables/rule-spec.js';
export type { FlowMarks, ManagedRuleInfo } from './nftables/managed-plan.js';
export type { QueueFlags, CopyMode } from './nfqueue/config.js';
export type { Queue } from './queue/queue.js';
export type { QueueCounters, QueueStats } from './queue/queue-stats.js';
export type { KernelQueueStats } from './queue/proc.js';
export type { Packet, PacketTimestamp, PacketVlan } from './nfqueue/packet.js';
export type { QueuedPacket } from './queue/queued-packet.js';
export type { Conntrack, ConntrackTuple } from './nfqueue/conntrack.js';
export { accept, drop, repeat, stop, requeue, acceptFlow, dropFlow } from './nfqueue/verdict.js';
export type { Verdict, VerdictInput, VerdictName, BatchVerdict } from './nfqueue/verdict.js';
export type { Transport, TransportHandlers } from './netlink/transport.js';
export type { NetnsTarget } from './netlink/netns.js';
// The errors a consumer catches: the root, the two branches, the queue's own, a bad rule.
export { NetfilterQueueError, NetlinkError } from './netlink/errors.js';
export { QueueError } from './nfqueue/errors.js';
export { QueueKernelError, PacketError, CallbackError, QueueTimeoutError, QueueOverflowError, VerdictStateError, VerdictTimeoutError } from './queue/errors.js';
export type { QueueStep } from './queue/errors.js';
export { RuleError } from './nftables/errors.js';
// Worker pool and metrics.
export { openQueuePool, PoolWorkerError } from './pool/pool.js';
export type { QueuePool, QueuePoolOptions, PoolRestartOptions, PoolStats, PoolQueueStats, PoolWorkerStats, PoolWorkerState, PoolWorkerEvent } from './pool/pool.js';
export type { ThreadCpu } from './pool/messages.js';
export { formatMetrics, METRICS_CONTENT_TYPE, OPENMETRICS_CONTENT_TYPE } from './metrics.js';
export type { MetricsOptions } from './metrics.js';
