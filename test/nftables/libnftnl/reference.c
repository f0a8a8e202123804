/*
 * Reference bytes from libnftnl for the byte comparison in test/nftables/libnftnl.test.ts:
 * builds NEWTABLE, NEWCHAIN, NEWRULE (one of each expression kind we encode) and DELTABLE
 * with libnftnl and prints each message as "name hex". The test builds the same objects with
 * our encoders and compares. Built at test time: gcc reference.c -lnftnl -lmnl.
 */
#include <stdio.h>
#include <stdint.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nf_tables.h>
#include <libmnl/libmnl.h>
#include <libnftnl/table.h>
#include <libnftnl/chain.h>
#include <libnftnl/rule.h>
#include <libnftnl/expr.h>

static void dump(const char *name, const struct nlmsghdr *nlh) {
	const uint8_t *p = (const uint8_t *)nlh;
	printf("%s ", name);
	for (uint32_t i = 0; i < nlh->nlmsg_len; i++) printf("%02x", p[i]);
	printf("\n");
}

static struct nftnl_expr *expr(const char *name) {
	return nftnl_expr_alloc(name);
}

int main(void) {
	char buf[8192];
	struct nlmsghdr *nlh;

	struct nftnl_table *t = nftnl_table_alloc();
	nftnl_table_set_str(t, NFTNL_TABLE_NAME, "nfqueue_42_q0");
	nftnl_table_set_u32(t, NFTNL_TABLE_FAMILY, NFPROTO_INET);
	nftnl_table_set_u32(t, NFTNL_TABLE_FLAGS, NFT_TABLE_F_OWNER);
	memset(buf, 0, sizeof(buf)); /* libnftnl leaves padding bytes as it finds them */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWTABLE, NFPROTO_INET, NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK, 11);
	nftnl_table_nlmsg_build_payload(nlh, t);
	dump("newtable", nlh);

	struct nftnl_chain *c = nftnl_chain_alloc();
	nftnl_chain_set_str(c, NFTNL_CHAIN_TABLE, "nfqueue_42_q0");
	nftnl_chain_set_str(c, NFTNL_CHAIN_NAME, "queue");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_HOOKNUM, NF_INET_LOCAL_OUT);
	nftnl_chain_set_s32(c, NFTNL_CHAIN_PRIO, -5);
	nftnl_chain_set_str(c, NFTNL_CHAIN_TYPE, "filter");
	nftnl_chain_set_u32(c, NFTNL_CHAIN_POLICY, NF_ACCEPT);
	memset(buf, 0, sizeof(buf)); /* libnftnl leaves padding bytes as it finds them */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWCHAIN, NFPROTO_INET, NLM_F_CREATE | NLM_F_ACK, 12);
	nftnl_chain_nlmsg_build_payload(nlh, c);
	dump("newchain", nlh);

	struct nftnl_rule *r = nftnl_rule_alloc();
	nftnl_rule_set_str(r, NFTNL_RULE_TABLE, "nfqueue_42_q0");
	nftnl_rule_set_str(r, NFTNL_RULE_CHAIN, "queue");
	nftnl_rule_set_u32(r, NFTNL_RULE_FAMILY, NFPROTO_INET);
	struct nftnl_expr *e;

	e = expr("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_L4PROTO);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);

	uint8_t udp = 17;
	e = expr("cmp");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CMP_OP, NFT_CMP_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_CMP_DATA, &udp, 1);
	nftnl_rule_add_expr(r, e);

	e = expr("payload");
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_BASE, NFT_PAYLOAD_TRANSPORT_HEADER);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_OFFSET, 2);
	nftnl_expr_set_u32(e, NFTNL_EXPR_PAYLOAD_LEN, 2);
	nftnl_rule_add_expr(r, e);

	uint16_t lo = htons(1000), hi = htons(2000);
	e = expr("range");
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_RANGE_OP, NFT_RANGE_EQ);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_FROM_DATA, &lo, 2);
	nftnl_expr_set(e, NFTNL_EXPR_RANGE_TO_DATA, &hi, 2);
	nftnl_rule_add_expr(r, e);

	uint32_t mask = 0xc0000000, zero = 0;
	e = expr("bitwise");
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_SREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_DREG, NFT_REG_1);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_OP, NFT_BITWISE_BOOL);
	nftnl_expr_set_u32(e, NFTNL_EXPR_BITWISE_LEN, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_MASK, &mask, 4);
	nftnl_expr_set(e, NFTNL_EXPR_BITWISE_XOR, &zero, 4);
	nftnl_rule_add_expr(r, e);

	e = expr("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_STATE);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_DREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);

	e = expr("ct");
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_KEY, NFT_CT_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_CT_SREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);

	e = expr("meta");
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_KEY, NFT_META_MARK);
	nftnl_expr_set_u32(e, NFTNL_EXPR_META_SREG, NFT_REG_1);
	nftnl_rule_add_expr(r, e);

	e = expr("counter");
	nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_BYTES, 0);
	nftnl_expr_set_u64(e, NFTNL_EXPR_CTR_PACKETS, 0);
	nftnl_rule_add_expr(r, e);

	e = expr("queue");
	nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_NUM, 2);
	nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_TOTAL, 2);
	nftnl_expr_set_u16(e, NFTNL_EXPR_QUEUE_FLAGS, NFT_QUEUE_FLAG_BYPASS | NFT_QUEUE_FLAG_CPU_FANOUT);
	nftnl_rule_add_expr(r, e);

	/* struct xt_NFQ_info_v3 { u16 queuenum, queues_total, flags }, padded to XT_ALIGN: 8 bytes */
	uint16_t info[4] = { 2, 2, 1, 0 };
	e = expr("target");
	nftnl_expr_set_str(e, NFTNL_EXPR_TG_NAME, "NFQUEUE");
	nftnl_expr_set_u32(e, NFTNL_EXPR_TG_REV, 3);
	nftnl_expr_set(e, NFTNL_EXPR_TG_INFO, info, sizeof(info));
	nftnl_rule_add_expr(r, e);

	e = expr("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NF_ACCEPT);
	nftnl_rule_add_expr(r, e);

	e = expr("immediate");
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_DREG, NFT_REG_VERDICT);
	nftnl_expr_set_u32(e, NFTNL_EXPR_IMM_VERDICT, NFT_JUMP);
	nftnl_expr_set_str(e, NFTNL_EXPR_IMM_CHAIN, "flow");
	nftnl_rule_add_expr(r, e);

	memset(buf, 0, sizeof(buf)); /* libnftnl leaves padding bytes as it finds them */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_NEWRULE, NFPROTO_INET, NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK, 13);
	nftnl_rule_nlmsg_build_payload(nlh, r);
	dump("newrule", nlh);

	struct nftnl_table *d = nftnl_table_alloc();
	nftnl_table_set_str(d, NFTNL_TABLE_NAME, "nfqueue_42_q0");
	memset(buf, 0, sizeof(buf)); /* libnftnl leaves padding bytes as it finds them */
	nlh = nftnl_nlmsg_build_hdr(buf, NFT_MSG_DELTABLE, NFPROTO_INET, NLM_F_ACK, 14);
	nftnl_table_nlmsg_build_payload(nlh, d);
	dump("deltable", nlh);

	memset(buf, 0, sizeof(buf));
	nlh = nftnl_batch_begin(buf, 10);
	dump("batchbegin", nlh);
	memset(buf, 0, sizeof(buf));
	nlh = nftnl_batch_end(buf, 15);
	dump("batchend", nlh);
	return 0;
}
