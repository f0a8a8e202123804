#!/usr/bin/env node
// A configurable consumer built on the BUILT library (dist/), run inside a test namespace.
//   node consumer.mjs '<json config>'
// Config: { queues, options, mode, verdict, repeatMark, batch, rewrite, dropTo, quiet }
//   mode 'verdict'     answer `verdict` (a Verdict object or name) for every packet (default accept)
//   mode 'repeat-mark' repeat with mark `repeatMark` unless the packet has it, then accept
//   mode 'batch'       leave packets pending; after `batch.count` of them (or on stdin 'batch')
//                      send ONE batch verdict {batch.verdict, batch.mark, batch.priority}
//   mode 'rewrite'     replace `rewrite.find` by `rewrite.replace` in UDP/TCP data (or per queue:
//                      rewriteByQueue {"1": {find, replace, fix}}); fix
//                      checksums (withTransportPayload) unless rewrite.fix === false
//   mode 'stall'       never answer (packets stay queued until close)
//   blockUntil PATH    the first packet's callback blocks the event loop until PATH exists
//   dropTo {uid,gid}   after opening, process.setgid/setuid to these
// Prints {"ready":true,...} once open (or {"openError":{...}} and exits 1), {"pkt":{...}}
// per packet (unless quiet), {"error":{...}} per reported error. stdin commands:
//   stats -> {"stats":...};  batch -> one batch verdict;  batch-again -> resends the last batch;  close -> {"closed":true,"stats"} and exit
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import * as main from '../../../dist/index.js';
import * as packet from '../../../dist/packet/index.js';

const nfq = { ...main, ...packet };

const cfg = JSON.parse(process.argv[2] ?? '{}');
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const errJson = (e) => ({ name: e.name, message: e.message, code: e.code, errno: e.errno, step: e.step, packetId: e.packetId, queue: e.queue });

const mode = cfg.mode ?? 'verdict';
const verdict = cfg.verdict ?? 'accept';
let queue;
let pendingBatch = [];
let lastBatch;
let batches = 0;
let lastQueue = 0;

// One batch verdict for every packet seen so far (they are pending: their promises never settle).
function sendBatch() {
  if (pendingBatch.length === 0) return;
  const maxId = Math.max(...pendingBatch);
  const n = pendingBatch.length;
  pendingBatch = [];
  const b = { verdict: cfg.batch.verdict ?? 'accept' };
  if (cfg.batch.mark !== undefined) b.mark = cfg.batch.mark;
  if (cfg.batch.priority !== undefined) b.priority = cfg.batch.priority;
  lastBatch = { q: lastQueue, maxId, b };
  queue.batchVerdict(lastQueue, maxId, b);
  batches++;
  out({ batch: true, maxId, n, batches });
}

function hex(b) {
  return b === undefined ? undefined : Buffer.from(b).toString('hex');
}

function describe(p) {
  const o = {
    queue: p.queue,
    id: p.id,
    family: p.family,
    hook: p.hook,
    hwProtocol: p.hwProtocol,
    mark: p.mark,
    priority: p.priority,
    indev: p.indev,
    outdev: p.outdev,
    physindev: p.physindev,
    physoutdev: p.physoutdev,
    indevName: nfq.interfaceName(p.indev),
    outdevName: nfq.interfaceName(p.outdev),
    physindevName: nfq.interfaceName(p.physindev),
    physoutdevName: nfq.interfaceName(p.physoutdev),
    hwaddr: nfq.formatHwaddr(p.hwaddr),
    timestamp: p.timestamp,
    uid: p.uid,
    gid: p.gid,
    secctx: p.secctx,
    skbInfo: p.skbInfo,
    len: p.payload?.byteLength,
    capLen: p.capLen,
    ct: p.ct !== undefined,
    ctInfo: p.ctInfo,
    vlan: p.vlan,
    l2hdr: hex(p.l2hdr),
    unknown: p.unknown?.map((a) => a.type),
  };
  if (p.payload !== undefined && p.payload.byteLength > 0) {
    try {
      o.data = Buffer.from(nfq.transportPayload(p.payload)).toString('latin1').slice(0, 64);
    } catch {
      /* not TCP/UDP */
    }
  }
  return o;
}

function rewrite(p) {
  const rule = cfg.rewriteByQueue?.[p.queue] ?? cfg.rewrite;
  if (rule === undefined) return 'accept';
  const { find, replace, fix } = rule;
  if (p.payload === undefined) return 'accept';
  let data;
  try {
    data = Buffer.from(nfq.transportPayload(p.payload));
  } catch {
    return 'accept';
  }
  const s = data.toString('latin1');
  if (!s.includes(find)) return 'accept';
  const newData = Buffer.from(s.replace(find, replace), 'latin1');
  if (fix === false) {
    // Negative control: same-length bytes changed, checksums left stale.
    const copy = Buffer.from(p.payload);
    const off = copy.byteLength - data.byteLength;
    newData.copy(copy, off, 0, Math.min(newData.length, data.length));
    return { verdict: 'accept', payload: copy };
  }
  return { verdict: 'accept', payload: nfq.withTransportPayload(p.payload, newData) };
}

let blocked = false;
function onPacket(p) {
  if (!cfg.quiet) out({ pkt: describe(p) });
  if (cfg.blockUntil !== undefined && !blocked) {
    // Hold the event loop (nothing is read from the socket) until the test says so.
    blocked = true;
    out({ blocking: true });
    while (!existsSync(cfg.blockUntil)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  switch (mode) {
    case 'verdict':
      return verdict;
    case 'repeat-mark':
      return p.mark === cfg.repeatMark ? 'accept' : nfq.repeat({ mark: cfg.repeatMark });
    case 'rewrite':
      return rewrite(p);
    case 'stall':
      return new Promise(() => {});
    case 'batch': {
      pendingBatch.push(p.id);
      lastQueue = p.queue;
      if (cfg.batch.count !== undefined && pendingBatch.length === cfg.batch.count) setImmediate(sendBatch);
      return new Promise(() => {});
    }
    default:
      throw new Error(`unknown mode ${mode}`);
  }
}

try {
  queue = await nfq.openQueue(cfg.queues ?? 0, onPacket, { ...(cfg.options ?? {}), onError: (e) => out({ error: errJson(e) }) });
} catch (e) {
  out({ openError: errJson(e) });
  process.exit(1);
}
if (cfg.dropTo) {
  process.setgroups?.([]);
  process.setgid(cfg.dropTo.gid);
  process.setuid(cfg.dropTo.uid);
}
out({ ready: true, queues: queue.queues, uid: process.getuid(), gid: process.getgid(), euid: process.geteuid() });

const rl = createInterface({ input: process.stdin });
rl.on('line', async (line) => {
  const cmd = line.trim();
  if (cmd === 'stats') out({ stats: queue.stats() });
  else if (cmd === 'batch') sendBatch();
  else if (cmd === 'batch-again' && lastBatch) {
    queue.batchVerdict(lastBatch.q, lastBatch.maxId, lastBatch.b);
    out({ batchAgain: true });
  } else if (cmd === 'close') {
    const stats = queue.stats();
    await queue.close();
    out({ closed: true, stats });
    process.exit(0);
  }
});
