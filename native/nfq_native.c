// A raw AF_NETLINK socket for Node.js, built for receive-heavy protocols such as
// nfnetlink_queue. Only system calls: no libmnl, no libnetfilter_queue. All protocol
// code stays in TypeScript; this file moves bytes.
//
//  - receive: recvmmsg() reads up to `batch` datagrams straight into the unused tail of a
//    slab ArrayBuffer (256 KiB, like Node's Buffer pool): one slot per datagram, `stride`
//    bytes apart (the longest datagram of the previous batch), each slot followed by an
//    overflow part in a scratch area so that any datagram up to msgSize fits. The batch
//    becomes one valid stream of netlink messages (batch_layout.h: NLMSG_NOOP fillers in
//    the gaps, or moved together, or copied back to back), handed to JS with ONE call as
//    (slab, offset, length). Delivered bytes are never overwritten: a full slab is
//    replaced, and lives on as long as JS views into it do; once V8 has collected it, its
//    memory is reused for a later slab (see slab_pool). No allocation per batch.
//    Two ways to learn that the socket is readable:
//     * uv (Node): libuv polls the fd on the JS thread (uv_poll), and each readable event
//       reads up to MAX_ROUNDS batches. The fastest: no thread, no hand-over.
//     * thread (runtimes without libuv, such as Bun): a receive thread per socket blocks in
//       poll() and recvmmsg(), and hands each batch to JS over a thread-safe function. The
//       thread holds one credit at a time: it receives one batch into slots the JS thread
//       prepared, hands it over, and waits until JS returns the credit (after delivering the
//       batch, and only while reading is on). So the slab is written by one thread at a
//       time, and backpressure leaves packets in the kernel. close() wakes it (eventfd) and
//       joins it.
//  - send: one sendto() per datagram (a datagram may carry many netlink messages), or
//    sendmmsg() for several datagrams at once; both synchronous (netlink sends to the
//    kernel never block: the kernel processes the messages inside the call).
//  - options set at open: NETLINK_NO_ENOBUFS, NETLINK_EXT_ACK, SO_RCVBUFFORCE.
//
// JS API (see src/netlink/native-transport.ts):
//   open(protocol, msgSize, batch, noEnobufs, extAck, rcvbuf[, netnsFd]) -> handle (external)
//   openInNetns(netnsFd, path) -> fd (read-only; the caller closes it)
//   portId(h) -> number
//   start(h, cb, threaded)
//                  cb(slab: ArrayBuffer | undefined, offset, length, datagrams, errno, truncated)
//                  slab undefined: an error (errno); datagrams then says what happened to
//                  reading: 0 it goes on, 1 the socket ended (reading stopped for good; JS
//                  must end the transport), 2 reading paused (no memory for a slab; JS
//                  resumes it with setReading(h, true) later)
//   openWarnings(h) -> [{ option, errno }]: setsockopts that failed at open
//   send(h, u8) -> 0 or errno
//   sendMany(h, u8, lengths: Uint32Array, count) -> count (all sent), or { sent, errno }
//   setRcvbuf(h, bytes) -> 0, -errno (SO_RCVBUFFORCE refused, SO_RCVBUF used) or errno;
//                          bytes above 2^31-1: RangeError.  getRcvbuf(h) -> bytes (throws)
//   ref(h, bool);  stats(h, Float64Array(8));  close(h)
//   setReading(h, bool): pause (false) / resume (true) reading, for backpressure
//   simulatePollError(h, status): runs the poll error path, for tests
//   injectFault(h, name, on): makes one step fail, for tests ('async_init', 'poll_init',
//                  'thread', 'slab')
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdio.h>
#include <linux/netlink.h>
#include <node_api.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <uv.h>
#include "batch_layout.h"

// glibc 2.34 moved the pthread functions into libc.so.6 under a new symbol version; bind
// the old ones (kept there for compatibility) so the glibc builds still load on glibc 2.17.
#if defined(__GLIBC__) && defined(__GLIBC_PREREQ)
#if __GLIBC_PREREQ(2, 34)
#if defined(__x86_64__)
#define NFQ_PTHREAD_VERSION "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define NFQ_PTHREAD_VERSION "GLIBC_2.17"
#elif defined(__arm__)
#define NFQ_PTHREAD_VERSION "GLIBC_2.4"
#endif
#ifdef NFQ_PTHREAD_VERSION
__asm__(".symver pthread_create,pthread_create@" NFQ_PTHREAD_VERSION);
__asm__(".symver pthread_join,pthread_join@" NFQ_PTHREAD_VERSION);
#endif
#endif
#endif

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
#define ALIGN8(n) (((n) + 7) & ~(size_t)7)

// What reading does after an error reported to JS (the `datagrams` argument).
#define READING_GOES_ON 0
#define READING_ENDED 1
#define READING_PAUSED 2

// Steps a test can make fail (injectFault).
#define FAULT_ASYNC_INIT 1
#define FAULT_POLL_INIT 2
#define FAULT_THREAD 4
#define FAULT_SLAB 8

// Slabs are external ArrayBuffers over memory of this module. When V8 has collected one (no
// JS view into it is left), its memory goes back to the socket's pool and the next slab
// reuses it as it is: a fresh slab costs a zeroed page per 4 KiB (page faults, or calloc's
// memset: 4-8 % of the consumer's CPU with 1400-byte packets), a reused one nothing. New
// slabs come from mmap, so they hold zeros; a reused slab's not yet delivered tail holds
// bytes of earlier packets of the same socket, nothing else. The pool is used only on the
// JS thread of the socket's environment (finalizers run there too; the receive thread never
// takes a slab). The pool outlives the socket until the last of its slabs is collected.
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

// One received batch on its way to JS: a stream at `at` of the current slab (or of `fresh`),
// or an error.
typedef struct {
  unsigned count;      // datagrams (0: an error)
  int err;             // errno of the error
  int ended;           // the error ended reading (READING_ENDED)
  unsigned truncated;  // datagrams cut to msg_size
  size_t at, total;    // the stream
  napi_value fresh;    // uv mode: a new slab the stream was copied to
  uint8_t *fresh_data;
  size_t fresh_size;
  uint8_t *spill;      // thread mode: the stream in malloc'd memory, for the JS thread to wrap
} recv_batch;

enum recv_mode { RECV_NONE, RECV_UV, RECV_THREAD };

typedef struct {
  int fd;
  uint32_t port_id;
  size_t msg_size;
  unsigned batch;
  uint8_t *scratch;
  struct mmsghdr *msgs;
  struct iovec *iovs;
  uint32_t lens[MAX_BATCH];
  enum recv_mode mode;
  // uv mode
  uv_poll_t poll;
  int polling;        // uv_poll_start done
  int poll_inited;    // uv_poll_init done (needs uv_close)
  // thread mode; `reading`, `credit`, `held` and `thread_ended` belong to the JS thread
  pthread_t thread;
  int thread_started;
  int stop_fd;        // eventfd: close() wakes the thread
  int credit_fd;      // eventfd: the JS thread hands the thread its credit (one batch)
  napi_threadsafe_function tsfn;
  int reading;        // JS wants batches (setReading)
  int credit;         // a credit is out: the thread is receiving, or its batch is on its way
  int held;           // a batch arrived while reading was paused: delivered on resume
  int thread_ended;   // the thread reported the end of the socket
  unsigned slots;     // slots the JS thread prepared for the thread's next batch
  recv_batch pending; // the thread's batch, read by the JS thread once handed over
  int cleanup_hook;   // napi_add_env_cleanup_hook(stop_thread) done
  int closed;         // close() called
  int finalized;      // JS external collected
  // The uv poll handle or the thread-safe function is gone (or never was): until then the
  // struct must live (libuv / Node-API still call into it).
  int loop_released;
  // Environment teardown (process exit, worker termination) waits on this async cleanup
  // hook until the loop has let go of the struct (uv_close callback, tsfn finalizer): the
  // callback lives in this module, which may be unloaded right after a worker's environment
  // is gone. Removed only once nothing is pending, just before the struct may be freed.
  napi_async_cleanup_hook_handle hook;
  int unref;          // keep the event loop alive? (applied at start too)
  int faults;         // FAULT_* bits (injectFault)
  napi_env env;
  napi_ref cb;
  napi_async_context actx;
  napi_ref slab;      // current slab ArrayBuffer (strong), NULL before the first batch
  slab_pool *pool;    // NULL when this runtime refuses external ArrayBuffers
  uint8_t *slab_data;
  size_t slab_size, slab_off;
  size_t stride;      // receive slot size in the slab: the longest datagram of the last batch
  // stats: recv calls, datagrams received, bytes received, send calls, datagrams sent, rounds,
  // slabs made, slabs reused from the pool (written by the receive thread in thread mode:
  // counters, read without a lock)
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

// The prologue of every JS function: up to `n` arguments in argv (missing ones undefined).
#define ARGS(n)          \
  size_t argc = (n);     \
  napi_value argv[(n)];  \
  CHECK(napi_get_cb_info(env, info, &argc, argv, NULL, NULL))
// ... and the socket handle in argv[0] as `s`.
#define SOCK_ARGS(n)                                \
  ARGS(n);                                          \
  nl_sock *s = get_sock(env, argc > 0 ? argv[0] : NULL); \
  if (s == NULL) return NULL

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
  free(s->pending.spill);
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

// The uv handle or the thread-safe function is gone: the struct may go once JS's is too.
static void loop_released(nl_sock *s) {
  s->loop_released = 1;
  release_hook(s);  // lets an environment teardown go on
  if (s->finalized) free_sock(s);
}

static void on_uv_closed(uv_handle_t *h) {
  loop_released((nl_sock *)h->data);
}

static void on_tsfn_finalized(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  loop_released((nl_sock *)data);
}

// Wakes the receive thread for good and waits for it. Any thread but the receive thread.
static void stop_thread(void *arg) {
  nl_sock *s = (nl_sock *)arg;
  if (!s->thread_started) return;
  s->thread_started = 0;
  uint64_t one = 1;
  ssize_t w;
  do w = write(s->stop_fd, &one, sizeof one);
  while (w < 0 && errno == EINTR);
  pthread_join(s->thread, NULL);
}

static void close_fd(int *fd) {
  if (*fd >= 0) close(*fd);
  *fd = -1;
}

// Stops reading, closes the fds and releases JS references. Safe to call twice. `env` is
// NULL during an environment teardown.
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
  } else if (s->tsfn != NULL) {
    stop_thread(s);
    if (env != NULL && s->cleanup_hook) napi_remove_env_cleanup_hook(env, stop_thread, s);
    s->cleanup_hook = 0;
    napi_threadsafe_function f = s->tsfn;
    s->tsfn = NULL;
    // At an environment teardown Node-API finalizes the function itself.
    if (env != NULL) napi_release_threadsafe_function(f, napi_tsfn_abort);
  } else {
    s->loop_released = 1;
  }
  close_fd(&s->fd);
  close_fd(&s->stop_fd);
  close_fd(&s->credit_fd);
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
  // and finish (remove the hook) only once the loop has let go of the struct.
  do_close(s, NULL);
  if (s->loop_released) release_hook(s);
}

static void finalize(napi_env env, void *data, void *hint) {
  (void)hint;
  nl_sock *s = (nl_sock *)data;
  do_close(s, env);
  s->finalized = 1;
  if (s->loop_released) {
    release_hook(s);
    free_sock(s);
  }
}

static nl_sock *get_sock(napi_env env, napi_value v) {
  void *p = NULL;
  if (v == NULL || napi_get_value_external(env, v, &p) != napi_ok || p == NULL) {
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
  // A thread-safe function's callback already runs in a callback scope.
  napi_status st = s->actx != NULL ? napi_make_callback(env, s->actx, recv, cb, 6, argv, &result)
                                   : napi_call_function(env, recv, cb, 6, argv, &result);
  if (st == napi_pending_exception) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
    return 0;
  }
  return 1;
}

// A new slab of `size` bytes: from the pool when it is SLAB_SIZE, else a plain ArrayBuffer.
// JS thread only.
static int new_slab(nl_sock *s, size_t size, void **data, napi_value *ab) {
  slab_pool *p = s->pool;
  if (s->faults & FAULT_SLAB) return 0;
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
      // This runtime may refuse external ArrayBuffers (V8 sandbox): plain ones from now on.
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

// Room for the next batch: the slots that fit the current slab's unused tail, or a new slab
// when less than half a batch fits (the old tail was never delivered). JS thread only.
// Returns 0 (no memory) or the number of slots.
static unsigned prepare_slots(nl_sock *s) {
  size_t stride = s->stride;
  size_t slab_bytes = stride > SLAB_SIZE ? stride : SLAB_SIZE;
  unsigned want = s->batch;
  if (slab_bytes / stride < want) want = (unsigned)(slab_bytes / stride);
  size_t room = s->slab_data == NULL ? 0 : (s->slab_size - s->slab_off) / stride;
  unsigned slots = room < want ? (unsigned)room : want;
  if (slots < (want + 1) / 2) {
    void *data = NULL;
    napi_value fresh;
    if (!new_slab(s, slab_bytes, &data, &fresh)) return 0;
    set_slab(s, fresh, data, slab_bytes);
    slots = want;
  }
  return slots;
}

// Memory for a SPILL stream that does not fit after the slots: a new slab on the JS thread
// (uv mode), else malloc'd memory that the JS thread wraps when it delivers the batch.
static uint8_t *spill_memory(nl_sock *s, size_t total, recv_batch *b) {
  if (s->mode == RECV_THREAD) {
    b->spill = (uint8_t *)malloc(total);
    return b->spill;
  }
  size_t size = total > SLAB_SIZE ? total : SLAB_SIZE;
  void *data = NULL;
  if (!new_slab(s, size, &data, &b->fresh)) return NULL;
  b->fresh_data = (uint8_t *)data;
  b->fresh_size = size;
  return b->fresh_data;
}

// One recvmmsg() into `slots` prepared slots, laid out as one stream (batch_layout.h).
// Returns the datagrams received (b filled), 0 when there was nothing, or -errno. Runs on
// the JS thread (uv mode) or the receive thread (which then owns the slab's unused tail).
static int receive_batch(nl_sock *s, unsigned slots, recv_batch *b) {
  size_t stride = s->stride;
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
  int n;
  do {
    n = recvmmsg(s->fd, s->msgs, slots, MSG_DONTWAIT, NULL);
    s->st[0] += 1;
    s->st[5] += 1;
  } while (n < 0 && errno == EINTR);
  if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -errno;
  if (n == 0) return 0;
  unsigned truncated = 0;
  for (int i = 0; i < n; i++) {
    size_t len = s->msgs[i].msg_len;
    if (s->msgs[i].msg_hdr.msg_flags & MSG_TRUNC) {
      truncated++;
      if (len > s->msg_size) len = s->msg_size;
    }
    s->lens[i] = (uint32_t)len;
  }
  batch_plan plan = batch_plan_for(s->lens, (unsigned)n, stride);
  size_t at = s->slab_off;
  uint8_t *dst = NULL;
  if (plan.mode == BATCH_SPILL) {
    // Back to back after the slots, or in new memory; nothing delivered is touched.
    at = ALIGN8(s->slab_off + (size_t)n * stride);
    if (at <= s->slab_size && plan.total <= s->slab_size - at) dst = s->slab_data + at;
    else {
      dst = spill_memory(s, plan.total, b);
      if (dst == NULL) return -ENOMEM;
      at = 0;
    }
  }
  batch_write(&plan, base, stride, s->scratch, s->msg_size, s->lens, (unsigned)n, dst);
  // The next slots fit the longest datagram of this batch: a flood of equal packets then
  // needs neither copy nor filler.
  size_t next = BATCH_ALIGN4(plan.longest);
  s->stride = next < MIN_STRIDE ? MIN_STRIDE : next > s->msg_size ? s->msg_size : next;
  if (dst == NULL || dst == s->slab_data + at) {
    size_t end = ALIGN8(at + plan.total);
    s->slab_off = end > s->slab_size ? s->slab_size : end;
  }
  b->count = (unsigned)n;
  b->truncated = truncated;
  b->at = at;
  b->total = plan.total;
  s->st[1] += n;
  s->st[2] += (double)plan.total;
  return n;
}

// Hands a received batch to JS. JS thread, inside a handle scope. Returns 0 when the
// callback threw or the batch could not be delivered.
static int deliver(nl_sock *s, recv_batch *b) {
  if (b->spill != NULL) {
    // Thread mode: the stream went to malloc'd memory; copy it into a slab of its own.
    size_t size = b->total > SLAB_SIZE ? b->total : SLAB_SIZE;
    void *data = NULL;
    int ok = new_slab(s, size, &data, &b->fresh);
    if (ok) memcpy(data, b->spill, b->total);
    free(b->spill);
    b->spill = NULL;
    if (!ok) {
      call_js(s, NULL, 0, 0, READING_GOES_ON, ENOMEM, 0);
      return 0;
    }
    b->fresh_data = (uint8_t *)data;
    b->fresh_size = size;
  }
  if (b->fresh != NULL) {
    // The old slab stayed referenced until its bytes were copied.
    set_slab(s, b->fresh, b->fresh_data, b->fresh_size);
    size_t end = ALIGN8(b->total);
    s->slab_off = end > s->slab_size ? s->slab_size : end;
  }
  napi_value ab;
  if (napi_get_reference_value(s->env, s->slab, &ab) != napi_ok || ab == NULL) return 0;
  return call_js(s, ab, b->at, b->total, b->count, 0, b->truncated);
}

// ------------------------------------------------------------------ uv mode (Node)

// No memory for a slab: stop the (level-triggered) poll, which would otherwise report the
// socket readable again at once, and say that reading paused; JS resumes it later.
static void uv_pause_no_memory(nl_sock *s) {
  uv_poll_stop(&s->poll);
  s->polling = 0;
  call_js(s, NULL, 0, 0, READING_PAUSED, ENOMEM, 0);
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
    // report the error as the end of the socket, and JS ends the transport.
    int soerr = 0;
    socklen_t len = sizeof soerr;
    int have = getsockopt(s->fd, SOL_SOCKET, SO_ERROR, &soerr, &len) == 0 && soerr != 0;
    int restarted = have && uv_poll_start(&s->poll, UV_READABLE, on_readable) == 0;
    if (!restarted) {
      uv_poll_stop(&s->poll);
      s->polling = 0;
    }
    if (!call_js(s, NULL, 0, 0, restarted ? READING_GOES_ON : READING_ENDED, have ? soerr : -status, 0) || s->closed || !restarted) {
      napi_close_handle_scope(env, scope);
      return;
    }
  }
  // s->polling turns 0 when JS pauses reading from inside call_js (backpressure): stop there.
  for (int round = 0; round < MAX_ROUNDS && !s->closed && s->polling; round++) {
    unsigned slots = prepare_slots(s);
    if (slots == 0) {
      uv_pause_no_memory(s);
      break;
    }
    recv_batch b;
    memset(&b, 0, sizeof b);
    int n = receive_batch(s, slots, &b);
    if (n == 0) break;
    if (n == -ENOMEM) {
      uv_pause_no_memory(s);
      break;
    }
    if (n < 0) {
      // ENOBUFS (overrun, only without NETLINK_NO_ENOBUFS) and others: report, keep going.
      if (!call_js(s, NULL, 0, 0, READING_GOES_ON, -n, 0)) break;
      if (n == -ENOBUFS) continue;
      break;
    }
    if (!deliver(s, &b)) break;
    if ((unsigned)n < slots) break;  // drained; the poll tells us when more arrives
  }
  napi_close_handle_scope(env, scope);
}

static napi_value start_uv(napi_env env, nl_sock *s) {
  uv_loop_t *loop = NULL;
  CHECK(napi_get_uv_event_loop(env, &loop));
  int r = s->faults & FAULT_POLL_INIT ? UV_EEXIST : uv_poll_init(loop, &s->poll, s->fd);
  if (r != 0) return throw_errno(env, "uv_poll_init", -r);
  s->poll.data = s;
  s->poll_inited = 1;
  s->loop_released = 0;
  s->mode = RECV_UV;
  // Only a libuv handle outlives the environment's finalizers: the hook closes it at a
  // teardown. (Registered here, not at creation: Deno runs an async cleanup hook whose
  // socket a finalizer already freed, and frees its handle twice.)
  if (napi_add_async_cleanup_hook(env, cleanup_hook, s, &s->hook) != napi_ok) s->hook = NULL;
  r = uv_poll_start(&s->poll, UV_READABLE, on_readable);
  if (r != 0) {
    // The handle exists now: do_close() closes it.
    return throw_errno(env, "uv_poll_start", -r);
  }
  s->polling = 1;
  if (s->unref) uv_unref((uv_handle_t *)&s->poll);
  return NULL;
}

// ------------------------------------------------------------------ thread mode (no libuv)

// Waits until `fd` or the stop eventfd is readable. Returns 1 for fd, 0 for stop, -errno.
static int wait_readable(nl_sock *s, int fd, short *revents) {
  for (;;) {
    struct pollfd pf[2] = {{fd, POLLIN, 0}, {s->stop_fd, POLLIN, 0}};
    int r = poll(pf, 2, -1);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return -errno;
    if (pf[1].revents != 0) return 0;
    if (pf[0].revents != 0) {
      *revents = pf[0].revents;
      return 1;
    }
  }
}

// How long the receive thread lets datagrams gather under load (see receive_thread).
#define COALESCE_NS 50000
#define BUSY_GAP_NS 1000000

static int64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

static void *receive_thread(void *arg) {
  nl_sock *s = (nl_sock *)arg;
  short ev = 0;
  int64_t last_batch = 0;
  unsigned last_count = 0;
  int busy = 0;
  for (;;) {
    // The credit: the JS thread prepared s->slots and is done with the last batch.
    int w = wait_readable(s, s->credit_fd, &ev);
    if (w == 0) return NULL;
    recv_batch *b = &s->pending;
    memset(b, 0, sizeof *b);
    if (w > 0) {
      uint64_t v;
      if (read(s->credit_fd, &v, sizeof v) < 0) continue;
      busy = last_count > 1 && now_ns() - last_batch < BUSY_GAP_NS;
      for (;;) {
        int n = receive_batch(s, s->slots, b);
        if (n != 0) {
          if (n < 0) b->err = -n;
          break;
        }
        w = wait_readable(s, s->fd, &ev);
        if (w == 0) return NULL;
        if (w < 0) break;
        // Under load (the last batch had several datagrams and was handed over less than
        // BUSY_GAP_NS ago) the first datagram is rarely alone: let a few more arrive so that
        // one hand-over to JS carries them all, as the uv mode's batches do while JS is busy.
        // One packet at a time (request and answer) never waits.
        if (busy) {
          struct timespec ts = {0, COALESCE_NS};
          nanosleep(&ts, NULL);
        }
        if (ev & POLLERR) {
          // A pending socket error (ENOBUFS after an overrun): recvmmsg reports it.
          continue;
        }
        if (ev & (POLLHUP | POLLNVAL)) {
          w = -EBADF;
          break;
        }
      }
    }
    if (w < 0) {
      b->err = -w;
      b->ended = 1;
    }
    last_count = b->count;
    if (b->count > 0) last_batch = now_ns();
    if (napi_call_threadsafe_function(s->tsfn, NULL, napi_tsfn_blocking) != napi_ok || b->ended) return NULL;
  }
}

// Gives the thread its credit for one batch. JS thread.
static void give_credit(nl_sock *s) {
  if (s->credit || s->closed || s->thread_ended || !s->reading) return;
  unsigned slots = prepare_slots(s);
  if (slots == 0) {
    s->reading = 0;
    call_js(s, NULL, 0, 0, READING_PAUSED, ENOMEM, 0);
    return;
  }
  s->slots = slots;
  s->credit = 1;
  uint64_t one = 1;
  ssize_t w;
  do w = write(s->credit_fd, &one, sizeof one);
  while (w < 0 && errno == EINTR);
}

// The thread-safe function's calls: data NULL is the thread's batch; RESUME_CALL delivers a
// batch held while paused; CREDIT_CALL gives the thread its next credit.
#define RESUME_CALL ((void *)1)
#define CREDIT_CALL ((void *)2)
static void on_thread_batch(napi_env env, napi_value js_cb, void *context, void *data) {
  nl_sock *s = (nl_sock *)context;
  (void)js_cb;
  if (env == NULL || s->closed) return;
  if (data == RESUME_CALL && !s->held) return;
  if (data == CREDIT_CALL) {
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    give_credit(s);
    napi_close_handle_scope(env, scope);
    return;
  }
  if (!s->reading) {
    s->held = 1;  // paused: the batch waits in the slab for setReading(h, true)
    return;
  }
  s->held = 0;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  recv_batch *b = &s->pending;
  s->credit = 0;
  if (b->err != 0) {
    if (b->ended) s->thread_ended = 1;
    call_js(s, NULL, 0, 0, b->ended ? READING_ENDED : READING_GOES_ON, b->err, 0);
  } else {
    deliver(s, b);
  }
  // The next credit comes from a later call, once the microtasks of this one have run: the
  // verdicts JS queued for this batch are sent by then, and the packets they let through
  // wait in the socket to be read as one batch, not one by one as they arrive.
  if (!s->closed && s->reading && !s->thread_ended) napi_call_threadsafe_function(s->tsfn, CREDIT_CALL, napi_tsfn_nonblocking);
  napi_close_handle_scope(env, scope);
}

// Undoes a failed start_thread: a retry must find nothing set.
static void undo_start_thread(napi_env env, nl_sock *s) {
  if (s->cb != NULL) napi_delete_reference(env, s->cb);
  s->cb = NULL;
  close_fd(&s->stop_fd);
  close_fd(&s->credit_fd);
}

static napi_value start_thread(napi_env env, nl_sock *s, napi_value cb) {
  s->stop_fd = eventfd(0, EFD_CLOEXEC);
  s->credit_fd = eventfd(0, EFD_CLOEXEC);
  if (s->stop_fd < 0 || s->credit_fd < 0) {
    int e = errno;
    undo_start_thread(env, s);
    return throw_errno(env, "eventfd", e);
  }
  if (napi_create_reference(env, cb, 1, &s->cb) != napi_ok) {
    undo_start_thread(env, s);
    napi_throw_error(env, NULL, "nfq_native: napi_create_reference failed");
    return NULL;
  }
  // The thread first, then the thread-safe function, whose finalizer releases the struct:
  // once made, it is never undone here. The thread uses it only after its first credit.
  int r = s->faults & FAULT_THREAD ? EAGAIN : pthread_create(&s->thread, NULL, receive_thread, s);
  if (r != 0) {
    undo_start_thread(env, s);
    return throw_errno(env, "pthread_create", r);
  }
  s->thread_started = 1;
  napi_value name;
  napi_threadsafe_function f;
  if (napi_create_string_utf8(env, "NetlinkReceive", NAPI_AUTO_LENGTH, &name) != napi_ok ||
      napi_create_threadsafe_function(env, cb, NULL, name, 0, 1, s, on_tsfn_finalized, s, on_thread_batch, &f) != napi_ok) {
    stop_thread(s);
    undo_start_thread(env, s);
    napi_throw_error(env, NULL, "nfq_native: napi_create_threadsafe_function failed");
    return NULL;
  }
  s->tsfn = f;
  s->loop_released = 0;
  s->mode = RECV_THREAD;
  // Registered after the thread-safe function, so it runs before the function's own
  // teardown: the thread stops calling it first.
  s->cleanup_hook = napi_add_env_cleanup_hook(env, stop_thread, s) == napi_ok;
  if (s->unref) napi_unref_threadsafe_function(env, f);
  s->reading = 1;
  give_credit(s);
  return NULL;
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

// The optional network namespace fd: absent or undefined is -1 (here); anything but an
// integer in -1..2^31-1 is refused, so a bad value never opens the socket in the wrong place.
static int get_netns_arg(napi_env env, size_t argc, napi_value *argv, int32_t *ns_fd) {
  *ns_fd = -1;
  if (argc < 7) return 1;
  napi_valuetype t;
  if (napi_typeof(env, argv[6], &t) != napi_ok) return 0;
  if (t == napi_undefined) return 1;
  double d;
  if (t != napi_number || napi_get_value_double(env, argv[6], &d) != napi_ok) return 0;
  if (d != (double)(int32_t)d || d < -1) return 0;
  *ns_fd = (int32_t)d;
  return 1;
}

static napi_value js_open(napi_env env, napi_callback_info info) {
  ARGS(7);
  int32_t ns_fd = -1;  // optional 7th argument: open the socket in this network namespace
  uint32_t protocol = 0, msg_size = 0, batch = 0, no_enobufs = 0, ext_ack = 0, rcvbuf = 0;
  if (argc < 6 || !get_u32_arg(env, argv[0], &protocol) || !get_u32_arg(env, argv[1], &msg_size) ||
      !get_u32_arg(env, argv[2], &batch) || !get_u32_arg(env, argv[3], &no_enobufs) ||
      !get_u32_arg(env, argv[4], &ext_ack) || !get_u32_arg(env, argv[5], &rcvbuf)) {
    napi_throw_type_error(env, NULL, "nfq_native.open(protocol, msgSize, batch, noEnobufs, extAck, rcvbuf[, netnsFd])");
    return NULL;
  }
  if (!get_netns_arg(env, argc, argv, &ns_fd)) {
    napi_throw_type_error(env, NULL, "nfq_native.open: netnsFd must be an integer fd (or -1 / undefined for this namespace)");
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
  s->stop_fd = -1;
  s->credit_fd = -1;
  s->port_id = sa.nl_pid;
  for (unsigned i = 0; i < nwarn; i++) {
    s->warn_opt[i] = warn_opt[i];
    s->warn_err[i] = warn_err[i];
  }
  s->nwarn = nwarn;
  s->msg_size = msg_size;
  s->batch = batch;
  s->env = env;
  s->loop_released = 1;
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
  return ext;
}

static napi_value js_port_id(napi_env env, napi_callback_info info) {
  SOCK_ARGS(1);
  return num(env, s->port_id);
}

// start(h, cb, threaded): reading begins, on libuv's poll or on a receive thread. When a
// step fails nothing stays set, so start() may be called again.
static napi_value js_start(napi_env env, napi_callback_info info) {
  SOCK_ARGS(3);
  if (s->closed) return throw_errno(env, "start", EBADF);
  if (s->mode != RECV_NONE) {
    napi_throw_error(env, NULL, "nfq_native: already started");
    return NULL;
  }
  napi_valuetype t = napi_undefined, t2 = napi_undefined;
  bool threaded = false;
  napi_typeof(env, argv[1], &t);
  napi_typeof(env, argv[2], &t2);
  if (t != napi_function || (t2 != napi_undefined && (t2 != napi_boolean || napi_get_value_bool(env, argv[2], &threaded) != napi_ok))) {
    napi_throw_type_error(env, NULL, "nfq_native.start(h, callback, threaded?: boolean)");
    return NULL;
  }
  if (threaded) return start_thread(env, s, argv[1]);
  napi_value name;
  CHECK(napi_create_string_utf8(env, "NetlinkReceive", NAPI_AUTO_LENGTH, &name));
  CHECK(napi_create_reference(env, argv[1], 1, &s->cb));
  napi_status st = s->faults & FAULT_ASYNC_INIT ? napi_generic_failure : napi_async_init(env, NULL, name, &s->actx);
  napi_value r = st == napi_ok ? start_uv(env, s) : NULL;
  if (st != napi_ok) napi_throw_error(env, NULL, "nfq_native: napi_async_init failed");
  if (s->mode == RECV_NONE) {
    // Undo: a retry must not find a callback set.
    napi_delete_reference(env, s->cb);
    s->cb = NULL;
    if (s->actx != NULL) napi_async_destroy(env, s->actx);
    s->actx = NULL;
  }
  return r;
}

static napi_value js_send(napi_env env, napi_callback_info info) {
  SOCK_ARGS(2);
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

// { sent, errno }: the outcome of a sendMany() that stopped early.
static napi_value send_failure(napi_env env, uint32_t sent, int err) {
  napi_value o;
  CHECK(napi_create_object(env, &o));
  CHECK(napi_set_named_property(env, o, "sent", num(env, sent)));
  CHECK(napi_set_named_property(env, o, "errno", num(env, err)));
  return o;
}

static napi_value js_send_many(napi_env env, napi_callback_info info) {
  SOCK_ARGS(4);
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
  const uint32_t *lens = (const uint32_t *)lens_data;
  size_t need = 0;
  for (uint32_t i = 0; i < count; i++) need += lens[i];
  if (need > len) {
    napi_throw_range_error(env, NULL, "nfq_native.sendMany: lengths exceed the bytes");
    return NULL;
  }
  if (s->fd < 0) return send_failure(env, 0, EBADF);
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
    // A datagram that fails after others were sent makes sendmmsg() return the count and
    // drop the error; the next round starts at that datagram and gets the errno.
    if (r <= 0) return send_failure(env, done, r < 0 ? errno : EIO);
    s->st[4] += r;
    for (int i = 0; i < r; i++) off += lens[done + i];
    done += (uint32_t)r;
  }
  return num(env, done);
}

static napi_value js_set_rcvbuf(napi_env env, napi_callback_info info) {
  SOCK_ARGS(2);
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

// The receive buffer's size in bytes; a closed socket or a failed getsockopt throws.
static napi_value js_get_rcvbuf(napi_env env, napi_callback_info info) {
  SOCK_ARGS(1);
  if (s->fd < 0) return throw_errno(env, "getsockopt", EBADF);
  int v = 0;
  socklen_t l = sizeof v;
  if (getsockopt(s->fd, SOL_SOCKET, SO_RCVBUF, &v, &l) < 0) return throw_errno(env, "getsockopt", errno);
  return num(env, v);
}

static napi_value js_ref(napi_env env, napi_callback_info info) {
  SOCK_ARGS(2);
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  s->unref = !on;
  if (s->poll_inited) {
    if (on) uv_ref((uv_handle_t *)&s->poll);
    else uv_unref((uv_handle_t *)&s->poll);
  } else if (s->tsfn != NULL) {
    if (on) napi_ref_threadsafe_function(env, s->tsfn);
    else napi_unref_threadsafe_function(env, s->tsfn);
  }
  return NULL;
}

// Pauses (false) or resumes (true) reading: while paused nothing is read, so packets stay
// in the kernel's queue (backpressure). A no-op before start() and after close().
static napi_value js_set_reading(napi_env env, napi_callback_info info) {
  SOCK_ARGS(2);
  bool on = true;
  napi_get_value_bool(env, argv[1], &on);
  if (s->closed) return NULL;
  if (s->mode == RECV_THREAD) {
    s->reading = on;
    if (!on) return NULL;
    // A batch held while paused is delivered from the event loop, not from inside this call.
    if (s->held) napi_call_threadsafe_function(s->tsfn, RESUME_CALL, napi_tsfn_nonblocking);
    else give_credit(s);
    return NULL;
  }
  if (!s->poll_inited || (on ? s->polling : !s->polling)) return NULL;
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
  SOCK_ARGS(2);
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
  SOCK_ARGS(1);
  do_close(s, env);
  return NULL;
}

static napi_value js_open_warnings(napi_env env, napi_callback_info info) {
  SOCK_ARGS(1);
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
  SOCK_ARGS(2);
  int32_t status = 0;
  if (napi_get_value_int32(env, argv[1], &status) != napi_ok || status >= 0) {
    napi_throw_type_error(env, NULL, "nfq_native.simulatePollError(h, status < 0)");
    return NULL;
  }
  if (!s->poll_inited || s->closed) return throw_errno(env, "simulatePollError", EBADF);
  on_readable(&s->poll, status, 0);
  return NULL;
}

static napi_value js_inject_fault(napi_env env, napi_callback_info info) {
  SOCK_ARGS(3);
  static const struct { const char *name; int bit; } names[] = {
      {"async_init", FAULT_ASYNC_INIT}, {"poll_init", FAULT_POLL_INIT}, {"thread", FAULT_THREAD}, {"slab", FAULT_SLAB}};
  char name[32];
  size_t n = 0;
  bool on = false;
  if (napi_get_value_string_utf8(env, argv[1], name, sizeof name, &n) != napi_ok || napi_get_value_bool(env, argv[2], &on) != napi_ok) {
    napi_throw_type_error(env, NULL, "nfq_native.injectFault(h, name, on)");
    return NULL;
  }
  for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
    if (strcmp(name, names[i].name) != 0) continue;
    if (on) s->faults |= names[i].bit;
    else s->faults &= ~names[i].bit;
    return NULL;
  }
  napi_throw_range_error(env, NULL, "nfq_native.injectFault: unknown step");
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
      {"injectFault", NULL, js_inject_fault, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  if (napi_define_properties(env, exports, sizeof props / sizeof props[0], props) != napi_ok) return NULL;
  return exports;
}
