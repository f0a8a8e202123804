// The layout of one received batch as a single stream of netlink messages: pure functions
// over bytes, no system calls and no Node-API, so a small C test (test/native/batch-layout.c)
// checks them on their own. Included by nfq_native.c.
//
// recvmmsg() wrote datagram i into slot i (`stride` bytes at base + i * stride); whatever
// did not fit the slot went to its overflow part (at overflow + i * overflow_stride). Three
// ways to make one stream of that:
//  - FILLERS: every datagram fits its slot and the gaps are small: the datagrams stay where
//    they are and the gap after each (but the last) becomes an NLMSG_NOOP message, which
//    every netlink reader skips. Equal datagrams (a flood) leave no gap: nothing is written.
//  - PACKED: the datagrams fit their slots but fillers would take over half the span, or a
//    gap is too short for a filler's 16-byte header: moved down, back to back.
//  - SPILL: a datagram outgrew its slot: every datagram is copied back to back to `dst`
//    (after the slots, or a fresh buffer), from its slot and its overflow part.
// In every mode each datagram is padded with zeros to 4 bytes.
#ifndef NFQ_BATCH_LAYOUT_H
#define NFQ_BATCH_LAYOUT_H

#include <linux/netlink.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define BATCH_ALIGN4(n) (((n) + 3) & ~(size_t)3)

enum batch_mode { BATCH_FILLERS, BATCH_PACKED, BATCH_SPILL };

typedef struct {
  enum batch_mode mode;
  size_t total;    // bytes of the stream
  size_t longest;  // the longest datagram (the next batch's stride)
} batch_plan;

// Decides the layout of `n` (>= 1) datagrams of `lens` bytes received into slots of `stride`.
static batch_plan batch_plan_for(const uint32_t *lens, unsigned n, size_t stride) {
  batch_plan p = {BATCH_FILLERS, 0, 0};
  size_t used = 0;
  int overflow = 0, tight_gap = 0;
  for (unsigned i = 0; i < n; i++) {
    size_t len = lens[i];
    if (len > p.longest) p.longest = len;
    used += BATCH_ALIGN4(len);
    if (len > stride) overflow = 1;
    else {
      size_t gap = stride - BATCH_ALIGN4(len);
      if (gap != 0 && gap < (size_t)NLMSG_HDRLEN && i + 1 < n) tight_gap = 1;
    }
  }
  size_t span = (size_t)(n - 1) * stride + BATCH_ALIGN4(lens[n - 1]);
  if (overflow) p.mode = BATCH_SPILL, p.total = used;
  else if (tight_gap || span > 2 * used) p.mode = BATCH_PACKED, p.total = used;
  else p.mode = BATCH_FILLERS, p.total = span;
  return p;
}

// Writes the stream the plan chose. FILLERS and PACKED write in place (the stream starts
// at `base`); SPILL writes to `dst`, which must hold plan->total bytes and not overlap the
// slots. Only this batch's slots (and dst) are written.
static void batch_write(const batch_plan *p, uint8_t *base, size_t stride, const uint8_t *overflow, size_t overflow_stride,
                        const uint32_t *lens, unsigned n, uint8_t *dst) {
  if (p->mode == BATCH_FILLERS) {
    for (unsigned i = 0; i < n; i++) {
      size_t len = lens[i];
      uint8_t *slot = base + (size_t)i * stride;
      if (BATCH_ALIGN4(len) != len) memset(slot + len, 0, BATCH_ALIGN4(len) - len);
      size_t gap = stride - BATCH_ALIGN4(len);
      if (gap != 0 && i + 1 < n) {
        struct nlmsghdr filler = {(uint32_t)gap, NLMSG_NOOP, 0, 0, 0};
        memcpy(slot + BATCH_ALIGN4(len), &filler, sizeof filler);
      }
    }
    return;
  }
  // PACKED moves each datagram down (never up) within the slots; SPILL copies to dst.
  uint8_t *out = p->mode == BATCH_PACKED ? base : dst;
  for (unsigned i = 0; i < n; i++) {
    size_t len = lens[i];
    uint8_t *slot = base + (size_t)i * stride;
    size_t head = len < stride ? len : stride;
    if (out != slot) memmove(out, slot, head);
    if (len > head) memcpy(out + head, overflow + (size_t)i * overflow_stride, len - head);
    if (BATCH_ALIGN4(len) != len) memset(out + len, 0, BATCH_ALIGN4(len) - len);
    out += BATCH_ALIGN4(len);
  }
}

#endif
