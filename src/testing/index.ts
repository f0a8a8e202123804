/// <reference types="node" preserve="true" />
/**
 * netfilter-queue/testing: unit-test a packet callback without root or a kernel. The
 * callback runs in the real Queue and codecs over an in-memory kernel; packets come from IP
 * bytes or captures, with the metadata a rule would attach; verdicts come back decoded.
 */
export { createTestQueue, TestQueue, TestKitError } from './test-queue.js';
export type { TestQueueOptions, TestPacketOptions, TestVerdict, CaptureVerdict, HookName } from './test-queue.js';
export { TestKernel } from './test-kernel.js';
export type { TestQueueState, PacketOutcome } from './test-kernel.js';
export { udpPacket, tcpPacket } from './ip-packets.js';
export type { TestPacketSpec, TestTcpSpec } from './ip-packets.js';
export { encodePacketMessage } from '../nfqueue/packet-encoder.js';
export type { PacketMessageFields } from '../nfqueue/packet-encoder.js';
export { decodeVerdictMessage } from '../nfqueue/verdict-decoder.js';
export type { DecodedVerdict } from '../nfqueue/verdict-decoder.js';
export { ipPacketOfRecord, IP_LINKTYPES, LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL, LINKTYPE_LINUX_SLL2, LINKTYPE_IPV4, LINKTYPE_IPV6 } from '../pcap/link-layer.js';
export type { CapturedIpPacket, CookedPacketType } from '../pcap/link-layer.js';
