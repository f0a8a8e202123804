#!/usr/bin/env node
// Kernel-test consumer: opens a queue with the BUILT public API (dist/) inside the test's
// namespace and answers by a policy. One JSON object per stdout line.
//
//   consumer.mjs QUEUE POLICY [--default accept|drop] [--copy-range BYTES]
// Policies: accept | oddeven (accept odd seq, drop even, by the "seq=N;" UDP payload) |
//   mark=N (accept with mark N) | throw-every=K (every Kth callback throws) |
//   hold (answer nothing until close) | reject-every=K (every Kth returns a rejecting Promise)
// Prints {"ready":true,"portId":P} once bound, {"error":{name,code,message,packetId}} for
// each reported error, and on SIGTERM closes the queue and prints {"closed":true,"stats":…}.
import { openQueue } from '../../dist/index.js';

const [, , queueArg, policy = 'accept', ...rest] = process.argv;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : dflt;
};

function udpSeq(payload) {
  if (!payload) return -1;
  const ihl = payload[0] >> 4 === 4 ? (payload[0] & 15) * 4 : 40;
  const text = Buffer.from(payload.subarray(ihl + 8)).toString('latin1');
  const m = /seq=(\d+);/.exec(text);
  return m ? Number(m[1]) : -1;
}

let n = 0;
const seen = [];
const [pname, parg] = policy.split('=');
const k = Number(parg);
function callback(p) {
  n++;
  switch (pname) {
    case 'accept':
      return 'accept';
    case 'oddeven': {
      const s = udpSeq(p.payload);
      seen.push(s);
      return s % 2 === 1 ? 'accept' : 'drop';
    }
    case 'mark':
      return { verdict: 'accept', mark: k };
    case 'throw-every':
      if (n % k === 0) throw new Error(`policy throws on callback ${n}`);
      return 'accept';
    case 'reject-every':
      if (n % k === 0) return Promise.reject(new Error(`policy rejects on callback ${n}`));
      return Promise.resolve('accept');
    case 'hold':
      return new Promise(() => {});
    default:
      throw new Error(`unknown policy ${policy}`);
  }
}

let queue;
try {
  queue = await openQueue(Number(queueArg), callback, {
    defaultVerdict: opt('default', 'accept'),
    ...(opt('copy-range') !== undefined ? { copyRange: Number(opt('copy-range')) } : {}),
    onError: (e) => out({ error: { name: e.name, code: e.code, message: e.message, packetId: e.packetId } }),
  });
} catch (e) {
  out({ openError: { name: e.name, code: e.code, step: e.step, message: e.message } });
  process.exit(1);
}
out({ ready: true, portId: queue.portId, transport: queue.transportKind });

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  await queue.close();
  out({ closed: true, callbacks: n, stats: queue.stats() });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('data', (d) => {
  if (String(d).includes('stats')) out({ stats: queue.stats(), callbacks: n });
});
