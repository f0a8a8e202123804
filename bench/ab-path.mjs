#!/usr/bin/env node
// A/B of the Queue receive path (in-memory transport, as bench/micro.mjs) between two builds
// by CPU time (process.cpuUsage: less sensitive to preemption on a loaded machine than wall
// time), alternating A B A B in one process, medians of per-round ns/packet.
//   node bench/ab-path.mjs DIST_A DIST_B [batch] [payload] [rounds] [--iterate | --batches]
// --iterate: the queue is served by `for await (const packet of queue) packet.accept()`, and
// each op waits until the loop has answered the batch (the harness's own await is in both).
// --batches: the same with `for await (const batch of queue.batches())` (builds that have it).
// DIST_x: a built dist/ directory, e.g. of a second worktree at the commit to compare
// (git worktree add /tmp/old HEAD~1 && cd /tmp/old && npm ci). Prints medians of ns of CPU per
// packet and the median of the per-round ratios B/A; swap A and B for a second reading.
//
// --instructions: counts instructions instead of time, the reading to trust on a shared VM
// (CPU time there swings by tens of percent between runs, and it has no hardware counters).
// Each build runs twice under `valgrind --tool=callgrind` (150,000 packets of warm-up, then
// 200 and 3,200 batches), with V8 single-threaded and seeded so that runs repeat; the
// difference divided by 3,000 batches is instructions per packet. Repeats within about 2 %
// (GC timing still depends on speed); about 30 s per build, both builds at once. Needs valgrind.
import { spawn } from 'node:child_process';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const batches = process.argv.includes('--batches');
const iterate = batches || process.argv.includes('--iterate');
const modeName = batches ? 'for await batches, ' : iterate ? 'for await, ' : '';
const instructions = process.argv.includes('--instructions');
// Internal: `--single DIST OPS`, one build's warm-up and OPS batches, run under valgrind.
const single = process.argv.includes('--single');
const positional = process.argv.slice(2).filter((a) => !a.startsWith('--'));
const [distA, distB, batchS = '8', payS = '1400', roundsS = '15'] = single ? [positional[0], '', ...positional.slice(2)] : positional;
const batch = Number(batchS), payloadLen = Number(payS), rounds = Number(roundsS);
async function setup(dist) {
  const { openQueue } = await import(pathToFileURL(resolve(dist, 'index.js')).href);
  const { MessageWriter } = await import(pathToFileURL(resolve(dist, 'netlink/writer.js')).href);
  // The wire numbers (DESIGN: type (3 << 8) | msg), spelled out so that any build compares,
  // whatever its entry points export.
  const nfq = { NFQ_TYPE_PACKET: 768, NFQ_TYPE_CONFIG: 770, NFQA_PACKET_HDR: 1, NFQA_IFINDEX_OUTDEV: 6, NFQA_PAYLOAD: 10 };
  function datagramOf(n) {
    const w = new MessageWriter(1 << 17);
    for (let i = 0; i < n; i++) {
      w.begin({ type: nfq.NFQ_TYPE_PACKET, flags: 0, seq: 0, pid: 0 });
      w.rawU8(2).rawU8(0).rawBe16(0);
      const hdr = new Uint8Array(7);
      new DataView(hdr.buffer).setUint32(0, i + 1, false);
      hdr[4] = 0x08; hdr[6] = 3;
      w.attrBytes(nfq.NFQA_PACKET_HDR, hdr);
      w.attrBe32(nfq.NFQA_IFINDEX_OUTDEV, 1);
      const payload = new Uint8Array(payloadLen); payload[0] = 0x45;
      w.attrBytes(nfq.NFQA_PAYLOAD, payload);
      w.end();
    }
    // in a big ArrayBuffer, as the native transport delivers (a view into a slab)
    const bytes = w.finishCopy();
    const slab = new ArrayBuffer(256 * 1024);
    new Uint8Array(slab, 4096, bytes.byteLength).set(bytes);
    return new Uint8Array(slab, 4096, bytes.byteLength);
  }
  let handlers;
  const transport = {
    kind: 'bench', reusesReceiveBuffer: false, portId: 4242,
    start(h) { handlers = h; },
    send(d) {
      const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
      if (v.getUint16(4, true) === nfq.NFQ_TYPE_CONFIG) {
        const w = new MessageWriter(64);
        w.begin({ type: 2, flags: 0x100, seq: v.getUint32(8, true), pid: 4242 });
        w.raw(new Uint8Array(4)); w.raw(d.subarray(0, 16)); w.end();
        const ack = w.finishCopy();
        queueMicrotask(() => handlers.datagram(ack));
      }
    },
    close() {},
  };
  const dg = datagramOf(batch);
  if (iterate) {
    const q = await openQueue(0, { transport, keepAlive: false, maxOutstanding: 256 });
    let answered = 0;
    let wake;
    const answer = (packet) => {
      packet.accept();
      if (++answered % batch === 0) wake();
    };
    void (async () => {
      if (batches) for await (const packets of q.batches()) for (const packet of packets) answer(packet);
      else for await (const packet of q) answer(packet);
    })();
    return () => new Promise((resolve) => {
      wake = resolve;
      handlers.datagram(dg);
    });
  }
  let n = 0;
  await openQueue(0, () => { n++; return 'accept'; }, { transport, keepAlive: false });
  return () => handlers.datagram(dg);
}
/** Instructions callgrind counted in one `--single` run of `dist` with `ops` batches. */
function countInstructions(dist, ops) {
  const args = ['--tool=callgrind', '--callgrind-out-file=/dev/null', process.execPath, '--single-threaded', '--hash-seed=1', '--random-seed=1', '--min-semi-space-size=16', '--max-semi-space-size=16', fileURLToPath(import.meta.url), '--single', dist, String(ops), batchS, payS, ...(batches ? ['--batches'] : iterate ? ['--iterate'] : [])];
  return new Promise((done, fail) => {
    const p = spawn('valgrind', args, { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr.on('data', (d) => (err += d));
    p.on('error', (e) => fail(new Error(`valgrind: ${e.message} (apt-get install valgrind)`)));
    p.on('close', (code) => {
      const m = /Collected : (\d+)/.exec(err);
      if (code !== 0 || m === null) fail(new Error(`valgrind run of ${dist} failed (exit ${code}):\n${err.slice(-2000)}`));
      else done(Number(m[1]));
    });
  });
}

if (single) {
  const op = await setup(distA);
  const warm = Math.ceil(150_000 / batch);
  // Each batch in its own event-loop turn, as the socket delivers them.
  for (let i = 0; i < warm + Number(positional[1]); i++) {
    await new Promise((r) => setImmediate(r));
    await op();
  }
  process.exit(0);
}
if (instructions) {
  const perPacket = async (dist) => {
    const [short, long] = [await countInstructions(dist, 200), await countInstructions(dist, 3200)];
    return (long - short) / (3000 * batch);
  };
  const [a, b] = await Promise.all([perPacket(distA), perPacket(distB)]);
  console.log(`${modeName}batch ${batch}, ${payloadLen} B: A ${a.toFixed(0)} instructions/pkt, B ${b.toFixed(0)} instructions/pkt; B/A ${(b / a).toFixed(3)}`);
  process.exit(0);
}

const A = await setup(distA), B = await setup(distB);
const ops = Math.round(400_000 / batch);
async function time(f) {
  const c0 = process.cpuUsage();
  if (iterate) for (let i = 0; i < ops; i++) await f();
  else for (let i = 0; i < ops; i++) f();
  const c = process.cpuUsage(c0);
  return ((c.user + c.system) * 1000) / (ops * batch);
}
for (let i = 0; i < 3; i++) { await time(A); await time(B); } // warm-up
const ra = [], rb = [];
for (let r = 0; r < rounds; r++) { ra.push(await time(A)); rb.push(await time(B)); }
const med = (x) => [...x].sort((p, q) => p - q)[x.length >> 1];
const ratios = ra.map((a, i) => rb[i] / a);
// On a busy machine the fastest round of each is the least disturbed reading: print it too.
const minA = Math.min(...ra), minB = Math.min(...rb);
console.log(`${modeName}batch ${batch}, ${payloadLen} B: A ${med(ra).toFixed(1)} ns/pkt, B ${med(rb).toFixed(1)} ns/pkt CPU; B/A median of per-round ratios ${med(ratios).toFixed(3)} (range ${Math.min(...ratios).toFixed(2)}-${Math.max(...ratios).toFixed(2)}), ${rounds} rounds; fastest rounds A ${minA.toFixed(1)} B ${minB.toFixed(1)}, B/A ${(minB / minA).toFixed(3)}`);
