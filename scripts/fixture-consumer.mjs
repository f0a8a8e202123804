#!/usr/bin/env node
// The recording consumer of scripts/capture-fixtures.mjs. Runs as root inside a network
// namespace (`ip netns exec NS node scripts/fixture-consumer.mjs '<json>'`), opens the queue
// through the built library (dist/) with `record: <pcap>`, answers packets as the
// scenario's plan says, and reports on stdout, one JSON object per line:
//   {"ready":true,"portId":N}   the queue is bound: start the traffic
//   {"packet":{...}}            a summary of each packet (for the log only)
//   {"error":{...}}             each error the library reported
//   {"openError":{...}}         openQueue itself was refused (an error scenario)
//   {"done":true,...}           closed; the pcap is complete
//
// The plan (config.plan[i] answers the i-th packet, config.planDefault the rest):
//   {"verdict":"accept"|"drop"|"repeat"|"stop", "mark"?:N, "connmark"?:N}
//   {"verdict":"queue","queue":N}                  requeue
//   {"verdict":"accept","rewrite":"uppercase-udp"}  new payload: UDP data upper-cased, checksums fixed
//   {"hold":true}                                  answer later (a batch verdict settles it)
//   {"hold":true,"batch":{"verdict":..,"mark"?:N}} and send a batch verdict up to this packet
//   {"batchFirst":{"verdict":..},"verdict":..}     batch verdict up to this packet, then a verdict
// config.until: "plan" (default: done after plan.length packets) or "tcp-fin" (done after a
// packet with TCP FIN). config.after: actions once done: {"action":"bind-again"},
// {"action":"flags-without-mask","flags":N}, {"action":"batch","maxId":N,"verdict":..}.
import { openQueue } from '../dist/index.js';
import { fixChecksums } from '../dist/packet/index.js';
import { encodeConfigCommand, nfqueueConstants as nfq } from '../dist/nfqueue/index.js';

/** A FLAGS request without its MASK: the kernel answers EINVAL (the error-flags-einval fixture). */
function encodeConfigFlagsWithoutMask(w, queue, flags) {
  w.begin({ type: nfq.NFQ_TYPE_CONFIG, flags: 1, seq: 0, pid: 0 });
  w.rawU8(nfq.NFPROTO_UNSPEC).rawU8(nfq.NFNETLINK_V0).rawBe16(queue);
  w.attrBe32(nfq.NFQA_CFG_FLAGS, flags);
  w.end();
}

const config = JSON.parse(process.argv[2] ?? '{}');
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const errors = [];
let queue;
let answered = 0;
let finished;
const allAnswered = new Promise((resolve) => {
  finished = resolve;
});

const timer = setTimeout(() => {
  out({ timeout: true, answered, errors });
  process.exit(1);
}, config.timeoutMs ?? 20000);

function uppercaseUdp(payload) {
  const p = Uint8Array.from(payload);
  const ihl = (p[0] & 0x0f) * 4;
  for (let i = ihl + 8; i < p.length; i++) if (p[i] >= 0x61 && p[i] <= 0x7a) p[i] -= 0x20;
  return fixChecksums(p);
}

function tcpFin(payload) {
  if (payload === undefined || payload.length < 1) return false;
  const v = payload[0] >> 4;
  const ihl = v === 4 ? (payload[0] & 0x0f) * 4 : 40;
  const proto = v === 4 ? payload[9] : payload[6];
  return proto === 6 && payload.length > ihl + 13 && (payload[ihl + 13] & 0x01) !== 0;
}

function verdictOf(step, pkt) {
  const v = { verdict: step.verdict };
  if (step.mark !== undefined) v.mark = step.mark;
  if (step.connmark !== undefined) v.connmark = step.connmark;
  if (step.queue !== undefined) v.queue = step.queue;
  if (step.rewrite === 'uppercase-udp') v.payload = uppercaseUdp(pkt.payload);
  return v;
}

function callback(pkt) {
  const i = answered++;
  const step = config.plan?.[i] ?? config.planDefault;
  out({ packet: { i, queue: pkt.queue, id: pkt.id, hook: pkt.hook, length: pkt.payload?.length, indev: pkt.indev, outdev: pkt.outdev, mark: pkt.mark } });
  const last = config.until === 'tcp-fin' ? tcpFin(pkt.payload) : i + 1 >= (config.plan?.length ?? 0);
  if (last) setImmediate(finished);
  if (step === undefined) return 'accept';
  if (step.hold) {
    if (step.batch !== undefined) queueMicrotask(() => queue.batchVerdict(pkt.queue, pkt.id, step.batch));
    return new Promise(() => {});
  }
  if (step.batchFirst !== undefined) queue.batchVerdict(pkt.queue, pkt.id, step.batchFirst);
  return verdictOf(step, pkt);
}

function onError(e) {
  const r = { name: e.name, code: e.code, errno: e.errno, step: e.step, queue: e.queue, packetId: e.packetId, message: e.message };
  errors.push(r);
  out({ error: r });
}

try {
  queue = await openQueue(config.queues ?? 0, callback, { ...config.options, record: config.record, onError });
} catch (e) {
  out({ openError: { name: e.name, code: e.code, errno: e.errno, step: e.step, queue: e.queue, message: e.message } });
  clearTimeout(timer);
  process.exit(0);
}
out({ ready: true, portId: queue.portId });

if ((config.plan?.length ?? 0) > 0 || config.until !== undefined) await allAnswered;
const q0 = queue.queues[0];
for (const a of config.after ?? []) {
  if (a.action === 'bind-again') {
    await queue.configure('bind', q0, encodeConfigCommand, q0, nfq.NFQNL_CFG_CMD_BIND, nfq.NFPROTO_UNSPEC).catch(onError);
  } else if (a.action === 'flags-without-mask') {
    await queue.configure('flags', q0, encodeConfigFlagsWithoutMask, q0, a.flags, undefined, a.flags).catch(onError);
  } else if (a.action === 'batch') {
    queue.batchVerdict(a.queue ?? q0, a.maxId, { verdict: a.verdict });
  }
}
// Verdict errors come back asynchronously: wait for the ones the scenario provokes.
const deadline = Date.now() + 3000;
while (errors.length < (config.expectErrors ?? 0) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
await queue.close();
clearTimeout(timer);
out({ done: true, answered, errors: errors.length });
