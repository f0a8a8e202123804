/**
 * nf_tables wire numbers, from <linux/netfilter/nf_tables.h>, <linux/netfilter/nfnetlink.h>
 * and <linux/netfilter.h>. Every integer attribute value of nf_tables is big-endian; header
 * fields and attribute headers are host order, as everywhere in netlink. Netfilter's own
 * numbers (families, hooks, verdict codes) come from `src/netfilter/constants.ts` and the
 * IP protocol numbers from `src/packet/`, re-exported here, so each number has one home.
 */

export {
  NFPROTO_UNSPEC, NFPROTO_INET, NFPROTO_IPV4, NFPROTO_ARP, NFPROTO_NETDEV, NFPROTO_BRIDGE, NFPROTO_IPV6,
  NF_INET_PRE_ROUTING, NF_INET_LOCAL_IN, NF_INET_FORWARD, NF_INET_LOCAL_OUT, NF_INET_POST_ROUTING,
  NF_DROP, NF_ACCEPT, NF_QUEUE,
} from '../netfilter/constants.js';
/** Layer 4 protocol numbers used by rules. */
export { IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6, IPPROTO_SCTP, IPPROTO_UDPLITE } from '../packet/ip-names.js';

/** nfnetlink subsystem id of nf_tables: message types are `(NFNL_SUBSYS_NFTABLES << 8) | NFT_MSG_*`. */
export const NFNL_SUBSYS_NFTABLES = 10;
/** Batch delimiters (nfnetlink control messages, below NLMSG_MIN_TYPE + 0x100). */
export const NFNL_MSG_BATCH_BEGIN = 0x10;
export const NFNL_MSG_BATCH_END = 0x11;
/** Attribute of BATCH_BEGIN: the ruleset generation the batch expects (be32). */
export const NFNL_BATCH_GENID = 1;

/** nf_tables message kinds (enum nf_tables_msg_types). */
export const NFT_MSG_NEWTABLE = 0;
export const NFT_MSG_GETTABLE = 1;
export const NFT_MSG_DELTABLE = 2;
export const NFT_MSG_NEWCHAIN = 3;
export const NFT_MSG_GETCHAIN = 4;
export const NFT_MSG_DELCHAIN = 5;
export const NFT_MSG_NEWRULE = 6;
export const NFT_MSG_GETRULE = 7;
export const NFT_MSG_DELRULE = 8;
export const NFT_MSG_NEWGEN = 15;
export const NFT_MSG_GETGEN = 16;

/** The full netlink message type of an nf_tables message kind. */
export function nftMessageType(msg: number): number {
  return (NFNL_SUBSYS_NFTABLES << 8) | msg;
}

/** nf_tables' own (negative) verdicts; NF_DROP, NF_ACCEPT and NF_QUEUE are netfilter's. */
export const NFT_CONTINUE = -1;
export const NFT_BREAK = -2;
export const NFT_JUMP = -3;
export const NFT_GOTO = -4;
export const NFT_RETURN = -5;

/** Registers: 0 holds the verdict; 1..4 are the 16-byte ones; 8..23 the 4-byte views. */
export const NFT_REG_VERDICT = 0;
export const NFT_REG_1 = 1;
export const NFT_REG_4 = 4;
export const NFT_REG32_00 = 8;
export const NFT_REG32_15 = 23;

/** Table attributes (enum nft_table_attributes) and flags. */
export const NFTA_TABLE_NAME = 1;
export const NFTA_TABLE_FLAGS = 2;
export const NFTA_TABLE_USE = 3;
export const NFTA_TABLE_HANDLE = 4;
export const NFTA_TABLE_PAD = 5;
export const NFTA_TABLE_USERDATA = 6;
export const NFTA_TABLE_OWNER = 7;
export const NFT_TABLE_F_DORMANT = 0x1;
/** The table is deleted when the netlink socket that created it closes (Linux 5.12+). */
export const NFT_TABLE_F_OWNER = 0x2;

/** Chain attributes (enum nft_chain_attributes), hook attributes, chain flags. */
export const NFTA_CHAIN_TABLE = 1;
export const NFTA_CHAIN_HANDLE = 2;
export const NFTA_CHAIN_NAME = 3;
export const NFTA_CHAIN_HOOK = 4;
export const NFTA_CHAIN_POLICY = 5;
export const NFTA_CHAIN_USE = 6;
export const NFTA_CHAIN_TYPE = 7;
export const NFTA_CHAIN_COUNTERS = 8;
export const NFTA_CHAIN_PAD = 9;
export const NFTA_CHAIN_FLAGS = 10;
export const NFTA_CHAIN_ID = 11;
export const NFTA_CHAIN_USERDATA = 12;
export const NFTA_HOOK_HOOKNUM = 1;
export const NFTA_HOOK_PRIORITY = 2;
export const NFTA_HOOK_DEV = 3;
export const NFT_CHAIN_BASE = 0x1;

/** Rule attributes (enum nft_rule_attributes) and the compat nest's. */
export const NFTA_RULE_TABLE = 1;
export const NFTA_RULE_CHAIN = 2;
export const NFTA_RULE_HANDLE = 3;
export const NFTA_RULE_EXPRESSIONS = 4;
export const NFTA_RULE_COMPAT = 5;
export const NFTA_RULE_POSITION = 6;
export const NFTA_RULE_USERDATA = 7;
export const NFTA_RULE_PAD = 8;
export const NFTA_RULE_ID = 9;
export const NFTA_RULE_COMPAT_PROTO = 1;
export const NFTA_RULE_COMPAT_FLAGS = 2;
/** Generation attributes (NEWGEN). */
export const NFTA_GEN_ID = 1;

/** List element of NFTA_RULE_EXPRESSIONS; an expression's name and data. */
export const NFTA_LIST_ELEM = 1;
export const NFTA_EXPR_NAME = 1;
export const NFTA_EXPR_DATA = 2;

/** Data and verdict nests (enum nft_data_attributes, nft_verdict_attributes). */
export const NFTA_DATA_VALUE = 1;
export const NFTA_DATA_VERDICT = 2;
export const NFTA_VERDICT_CODE = 1;
export const NFTA_VERDICT_CHAIN = 2;

/** Expression attributes, per expression. */
export const NFTA_IMMEDIATE_DREG = 1;
export const NFTA_IMMEDIATE_DATA = 2;

export const NFTA_BITWISE_SREG = 1;
export const NFTA_BITWISE_DREG = 2;
export const NFTA_BITWISE_LEN = 3;
export const NFTA_BITWISE_MASK = 4;
export const NFTA_BITWISE_XOR = 5;
export const NFTA_BITWISE_OP = 6;
export const NFTA_BITWISE_DATA = 7;

export const NFTA_CMP_SREG = 1;
export const NFTA_CMP_OP = 2;
export const NFTA_CMP_DATA = 3;
export const NFT_CMP_EQ = 0;
export const NFT_CMP_NEQ = 1;
export const NFT_CMP_LT = 2;
export const NFT_CMP_LTE = 3;
export const NFT_CMP_GT = 4;
export const NFT_CMP_GTE = 5;

export const NFTA_RANGE_SREG = 1;
export const NFTA_RANGE_OP = 2;
export const NFTA_RANGE_FROM_DATA = 3;
export const NFTA_RANGE_TO_DATA = 4;
export const NFT_RANGE_EQ = 0;
export const NFT_RANGE_NEQ = 1;

export const NFTA_PAYLOAD_DREG = 1;
export const NFTA_PAYLOAD_BASE = 2;
export const NFTA_PAYLOAD_OFFSET = 3;
export const NFTA_PAYLOAD_LEN = 4;
export const NFTA_PAYLOAD_SREG = 5;
export const NFTA_PAYLOAD_CSUM_TYPE = 6;
export const NFTA_PAYLOAD_CSUM_OFFSET = 7;
export const NFTA_PAYLOAD_CSUM_FLAGS = 8;
export const NFT_PAYLOAD_LL_HEADER = 0;
export const NFT_PAYLOAD_NETWORK_HEADER = 1;
export const NFT_PAYLOAD_TRANSPORT_HEADER = 2;
export const NFT_PAYLOAD_INNER_HEADER = 3;

export const NFTA_META_DREG = 1;
export const NFTA_META_KEY = 2;
export const NFTA_META_SREG = 3;
export const NFT_META_LEN = 0;
export const NFT_META_PROTOCOL = 1;
export const NFT_META_PRIORITY = 2;
export const NFT_META_MARK = 3;
export const NFT_META_IIF = 4;
export const NFT_META_OIF = 5;
export const NFT_META_IIFNAME = 6;
export const NFT_META_OIFNAME = 7;
export const NFT_META_SKUID = 10;
export const NFT_META_SKGID = 11;
export const NFT_META_NFPROTO = 15;
export const NFT_META_L4PROTO = 16;

export const NFTA_CT_DREG = 1;
export const NFTA_CT_KEY = 2;
export const NFTA_CT_DIRECTION = 3;
export const NFTA_CT_SREG = 4;
export const NFT_CT_STATE = 0;
export const NFT_CT_DIRECTION = 1;
export const NFT_CT_STATUS = 2;
export const NFT_CT_MARK = 3;
/** Bits of `ct state` (NF_CT_STATE_BIT(IP_CT_*) and NF_CT_STATE_UNTRACKED_BIT). */
export const NF_CT_STATE_INVALID_BIT = 1 << 0;
export const NF_CT_STATE_ESTABLISHED_BIT = 1 << 1;
export const NF_CT_STATE_RELATED_BIT = 1 << 2;
export const NF_CT_STATE_NEW_BIT = 1 << 3;
export const NF_CT_STATE_UNTRACKED_BIT = 1 << 6;

export const NFTA_COUNTER_BYTES = 1;
export const NFTA_COUNTER_PACKETS = 2;
export const NFTA_COUNTER_PAD = 3;

export const NFTA_QUEUE_NUM = 1;
export const NFTA_QUEUE_TOTAL = 2;
export const NFTA_QUEUE_FLAGS = 3;
export const NFTA_QUEUE_SREG_QNUM = 4;
/** Accept instead of drop when no program listens on the queue. */
export const NFT_QUEUE_FLAG_BYPASS = 0x01;
/** Spread over the queues by CPU rather than by flow hash. */
export const NFT_QUEUE_FLAG_CPU_FANOUT = 0x02;

/** xtables compat expressions (`match`, `target`): name, revision, the x_tables info struct. */
export const NFTA_TARGET_NAME = 1;
export const NFTA_TARGET_REV = 2;
export const NFTA_TARGET_INFO = 3;
export const NFTA_MATCH_NAME = 1;
export const NFTA_MATCH_REV = 2;
export const NFTA_MATCH_INFO = 3;
/** struct xt_NFQ_info_v3 flags (the same bits as the native queue expression's). */
export const NFQ_FLAG_BYPASS = 0x01;
export const NFQ_FLAG_CPU_FANOUT = 0x02;
