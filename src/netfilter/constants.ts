/**
 * Netfilter's own numbers, which both of its netlink subsystems here (nfnetlink_queue in
 * `src/nfqueue/`, nf_tables in `src/nftables/`) speak: protocol families, hooks and verdict
 * codes from <linux/netfilter.h>, and the nfgenmsg header every nfnetlink message starts with
 * (<linux/netfilter/nfnetlink.h>). Defined here once; each subsystem's constants re-export
 * the ones it uses, so `nfqueueConstants` and `nftablesConstants` cannot disagree.
 */

/** Size of `struct nfgenmsg`: u8 family, u8 version, be16 res_id. */
export const NFGENMSG_LEN = 4;
/** nfgenmsg version (NFNETLINK_V0). */
export const NFNETLINK_V0 = 0;

/** Netfilter protocol families (NFPROTO_*): the nfgenmsg family, the packet's family. */
export const NFPROTO_UNSPEC = 0;
export const NFPROTO_INET = 1;
export const NFPROTO_IPV4 = 2;
export const NFPROTO_ARP = 3;
export const NFPROTO_NETDEV = 5;
export const NFPROTO_BRIDGE = 7;
export const NFPROTO_IPV6 = 10;

/** Netfilter hooks of the ip, ip6, inet and bridge families (NF_INET_*). */
export const NF_INET_PRE_ROUTING = 0;
export const NF_INET_LOCAL_IN = 1;
export const NF_INET_FORWARD = 2;
export const NF_INET_LOCAL_OUT = 3;
export const NF_INET_POST_ROUTING = 4;

/** Netfilter verdict codes (NF_*). */
export const NF_DROP = 0;
export const NF_ACCEPT = 1;
export const NF_STOLEN = 2;
export const NF_QUEUE = 3;
export const NF_REPEAT = 4;
export const NF_STOP = 5;
