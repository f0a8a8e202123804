/**
 * Property tests: random and mutated bytes fed to decodePacket produce only PacketDecodeError
 * (a NetlinkDecodeError); fed to a Queue through the test kit's kernel nothing throws at all, every
 * decode error is counted and reported, and a packet whose PACKET_HDR is still readable gets a
 * verdict. A watchdog turns a hang into a failure.
 */
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePacket, PacketDecodeError, type Packet } from '../../src/nfqueue/packet.js';
import { NetfilterQueueError, NetlinkDecodeError } from '../../src/netlink/errors.js';
import { parseErrorMessage } from '../../src/netlink/message.js';
import type { Queue } from '../../src/queue/queue.js';
import { check, readLe16, readLe32 } from '../support/bytes.js';
import { datagramArb, mutate, mutationArb, PACKET_POOL, rawMessageArb } from '../support/arbitraries.js';
import { outputPacket } from '../support/kernel-packet.js';
import { withWatchdog } from '../support/watchdog.js';
import { openOnTestKernel, type Harness } from '../support/queue-harness.js';

/** Valid kernel packet messages to mutate (PACKET_HDR always first, at bytes 20..31). */
const POOL: { id: number; queue: number; bytes: Uint8Array }[] = [
  ...PACKET_POOL.map((p) => ({ id: p.spec.id, queue: p.spec.queue, bytes: p.bytes })),
  { id: 1, queue: 0, bytes: outputPacket(1, new Uint8Array(28).fill(0x45)) },
];
const poolEntry = fc.nat({ max: POOL.length - 1 }).map((i) => POOL[i]!);
const mutations = fc.array(mutationArb, { minLength: 1, maxLength: 4 });

function tryDecode(b: Uint8Array, offset: number, length: number): Packet | PacketDecodeError {
  try {
    const p = decodePacket(b, offset, length);
    check(p.id === p.id >>> 0 && p.queue >= 0 && p.queue <= 0xffff, 'id / queue out of range');
    for (const v of [p.payload, p.hwaddr, p.ct, p.exp, p.l2hdr, ...(p.unknown ?? []).map((u) => u.value)]) {
      if (v === undefined) continue;
      check(v.buffer === b.buffer, 'a value is not a view into the datagram');
      check(v.byteOffset + v.length <= b.byteOffset + offset + length, 'a value runs past the message');
    }
    if (p.hwaddr !== undefined) check(p.hwaddr.length <= 8, 'hwaddr longer than 8');
    return p;
  } catch (e) {
    if (!(e instanceof PacketDecodeError)) throw e;
    check(e instanceof NetlinkDecodeError, 'PacketDecodeError is not a NetlinkDecodeError');
    // at most where the nfgenmsg of a too-short message should have been
    check(e.offset >= offset && e.offset <= Math.max(offset + length, b.length, offset + 16), () => `offset ${e.offset} out of range`);
    check(typeof e.truncated === 'boolean', 'truncated is not a boolean');
    return e;
  }
}

describe('decodePacket on random and mutated bytes', () => {
  it('40,000 inputs: only PacketDecodeError escapes', async () => {
    await withWatchdog('decodePacket fuzz', 50_000, (wd) => {
      // random bytes
      fc.assert(
        fc.property(fc.uint8Array({ maxLength: 160 }), (b) => {
          wd.note(b);
          tryDecode(b, 0, b.length);
          if (b.length >= 4) tryDecode(b, 0, readLe32(b, 0));
        }),
        { numRuns: 8000 },
      );
      // random messages built from random attributes
      fc.assert(
        fc.property(rawMessageArb, (b) => {
          wd.note(b);
          tryDecode(b, 0, b.length);
          tryDecode(b, 0, readLe32(b, 0));
        }),
        { numRuns: 12000 },
      );
      // valid messages, mutated anywhere (bit flips, truncation, length fields, insertions)
      fc.assert(
        fc.property(poolEntry, mutations, (p, muts) => {
          const b = mutate(p.bytes, muts);
          wd.note(b);
          tryDecode(b, 0, b.length);
          if (b.length >= 4) tryDecode(b, 0, readLe32(b, 0));
        }),
        { numRuns: 12000 },
      );
      // valid messages mutated after their PACKET_HDR: the header's values survive or the error is typed
      fc.assert(
        fc.property(poolEntry, mutations, (p, muts) => {
          const b = mutate(p.bytes, muts, { from: 32, keepFraming: true });
          wd.note(b);
          const r = tryDecode(b, 0, b.length);
          if (!(r instanceof PacketDecodeError)) check(r.queue === p.queue, 'queue changed');
        }),
        { numRuns: 8000 },
      );
    });
  });
});

/** What the Queue should count as decode errors for a datagram (mirrors its documented walk). */
function expectedDecodeErrors(d: Uint8Array): { errors: number; decoded: Packet[]; packetMessages: number } {
  let errors = 0;
  let packetMessages = 0;
  const decoded: Packet[] = [];
  let off = 0;
  while (off < d.length) {
    if (off + 16 > d.length) return { errors: errors + 1, decoded, packetMessages };
    const len = readLe32(d, off);
    if (len < 16 || off + len > d.length) return { errors: errors + 1, decoded, packetMessages };
    const type = readLe16(d, off + 4);
    if (type === 0x0300) {
      packetMessages++;
      try {
        decoded.push(decodePacket(d, off, len));
      } catch {
        errors++;
      }
    } else if (type === 2) {
      try {
        parseErrorMessage({ header: { length: len, type, flags: readLe16(d, off + 6), seq: 0, pid: 0 }, buffer: d, offset: off, payloadOffset: off + 16, payloadLength: len - 16 });
      } catch {
        errors++;
      }
    } else if (type !== 1 && type !== 3 && type !== 4) errors++;
    off += (len + 3) & ~3;
  }
  return { errors, decoded, packetMessages };
}

describe('Queue receive path through the test kit\'s kernel', () => {
  let h: Harness;
  let q: Queue;
  let delivered = 0;
  let expectedTotal = 0;
  beforeAll(async () => {
    // The callback throws for some ids and answers garbage for others: every path gives a verdict.
    h = await openOnTestKernel((p) => {
      if (p.id % 7 === 0) throw new Error('callback failure');
      if (p.id % 7 === 1) return 'bogus' as never;
      return p.id % 2 === 0 ? 'accept' : 'drop';
    });
    q = h.queue;
  });
  afterAll(async () => {
    await q.close();
  });

  /** Delivers one datagram; checks counters, reports and verdicts; returns the verdict ids sent. */
  function deliver(d: Uint8Array): number[] {
    const { kernel, errors } = h;
    const sentBefore = kernel.sent.length;
    const errorsBefore = errors.length;
    const want = expectedDecodeErrors(d);
    expectedTotal += want.errors;
    kernel.inject(d); // must not throw, whatever the bytes
    const reported = errors.slice(errorsBefore);
    for (const e of reported) check(e instanceof NetfilterQueueError, () => `reported a foreign error: ${String(e)}`);
    const decodeReports = reported.filter((e) => e instanceof NetlinkDecodeError).length;
    check(decodeReports === want.errors, () => `${decodeReports} decode errors reported, expected ${want.errors}`);
    // stats() reads /proc: compare the cumulative counter every 256 datagrams only
    if ((++delivered & 255) === 0) expect(q.stats().decodeErrors).toBe(expectedTotal);
    const sent = kernel.sent.slice(sentBefore);
    check(sent.length <= 1, 'verdicts of one datagram left in several datagrams');
    const ids = kernel.verdicts.filter((v) => v.datagram >= sentBefore).map((v) => v.id);
    // every packet that decodes gets exactly its verdict, in order; salvaged ones come in between
    check(ids.length >= want.decoded.length && ids.length <= want.packetMessages, () => `${ids.length} verdicts for ${want.decoded.length} decoded of ${want.packetMessages} packets`);
    let i = 0;
    for (const id of ids) if (i < want.decoded.length && id === want.decoded[i]!.id) i++;
    check(i === want.decoded.length, 'a decoded packet got no verdict');
    errors.length = 0;
    kernel.sent.length = 0;
    kernel.verdicts.length = 0;
    return ids;
  }

  it('30,000 datagrams: nothing throws, decode errors counted and reported, readable packets answered', async () => {
    await withWatchdog('Queue receive fuzz', 60_000, (wd) => {
      fc.assert(
        fc.property(datagramArb, (d) => {
          wd.note(d);
          deliver(d);
        }),
        { numRuns: 12000 },
      );
      fc.assert(
        fc.property(poolEntry, mutations, (p, muts) => {
          const b = mutate(p.bytes, muts);
          wd.note(b);
          deliver(b);
        }),
        { numRuns: 6000 },
      );
      // PACKET_HDR intact, everything after it mutated: the packet still gets one verdict
      fc.assert(
        fc.property(poolEntry, mutations, (p, muts) => {
          const b = mutate(p.bytes, muts, { from: 32, keepFraming: true });
          wd.note(b);
          const r = expectedDecodeErrors(b);
          const ids = deliver(b);
          const want = r.decoded[0]?.id ?? p.id;
          check(ids.length === 1 && ids[0] === want, () => `verdicts ${JSON.stringify(ids)}, expected [${want}]`);
        }),
        { numRuns: 12000 },
      );
    });
    expect(q.stats().decodeErrors).toBe(expectedTotal);
    expect(expectedTotal).toBeGreaterThan(10_000);
    expect(q.isClosed).toBe(false);
  });
});
