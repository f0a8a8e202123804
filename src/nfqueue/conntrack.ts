/**
 * Decoder of the conntrack attributes a packet carries when the queue has the CONNTRACK
 * flag (NFQA_CT, nested ctnetlink attributes, and NFQA_CT_INFO). Kernels without the
 * conntrack glue refuse that flag with EOPNOTSUPP; captures from kernels that have it can
 * still be decoded here. Unknown attributes are kept raw.
 */
import { AttributeDecoder, type RawAttribute } from '../netlink/attributes.js';
import { NetlinkDecodeError } from '../netlink/errors.js';
import { formatIpv4, formatIpv6 } from '../packet/ip-names.js';

// enum ctattr_type
export const CTA_TUPLE_ORIG = 1;
export const CTA_TUPLE_REPLY = 2;
export const CTA_STATUS = 3;
export const CTA_PROTOINFO = 4;
export const CTA_HELP = 5;
export const CTA_TIMEOUT = 7;
export const CTA_MARK = 8;
export const CTA_USE = 11;
export const CTA_ID = 12;
export const CTA_TUPLE_MASTER = 14;
export const CTA_SECMARK = 17;
export const CTA_ZONE = 18;
export const CTA_SECCTX = 19;
export const CTA_LABELS = 22;
// enum ctattr_tuple / ctattr_ip / ctattr_l4proto
const CTA_TUPLE_IP = 1;
const CTA_TUPLE_PROTO = 2;
const CTA_TUPLE_ZONE = 3;
const CTA_IP_V4_SRC = 1;
const CTA_IP_V4_DST = 2;
const CTA_IP_V6_SRC = 3;
const CTA_IP_V6_DST = 4;
const CTA_PROTO_NUM = 1;
const CTA_PROTO_SRC_PORT = 2;
const CTA_PROTO_DST_PORT = 3;
const CTA_PROTO_ICMP_ID = 4;
const CTA_PROTO_ICMP_TYPE = 5;
const CTA_PROTO_ICMP_CODE = 6;
const CTA_PROTO_ICMPV6_ID = 7;
const CTA_PROTO_ICMPV6_TYPE = 8;
const CTA_PROTO_ICMPV6_CODE = 9;
const CTA_HELP_NAME = 1;
// enum ctattr_protoinfo / ctattr_protoinfo_tcp
const CTA_PROTOINFO_TCP = 1;
const CTA_PROTOINFO_TCP_STATE = 1;
const CTA_SECCTX_NAME = 1;

/** enum ip_conntrack_info, as NFQA_CT_INFO carries it. */
export const CT_INFO_NAMES: Readonly<Record<number, string>> = {
  0: 'ESTABLISHED',
  1: 'RELATED',
  2: 'NEW',
  3: 'ESTABLISHED_REPLY',
  4: 'RELATED_REPLY',
};

/** Name of an NFQA_CT_INFO value, e.g. 'NEW'. */
export function ctInfoName(info: number | undefined): string | undefined {
  if (info === undefined) return undefined;
  return CT_INFO_NAMES[info] ?? `UNKNOWN(${info})`;
}

/** enum tcp_conntrack: the TCP state conntrack keeps (what `conntrack -L` prints). */
export const TCP_CONNTRACK_NAMES: readonly string[] = ['NONE', 'SYN_SENT', 'SYN_RECV', 'ESTABLISHED', 'FIN_WAIT', 'CLOSE_WAIT', 'LAST_ACK', 'TIME_WAIT', 'CLOSE', 'SYN_SENT2'];

/** Name of a conntrack TCP state, e.g. 'ESTABLISHED'. */
export function tcpStateName(state: number | undefined): string | undefined {
  if (state === undefined) return undefined;
  return TCP_CONNTRACK_NAMES[state] ?? `UNKNOWN(${state})`;
}

/** One direction of a connection. */
export interface ConntrackTuple {
  src?: string;
  dst?: string;
  /** IP protocol number. */
  proto?: number;
  srcPort?: number;
  dstPort?: number;
  icmpId?: number;
  icmpType?: number;
  icmpCode?: number;
  zone?: number;
}

/** The decoded NFQA_CT attribute. */
export interface Conntrack {
  orig?: ConntrackTuple;
  reply?: ConntrackTuple;
  master?: ConntrackTuple;
  /** IPS_* status bits. */
  status?: number;
  /** Seconds until the entry times out. */
  timeout?: number;
  mark?: number;
  id?: number;
  use?: number;
  zone?: number;
  secmark?: number;
  secctx?: string;
  helper?: string;
  labels?: Uint8Array;
  /** TCP state (enum tcp_conntrack, from CTA_PROTOINFO_TCP); see tcpStateName(). */
  tcpState?: number;
  /** CTA_PROTOINFO as sent (nested, per protocol). */
  protoinfo?: Uint8Array;
  /** Attributes not decoded above, raw. */
  unknown?: RawAttribute[];
}

function check(d: AttributeDecoder, what: string): void {
  if (d.error !== undefined) throw new NetlinkDecodeError(`bad conntrack ${what}: ${d.error.message}`, d.error.offset, d.error.truncated);
}

function decodeTuple(d: AttributeDecoder): ConntrackTuple {
  const t: ConntrackTuple = {};
  while (d.next()) {
    if (d.type === CTA_TUPLE_IP) {
      const ip = d.nestedDecoder();
      while (ip.next()) {
        const b = ip.bytes();
        if (ip.type === CTA_IP_V4_SRC && b.byteLength >= 4) t.src = formatIpv4(b);
        else if (ip.type === CTA_IP_V4_DST && b.byteLength >= 4) t.dst = formatIpv4(b);
        else if (ip.type === CTA_IP_V6_SRC && b.byteLength >= 16) t.src = formatIpv6(b);
        else if (ip.type === CTA_IP_V6_DST && b.byteLength >= 16) t.dst = formatIpv6(b);
      }
      check(ip, 'tuple address');
    } else if (d.type === CTA_TUPLE_PROTO) {
      const p = d.nestedDecoder();
      while (p.next()) {
        switch (p.type) {
          case CTA_PROTO_NUM:
            t.proto = p.u8();
            break;
          case CTA_PROTO_SRC_PORT:
            t.srcPort = p.be16();
            break;
          case CTA_PROTO_DST_PORT:
            t.dstPort = p.be16();
            break;
          case CTA_PROTO_ICMP_ID:
          case CTA_PROTO_ICMPV6_ID:
            t.icmpId = p.be16();
            break;
          case CTA_PROTO_ICMP_TYPE:
          case CTA_PROTO_ICMPV6_TYPE:
            t.icmpType = p.u8();
            break;
          case CTA_PROTO_ICMP_CODE:
          case CTA_PROTO_ICMPV6_CODE:
            t.icmpCode = p.u8();
            break;
          default:
            break;
        }
      }
      check(p, 'tuple protocol');
    } else if (d.type === CTA_TUPLE_ZONE) {
      t.zone = d.be16();
    }
  }
  check(d, 'tuple');
  return t;
}

/**
 * Decodes the value of NFQA_CT (Packet.ct): the nested ctnetlink attributes describing the
 * packet's connection. Throws NetlinkDecodeError on malformed bytes.
 */
export function decodeConntrack(ct: Uint8Array): Conntrack {
  const out: Conntrack = {};
  const d = new AttributeDecoder(ct, 0, ct.byteLength);
  while (d.next()) {
    switch (d.type) {
      case CTA_TUPLE_ORIG:
        out.orig = decodeTuple(d.nestedDecoder());
        break;
      case CTA_TUPLE_REPLY:
        out.reply = decodeTuple(d.nestedDecoder());
        break;
      case CTA_TUPLE_MASTER:
        out.master = decodeTuple(d.nestedDecoder());
        break;
      case CTA_STATUS:
        out.status = d.be32();
        break;
      case CTA_TIMEOUT:
        out.timeout = d.be32();
        break;
      case CTA_MARK:
        out.mark = d.be32();
        break;
      case CTA_ID:
        out.id = d.be32();
        break;
      case CTA_USE:
        out.use = d.be32();
        break;
      case CTA_ZONE:
        out.zone = d.be16();
        break;
      case CTA_SECMARK:
        out.secmark = d.be32();
        break;
      case CTA_SECCTX: {
        const n = d.nestedDecoder();
        while (n.next()) if (n.type === CTA_SECCTX_NAME) out.secctx = n.string();
        check(n, 'secctx');
        break;
      }
      case CTA_HELP: {
        const n = d.nestedDecoder();
        while (n.next()) if (n.type === CTA_HELP_NAME) out.helper = n.string();
        check(n, 'helper');
        break;
      }
      case CTA_LABELS:
        out.labels = d.bytes();
        break;
      case CTA_PROTOINFO: {
        out.protoinfo = d.bytes();
        const p = d.nestedDecoder();
        while (p.next()) {
          if (p.type !== CTA_PROTOINFO_TCP) continue;
          const tcp = p.nestedDecoder();
          while (tcp.next()) if (tcp.type === CTA_PROTOINFO_TCP_STATE) out.tcpState = tcp.u8();
          check(tcp, 'TCP protoinfo');
        }
        check(p, 'protoinfo');
        break;
      }
      default:
        (out.unknown ??= []).push({ type: d.type, nested: d.nested, value: d.bytes() });
    }
  }
  check(d, 'attribute');
  return out;
}
