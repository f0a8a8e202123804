/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/protocol`: the nfnetlink_queue protocol without I/O. Its constants, the
 * packet decoder, the verdict and config encoders, the names and the message describer,
 * and conntrack decoding. The runtime (Queue, /proc stats) lives in src/queue.
 */
export * from './constants.js';
export { Packet, PacketDecodeError, decodePacket, type PacketTimestamp, type PacketVlan } from './packet.js';
export { accept, drop, repeat, stop, requeue, normalizeVerdict, verdictWord, encodeVerdict, encodeBatchVerdict, MAX_VERDICT_PAYLOAD } from './verdict.js';
export { beginQueueMessage, type RequestHeader } from './header.js';
export { decodeVerdictMessage, type DecodedVerdict } from './verdict-decoder.js';
export type { Verdict, VerdictInput, VerdictName, BatchVerdict } from './verdict.js';
export { encodeConfigCommand, encodeConfigParams, encodeConfigMaxLen, encodeConfigFlags, decodeConfigMessage, copyModeValue, flagBits, type CopyMode, type QueueFlags, type ConfigMessageFields } from './config.js';
export { verdictName, hookName, configCommandName, copyModeName, flagNames, attributeName, messageTypeName } from './names.js';
export { describeMessage, describeField } from './describe.js';
export { decodeConntrack, ctInfoName, CT_INFO_NAMES, type Conntrack, type ConntrackTuple } from './conntrack.js';
