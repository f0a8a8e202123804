/**
 * Every constant of the kernel's nfnetlink_queue (include/uapi/linux/netfilter/
 * nfnetlink_queue.h, nfnetlink.h, netfilter.h). Values on the wire are big-endian.
 * Netfilter's own numbers (families, hooks, verdict codes, nfgenmsg) live in
 * `src/netfilter/constants.ts`, shared with nf_tables, and are re-exported here.
 */

export {
  NFGENMSG_LEN, NFNETLINK_V0,
  NFPROTO_UNSPEC, NFPROTO_INET, NFPROTO_IPV4, NFPROTO_ARP, NFPROTO_NETDEV, NFPROTO_BRIDGE, NFPROTO_IPV6,
  NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING,
  NF_DROP, NF_ACCEPT, NF_STOLEN, NF_QUEUE, NF_REPEAT, NF_STOP,
} from '../netfilter/constants.js';

/** nfnetlink subsystem id of the queue (NFNL_SUBSYS_QUEUE). */
export const NFNL_SUBSYS_QUEUE = 3;

/** Queue message kinds (enum nfqnl_msg_types); the netlink type is `(3 << 8) | kind`. */
export const NFQNL_MSG_PACKET = 0;
export const NFQNL_MSG_VERDICT = 1;
export const NFQNL_MSG_CONFIG = 2;
export const NFQNL_MSG_VERDICT_BATCH = 3;

/** Netlink message types of the queue message kinds: `(NFNL_SUBSYS_QUEUE << 8) | kind`. */
export const NFQ_TYPE_PACKET = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_PACKET;
export const NFQ_TYPE_VERDICT = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT;
export const NFQ_TYPE_CONFIG = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_CONFIG;
export const NFQ_TYPE_VERDICT_BATCH = (NFNL_SUBSYS_QUEUE << 8) | NFQNL_MSG_VERDICT_BATCH;

/** Packet and verdict attributes (enum nfqnl_attr_type). */
export const NFQA_UNSPEC = 0;
export const NFQA_PACKET_HDR = 1;
export const NFQA_VERDICT_HDR = 2;
export const NFQA_MARK = 3;
export const NFQA_TIMESTAMP = 4;
export const NFQA_IFINDEX_INDEV = 5;
export const NFQA_IFINDEX_OUTDEV = 6;
export const NFQA_IFINDEX_PHYSINDEV = 7;
export const NFQA_IFINDEX_PHYSOUTDEV = 8;
export const NFQA_HWADDR = 9;
export const NFQA_PAYLOAD = 10;
export const NFQA_CT = 11;
export const NFQA_CT_INFO = 12;
export const NFQA_CAP_LEN = 13;
export const NFQA_SKB_INFO = 14;
export const NFQA_EXP = 15;
export const NFQA_UID = 16;
export const NFQA_GID = 17;
export const NFQA_SECCTX = 18;
export const NFQA_VLAN = 19;
export const NFQA_L2HDR = 20;
export const NFQA_PRIORITY = 21;
export const NFQA_CGROUP_CLASSID = 22;
/** Highest packet attribute this library knows. */
export const NFQA_MAX = 22;

/** Nested NFQA_VLAN attributes (enum nfqnl_vlan_attr). */
export const NFQA_VLAN_PROTO = 1;
export const NFQA_VLAN_TCI = 2;

/** NFQA_SKB_INFO bits. */
export const NFQA_SKB_CSUMNOTREADY = 1 << 0;
export const NFQA_SKB_GSO = 1 << 1;
export const NFQA_SKB_CSUM_NOTVERIFIED = 1 << 2;

/** Config attributes (enum nfqnl_attr_config). */
export const NFQA_CFG_CMD = 1;
export const NFQA_CFG_PARAMS = 2;
export const NFQA_CFG_QUEUE_MAXLEN = 3;
export const NFQA_CFG_MASK = 4;
export const NFQA_CFG_FLAGS = 5;

/** Config commands (enum nfqnl_msg_config_cmds). */
export const NFQNL_CFG_CMD_NONE = 0;
export const NFQNL_CFG_CMD_BIND = 1;
export const NFQNL_CFG_CMD_UNBIND = 2;
export const NFQNL_CFG_CMD_PF_BIND = 3;
export const NFQNL_CFG_CMD_PF_UNBIND = 4;

/** Copy modes (enum nfqnl_config_mode). */
export const NFQNL_COPY_NONE = 0;
export const NFQNL_COPY_META = 1;
export const NFQNL_COPY_PACKET = 2;

/** Queue flags (NFQA_CFG_F_*). */
export const NFQA_CFG_F_FAIL_OPEN = 1 << 0;
export const NFQA_CFG_F_CONNTRACK = 1 << 1;
export const NFQA_CFG_F_GSO = 1 << 2;
export const NFQA_CFG_F_UID_GID = 1 << 3;
export const NFQA_CFG_F_SECCTX = 1 << 4;
/** Every flag bit this library knows. */
export const NFQA_CFG_F_ALL = 0x1f;

/** Mask of the verdict code in a verdict word; the queue number sits in the upper 16 bits. */
export const NF_VERDICT_MASK = 0x000000ff;
/** NF_QUEUE flag: accept instead of dropping when nobody listens on the target queue. */
export const NF_VERDICT_FLAG_QUEUE_BYPASS = 0x00008000;
export const NF_VERDICT_QBITS = 16;
