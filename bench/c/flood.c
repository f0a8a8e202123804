// flood: UDP load generator for NFQUEUE benchmarks (sendmmsg based).
//
// usage: flood [-m window|open] [-w WINDOW] [-f FLOWS] [-b BURST] [-s STALL_MS]
//              [-T TOTAL_TIMEOUT_S] IP PORT COUNT PAYLOAD
//
// -m open    blind flood: sendmmsg COUNT packets as fast as possible (the
//            queue may overflow: the harness counts what got through with an
//            iptables DROP rule placed after the queue).
// -m window  (default) closed loop: this process is also the sink. It binds
//            IP:PORT itself, and keeps at most WINDOW packets in flight
//            (sent - received - lost). Measures sustainable throughput with
//            no queue overflow. When nothing arrives for STALL_MS, it reads
//            /proc/self/net/netfilter/nfnetlink_queue: packets the kernel
//            dropped (queue_dropped + user_dropped growth) are written off at
//            once; after 10*STALL_MS without progress all in-flight packets are
//            written off as lost.
// -m depth   queue-depth clocked: like open (the harness sinks packets with an
//            iptables DROP after the queue), but before each sendmmsg it reads
//            queue_total from /proc/self/net/netfilter/nfnetlink_queue and only
//            sends while fewer than WINDOW packets wait in the kernel queue.
//            Keeps the consumer saturated (it never sleeps) without
//            overflowing its socket buffer: measures peak consumer throughput
//            with no packet delivery cost and no wakeups. The flood spins
//            (sched_yield) while the queue is full.
// -f FLOWS   number of source sockets, round-robin. With FLOWS > 1 socket i is
//            bound to source address 127.0.1.(i+1): the NFQUEUE --queue-balance
//            hash covers only the IP addresses and protocol, not the ports.
//
// SIGTERM/SIGINT stop it early ("stopped":true). Prints one JSON object on stdout, with
// its own CPU time (cpu_user_s, cpu_sys_s).
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t stop = 0;
static void on_term(int sig) { (void)sig; stop = 1; }

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec / 1e9;
}

// Sum of queue_dropped + user_dropped over all queues of this netns.
static long kernel_drops(void) {
  FILE *f = fopen("/proc/self/net/netfilter/nfnetlink_queue", "r");
  if (!f) return 0;
  long sum = 0;
  unsigned q, portid, total, mode, range, qd, ud;
  while (fscanf(f, "%u %u %u %u %u %u %u %*u %*d", &q, &portid, &total, &mode, &range, &qd, &ud) == 7)
    sum += (long)qd + ud;
  fclose(f);
  return sum;
}

// Sum of queue_total (packets waiting for a verdict) over all queues,
// re-read with pread() on an fd kept open.
static long queue_depth(int fd) {
  static char b[16384];
  ssize_t n = pread(fd, b, sizeof b - 1, 0);
  if (n <= 0) return 0;
  b[n] = 0;
  long sum = 0;
  char *p = b;
  while (*p) {
    unsigned long q, portid, total;
    int used = 0;
    if (sscanf(p, "%lu %lu %lu%n", &q, &portid, &total, &used) != 3) break;
    sum += total;
    char *nl = strchr(p, '\n');
    if (!nl) break;
    p = nl + 1;
  }
  return sum;
}

enum { MAXB = 256, MAXF = 64 };

int main(int argc, char **argv) {
  const char *mode = "window";
  long window = 128;
  int flows = 1, burst = 32, stall_ms = 20;
  double total_timeout = 300;
  int opt;
  while ((opt = getopt(argc, argv, "m:w:f:b:s:T:")) != -1) {
    switch (opt) {
      case 'm': mode = optarg; break;
      case 'w': window = atol(optarg); break;
      case 'f': flows = atoi(optarg); break;
      case 'b': burst = atoi(optarg); break;
      case 's': stall_ms = atoi(optarg); break;
      case 'T': total_timeout = atof(optarg); break;
      default: fprintf(stderr, "bad option\n"); return 2;
    }
  }
  if (argc - optind < 4) {
    fprintf(stderr, "usage: flood [-m window|open] [-w W] [-f FLOWS] [-b BURST] [-s STALL_MS] [-T S] IP PORT COUNT PAYLOAD\n");
    return 2;
  }
  const char *ip = argv[optind];
  int port = atoi(argv[optind + 1]);
  long count = atol(argv[optind + 2]);
  int plen = atoi(argv[optind + 3]);
  if (flows < 1) flows = 1;
  if (flows > MAXF) flows = MAXF;
  if (burst < 1) burst = 1;
  if (burst > MAXB) burst = MAXB;
  if (plen < 0 || plen > 65000) { fprintf(stderr, "bad payload size\n"); return 2; }
  struct sigaction sa = {0};
  sa.sa_handler = on_term;  // no SA_RESTART: poll/sendmmsg return EINTR
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGINT, &sa, NULL);
  int is_window = strcmp(mode, "window") == 0;
  int is_depth = strcmp(mode, "depth") == 0;
  if (!is_window && !is_depth && strcmp(mode, "open") != 0) { fprintf(stderr, "bad mode\n"); return 2; }

  struct sockaddr_in a = {0};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  if (inet_pton(AF_INET, ip, &a.sin_addr) != 1) { fprintf(stderr, "bad ip\n"); return 2; }

  int rx = -1;
  if (is_window) {
    rx = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    int one = 1, big = 8 << 20;
    setsockopt(rx, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(rx, SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
    if (bind(rx, (void *)&a, sizeof a) < 0) { perror("bind sink"); return 1; }
  }
  int tx[MAXF];
  for (int i = 0; i < flows; i++) {
    tx[i] = socket(AF_INET, SOCK_DGRAM, 0);
    int big = 4 << 20;
    setsockopt(tx[i], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
    if (flows > 1) {
      struct sockaddr_in src = {0};
      src.sin_family = AF_INET;
      src.sin_addr.s_addr = htonl(0x7f000100u + (unsigned)(i + 1));  // 127.0.1.(i+1)
      if (bind(tx[i], (void *)&src, sizeof src) < 0) { perror("bind source"); return 1; }
    }
    if (connect(tx[i], (void *)&a, sizeof a) < 0) { perror("connect"); return 1; }
  }

  static char buf[65536];
  memset(buf, 'x', sizeof buf);
  static struct mmsghdr m[MAXB];
  static struct iovec iov[MAXB];
  for (int i = 0; i < MAXB; i++) {
    iov[i].iov_base = buf;
    iov[i].iov_len = plen;
    memset(&m[i], 0, sizeof m[i]);
    m[i].msg_hdr.msg_iov = &iov[i];
    m[i].msg_hdr.msg_iovlen = 1;
  }
  static char rbuf[MAXB][2048];
  static struct mmsghdr rm[MAXB];
  static struct iovec riov[MAXB];
  for (int i = 0; i < MAXB; i++) {
    riov[i].iov_base = rbuf[i];
    riov[i].iov_len = sizeof rbuf[i];
    memset(&rm[i], 0, sizeof rm[i]);
    rm[i].msg_hdr.msg_iov = &riov[i];
    rm[i].msg_hdr.msg_iovlen = 1;
  }

  long sent = 0, received = 0, lost = 0, errs = 0, stalls = 0, polls = 0;
  int flow = 0;
  double t0 = now(), tlast = t0, deadline = t0 + total_timeout;
  int timed_out = 0;

  long spins = 0;
  if (is_depth) {
    int qfd = open("/proc/self/net/netfilter/nfnetlink_queue", O_RDONLY);
    if (qfd < 0) { perror("open nfnetlink_queue"); return 1; }
    while (sent < count && !stop) {
      if (t0 + total_timeout < now()) { timed_out = 1; break; }
      long room = window - queue_depth(qfd);
      if (room <= 0) { spins++; sched_yield(); continue; }
      int n = count - sent < burst ? (int)(count - sent) : burst;
      if (n > room) n = (int)room;
      int r = sendmmsg(tx[flow], m, n, 0);
      flow = (flow + 1) % flows;
      if (r < 0) { errs++; if (errs > 1000000) break; continue; }
      sent += r;
    }
    close(qfd);
    tlast = now();
  } else if (!is_window) {
    while (sent < count && !stop) {
      int n = count - sent < burst ? (int)(count - sent) : burst;
      int r = sendmmsg(tx[flow], m, n, 0);
      flow = (flow + 1) % flows;
      if (r < 0) { errs++; if (errs > 1000000) break; continue; }
      sent += r;
    }
    tlast = now();
  } else {
    long drops_base = kernel_drops(), drops_seen = drops_base;
    double last_progress = t0;
    while (received + lost < count && !stop) {
      long inflight = sent - received - lost;
      long can = window - inflight;
      if (can > count - sent) can = count - sent;
      if (can > burst) can = burst;
      if (can > 0) {
        int r = sendmmsg(tx[flow], m, (int)can, 0);
        flow = (flow + 1) % flows;
        if (r < 0) { errs++; if (errs > 1000000) break; }
        else sent += r;
      }
      int got = recvmmsg(rx, rm, MAXB, MSG_DONTWAIT, NULL);
      if (got > 0) {
        received += got;
        last_progress = tlast = now();
        if (received + lost > sent) lost = sent - received;  // late arrivals
        if (lost < 0) lost = 0;
        continue;
      }
      if (can > 0) continue;
      // window full (or all sent): wait for the sink
      struct pollfd p = {.fd = rx, .events = POLLIN};
      polls++;
      int pr = poll(&p, 1, stall_ms);
      if (pr > 0) continue;
      double t = now();
      if (t > deadline) { timed_out = 1; break; }
      long d = kernel_drops();
      if (d > drops_seen) {
        long nd = d - drops_seen;
        drops_seen = d;
        lost += nd;
        if (lost > sent - received) lost = sent - received;
        stalls++;
        last_progress = t;
        continue;
      }
      if (t - last_progress > 10.0 * stall_ms / 1000.0) {
        lost = sent - received;  // give up on what is in flight
        stalls++;
        last_progress = t;
      }
    }
    // t1 is the time of the last packet received
  }
  double sec = tlast - t0;
  if (sec <= 0) sec = 1e-9;
  struct rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  printf("{\"cpu_user_s\":%.6f,\"cpu_sys_s\":%.6f,",
         ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6, ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6);
  printf("\"mode\":\"%s\",\"sent\":%ld,\"received\":%ld,\"lost\":%ld,\"send_errors\":%ld,"
         "\"stalls\":%ld,\"polls\":%ld,\"spins\":%ld,\"seconds\":%.6f,\"pps\":%.1f,\"window\":%ld,\"flows\":%d,"
         "\"burst\":%d,\"payload\":%d,\"timed_out\":%s,\"stopped\":%s}\n",
         mode, sent, received, lost, errs, stalls, polls, spins, sec,
         (is_window ? received : sent) / sec, is_window || is_depth ? window : 0, flows, burst, plen,
         timed_out ? "true" : "false", stop ? "true" : "false");
  return timed_out || stop ? 3 : 0;
}
