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
export { ETH_P_IP, ETH_P_IPV6, ETH_P_8021Q, ETH_P_8021AD, vlanTag, parseEthernetHeader, type VlanTag, type EthernetHeader } from './ethernet.js';
export {
  parseIpPacket,
  icmpTypeName,
  ipProtocolName,
  tcpFlagsText,
  TCP_FIN,
  TCP_SYN,
  TCP_RST,
  TCP_PSH,
  TCP_ACK,
  TCP_URG,
  TCP_ECE,
  TCP_CWR,
  IPPROTO_ICMP,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPPROTO_DCCP,
  IPPROTO_ICMPV6,
  IPPROTO_SCTP,
  IPPROTO_UDPLITE,
  type IpPacketInfo,
  type TcpHeader,
  type UdpHeader,
  type IcmpHeader,
} from './ip.js';
export { interfaceName, interfaceNames, clearInterfaceNameCache, formatHwaddr } from './ifnames.js';
