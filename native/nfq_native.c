// A raw AF_NETLINK socket for Node.js, built for receive-heavy protocols such as
// nfnetlink_queue. Only system calls: no libmnl, no libnetfilter_queue. All protocol
// code stays in TypeScript; this file moves bytes.
//
//  - receive: the socket's fd is polled by libuv; when readable, recvmmsg() reads up to
//    `batch` datagrams straight into the unused tail of a slab ArrayBuffer (256 KiB, like
//    Node's Buffer pool): one slot per datagram, `stride` bytes apart (the longest datagram
//    of the previous batch), each slot followed by an overflow part in a scratch area so
//    that any datagram up to msgSize fits. The space left after a datagram in its slot
//    becomes an NLMSG_NOOP message, so the batch is one valid stream of netlink messages,
//    handed to JS with ONE call as (slab, offset, length); equal datagrams (a flood) leave
//    no space and need no copy. A batch of mixed sizes (fillers over half of it) is moved
//    together in place instead, and one where a datagram outgrew its slot is copied back to
//    back (each padded to 4 bytes) after the slots. Delivered bytes are never overwritten: a full slab is replaced,
//    and lives on as long as JS views into it do; once V8 has collected it, its memory is
//    reused for a later slab (see slab_pool). Views stay valid; no allocation per batch.
//  - send: one sendto() per datagram (a datagram may carry many netlink messages), or
//    sendmmsg() for several datagrams at once; both synchronous (netlink sends to the
//    kernel never block: the kernel processes the messages inside the call).
//  - options set at open: NETLINK_NO_ENOBUFS, NETLINK_EXT_ACK, SO_RCVBUFFORCE.
//
// JS API (see src/netlink/native-transport.ts):
//   open(protocol, msgSize, batch, noEnobufs, extAck, rcvbuf[, netnsFd]) -> handle (external)
//   openInNetns(netnsFd, path) -> fd (read-only; the caller closes it)
//   portId(h) -> number
//   start(h, cb)   cb(slab: ArrayBuffer | undefined, offset, length, datagrams, errno, truncated)
//                  slab undefined: an error (errno); datagrams 1 then means the socket ended
//                  (polling stopped for good) and JS must end the transport
//   openWarnings(h) -> [{ option, errno }]: setsockopts that failed at open
//   send(h, u8) -> 0 or errno
//   sendMany(h, u8, lengths: Uint32Array, count) -> datagrams sent (>= 0) or -errno
//   setRcvbuf(h, bytes) -> 0, -errno (SO_RCVBUFFORCE refused, SO_RCVBUF used) or errno;
//                          bytes above 2^31-1: RangeError.  getRcvbuf(h) -> bytes
//   ref(h, bool);  stats(h, Float64Array(8));  close(h)
//   setReading(h, bool): pause (false) / resume (true) reading, for backpressure
//   simulatePollError(h, status): runs the poll error path, for tests
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <linux/netlink.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>
#include <uv.h>

#ifndef NETLINK_NO_ENOBUFS
#define NETLINK_NO_ENOBUFS 5
#endif
#ifndef NETLINK_EXT_ACK
#define NETLINK_EXT_ACK 11
#endif
#ifndef SOL_NETLINK
#define SOL_NETLINK 270
#endif

#define MAX_BATCH 256
#define MAX_SEND_BATCH 64
// recvmmsg rounds per readable event before yielding to the event loop.
#define MAX_ROUNDS 16
// Receive slab size; a batch larger than this gets a slab of its own.
#define SLAB_SIZE (256 * 1024)
// Idle slabs kept for reuse per socket (16 MiB at most).
#define POOL_MAX 64
// Receive slot stride in the slab: first guess, and the least (one netlink header).
#define INITIAL_STRIDE 256
#define MIN_STRIDE 16
#define ALIGN4(n) (((n) + 3) & ~(size_t)3)
#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

// Slabs are external ArrayBuffers over memory of this module. When V8 has collected one (no
// JS view into it is left), its memory goes back to the socket's pool and the next slab
// reuses it as it is: a fresh slab costs a zeroed page per 4 KiB (page faults, or calloc's
// memset: 4-8 % of the consumer's CPU with 1400-byte packets), a reused one nothing. New
// slabs come from mmap, so they hold zeros; a reused slab's not yet delivered tail holds
// bytes of earlier packets of the same socket, nothing else. Finalizers run on the JS
// thread of the socket's environment, like everything else here. The pool outlives the
// socket until the last of its slabs is collected.
typedef struct {
  unsigned refs;   // the socket, plus one per slab handed to JS
  int closed;      // the socket is gone: unmap slabs as they come back
  unsigned nfree;
  uint8_t *free[POOL_MAX];
} slab_pool;

static void pool_release(slab_pool *p) {
  if (--p->refs > 0) return;
  for (unsigned i = 0; i < p->nfree; i++) munmap(p->free[i], SLAB_SIZE);
  free(p);
}

static void pool_close(slab_pool *p) {
  if (p == NULL) return;
  p->closed = 1;
  for (unsigned i = 0; i < p->nfree; i++) munmap(p->free[i], SLAB_SIZE);
  p->nfree = 0;
  pool_release(p);
}

static void slab_finalize(napi_env env, void *data, void *hint) {
  slab_pool *p = (slab_pool *)hint;
  (void)env;
  if (!p->closed && p->nfree < POOL_MAX) p->free[p->nfree++] = (uint8_t *)data;
  else munmap(data, SLAB_SIZE);
  pool_release(p);
}

typedef struct {
  int fd;
  uint32_t port_id;
  size_t msg_size;
  unsigned batch;
  uint8_t *scratch;
  struct mmsghdr *msgs;
  struct iovec *iovs;
  uv_poll_t poll;
  int polling;        // uv_poll_start done
  int poll_inited;    // uv_poll_init done (needs uv_close)
  int closed;         // close() called
  int finalized;      // JS external collected
  int uv_closed;      // uv_close callback ran (or never needed)
  // Environment teardown (process exit, worker termination) waits on this async cleanup
  // hook until the poll handle's uv_close callback has run: the callback lives in this
  // module, which may be unloaded right after a worker's environment is gone.
  // Removed only once no uv_close is pending, just before the struct may be freed.
  napi_async_cleanup_hook_handle hook;
  int unref;          // keep the event loop alive? (applied at start too)
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  napi_ref slab;      // current slab ArrayBuffer (strong), NULL before the first batch
  slab_pool *pool;    // NULL when this Node refuses external ArrayBuffers
  uint8_t *slab_data;
  size_t slab_size, slab_off;
  size_t stride;      // receive slot size in the slab: the longest datagram of the last batch
  // stats: recv calls, datagrams received, bytes received, send calls, datagrams sent, rounds,
  // slabs made, slabs reused from the pool
  double st[8];
  // setsockopts that failed at open (option name, errno), reported to JS by openWarnings()
  const char *warn_opt[4];
  int warn_err[4];
  unsigned nwarn;
} nl_sock;

#define CHECK(call)                                                   \
  do {                                                                \
    if ((call) != napi_ok) {                                          \
      napi_throw_error(env, NULL, "nfq_native: N-API call failed: " #call); \
      return NULL;                                                    \
    }                                                                 \
  } while (0)

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value m, e, n, c;
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &m);
  napi_create_error(env, NULL, m, &e);
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_create_string_utf8(env, what, NAPI_AUTO_LENGTH, &c);
  napi_set_named_property(env, e, "syscall", c);
  napi_throw(env, e);
  return NULL;
}

static napi_value num(napi_env env, double v) {
  napi_value r;
  napi_create_double(env, v, &r);
  return r;
}

static void free_sock(nl_sock *s) {
  pool_close(s->pool);
  free(s->scratch);
  free(s->msgs);
  free(s->iovs);
  free(s);
}

static void release_hook(nl_sock *s) {
  if (s->hook != NULL) {
    napi_async_cleanup_hook_handle h = s->hook;
    s->hook = NULL;
    napi_remove_async_cleanup_hook(h);
  }
}

static void on_uv_closed(uv_handle_t *h) {
  nl_sock *s = (nl_sock *)h->data;
  s->uv_closed = 1;
  release_hook(s);  // lets an environment teardown go on
  if (s->finalized) free_sock(s);
}

// Stops polling, closes the fd and releases JS references. Safe to call twice.
static void do_close(nl_sock *s, napi_env env) {
  if (s->closed) return;
  s->closed = 1;
  if (s->polling) {
    uv_poll_stop(&s->poll);
    s->polling = 0;
  }
  if (s->poll_inited) {
    s->poll_inited = 0;
    uv_close((uv_handle_t *)&s->poll, on_uv_closed);
  } else {
    s->uv_closed = 1;
  }
  if (s->fd >= 0) {
    close(s->fd);
    s->fd = -1;
  }
  if (env != NULL) {
    if (s->cb != NULL) {
      napi_delete_reference(env, s->cb);
      s->cb = NULL;
    }
    if (s->actx != NULL) {
      napi_async_destroy(env, s->actx);
      s->actx = NULL;
    }
    if (s->slab != NULL) {
      napi_delete_reference(env, s->slab);
      s->slab = NULL;
    }
  }
}

static void cleanup_hook(napi_async_cleanup_hook_handle handle, void *arg) {
  nl_sock *s = (nl_sock *)arg;
  (void)handle;
  // The environment is going away (process exit or worker termination): close the socket,
  // and finish (remove the hook) only once libuv has let go of the poll handle.
  do_close(s, NULL);
  if (s->uv_closed) release_hook(s);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  nl_sock *s = (nl_sock *)data;
  do_close(s, env);
  s->finalized = 1;
  if (s->uv_closed) {
    release_hook(s);
    free_sock(s);
  }
}

static nl_sock *get_sock(napi_env env, napi_value v) {
  void *p = NULL;
  if (napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, NULL, "nfq_native: bad socket handle");
    return NULL;
  }
  return (nl_sock *)p;
}

// Calls the JS callback with (slab|undefined, offset, length, datagrams, errno, truncated).
// Returns 0 when the callback threw (the exception is reported as uncaught).
static int call_js(nl_sock *s, napi_value buf, size_t off, size_t len, unsigned count, int err, unsigned truncated) {
  napi_env env = s->env;
  napi_value cb, recv, argv[6], result;
  if (s->cb == NULL || napi_get_reference_value(env, s->cb, &cb) != napi_ok || cb == NULL) return 0;
  recv = cb;  // napi_make_callback needs an object receiver; the function itself will do
  if (buf == NULL) napi_get_undefined(env, &argv[0]);
  else argv[0] = buf;
  napi_create_double(env, (double)off, &argv[1]);
  napi_create_double(env, (double)len, &argv[2]);
  napi_create_uint32(env, count, &argv[3]);
  napi_create_int32(env, err, &argv[4]);
  napi_create_uint32(env, truncated, &argv[5]);
  napi_status st = napi_make_callback(env, s->actx, recv, cb, 6, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
    return 0;
  }
  return 1;
}

// A new slab of `size` bytes: from the pool when it is SLAB_SIZE, else a plain ArrayBuffer.
static int new_slab(nl_sock *s, size_t size, void **data, napi_value *ab) {
  slab_pool *p = s->pool;
  s->st[6] += 1;
  if (p != NULL && size == SLAB_SIZE) {
    uint8_t *mem = p->nfree > 0 ? p->free[--p->nfree] : NULL;
    if (mem != NULL) s->st[7] += 1;
    else {
      void *m = mmap(NULL, SLAB_SIZE, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      mem = m == MAP_FAILED ? NULL : (uint8_t *)m;
    }
    if (mem != NULL) {
      napi_status st = napi_create_external_arraybuffer(s->env, mem, SLAB_SIZE, slab_finalize, p, ab);
      if (st == napi_ok) {
        p->refs++;
        *data = mem;
        return 1;
      }
      munmap(mem, SLAB_SIZE);
      if (st == napi_pending_exception) {
        napi_value exc;
        napi_get_and_clear_last_exception(s->env, &exc);
      }
      // This Node may refuse external ArrayBuffers (V8 sandbox): plain ones from now on.
      pool_close(p);
      s->pool = NULL;
    }
  }
  return napi_create_arraybuffer(s->env, size, data, ab) == napi_ok;
}

// Makes `ab` (`size` bytes at `data`) the current slab, releasing the previous one to V8.
static void set_slab(nl_sock *s, napi_value ab, void *data, size_t size) {
  if (s->slab != NULL) napi_delete_reference(s->env, s->slab);
  s->slab = NULL;
  napi_create_reference(s->env, ab, 1, &s->slab);
  s->slab_data = (uint8_t *)data;
  s->slab_size = size;
  s->slab_off = 0;
}

static void on_readable(uv_poll_t *h, int status, int events) {
  nl_sock *s = (nl_sock *)h->data;
  (void)events;
  if (s->closed) return;
  napi_env env = s->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  if (status < 0) {
    // libuv stops a poll handle on POLLERR. On a netlink socket that is its pending error:
    // ENOBUFS after a receive-buffer overrun when NETLINK_NO_ENOBUFS is off. Read it (that
    // clears it), report it, and poll again, so the queue is still served afterwards.
    // Without a pending error (or when polling cannot restart) the socket would go deaf:
    // report the error as the end of the socket (datagrams = 1), and JS ends the transport.
    int soerr = 0;
    socklen_t len = sizeof soerr;
    int have = getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0;
    int restarted = have && uv_poll_start(&s->poll, UV_READABLE, on_readable) == 0;
    if (!restarted) {
      uv_poll_stop(&s->poll);
      s->polling = 0;
    }
    if (!call_js(s, NULL, 0, 0, restarted ? 0 : 1, have ? soerr : -status, 0) || s->closed || !restarted) {
      napi_close_handle_scope(env, scope);
      return;
    }
  }
  // s->polling turns 0 when JS pauses reading from inside call_js (backpressure): stop there.
  for (int round = 0; round < MAX_ROUNDS && !s->closed && s->polling; round++) {
    // Slots of `stride` bytes in the slab's unused tail, each followed by an overflow part in
    // the scratch area (so a slot still takes any datagram up to msg_size).
    size_t stride = s->stride;
    size_t slab_bytes = stride > SLAB_SIZE ? stride : SLAB_SIZE;
    unsigned want = s->batch;
    if (slab_bytes / stride < want) want = (unsigned)(slab_bytes / stride);
    size_t room = s->slab == NULL ? 0 : (s->slab_size - s->slab_off) / stride;
    unsigned slots = room < want ? (unsigned)room : want;
    if (slots < (want + 1) / 2) {
      // Less than half a batch fits: a new slab (the old tail was never delivered).
      void *data = NULL;
      napi_value fresh;
      if (!new_slab(s, slab_bytes, &data, &fresh)) {
        call_js(s, NULL, 0, 0, 0, ENOMEM, 0);
        break;
      }
      set_slab(s, fresh, data, slab_bytes);
      slots = want;
    }
    uint8_t *base = s->slab_data + s->slab_off;
    for (unsigned i = 0; i < slots; i++) {
      struct iovec *iov = &s->iovs[2 * i];
      iov[0].iov_base = base + (size_t)i * stride;
      iov[0].iov_len = stride;
      iov[1].iov_base = s->scratch + (size_t)i * s->msg_size;
      iov[1].iov_len = s->msg_size - stride;
      s->msgs[i].msg_hdr.msg_iov = iov;
      s->msgs[i].msg_hdr.msg_iovlen = stride < s->msg_size ? 2 : 1;
      s->msgs[i].msg_hdr.msg_flags = 0;
      s->msgs[i].msg_len = 0;
    }
    int n = recvmmsg(s->fd, s->msgs, slots, MSG_DONTWAIT, NULL);
    s->st[0] += 1;
    s->st[5] += 1;
    if (n < 0) {
      int e = errno;
      if (e == EAGAIN || e == EWOULDBLOCK) break;
      if (e == EINTR) continue;
      // ENOBUFS (overrun, only without NETLINK_NO_ENOBUFS) and others: report, keep going.
      if (!call_js(s, NULL, 0, 0, 0, e, 0)) break;
      if (e == ENOBUFS) continue;
      break;
    }
    if (n == 0) break;
    unsigned truncated = 0;
    size_t longest = 0, used = 0;
    int overflow = 0;   // a datagram outgrew its slot (part of it is in the scratch area)
    int tight_gap = 0;  // a gap too short for a filler's header
    for (int i = 0; i < n; i++) {
      size_t len = s->msgs[i].msg_len;
      if (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
        truncated++;
        if (len > s->msg_size) len = s->msg_size;
        s->msgs[i].msg_len = (unsigned)len;
      }
      if (len > longest) longest = len;
      used += ALIGN4(len);
      if (len > stride) overflow = 1;
      else if (stride - ALIGN4(len) != 0 && stride - ALIGN4(len) < (size_t)NLMSG_HDRLEN && i < n - 1) tight_gap = 1;
    }
    size_t at, total;
    size_t span = (size_t)(n - 1) * stride + ALIGN4(s->msgs[n - 1].msg_len);
    if (!overflow && !tight_gap && span <= 2 * used) {
      // The datagrams stay where the kernel wrote them; the space after each (but the last)
      // becomes an NLMSG_NOOP message, which every netlink reader skips: one valid stream.
      at = s->slab_off;
      for (int i = 0; i < n; i++) {
        size_t len = s->msgs[i].msg_len;
        uint8_t *slot = base + (size_t)i * stride;
        if (ALIGN4(len) != len) memset(slot + len, 0, ALIGN4(len) - len);
        size_t gap = stride - ALIGN4(len);
        if (gap != 0 && i < n - 1) {
          struct nlmsghdr filler = {(uint32_t)gap, NLMSG_NOOP, 0, 0, 0};
          memcpy(slot + ALIGN4(len), &filler, sizeof filler);
        }
      }
      total = span;
    } else if (!overflow) {
      // Mixed sizes (fillers would take more than half the slab) or a gap without room for a
      // filler: moved together towards the first slot. Each datagram moves down, never up,
      // and only within this batch's slots, the slab's unused tail.
      at = s->slab_off;
      uint8_t *out = base;
      for (int i = 0; i < n; i++) {
        size_t len = s->msgs[i].msg_len;
        uint8_t *slot = base + (size_t)i * stride;
        if (out != slot) memmove(out, slot, len);
        if (ALIGN4(len) != len) memset(out + len, 0, ALIGN4(len) - len);
        out += ALIGN4(len);
      }
      total = used;
    } else {
      // Copied back to back after the slots (or into a new slab), from each slot and its
      // overflow part. Nothing delivered is touched: all of this is the slab's unused tail.
      total = used;
      at = ALIGN8(s->slab_off + (size_t)n * stride);
      napi_value fresh = NULL;
      uint8_t *dst_slab = s->slab_data;
      size_t fresh_size = 0;
      if (at > s->slab_size || total > s->slab_size - at) {
        fresh_size = total > SLAB_SIZE ? total : SLAB_SIZE;
        void *data = NULL;
        if (!new_slab(s, fresh_size, &data, &fresh)) {
          call_js(s, NULL, 0, 0, 0, ENOMEM, 0);
          break;
        }
        dst_slab = (uint8_t *)data;
        at = 0;
      }
      uint8_t *out = dst_slab + at;
      for (int i = 0; i < n; i++) {
        size_t len = s->msgs[i].msg_len;
        size_t head = len < stride ? len : stride;
        memcpy(out, base + (size_t)i * stride, head);
        if (len > head) memcpy(out + head, s->scratch + (size_t)i * s->msg_size, len - head);
        if (ALIGN4(len) != len) memset(out + len, 0, ALIGN4(len) - len);
        out += ALIGN4(len);
      }
      // The old slab stays referenced until its bytes are copied.
      if (fresh != NULL) set_slab(s, fresh, dst_slab, fresh_size);
    }
    // The next slots fit the longest datagram of this batch: a flood of equal packets then
    // needs neither copy nor filler.
    size_t next = ALIGN4(longest);
    s->stride = next < MIN_STRIDE ? MIN_STRIDE : next > s->msg_size ? s->msg_size : next;
    size_t end = ALIGN8(at + total);
    s->slab_off = end > s->slab_size ? s->slab_size : end;
    s->st[1] += n;
    s->st[2] += (double)total;
    napi_value ab;
    if (napi_get_reference_value(env, s->slab, &ab) != napi_ok || ab == NULL) break;
    if (!call_js(s, ab, at, total, (unsigned)n, 0, truncated)) break;
    if ((unsigned)n < slots) break;  // drained; the poll tells us when more arrives
  }
  napi_close_handle_scope(env, scope);
}

// ------------------------------------------------------------------ network namespaces
// A socket belongs to the network namespace its creator was in when socket() ran; a file
// under /proc/<tid>/net keeps showing the namespace it was opened in. So to serve a queue
// of another namespace, the calling thread enters it (setns) just for socket() or open(),
// then returns: the process and its other sockets stay where they are.

// Enters the network namespace `ns_fd` on this thread. Returns an fd of the namespace the
// thread came from (for leave_netns), or -1 with errno set and *step naming the failed call.
static int enter_netns(int ns_fd, const char **step) {
  int home = open("/proc/thread-self/ns/net", O_RDONLY | O_CLOEXEC);
  if (home < 0) {
    *step = "open /proc/thread-self/ns/net";
    return -1;
  }
  if (setns(ns_fd, CLONE_NEWNET) < 0) {
    int e = errno;
    close(home);
    errno = e;
    *step = "setns";
    return -1;
  }
  return home;
}

// Returns this thread to the namespace enter_netns() left; errno is preserved. Staying in
// the wrong namespace would silently give every later socket of this thread to it: abort.
static void leave_netns(int home) {
  int e = errno;
  if (setns(home, CLONE_NEWNET) < 0) {
    char msg[160];
    snprintf(msg, sizeof msg, "cannot return the thread to its own network namespace (setns: %s); aborting rather than run in the wrong one", strerror(errno));
    napi_fatal_error("nfq_native", NAPI_AUTO_LENGTH, msg, NAPI_AUTO_LENGTH);
  }
  close(home);
  errno = e;
}

// socket() inside the network namespace `ns_fd` (when >= 0, else here). -1 with errno set
// and *step naming the failed call.
static int socket_in_netns(int ns_fd, int protocol, const char **step) {
  *step = "socket";
  if (ns_fd < 0) return socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  int home = enter_netns(ns_fd, step);
  if (home < 0) return -1;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, protocol);
  leave_netns(home);
  return fd;
}

// openInNetns(netnsFd, path) -> fd: opens `path` read-only inside the namespace, e.g.
// /proc/thread-self/net/... to read that namespace's tables later through the fd.
static napi_value js_open_in_netns(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t ns_fd = -1;
  char path[4096];
  size_t plen = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[0], &ns_fd) != napi_ok || ns_fd < 0 ||
      napi_get_value_string_utf8(env, argv[1], path, sizeof path, &plen) != napi_ok || plen == 0 || plen >= sizeof path - 1) {
    napi_throw_type_error(env, NULL, "nfq_native.openInNetns(netnsFd, path)");
    return NULL;
  }
  const char *step = "open";
  int home = enter_netns(ns_fd, &step);
  if (home < 0) return throw_errno(env, step, errno);
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  leave_netns(home);
  if (fd < 0) return throw_errno(env, "open", errno);
  return num(env, fd);
}

static int get_u32_arg(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  size_t argc = 7;
  napi_value argv[7];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  int32_t ns_fd = -1;  // optional 7th argument: open the socket in this network namespace
  if (argc >= 7 && napi_get_value_int32(env, argv[6], &ns_fd) != napi_ok) ns_fd = -1;
  uint32_t protocol = 0, msg_size = 0, batch = 0, no_enobufs = 0, ext_ack = 0, rcvbuf = 0;
  if (argc < 6 || !get_u32_arg(env, argv[0], &protocol) || !get_u32_arg(env, argv[1], &msg_size) ||
      !get_u32_arg(env, argv[2], &batch) || !get_u32_arg(env, argv[3], &no_enobufs) ||
      !get_u32_arg(env, argv[4], &ext_ack) || !get_u32_arg(env, argv[5], &rcvbuf)) {
    napi_throw_type_error(env, NULL, "nfq_native.open(protocol, msgSize, batch, noEnobufs, extAck, rcvbuf)");
    return NULL;
  }
  if (msg_size < 64) msg_size = 64;
  if (msg_size > (1u << 20)) msg_size = 1u << 20;
  msg_size = (msg_size + 7) & ~7u;
  if (batch < 1) batch = 1;
  if (batch > MAX_BATCH) batch = MAX_BATCH;

  const char *step;
  int fd = socket_in_netns(ns_fd, (int)protocol, &step);
  if (fd < 0) return throw_errno(env, step, errno);
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  socklen_t sl = sizeof sa;
  if (getsockname(fd, (struct sockaddr *)&sa, &sl) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "getsockname", e);
  }
  if (rcvbuf > INT32_MAX) {
    close(fd);
    napi_throw_range_error(env, NULL, "nfq_native.open: receive buffer size above 2^31-1");
    return NULL;
  }
  // Failed options are not fatal (older kernels lack some): kept and reported to JS.
  const char *warn_opt[4];
  int warn_err[4];
  unsigned nwarn = 0;
#define TRY_SOCKOPT(level, opt, val)                                     \
  (setsockopt(fd, level, opt, &(val), sizeof(val)) == 0 ? 1             \
   : (warn_opt[nwarn] = #opt, warn_err[nwarn++] = errno, 0))
  int one = 1;
  if (no_enobufs) TRY_SOCKOPT(SOL_NETLINK, NETLINK_NO_ENOBUFS, one);
  if (ext_ack) TRY_SOCKOPT(SOL_NETLINK, NETLINK_EXT_ACK, one);
  if (rcvbuf > 0) {
    int v = (int)rcvbuf;
    if (!TRY_SOCKOPT(SOL_SOCKET, SO_RCVBUFFORCE, v)) TRY_SOCKOPT(SOL_SOCKET, SO_RCVBUF, v);
  }
#undef TRY_SOCKOPT

  nl_sock *s = (nl_sock *)calloc(1, sizeof *s);
  if (s == NULL) {
    close(fd);
    return throw_errno(env, "calloc", ENOMEM);
  }
  s->fd = fd;
  s->port_id = sa.nl_pid;
  for (unsigned i = 0; i < nwarn; i++) {
    s->warn_opt[i] = warn_opt[i];
    s->warn_err[i] = warn_err[i];
  }
  s->nwarn = nwarn;
  s->msg_size = msg_size;
  s->batch = batch;
  s->env = env;
  s->uv_closed = 1;
  s->pool = (slab_pool *)calloc(1, sizeof *s->pool);
  if (s->pool != NULL) s->pool->refs = 1;
  // Scratch pages are touched only as far as datagrams reach: resident memory follows the
  // actual datagram sizes, not batch x msgSize.
  s->scratch = (uint8_t *)malloc((size_t)batch * msg_size);
  s->msgs = (struct mmsghdr *)calloc(batch, sizeof *s->msgs);
  s->iovs = (struct iovec *)calloc(2 * (size_t)batch, sizeof *s->iovs);
  if (s->scratch == NULL || s->msgs == NULL || s->iovs == NULL) {
    close(fd);
    free_sock(s);
    return throw_errno(env, "malloc", ENOMEM);
  }
  s->stride = INITIAL_STRIDE < msg_size ? INITIAL_STRIDE : msg_size;
  napi_value ext;
  if (napi_create_external(env, s, finalize, NULL, &ext) != napi_ok) {
    close(fd);
    free_sock(s);
    napi_throw_error(env, NULL, "nfq_native: napi_create_external failed");
    return NULL;
  }
  if (napi_add_async_cleanup_hook(env, cleanup_hook, s, &s->hook) != napi_ok) s->hook = NULL;
  return ext;
}

static napi_value js_port_id(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  return num(env, s->port_id);
}

static napi_value js_start(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->closed) return throw_errno(env, "start", EBADF);
  if (s->cb != NULL) {
    napi_throw_error(env, NULL, "nfq_native: already started");
    return NULL;
  }
  CHECK(napi_create_reference(env, argv[1], 1, &s->cb));
  napi_value name;
  CHECK(napi_create_string_utf8(env, "NetlinkReceive", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_async_init(env, NULL, name, &s->actx));
  uv_loop_t *loop = NULL;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = uv_poll_init(loop, &s->poll, s->fd);
  if (r != 0) return throw_errno(env, "uv_poll_init", -r);
  s->poll.data = s;
  s->poll_inited = 1;
  s->uv_closed = 0;
  r = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (r != 0) return throw_errno(env, "uv_poll_start", -r);
  s->polling = 1;
  if (s->unref) uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  void *data;
  size_t len;
  napi_typedarray_type t;
  napi_value ab;
  size_t boff;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &boff) != napi_ok || t != napi_uint8_array) {
    napi_throw_type_error(env, NULL, "nfq_native.send: expected a Uint8Array");
    return NULL;
  }
  if (s->fd < 0) return num(env, EBADF);
  struct sockaddr_nl to;
  memset(&to, 0, sizeof to);
  to.nl_family = AF_NETLINK;
  ssize_t r;
  do {
    r = sendto(s->fd, data, len, 0, (struct sockaddr *)&to, sizeof to);
  } while (r < 0 && errno == EINTR);
  s->st[3] += 1;
  if (r < 0) return num(env, errno);
  s->st[4] += 1;
  return num(env, 0);
}

static napi_value js_send_many(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  void *data, *lens_data;
  size_t len, nlens, boff;
  napi_typedarray_type t;
  napi_value ab;
  uint32_t count = 0;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &boff) != napi_ok || t != napi_uint8_array ||
      napi_get_typedarray_info(env, argv[2], &t, &nlens, &lens_data, &ab, &boff) != napi_ok || t != napi_uint32_array ||
      !get_u32_arg(env, argv[3], &count) || count > nlens) {
    napi_throw_type_error(env, NULL, "nfq_native.sendMany(h, bytes: Uint8Array, lengths: Uint32Array, count)");
    return NULL;
  }
  if (s->fd < 0) return num(env, -EBADF);
  const uint32_t *lens = (const uint32_t *)lens_data;
  struct sockaddr_nl to;
  memset(&to, 0, sizeof to);
  to.nl_family = AF_NETLINK;
  struct mmsghdr mm[MAX_SEND_BATCH];
  struct iovec iov[MAX_SEND_BATCH];
  size_t off = 0;
  uint32_t done = 0;
  while (done < count) {
    unsigned k = 0;
    size_t o = off;
    while (k < MAX_SEND_BATCH && done + k < count) {
      uint32_t l = lens[done + k];
      if (o + l > len) {
        napi_throw_range_error(env, NULL, "nfq_native.sendMany: lengths exceed the bytes");
        return NULL;
      }
      memset(&mm[k], 0, sizeof mm[k]);
      iov[k].iov_base = (uint8_t *)data + o;
      iov[k].iov_len = l;
      mm[k].msg_hdr.msg_iov = &iov[k];
      mm[k].msg_hdr.msg_iovlen = 1;
      mm[k].msg_hdr.msg_name = &to;
      mm[k].msg_hdr.msg_namelen = sizeof to;
      o += l;
      k++;
    }
    int r;
    do {
      r = sendmmsg(s->fd, mm, k, 0);
    } while (r < 0 && errno == EINTR);
    s->st[3] += 1;
    if (r < 0) return num(env, done > 0 ? (double)done : -(double)errno);
    s->st[4] += r;
    for (int i = 0; i < r; i++) off += lens[done + i];
    done += (uint32_t)r;
    if ((unsigned)r < k) break;
  }
  return num(env, done);
}

static napi_value js_set_rcvbuf(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  uint32_t v = 0;
  if (!get_u32_arg(env, argv[1], &v)) {
    napi_throw_type_error(env, NULL, "nfq_native.setRcvbuf: expected a byte count");
    return NULL;
  }
  if (v > INT32_MAX) {
    napi_throw_range_error(env, NULL, "nfq_native.setRcvbuf: receive buffer size above 2^31-1");
    return NULL;
  }
  if (s->fd < 0) return num(env, EBADF);
  int iv = (int)v;
  if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUFFORCE, &iv, sizeof iv) == 0) return num(env, 0);
  int force_err = errno;
  if (setsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &iv, sizeof iv) == 0) return num(env, -force_err);
  return num(env, errno);
}

static napi_value js_get_rcvbuf(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  if (s->fd < 0) return num(env, -1);
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, &l) < 0) return num(env, -1);
  return num(env, v);
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  s->unref = !on;
  if (s->poll_inited) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  }
  return NULL;
}

// Pauses (false) or resumes (true) reading: while paused the poll handle is stopped, so
// packets stay in the kernel's queue (backpressure). A no-op before start() and after close().
static napi_value js_set_reading(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  if (s->closed || !s->poll_inited || (on ? s->polling : !s->polling)) return NULL;
  if (on) {
    int r = uv_poll_start(&s->poll, UV_READABLE, on_readable);
    if (r != 0) return throw_errno(env, "uv_poll_start", -r);
    s->polling = 1;
  } else {
    uv_poll_stop(&s->poll);
    s->polling = 0;
  }
  return NULL;
}

static napi_value js_stats(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  void *data;
  size_t len, boff;
  napi_typedarray_type t;
  napi_value ab;
  if (napi_get_typedarray_info(env, argv[1], &t, &len, &data, &ab, &boff) != napi_ok || t != napi_float64_array || len < 6) {
    napi_throw_type_error(env, NULL, "nfq_native.stats: expected a Float64Array(6 or 8)");
    return NULL;
  }
  memcpy(data, s->st, (len < 8 ? len : 8) * sizeof(double));
  return NULL;
}

static napi_value js_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  do_close(s, env);
  return NULL;
}

static napi_value js_open_warnings(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  napi_value arr;
  CHECK(napi_create_array_with_length(env, s->nwarn, &arr));
  for (unsigned i = 0; i < s->nwarn; i++) {
    napi_value o, opt, err;
    CHECK(napi_create_object(env, &o));
    CHECK(napi_create_string_utf8(env, s->warn_opt[i], NAPI_AUTO_LENGTH, &opt));
    CHECK(napi_create_int32(env, s->warn_err[i], &err));
    CHECK(napi_set_named_property(env, o, "option", opt));
    CHECK(napi_set_named_property(env, o, "errno", err));
    CHECK(napi_set_element(env, arr, i, o));
  }
  return arr;
}

static napi_value js_simulate_poll_error(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL));
  nl_sock *s = get_sock(env, argv[0]);
  if (s == NULL) return NULL;
  int32_t status = 0;
  if (argc < 2 || napi_get_value_int32(env, argv[1], &status) != napi_ok || status >= 0) {
    napi_throw_type_error(env, NULL, "nfq_native.simulatePollError(h, status < 0)");
    return NULL;
  }
  if (!s->poll_inited || s->closed) return throw_errno(env, "simulatePollError", EBADF);
  on_readable(&s->poll, status, 0);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"open", NULL, js_open, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openInNetns", NULL, js_open_in_netns, NULL, NULL, NULL, napi_enumerable, NULL},
      {"portId", NULL, js_port_id, NULL, NULL, NULL, napi_enumerable, NULL},
      {"start", NULL, js_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"send", NULL, js_send, NULL, NULL, NULL, napi_enumerable, NULL},
      {"sendMany", NULL, js_send_many, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setRcvbuf", NULL, js_set_rcvbuf, NULL, NULL, NULL, napi_enumerable, NULL},
      {"getRcvbuf", NULL, js_get_rcvbuf, NULL, NULL, NULL, napi_enumerable, NULL},
      {"ref", NULL, js_ref, NULL, NULL, NULL, napi_enumerable, NULL},
      {"stats", NULL, js_stats, NULL, NULL, NULL, napi_enumerable, NULL},
      {"setReading", NULL, js_set_reading, NULL, NULL, NULL, napi_enumerable, NULL},
      {"close", NULL, js_close, NULL, NULL, NULL, napi_enumerable, NULL},
      {"openWarnings", NULL, js_open_warnings, NULL, NULL, NULL, napi_enumerable, NULL},
      {"simulatePollError", NULL, js_simulate_poll_error, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
