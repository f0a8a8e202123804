#!/usr/bin/env node
// Robustness-test consumer: opens a queue with the BUILT public API (dist/) inside the test's
// namespace and answers by a policy. One JSON object per stdout line.
//
//   consumer.mjs QUEUE POLICY [--default V] [--rcvbuf BYTES] [--maxlen N]
//                [--verdict-timeout MS] [--max-inflight N] [--slow-us N]
// Policies:
//   accept          answer 'accept' at once
//   slow            busy-wait --slow-us microseconds per packet, then 'accept' (a slow consumer)
//   async           a Promise that resolves 'accept' after 0..3 ms (many in flight at once)
//   hung            a Promise that never settles
//   throw-every=K   every Kth callback throws, the others accept
//   double          async: the packet is answered with setVerdict('accept'), then setVerdict
//                   again (must throw VerdictStateError), then the Promise resolves 'drop'
//                   (must be ignored)
// Lines: {"ready":true,"portId":P,"pid":N} once bound; {"overrun":{message,code}} per 'overrun'
// event (first 50; all are counted); {"error":{name,code,message}} for the first 20 reported
// errors (all counted by name); on "stats" on stdin {"stats":…,"errorsByName":…,"rss":…};
// on SIGTERM/SIGINT close() then {"closed":true,…} and exit 0. Any unhandled rejection or
// uncaught exception prints {"fatal":…} and exits 70.
import { openQueue, VerdictStateError } from '../../../dist/index.js';

const [, , queueArg, policy = 'accept', ...rest] = process.argv;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? rest[i + 1] : dflt;
};
const numOpt = (name) => (opt(name) === undefined ? undefined : Number(opt(name)));

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

const [pname, parg] = policy.split('=');
const k = Number(parg);
const slowUs = numOpt('slow-us') ?? 0;
let n = 0;
let doubleRefused = 0;
let doubleOther = 0;
let queue;

function busyWait(us) {
  const end = performance.now() + us / 1000;
  while (performance.now() < end);
}

function callback(p) {
  n++;
  switch (pname) {
    case 'accept':
      return 'accept';
    case 'slow':
      busyWait(slowUs);
      return 'accept';
    case 'async':
      return new Promise((resolve) => setTimeout(() => resolve('accept'), n % 4));
    case 'hung':
      return new Promise(() => {});
    case 'throw-every':
      if (n % k === 0) throw new Error(`policy throws on callback ${n}`);
      return 'accept';
    case 'double':
      return new Promise((resolve) => {
        setImmediate(() => {
          queue.setVerdict(p.queue, p.id, 'accept');
          try {
            queue.setVerdict(p.queue, p.id, 'accept');
            doubleOther++;
          } catch (e) {
            if (e instanceof VerdictStateError) doubleRefused++;
            else doubleOther++;
          }
          resolve('drop'); // must be ignored: the packet already has its verdict
        });
      });
    default:
      throw new Error(`unknown policy ${policy}`);
  }
}

const errorsByName = {};
let errorLines = 0;
let overrunEvents = 0;
const options = {
  defaultVerdict: opt('default', 'accept'),
  onError: (e) => {
    errorsByName[e.name] = (errorsByName[e.name] ?? 0) + 1;
    if (errorLines++ < 20) out({ error: { name: e.name, code: e.code, message: e.message } });
  },
};
if (opt('rcvbuf') !== undefined) options.receiveBufferSize = numOpt('rcvbuf');
if (opt('maxlen') !== undefined) options.maxLen = numOpt('maxlen');
if (opt('verdict-timeout') !== undefined) options.verdictTimeout = numOpt('verdict-timeout');
if (opt('max-inflight') !== undefined) options.maxInFlight = numOpt('max-inflight');

try {
  queue = await openQueue(Number(queueArg), callback, options);
} catch (e) {
  out({ openError: { name: e.name, code: e.code, step: e.step, message: e.message } });
  process.exit(1);
}
queue.on('overrun', (e) => {
  overrunEvents++;
  if (overrunEvents <= 50) out({ overrun: { name: e.name, code: e.code, message: e.message } });
});
out({ ready: true, portId: queue.portId, pid: process.pid, uid: process.getuid() });

const extra = () => ({ callbacks: n, errorsByName, overrunEvents, doubleRefused, doubleOther, rss: { min: rssMin, max: rssMax, now: process.memoryUsage.rss() } });

let closing = false;
async function shutdown() {
  if (closing) return;
  closing = true;
  await queue.close();
  sampleRss();
  out({ closed: true, stats: queue.stats(), ...extra() });
  process.exit(0);
}
process.on('SIGTERM', shutdown);
process.on('SIGINT', shutdown);
process.stdin.on('data', (d) => {
  if (String(d).includes('stats')) {
    sampleRss();
    out({ stats: queue.stats(), ...extra() });
  }
});
