/// <reference types="node" preserve="true" />
/**
 * netfilter-queue/testing: unit-test a packet callback without root or a kernel. The
 * callback runs in the real Queue and codecs over an in-memory kernel; packets come from IP
 * bytes or captures, with the metadata a rule would attach; verdicts come back decoded.
 * TestKernel alone is a transport for openQueue() that can refuse or ignore config requests,
 * inject raw (even malformed) datagrams and report socket errors: for testing error paths.
 * The codecs it is built on are in `netfilter-queue/protocol` (encodePacketMessage,
 * decodeVerdictMessage), capture reading in `netfilter-queue/pcap` (ipPacketOfRecord).
 */
export { createTestQueue, TestQueue, TestKitError } from './test-queue.js';
export type { TestQueueOptions, TestPacketOptions, TestVerdict, CaptureVerdict, HookName } from './test-queue.js';
export { TestKernel } from './test-kernel.js';
export type { TestQueueState, PacketOutcome, TestKernelOptions, ConfigAnswer, ConfigRequest, ConfigRequestKind, ReceivedVerdict } from './test-kernel.js';
export { udpPacket, tcpPacket } from './ip-packets.js';
export type { TestPacketSpec, TestTcpSpec } from './ip-packets.js';
export type { DecodedVerdict } from '../nfqueue/verdict-decoder.js';
