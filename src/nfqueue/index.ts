/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/protocol`: the nfnetlink_queue protocol without I/O. One encoder and one
 * decoder per message kind (packet, verdict and batch verdict, config), conntrack decoding,
 * the names and the one-line describer, and the kernel's constants (`nfqueueConstants`).
 * The runtime (the Queue, /proc) is the main entry's.
 */
export * as nfqueueConstants from './constants.js';
export { Packet, PacketDecodeError, decodePacket, type PacketTimestamp, type PacketVlan } from './packet.js';
export { encodePacketMessage, type PacketMessageFields } from './packet-encoder.js';
export { accept, drop, repeat, stop, requeue, acceptFlow, dropFlow, normalizeVerdict, encodeVerdict, encodeBatchVerdict, MAX_VERDICT_PAYLOAD } from './verdict.js';
export type { Verdict, VerdictInput, VerdictName, BatchVerdict } from './verdict.js';
export { decodeVerdictMessage, type DecodedVerdict } from './verdict-decoder.js';
export type { RequestHeader } from './header.js';
export { encodeConfigCommand, encodeConfigParams, encodeConfigMaxLen, encodeConfigFlags, decodeConfigMessage, type CopyMode, type QueueFlags, type ConfigMessageFields } from './config.js';
export { verdictName, hookName, configCommandName, copyModeName, flagNames, attributeName, messageTypeName } from './names.js';
export { describeMessage, describeField } from './describe.js';
export { decodeConntrack, ctInfoName, tcpStateName, type Conntrack, type ConntrackTuple } from './conntrack.js';
