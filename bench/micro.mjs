#!/usr/bin/env node
// Micro-benchmarks of the per-packet JavaScript: packet decode, verdict encode, attribute
// iteration, and the whole Queue receive path (batch of packet messages in, verdict datagram
// out) over an in-memory transport, served by a callback and by a `for await` loop. Uses the
// built library (dist/): run `npm run build` first.
//
//   node --expose-gc --max-semi-space-size=128 bench/micro.mjs [--json] [--quick]
//
// Reports ns/op (median of several timed runs, after warm-up) and bytes of JS heap allocated
// per op (new-space growth over a GC-free run, so escape-analysed temporaries count as 0).
// Not a test: nothing here asserts a time.
import v8 from 'node:v8';
import { openQueue } from '../dist/index.js';
import { MessageWriter, AttributeDecoder } from '../dist/netlink/index.js';
import { decodePacket, encodeVerdict, nfqueueConstants as nfq } from '../dist/nfqueue/index.js';

const json = process.argv.includes('--json');
const quick = process.argv.includes('--quick');
const gc = globalThis.gc;

// ------------------------------------------------------------------ fixtures

/** A packet message as the kernel sends it for an OUTPUT-hook UDP packet (PACKET_HDR, OUTDEV, PAYLOAD). */
function packetMessage(w, id, payloadLen, input = false) {
  w.begin({ type: nfq.NFQ_TYPE_PACKET, flags: 0, seq: 0, pid: 0 });
  w.rawU8(2).rawU8(0).rawBe16(0);
  const hdr = new Uint8Array(7);
  new DataView(hdr.buffer).setUint32(0, id, false);
  hdr[4] = 0x08;
  hdr[6] = input ? 1 : 3;
  w.attrBytes(nfq.NFQA_PACKET_HDR, hdr);
  if (input) {
    w.attrBe32(nfq.NFQA_IFINDEX_INDEV, 1);
    const hw = new Uint8Array(12);
    hw[1] = 6;
    w.attrBytes(nfq.NFQA_HWADDR, hw);
    const ts = new Uint8Array(16);
    new DataView(ts.buffer).setUint32(4, 1764000000, false);
    new DataView(ts.buffer).setUint32(12, 123456, false);
    w.attrBytes(nfq.NFQA_TIMESTAMP, ts);
    w.attrBe32(nfq.NFQA_SKB_INFO, 1);
  } else {
    w.attrBe32(nfq.NFQA_IFINDEX_OUTDEV, 1);
  }
  const payload = new Uint8Array(payloadLen);
  payload[0] = 0x45;
  w.attrBytes(nfq.NFQA_PAYLOAD, payload);
  w.end();
}

function datagramOf(n, payloadLen, input = false, firstId = 1) {
  const w = new MessageWriter(1 << 16);
  for (let i = 0; i < n; i++) packetMessage(w, firstId + i, payloadLen, input);
  return w.finishCopy();
}

// ------------------------------------------------------------------ harness

function newSpaceUsed() {
  for (const s of v8.getHeapSpaceStatistics()) if (s.space_name === 'new_space') return s.space_used_size;
  return 0;
}

/** Runs `fn(i)` `ops` times per sample; returns { nsPerOp, bytesPerOp }. */
function bench(name, fn, { ops = 200_000, samples = quick ? 3 : 7, allocOps = 10_000 } = {}) {
  for (let i = 0; i < ops; i++) fn(i); // warm-up: let the JIT settle
  const times = [];
  for (let s = 0; s < samples; s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) fn(i);
    times.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  times.sort((a, b) => a - b);
  let bytesPerOp;
  if (gc !== undefined) {
    for (let attempt = 0; attempt < 3 && bytesPerOp === undefined; attempt++) {
      gc();
      const before = newSpaceUsed();
      for (let i = 0; i < allocOps; i++) fn(i);
      const after = newSpaceUsed();
      if (after >= before) bytesPerOp = (after - before) / allocOps; // else a scavenge ran: retry
    }
  }
  const r = { name, nsPerOp: +times[times.length >> 1].toFixed(1), opsPerSec: Math.round(1e9 / times[times.length >> 1]), bytesPerOp: bytesPerOp === undefined ? null : +bytesPerOp.toFixed(1) };
  if (!json) console.log(`${name.padEnd(52)} ${r.nsPerOp.toFixed(1).padStart(8)} ns/op ${(r.opsPerSec / 1e6).toFixed(2).padStart(7)} M/s ${r.bytesPerOp === null ? '   (run with --expose-gc)' : `${r.bytesPerOp.toFixed(0).padStart(6)} B/op`}`);
  return r;
}

let sink = 0;
const results = [];

// decode
{
  const d64 = datagramOf(1, 64 + 28);
  const v64 = new DataView(d64.buffer, d64.byteOffset, d64.byteLength);
  const len64 = v64.getUint32(0, true);
  results.push(bench('decodePacket, OUTPUT 92-byte packet (3 attrs)', () => {
    const p = decodePacket(d64, 0, len64, v64);
    sink += p.id;
  }));
  const d1400 = datagramOf(1, 1400 + 28, true);
  const v1400 = new DataView(d1400.buffer, d1400.byteOffset, d1400.byteLength);
  const len1400 = v1400.getUint32(0, true);
  results.push(bench('decodePacket, INPUT 1428-byte packet (6 attrs)', () => {
    const p = decodePacket(d1400, 0, len1400, v1400);
    sink += p.id;
  }));
}

// attribute iteration
{
  const d = datagramOf(1, 1400 + 28, true);
  results.push(bench('AttributeDecoder over 6 packet attributes', () => {
    const ad = new AttributeDecoder(d, 20, d.byteLength);
    while (ad.next()) sink += ad.type;
  }));
}

// encode
{
  const w = new MessageWriter(64 * 1024);
  const h = { seq: 1, pid: 1234 };
  const accept = { verdict: 'accept' };
  results.push(bench('encodeVerdict accept (64 per datagram)', (i) => {
    if ((i & 63) === 0) w.reset();
    h.seq = i + 1;
    encodeVerdict(w, 0, i, accept, h);
  }));
  const marked = { verdict: 'accept', mark: 7 };
  results.push(bench('encodeVerdict accept + mark (64 per datagram)', (i) => {
    if ((i & 63) === 0) w.reset();
    h.seq = i + 1;
    encodeVerdict(w, 0, i, marked, h);
  }));
}

// the whole Queue receive path over an in-memory transport
function benchTransport() {
  const t = {
    kind: 'bench',
    portId: 4242,
    handlers: undefined,
    sent: 0,
    sentBytes: 0,
    start(h) {
      t.handlers = h;
    },
    send(d) {
      t.sent++;
      t.sentBytes += d.byteLength;
      // Ack config requests (they carry NLM_F_ACK); verdicts need no answer.
      const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
      if (v.getUint16(4, true) === nfq.NFQ_TYPE_CONFIG) {
        const w = new MessageWriter(64);
        w.begin({ type: 2, flags: 0x100, seq: v.getUint32(8, true), pid: 4242 });
        w.raw(new Uint8Array(4));
        w.raw(d.subarray(0, 16));
        w.end();
        const ack = w.finishCopy();
        queueMicrotask(() => t.handlers.datagram(ack));
      }
    },
    close() {},
  };
  return t;
}

function perPacket(r, batch, transport) {
  r.nsPerOp = +(r.nsPerOp / batch).toFixed(1);
  r.opsPerSec = Math.round(1e9 / r.nsPerOp);
  if (r.bytesPerOp !== null) r.bytesPerOp = +(r.bytesPerOp / batch).toFixed(1);
  r.name += ` -> ${r.nsPerOp} ns/pkt, ${r.bytesPerOp} B/pkt, ${(transport.sentBytes / transport.sent / 32).toFixed(0)} verdicts/send`;
  if (!json) console.log(`  = ${r.nsPerOp} ns/packet, ${r.bytesPerOp ?? '?'} B/packet, ${(r.opsPerSec / 1e6).toFixed(2)} M packets/s`);
  results.push(r);
  return r;
}

async function queuePath(batch, payloadLen) {
  const transport = benchTransport();
  let n = 0;
  const q = await openQueue(0, () => {
    n++;
    return 'accept';
  }, { transport, keepAlive: false });
  const dg = datagramOf(batch, payloadLen);
  transport.sent = 0;
  transport.sentBytes = 0;
  const r = bench(`Queue: ${batch}-packet batch in, verdicts out, per packet (${payloadLen} B)`, () => transport.handlers.datagram(dg), { ops: Math.max(2000, 200_000 / batch), allocOps: Math.max(200, 10_000 / batch) });
  perPacket(r, batch, transport);
  sink += n;
  await q.close().catch(() => {});
  return r;
}

/**
 * The same path served by `for await (const packet of queue) packet.accept()`, or with
 * `batches`, by `for await (const batch of queue.batches())`: a datagram is delivered while
 * the loop waits, and the round ends when the loop has answered its packets. Timed like
 * bench(), but each op awaits the loop.
 */
async function iterationPath(batch, payloadLen, batches = false) {
  const transport = benchTransport();
  const q = await openQueue(0, { transport, keepAlive: false, maxOutstanding: 256 });
  let answered = 0;
  let wake;
  const loop = batches
    ? (async () => {
        for await (const packets of q.batches()) {
          for (const packet of packets) {
            packet.accept();
            if (++answered % batch === 0) wake?.();
          }
        }
      })()
    : (async () => {
        for await (const packet of q) {
          packet.accept();
          if (++answered % batch === 0) wake?.();
        }
      })();
  const dg = datagramOf(batch, payloadLen);
  const round = () =>
    new Promise((resolve) => {
      wake = resolve;
      transport.handlers.datagram(dg);
    });
  const ops = Math.max(2000, 200_000 / batch);
  for (let i = 0; i < ops; i++) await round();
  transport.sent = 0;
  transport.sentBytes = 0;
  const times = [];
  for (let s = 0; s < (quick ? 3 : 7); s++) {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < ops; i++) await round();
    times.push(Number(process.hrtime.bigint() - t0) / ops);
  }
  times.sort((a, b) => a - b);
  let bytesPerOp = null;
  if (gc !== undefined) {
    const allocOps = Math.max(200, 10_000 / batch);
    for (let attempt = 0; attempt < 3 && bytesPerOp === null; attempt++) {
      gc();
      const before = newSpaceUsed();
      for (let i = 0; i < allocOps; i++) await round();
      const after = newSpaceUsed();
      if (after >= before) bytesPerOp = +((after - before) / allocOps).toFixed(1);
    }
  }
  const med = times[times.length >> 1];
  const name = `for await${batches ? ' batches' : ''}: ${batch}-packet batch in, verdicts out, per packet (${payloadLen} B)`;
  const r = { name, nsPerOp: +med.toFixed(1), opsPerSec: Math.round(1e9 / med), bytesPerOp };
  if (!json) console.log(`${name.padEnd(52)} ${r.nsPerOp.toFixed(1).padStart(8)} ns/op`);
  perPacket(r, batch, transport);
  await q.close().catch(() => {});
  await loop;
  return r;
}

const sideBySide = [];
for (const [batch, size] of [[1, 92], [16, 92], [64, 92], [64, 1428]]) {
  const cb = await queuePath(batch, size);
  const it = await iterationPath(batch, size);
  const bt = await iterationPath(batch, size, true);
  sideBySide.push({
    batch, size, callbackPps: cb.opsPerSec, forAwaitPps: it.opsPerSec, batchesPps: bt.opsPerSec,
    ratio: +(it.opsPerSec / cb.opsPerSec).toFixed(2), batchesRatio: +(bt.opsPerSec / cb.opsPerSec).toFixed(2),
    callbackBytes: cb.bytesPerOp, forAwaitBytes: it.bytesPerOp, batchesBytes: bt.bytesPerOp,
  });
}
if (!json) {
  console.log('\nQueue path, packets/s: callback vs for await vs for await batches (same in-memory transport)');
  console.log('batch  size    callback   for await   ratio     batches   ratio   B/pkt cb / for await / batches');
  for (const r of sideBySide) {
    console.log(`${String(r.batch).padStart(5)} ${String(r.size).padStart(5)} ${(r.callbackPps / 1e6).toFixed(2).padStart(9)}M ${(r.forAwaitPps / 1e6).toFixed(2).padStart(10)}M ${r.ratio.toFixed(2).padStart(7)} ${(r.batchesPps / 1e6).toFixed(2).padStart(10)}M ${r.batchesRatio.toFixed(2).padStart(7)}   ${r.callbackBytes ?? '?'} / ${r.forAwaitBytes ?? '?'} / ${r.batchesBytes ?? '?'}`);
  }
}

if (json) console.log(JSON.stringify({ kind: 'micro', node: process.version, results, sideBySide }));
if (sink === -1) console.log(sink);
process.exit(0);
