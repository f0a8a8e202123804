// Unit test of native/batch_layout.h, compiled and run by batch-layout.test.ts (gcc, with
// AddressSanitizer where it links). Each case fills slots and overflow parts as recvmmsg()
// would, lays the batch out, then walks the stream as a netlink reader does: every message
// but the NOOP fillers must be exactly one datagram, in order, padded with zeros. Prints one
// line per failure and "N passed, N failed" at the end.
#include <stdio.h>
#include <stdlib.h>
#include "../../native/batch_layout.h"

#define MAX 64
static int passed, failed;

// A datagram of `len` bytes (>= 16): a netlink header saying so, then bytes from `seed`.
static void make_datagram(uint8_t *out, uint32_t len, unsigned seed) {
  struct nlmsghdr h = {len, (uint16_t)(0x10 + seed), 0, seed, 0};
  memcpy(out, &h, sizeof h);
  for (uint32_t i = sizeof h; i < len; i++) out[i] = (uint8_t)(seed * 31 + i);
}

static void fail(const char *name, const char *why, unsigned at) {
  printf("FAIL %s: %s (at %u)\n", name, why, at);
  failed++;
}

// Runs one case: datagrams of `lens` received into slots of `stride`; expects `mode`.
static void run_case(const char *name, const uint32_t *lens, unsigned n, size_t stride, enum batch_mode mode) {
  enum { OVERFLOW_STRIDE = 4096 };
  size_t slab_size = (size_t)n * stride + 8 * 4096;
  uint8_t *slab = malloc(slab_size), *overflow = malloc((size_t)n * OVERFLOW_STRIDE), *dst = malloc(8 * 4096);
  uint8_t want[MAX][OVERFLOW_STRIDE];
  memset(slab, 0xee, slab_size);  // garbage where nothing was received
  for (unsigned i = 0; i < n; i++) {
    make_datagram(want[i], lens[i], i + 1);
    size_t head = lens[i] < stride ? lens[i] : stride;
    memcpy(slab + i * stride, want[i], head);
    if (lens[i] > head) memcpy(overflow + (size_t)i * OVERFLOW_STRIDE, want[i] + head, lens[i] - head);
  }
  batch_plan p = batch_plan_for(lens, n, stride);
  int before = failed;
  if (p.mode != mode) fail(name, "unexpected mode", (unsigned)p.mode);
  size_t longest = 0;
  for (unsigned i = 0; i < n; i++) longest = lens[i] > longest ? lens[i] : longest;
  if (p.longest != longest) fail(name, "longest", (unsigned)p.longest);
  batch_write(&p, slab, stride, overflow, OVERFLOW_STRIDE, lens, n, dst);
  const uint8_t *stream = p.mode == BATCH_SPILL ? dst : slab;
  size_t off = 0;
  unsigned seen = 0;
  while (off < p.total && failed == before) {
    struct nlmsghdr h;
    if (p.total - off < sizeof h) {
      fail(name, "a partial header at the end", (unsigned)off);
      break;
    }
    memcpy(&h, stream + off, sizeof h);
    if (h.nlmsg_len < sizeof h || off + h.nlmsg_len > p.total) {
      fail(name, "a message length out of bounds", (unsigned)off);
      break;
    }
    if (h.nlmsg_type == NLMSG_NOOP) {
      if (seen == 0 || seen == n) fail(name, "a filler before the first or after the last datagram", (unsigned)off);
    } else if (seen >= n) {
      fail(name, "more messages than datagrams", (unsigned)off);
    } else {
      if (h.nlmsg_len != lens[seen] || memcmp(stream + off, want[seen], lens[seen]) != 0) fail(name, "a datagram's bytes differ", seen);
      for (size_t k = lens[seen]; k < BATCH_ALIGN4(lens[seen]); k++)
        if (stream[off + k] != 0) fail(name, "padding is not zero", seen);
      seen++;
    }
    off += BATCH_ALIGN4(h.nlmsg_len);
  }
  if (failed == before && seen != n) fail(name, "datagrams missing from the stream", seen);
  if (failed == before && off != p.total) fail(name, "the stream does not end on a message", (unsigned)off);
  // Nothing past this batch's slots was written (in place), nor past dst's total (spill).
  if (p.mode != BATCH_SPILL) {
    for (size_t k = (size_t)n * stride; k < slab_size; k++)
      if (slab[k] != 0xee) {
        fail(name, "wrote past the batch's slots", (unsigned)k);
        break;
      }
  }
  if (failed == before) passed++;
  free(slab);
  free(overflow);
  free(dst);
}

int main(void) {
  // A flood of equal datagrams: in place, no filler, span == total.
  uint32_t equal[8] = {92, 92, 92, 92, 92, 92, 92, 92};
  run_case("equal sizes", equal, 8, 92, BATCH_FILLERS);
  // One datagram only.
  uint32_t one[1] = {17};
  run_case("one unaligned datagram", one, 1, 20, BATCH_FILLERS);
  // Mixed sizes with small gaps: fillers between them, unaligned lengths padded.
  uint32_t mixed[6] = {200, 190, 201, 256, 17 + 180, 256};
  run_case("mixed sizes, fillers", mixed, 6, 256, BATCH_FILLERS);
  // Fillers over half the span: moved together.
  uint32_t sparse[5] = {20, 1400, 24, 32, 18};
  run_case("mostly gaps, packed", sparse, 5, 1400, BATCH_PACKED);
  // A gap shorter than a filler's header (4..12 bytes): packed.
  uint32_t tight[4] = {100, 92, 100, 100};
  run_case("a gap too short for a filler", tight, 4, 100, BATCH_PACKED);
  // A datagram outgrew its slot: spilled back to back from slot and overflow part.
  uint32_t grown[5] = {64, 1500, 64, 3000, 61};
  run_case("outgrown slots, spill", grown, 5, 64, BATCH_SPILL);
  // Every datagram outgrew its slot.
  uint32_t all_grown[4] = {300, 301, 302, 303};
  run_case("all outgrown, spill", all_grown, 4, 16, BATCH_SPILL);
  // Many mixed datagrams at the largest batch size used here.
  uint32_t many[MAX];
  for (unsigned i = 0; i < MAX; i++) many[i] = 16 + (i * 37) % 480;
  run_case("64 mixed datagrams, packed", many, MAX, 512, BATCH_PACKED);
  many[40] = 900;
  run_case("64 mixed datagrams, one outgrown", many, MAX, 512, BATCH_SPILL);
  printf("%d passed, %d failed\n", passed, failed);
  return failed == 0 ? 0 : 1;
}
