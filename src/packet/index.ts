/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/packet`: working with the bytes of a queued packet. Checksums (verify,
 * fix, rewrite a transport payload), IPv4/IPv6, TCP/UDP/ICMP and Ethernet parsing, and
 * interface index → name.
 */
export {
  internetChecksum,
  ipv4HeaderChecksum,
  fixIpv4HeaderChecksum,
  transportChecksum,
  tcpChecksum,
  udpChecksum,
  fixChecksums,
  transportPayload,
  withTransportPayload,
  verifyChecksums,
  ChecksumError,
  type ChecksumReport,
} from './checksum.js';
export * from './ethernet.js';
export * from './ip.js';
export { interfaceName, interfaceNames, clearInterfaceNameCache, formatHwaddr } from './ifnames.js';
