#!/usr/bin/env node
// The one single-queue consumer of the kernel tests, on the BUILT library (dist/), run inside
// a test namespace and driven from TypeScript by test/support/consumer.ts.
//   node consumer.mjs '<json config>'
//
// Config (every field optional):
//   queues          a queue number or a list (default 0)
//   iterate         true: a `for await` loop answers instead of a callback; 'batches': a
//                   `for await (const batch of queue.batches())` loop
//   policy          how each packet is answered (default 'verdict' when `verdict` is given,
//                   else 'accept'):
//     accept        'accept'
//     verdict       `verdict`: a verdict name or object ({verdict:'queue',queue:2,...})
//     oddeven       accept a "seq=N;" datagram with an odd N, drop an even one
//     mark          accept with mark `mark`
//     repeat-mark   repeat with mark `mark` unless the packet carries it, then accept
//     throw-every   every `every`th callback throws, the others accept
//     reject-every  every `every`th callback returns a rejecting Promise, the others accept
//     hold          never answer (a callback's Promise never settles; a loop keeps the
//                   packets: SIGUSR1 prints {"holding":n}, SIGUSR2 accepts them and breaks
//                   the loop at the next packet)
//     slow          block `slowUs` microseconds (sleeping), then accept
//     async         a Promise that resolves 'accept' after 0..3 ms
//     double        setVerdict('accept'), again (must throw VerdictStateError), then the
//                   Promise resolves 'drop' (must be ignored)
//     batch         leave packets pending; after `batch.count` of them (or on stdin "batch")
//                   ONE batch verdict {batch.verdict, batch.mark, batch.priority}
//     rewrite       replace `rewrite.find` by `rewrite.replace` in UDP/TCP data (or per queue:
//                   rewriteByQueue {"1": {find, replace, fix}}); checksums fixed
//                   (withTransportPayload) unless fix === false
//   options         passed to openQueue (defaultVerdict, receiveBufferSize, maxLen, copyRange,
//                   verdictTimeout, maxInFlight, maxOutstanding, flags, rule, ...)
//   report          print {"pkt":{...}} per packet
//   overrunEvents   listen to the queue's 'overrun' event (without a listener, the queue
//                   reports an overrun through onError, as an error line)
//   blockUntil      the first packet blocks the event loop until this path exists
//   holdFirstMs     the first callback busy-waits this long (packets pile up in the socket)
//   native          open the native transport ourselves and count its datagram deliveries
//   keep            (native) keep the payload views of the first `keep` packets with a copy
//                   of each, and collect garbage every 100 packets (receive slabs reused)
//   dropTo          {uid, gid}: setgid/setuid to these once open
//
// Lines: {"ready":true,...} once open (or {"openError":{...}} and exit 1); {"error":{...}} per
// reported error (the first 1000; all counted by name); {"overrun":{...}} per 'overrun' event
// (the first 50; all counted); {"fatal":{...}} and exit 70 on an unhandled rejection or uncaught exception.
// stdin: "stats" -> {"stats":...}; "batch" -> one batch verdict; "batch-again" -> the last
// batch verdict again; "close" (or SIGTERM/SIGINT) -> close(), {"closed":true,"stats":...},
// exit 0. A loop ends on SIGTERM (the queue's signal) and then prints its closing line.
import { existsSync } from 'node:fs';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as main from '../../../dist/index.js';
import * as packet from '../../../dist/packet/index.js';
import { openNativeTransport } from '../../../dist/netlink/index.js';

const nfq = { ...main, ...packet };
const cfg = JSON.parse(process.argv[2] ?? '{}');
const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const errJson = (e) => ({ name: e.name, message: e.message, code: e.code, errno: e.errno, step: e.step, packetId: e.packetId, queue: e.queue });

for (const ev of ['unhandledRejection', 'uncaughtException']) {
  process.on(ev, (e) => {
    out({ fatal: { event: ev, name: e?.name, message: String(e?.message ?? e) } });
    process.exit(70);
  });
}

let rssMax = 0;
let rssMin = Infinity;
const sampleRss = () => {
  const r = process.memoryUsage.rss();
  if (r > rssMax) rssMax = r;
  if (r < rssMin) rssMin = r;
};
sampleRss();
setInterval(sampleRss, 200).unref();

const policy = cfg.policy ?? (cfg.verdict !== undefined ? 'verdict' : 'accept');
let queue;
let n = 0;
let doubleRefused = 0;
let doubleOther = 0;

function udpSeq(payload) {
  if (!payload) return -1;
  const ihl = payload[0] >> 4 === 4 ? (payload[0] & 15) * 4 : 40;
  const m = /seq=(\d+);/.exec(Buffer.from(payload.subarray(ihl + 8)).toString('latin1'));
  return m ? Number(m[1]) : -1;
}

// The slow consumer's work: it blocks the thread for `ms` like a busy callback would, but
// sleeping, so that a test of a slow consumer does not also load a core.
const sleeper = new Int32Array(new SharedArrayBuffer(4));
function blockFor(ms) {
  const end = performance.now() + ms;
  for (let left = ms; left > 0; left = end - performance.now()) Atomics.wait(sleeper, 0, 0, left);
}

// ---------------------------------------------------------------- batch verdicts

let pendingBatch = [];
let lastBatch;
let batches = 0;
let lastQueue = 0;

// One batch verdict for every packet seen so far (they are pending: their promises never settle).
function sendBatch() {
  if (pendingBatch.length === 0) return;
  const maxId = Math.max(...pendingBatch);
  const count = pendingBatch.length;
  pendingBatch = [];
  const b = { verdict: cfg.batch.verdict ?? 'accept' };
  if (cfg.batch.mark !== undefined) b.mark = cfg.batch.mark;
  if (cfg.batch.priority !== undefined) b.priority = cfg.batch.priority;
  lastBatch = { q: lastQueue, maxId, b };
  queue.batchVerdict(lastQueue, maxId, b);
  batches++;
  out({ batch: true, maxId, n: count, batches });
}

// ---------------------------------------------------------------- reports and rewrites

const hex = (b) => (b === undefined ? undefined : Buffer.from(b).toString('hex'));

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
  if (rule === undefined || p.payload === undefined) return 'accept';
  const { find, replace, fix } = rule;
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

// ---------------------------------------------------------------- the callback

const gc = cfg.keep === undefined ? undefined : (v8.setFlagsFromString('--expose-gc'), vm.runInNewContext('gc'));
const kept = [];
let blocked = false;

function onPacket(p) {
  n++;
  if (cfg.report) out({ pkt: describe(p) });
  if (cfg.blockUntil !== undefined && !blocked) {
    // Hold the event loop (nothing is read from the socket) until the test says so.
    blocked = true;
    out({ blocking: true });
    while (!existsSync(cfg.blockUntil)) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  if (cfg.holdFirstMs !== undefined && n === 1) blockFor(cfg.holdFirstMs);
  if (gc !== undefined) {
    if (kept.length < cfg.keep) kept.push({ view: p.payload, copy: p.payload.slice() });
    if (n % 100 === 0) gc();
  }
  switch (policy) {
    case 'accept':
      return 'accept';
    case 'verdict':
      return cfg.verdict;
    case 'oddeven':
      return udpSeq(p.payload) % 2 === 1 ? 'accept' : 'drop';
    case 'mark':
      return { verdict: 'accept', mark: cfg.mark };
    case 'repeat-mark':
      return p.mark === cfg.mark ? 'accept' : nfq.repeat({ mark: cfg.mark });
    case 'throw-every':
      if (n % cfg.every === 0) throw new Error(`policy throws on callback ${n}`);
      return 'accept';
    case 'reject-every':
      if (n % cfg.every === 0) return Promise.reject(new Error(`policy rejects on callback ${n}`));
      return Promise.resolve('accept');
    case 'hold':
      return new Promise(() => {});
    case 'slow':
      blockFor((cfg.slowUs ?? 0) / 1000);
      return 'accept';
    case 'async':
      return new Promise((resolve) => setTimeout(() => resolve('accept'), n % 4));
    case 'double':
      return new Promise((resolve) => {
        setImmediate(() => {
          queue.setVerdict(p.queue, p.id, 'accept');
          try {
            queue.setVerdict(p.queue, p.id, 'accept');
            doubleOther++;
          } catch (e) {
            if (e instanceof nfq.VerdictStateError) doubleRefused++;
            else doubleOther++;
          }
          resolve('drop'); // must be ignored: the packet already has its verdict
        });
      });
    case 'batch':
      pendingBatch.push(p.id);
      lastQueue = p.queue;
      if (cfg.batch.count !== undefined && pendingBatch.length === cfg.batch.count) setImmediate(sendBatch);
      return new Promise(() => {});
    case 'rewrite':
      return rewrite(p);
    default:
      throw new Error(`unknown policy ${policy}`);
  }
}

// ---------------------------------------------------------------- open

const errorsByName = {};
let errorLines = 0;
let overrunEvents = 0;
let calls = 0;
let transport;
if (cfg.native) {
  transport = openNativeTransport(12);
  const start = transport.start.bind(transport);
  transport.start = (h) => start({ ...h, datagram: (d) => (calls++, h.datagram(d)) });
}
const ac = new AbortController();
const options = {
  ...(cfg.options ?? {}),
  ...(transport === undefined ? {} : { transport }),
  ...(cfg.iterate ? { signal: ac.signal } : {}),
  onError: (e) => {
    errorsByName[e.name] = (errorsByName[e.name] ?? 0) + 1;
    if (errorLines++ < 1000) out({ error: errJson(e) });
  },
};
try {
  queue = cfg.iterate ? await nfq.openQueue(cfg.queues ?? 0, options) : await nfq.openQueue(cfg.queues ?? 0, onPacket, options);
} catch (e) {
  out({ openError: errJson(e) });
  process.exit(1);
}
if (cfg.overrunEvents) {
  queue.on('overrun', (e) => {
    if (++overrunEvents <= 50) out({ overrun: { name: e.name, code: e.code, message: e.message } });
  });
}
if (cfg.dropTo) {
  process.setgroups?.([]);
  process.setgid(cfg.dropTo.gid);
  process.setuid(cfg.dropTo.uid);
}
out({
  ready: true,
  queues: queue.queues,
  portId: queue.portId,
  transport: queue.transportKind,
  rule: queue.stats().rule,
  pid: process.pid,
  uid: process.getuid(),
  gid: process.getgid(),
  euid: process.geteuid(),
});

// What the closing and stats lines add to the queue's stats.
function extra() {
  sampleRss();
  const o = { callbacks: n, errorsByName, overrunEvents, doubleRefused, doubleOther, rss: { min: rssMin, max: rssMax, now: process.memoryUsage.rss() } };
  if (transport !== undefined) Object.assign(o, { calls, transportStats: transport.stats() });
  if (gc !== undefined) {
    gc();
    Object.assign(o, { kept: kept.length, changed: kept.filter((k) => Buffer.compare(k.view, k.copy) !== 0).length });
  }
  return o;
}

let closing = false;
async function close() {
  if (closing) return;
  closing = true;
  const before = extra();
  await queue.close();
  out({ closed: true, stats: queue.stats(), ...before });
  process.exit(0);
}

createInterface({ input: process.stdin }).on('line', (line) => {
  const cmd = line.trim();
  if (cmd === 'stats') out({ stats: queue.stats(), ...extra() });
  else if (cmd === 'batch') sendBatch();
  else if (cmd === 'batch-again' && lastBatch) {
    queue.batchVerdict(lastBatch.q, lastBatch.maxId, lastBatch.b);
    out({ batchAgain: true });
  } else if (cmd === 'close') void close();
});

if (!cfg.iterate) {
  process.on('SIGTERM', close);
  process.on('SIGINT', close);
} else {
  // ---------------------------------------------------------------- the loop
  process.once('SIGTERM', () => ac.abort());
  let stop = false;
  const held = [];
  process.on('SIGUSR1', () => out({ holding: held.length }));
  // SIGUSR2: answer the held packets (so reading resumes), then break at the next packet.
  process.on('SIGUSR2', () => {
    stop = true;
    for (const p of held.splice(0)) p.accept();
  });
  const seqs = [];
  const ids = [];
  const batchSizes = [];
  /** Answers (or holds) one packet; true: leave the loop. */
  const take = (p) => {
    n++;
    seqs.push(udpSeq(p.payload));
    ids.push(p.id);
    if (policy === 'hold') {
      if (stop) return true;
      held.push(p);
      return false;
    }
    if (policy !== 'oddeven') throw new Error(`policy ${policy} is for callbacks`);
    if (seqs.at(-1) % 2 === 1) p.accept();
    else p.drop();
    return false;
  };
  if (cfg.iterate === 'batches') {
    loop: for await (const batch of queue.batches()) {
      batchSizes.push(batch.length);
      for (const p of batch) if (take(p)) break loop;
    }
  } else {
    for await (const p of queue) if (take(p)) break;
  }
  out({ closed: true, closedQueue: queue.isClosed, held: held.length, seqs, ids, batchSizes, stats: queue.stats() });
  // The loop ends as the close begins (a break or the signal): exit once it is done.
  await queue.close();
  process.exit(0);
}
