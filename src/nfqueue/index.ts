/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/protocol`: the nfnetlink_queue protocol without I/O. Its constants, the
 * packet decoder, the verdict and config encoders, the names and the message describer,
 * and conntrack decoding. The runtime (Queue, /proc stats) lives in src/queue.
 */
export * from './constants.js';
export { Packet, PacketDecodeError, decodePacket, type PacketTimestamp, type PacketVlan } from './packet.js';
export { accept, drop, repeat, stop, requeue, normalizeVerdict, verdictWord, encodeVerdict, encodeBatchVerdict, beginQueueMessage, MAX_VERDICT_PAYLOAD } from './verdict.js';
export type { Verdict, VerdictInput, VerdictName, BatchVerdict, RequestHeader } from './verdict.js';
export { encodeConfigCommand, encodeConfigParams, encodeConfigMaxLen, encodeConfigFlags, copyModeValue, flagBits, type CopyMode, type QueueFlags } from './config.js';
export { verdictName, hookName, configCommandName, copyModeName, flagNames, attributeName, messageTypeName } from './names.js';
export { describeMessage, describeField, readConfigMessage, readVerdictMessage, type ConfigMessageFields, type VerdictMessageFields } from './describe.js';
export { decodeConntrack, ctInfoName, tcpStateName, CT_INFO_NAMES, TCP_CONNTRACK_NAMES, type Conntrack, type ConntrackTuple } from './conntrack.js';
