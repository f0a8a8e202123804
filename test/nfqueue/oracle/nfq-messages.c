/*
 * Prints, one per line as "name hex", queue messages built by libnetfilter_queue and libmnl:
 * an oracle for the library's decoders that shares no constant with its encoders.
 * Build: cc nfq-messages.c -lnetfilter_queue -lmnl
 */
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <sys/socket.h>
#include <linux/netfilter.h>
#include <libmnl/libmnl.h>
#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter/nfnetlink_conntrack.h>

static void print(const char *name, const struct nlmsghdr *nlh) {
  const unsigned char *p = (const unsigned char *)nlh;
  printf("%s ", name);
  for (unsigned i = 0; i < nlh->nlmsg_len; i++) printf("%02x", p[i]);
  printf("\n");
}

int main(void) {
  char buf[MNL_SOCKET_BUFFER_SIZE];
  struct nlmsghdr *nlh;
  struct nlattr *nest;
  static const unsigned char payload[5] = {0x45, 0x00, 0x00, 0x05, 0xab};

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, 5);
  nlh->nlmsg_seq = 7;
  nfq_nlmsg_verdict_put(nlh, 0x01020304, NF_ACCEPT);
  nfq_nlmsg_verdict_put_mark(nlh, 0x2a);
  print("accept-mark", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, 1);
  nfq_nlmsg_verdict_put(nlh, 9, NF_QUEUE_NR(7) | NF_VERDICT_FLAG_QUEUE_BYPASS);
  print("requeue-bypass", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, 0);
  nfq_nlmsg_verdict_put(nlh, 3, NF_DROP);
  nfq_nlmsg_verdict_put_pkt(nlh, payload, sizeof payload);
  print("drop-payload", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, 0);
  nfq_nlmsg_verdict_put(nlh, 4, NF_REPEAT);
  nest = mnl_attr_nest_start(nlh, NFQA_CT);
  mnl_attr_put_u32(nlh, CTA_MARK, htonl(0xbeef));
  mnl_attr_nest_end(nlh, nest);
  print("repeat-connmark", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT, 0);
  nfq_nlmsg_verdict_put(nlh, 6, NF_STOLEN);
  print("stolen", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_VERDICT_BATCH, 2);
  nfq_nlmsg_verdict_put(nlh, 64, NF_STOP);
  nfq_nlmsg_verdict_put_mark(nlh, 0x11223344);
  print("batch-stop-mark", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, 3);
  nfq_nlmsg_cfg_put_cmd(nlh, AF_INET, NFQNL_CFG_CMD_BIND);
  print("bind", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, 3);
  nfq_nlmsg_cfg_put_params(nlh, NFQNL_COPY_PACKET, 0xfffe);
  print("params", nlh);

  nlh = nfq_nlmsg_put(buf, NFQNL_MSG_CONFIG, 3);
  nfq_nlmsg_cfg_put_qmaxlen(nlh, 1000);
  mnl_attr_put_u32(nlh, NFQA_CFG_FLAGS, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO));
  mnl_attr_put_u32(nlh, NFQA_CFG_MASK, htonl(NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO | NFQA_CFG_F_UID_GID));
  print("maxlen-flags", nlh);
  return 0;
}
