/** Generic netlink constants from <linux/netlink.h>. Nothing here knows about nfqueue. */

/** Size of `struct nlmsghdr`. */
export const NLMSG_HDRLEN = 16;
/** Offsets of nlmsg_seq and nlmsg_pid in `struct nlmsghdr` (after u32 len, u16 type, u16 flags). */
export const NLMSG_SEQ_OFFSET = 8;
export const NLMSG_PID_OFFSET = 12;
/** Size of `struct nlattr`. */
export const NLA_HDRLEN = 4;
/** Netlink alignment: messages and attributes are padded to 4 bytes. */
export const NLA_ALIGNTO = 4;

/** Round `n` up to the netlink alignment. */
export function align4(n: number): number {
  return (n + 3) & ~3;
}

/** Control message types below NLMSG_MIN_TYPE. */
export const NLMSG_NOOP = 1;
export const NLMSG_ERROR = 2;
export const NLMSG_DONE = 3;
export const NLMSG_OVERRUN = 4;
/** Types below this are reserved for control messages. */
export const NLMSG_MIN_TYPE = 0x10;

/** nlmsghdr flags. */
export const NLM_F_REQUEST = 0x01;
export const NLM_F_MULTI = 0x02;
export const NLM_F_ACK = 0x04;
export const NLM_F_ECHO = 0x08;
export const NLM_F_DUMP_INTR = 0x10;
/** NLM_F_ROOT | NLM_F_MATCH: a dump request. */
export const NLM_F_DUMP = 0x300;
export const NLM_F_DUMP_FILTERED = 0x20;
/** Flags on an NLMSG_ERROR: the echoed request was cut to its header. */
export const NLM_F_CAPPED = 0x100;
/** Flags on an NLMSG_ERROR: extended-ack TLVs follow the echoed request. */
export const NLM_F_ACK_TLVS = 0x200;
/** Flags of NEW requests (the same bits as NLM_F_DUMP's and the error flags above; the message kind says which). */
export const NLM_F_REPLACE = 0x100;
export const NLM_F_EXCL = 0x200;
export const NLM_F_CREATE = 0x400;
export const NLM_F_APPEND = 0x800;

/** Attribute type bits. */
export const NLA_F_NESTED = 0x8000;
export const NLA_F_NET_BYTEORDER = 0x4000;
export const NLA_TYPE_MASK = 0x3fff;

/** Extended-ack attributes (enum nlmsgerr_attrs). */
export const NLMSGERR_ATTR_MSG = 1;
export const NLMSGERR_ATTR_OFFS = 2;
export const NLMSGERR_ATTR_COOKIE = 3;
export const NLMSGERR_ATTR_POLICY = 4;
export const NLMSGERR_ATTR_MISS_TYPE = 5;
export const NLMSGERR_ATTR_MISS_NEST = 6;

/** Netlink protocol numbers used by this library. */
export const NETLINK_ROUTE = 0;
export const NETLINK_NETFILTER = 12;

/** Socket options at SOL_NETLINK (270). */
export const SOL_NETLINK = 270;
export const NETLINK_NO_ENOBUFS = 5;
export const NETLINK_CAP_ACK = 10;
export const NETLINK_EXT_ACK = 11;
