import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodePacket } from '../../src/nfqueue/packet.js';
import { encodeVerdict, encodeBatchVerdict, normalizeVerdict, verdictWord, type Verdict, type BatchVerdict } from '../../src/nfqueue/verdict.js';
import { MessageWriter } from '../../src/netlink/writer.js';
import { parseMessages } from '../../src/netlink/message.js';
import { AttributeDecoder } from '../../src/netlink/attributes.js';
import { encodeKernelPacket, encodeKernelPacketPermuted, type PacketSpec } from '../support/kernel-packet.js';
import { packetSpecArb, verdictArb } from '../support/arbitraries.js';

/** What decodePacket should give for a spec, as plain values. */
function expectedOf(s: PacketSpec): Record<string, unknown> {
  return {
    queue: s.queue,
    family: s.family,
    id: s.id,
    hwProtocol: s.hwProtocol,
    hook: s.hook,
    mark: s.mark,
    timestamp: s.timestamp,
    indev: s.indev,
    outdev: s.outdev,
    physindev: s.physindev,
    physoutdev: s.physoutdev,
    hwaddr: s.hwaddr === undefined ? undefined : Array.from(s.hwaddr),
    payload: s.payload === undefined ? undefined : Array.from(s.payload),
    ct: s.ct === undefined ? undefined : Array.from(s.ct),
    ctInfo: s.ctInfo,
    capLen: s.capLen,
    skbInfo: s.skbInfo,
    exp: s.exp === undefined ? undefined : Array.from(s.exp),
    uid: s.uid,
    gid: s.gid,
    secctx: s.secctx,
    vlan: s.vlan,
    l2hdr: s.l2hdr === undefined ? undefined : Array.from(s.l2hdr),
    priority: s.priority,
    cgroupClassid: s.cgroupClassid,
    unknown: s.unknown?.map((u) => ({ type: u.type & 0x3fff, nested: (u.type & 0x8000) !== 0, value: Array.from(u.value) })),
  };
}

function actualOf(buf: Uint8Array): Record<string, unknown> {
  const p = decodePacket(buf, 0, buf.length);
  const arr = (x: Uint8Array | undefined): number[] | undefined => (x === undefined ? undefined : Array.from(x));
  return {
    queue: p.queue,
    family: p.family,
    id: p.id,
    hwProtocol: p.hwProtocol,
    hook: p.hook,
    mark: p.mark,
    timestamp: p.timestamp,
    indev: p.indev,
    outdev: p.outdev,
    physindev: p.physindev,
    physoutdev: p.physoutdev,
    hwaddr: arr(p.hwaddr),
    payload: arr(p.payload),
    ct: arr(p.ct),
    ctInfo: p.ctInfo,
    capLen: p.capLen,
    skbInfo: p.skbInfo,
    exp: arr(p.exp),
    uid: p.uid,
    gid: p.gid,
    secctx: p.secctx,
    vlan: p.vlan,
    l2hdr: arr(p.l2hdr),
    priority: p.priority,
    cgroupClassid: p.cgroupClassid,
    unknown: p.unknown?.map((u) => ({ type: u.type, nested: u.nested, value: Array.from(u.value) })),
  };
}

describe('packet round trip (test-side kernel encoder → decodePacket)', () => {
  it('gives back every field value', () => {
    fc.assert(
      fc.property(packetSpecArb, (spec) => {
        expect(actualOf(encodeKernelPacket(spec))).toEqual(expectedOf(spec));
      }),
      { numRuns: 3000 },
    );
  });

  it('does not depend on attribute order', () => {
    fc.assert(
      fc.property(packetSpecArb, fc.array(fc.nat({ max: 30 }), { maxLength: 30 }), (spec, perm) => {
        const unique = [...new Set(perm)];
        // unknown attributes keep their wire order, so compare them as a set here
        const sorted = (r: Record<string, unknown>): Record<string, unknown> => ({
          ...r,
          unknown: (r.unknown as { type: number }[] | undefined)?.map((u) => JSON.stringify(u)).sort(),
        });
        expect(sorted(actualOf(encodeKernelPacketPermuted(spec, unique)))).toEqual(sorted(expectedOf(spec)));
      }),
      { numRuns: 1000 },
    );
  });
});

/** Decodes a verdict message with the library's AttributeDecoder. */
function decodeVerdictMessage(bytes: Uint8Array): Record<string, unknown> {
  const [m, ...rest] = parseMessages(bytes);
  expect(rest).toEqual([]);
  const out: Record<string, unknown> = { type: m!.header.type, seq: m!.header.seq, pid: m!.header.pid, flags: m!.header.flags };
  out.queue = (bytes[m!.payloadOffset + 2]! << 8) | bytes[m!.payloadOffset + 3]!;
  out.family = bytes[m!.payloadOffset];
  const ad = new AttributeDecoder(bytes, m!.payloadOffset + 4, m!.offset + m!.header.length);
  while (ad.next()) {
    switch (ad.type) {
      case 2: {
        const word = ad.be32();
        const view = new DataView(bytes.buffer, bytes.byteOffset + ad.valueOffset + 4, 4);
        out.word = word;
        out.id = view.getUint32(0, false);
        break;
      }
      case 3: out.mark = ad.be32(); break;
      case 21: out.priority = ad.be32(); break;
      case 10: out.payload = Array.from(ad.bytes()); break;
      case 20: out.l2hdr = Array.from(ad.bytes()); break;
      case 11: {
        expect(ad.nested).toBe(true);
        const n = ad.nestedDecoder();
        while (n.next()) if (n.type === 8) out.connmark = n.be32();
        n.throwIfError();
        break;
      }
      case 19: {
        expect(ad.nested).toBe(true);
        const n = ad.nestedDecoder();
        const vlan: Record<string, number> = {};
        while (n.next()) vlan[n.type === 1 ? 'proto' : 'tci'] = n.be16();
        n.throwIfError();
        out.vlan = vlan;
        break;
      }
      default:
        throw new Error(`unexpected verdict attribute ${ad.type}`);
    }
  }
  ad.throwIfError();
  return out;
}

describe('verdict round trip (encodeVerdict → AttributeDecoder)', () => {
  it('gives back the verdict, id, queue and every option', () => {
    fc.assert(
      fc.property(verdictArb, fc.nat({ max: 0xffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff }), (v, queue, id, seq, pid) => {
        const w = new MessageWriter(16);
        encodeVerdict(w, queue, id, normalizeVerdict(v), { seq, pid });
        const got = decodeVerdictMessage(w.finish());
        const want: Record<string, unknown> = { type: 0x0301, seq, pid, flags: 1, queue, family: 0, word: verdictWord(v), id };
        if (v.mark !== undefined) want.mark = v.mark;
        if (v.priority !== undefined) want.priority = v.priority;
        if (v.payload !== undefined) want.payload = Array.from(v.payload);
        if (v.l2hdr !== undefined) want.l2hdr = Array.from(v.l2hdr);
        if (v.connmark !== undefined) want.connmark = v.connmark;
        if (v.vlan !== undefined) want.vlan = { proto: v.vlan.proto, tci: v.vlan.tci };
        expect(got).toEqual(want);
        // the verdict word carries the verdict code and, for requeue, queue and bypass
        const word = got.word as number;
        expect(word & 0xff).toBe({ drop: 0, accept: 1, queue: 3, repeat: 4, stop: 5 }[v.verdict]);
        if (v.verdict === 'queue') {
          expect(word >>> 16).toBe(v.queue);
          expect((word & 0x8000) !== 0).toBe(v.bypass === true);
        } else {
          expect(word >>> 8).toBe(0);
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('batch verdicts give back verdict, max id, mark and priority', () => {
    fc.assert(
      fc.property(verdictArb, fc.nat({ max: 0xffff }), fc.nat({ max: 0xffffffff }), (v0, queue, maxId) => {
        const v: BatchVerdict = { verdict: v0.verdict };
        if (v0.queue !== undefined) v.queue = v0.queue;
        if (v0.bypass !== undefined) v.bypass = v0.bypass;
        if (v0.mark !== undefined) v.mark = v0.mark;
        if (v0.priority !== undefined) v.priority = v0.priority;
        const w = new MessageWriter(16);
        encodeBatchVerdict(w, queue, maxId, v, { seq: 1 });
        const got = decodeVerdictMessage(w.finish());
        const want: Record<string, unknown> = { type: 0x0303, seq: 1, pid: 0, flags: 1, queue, family: 0, word: verdictWord(v as Verdict), id: maxId };
        if (v.mark !== undefined) want.mark = v.mark;
        if (v.priority !== undefined) want.priority = v.priority;
        expect(got).toEqual(want);
      }),
      { numRuns: 1000 },
    );
  });

  it('several random verdicts in one writer parse back in order', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(verdictArb, fc.nat({ max: 0xffffffff })), { minLength: 1, maxLength: 8 }), (list) => {
        const w = new MessageWriter(8);
        list.forEach(([v, id], i) => encodeVerdict(w, 1, id, v, { seq: i + 1 }));
        const out = w.finish();
        const msgs = parseMessages(out);
        expect(msgs.map((m) => m.header.seq)).toEqual(list.map((_, i) => i + 1));
        msgs.forEach((m, i) => expect(decodeVerdictMessage(out.slice(m.offset, m.offset + m.header.length)).id).toBe(list[i]![1]));
      }),
      { numRuns: 500 },
    );
  });
});
