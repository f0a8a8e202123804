#!/usr/bin/env node
// End-to-end benchmark consumer (the `node` peer of bench/e2e.mjs): binds queue(s) with copy
// mode PACKET (whole packets, GSO flag like the C peers in bench/c/) and accepts everything,
// through the built public API (dist/). On SIGTERM/SIGINT prints one JSON line and exits.
//
//   node bench/consumer.mjs QUEUE                  one queue, main thread
//   node bench/consumer.mjs QFIRST:QLAST           several queues, one socket, main thread
//   node bench/consumer.mjs QFIRST:QLAST --workers N   queues spread over N worker threads
//                                                   (for iptables --queue-balance QFIRST:QLAST)
//   --iterate                    serve with `for await (const packet of queue) packet.accept()`
//   --batches                    serve with `for await (const batch of queue.batches())`, accepting each packet
//                                instead of a callback (the README's loop)
//   --transport native|netlink   force a transport (default: native when built)
//   --rcvbuf BYTES               socket receive buffer
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';
import { openQueue } from '../dist/index.js';
import { openNativeTransport, openSocketTransport } from '../dist/netlink/index.js';

const NETLINK_NETFILTER = 12;

function parseArgs(argv) {
  const a = { queues: [0], workers: 0, transport: undefined, rcvbuf: undefined, iterate: false, batches: false };
  const rest = [];
  for (let i = 0; i < argv.length; i++) {
    const x = argv[i];
    if (x === '--workers') a.workers = Number(argv[++i]);
    else if (x === '--transport') a.transport = argv[++i];
    else if (x === '--rcvbuf') a.rcvbuf = Number(argv[++i]);
    else if (x === '--iterate') a.iterate = true;
    else if (x === '--batches') a.batches = true;
    else rest.push(x);
  }
  if (rest[0] !== undefined) {
    const [lo, hi] = rest[0].split(':').map(Number);
    a.queues = [];
    for (let q = lo; q <= (hi ?? lo); q++) a.queues.push(q);
  }
  return a;
}

async function serve(queues, args, onCount) {
  let n = 0;
  const options = { copyMode: 'packet', flags: { gso: true } };
  if (args.rcvbuf !== undefined) options.receiveBufferSize = args.rcvbuf;
  if (args.transport === 'netlink') options.transport = () => openSocketTransport(NETLINK_NETFILTER);
  else if (args.transport === 'native') options.transport = () => openNativeTransport(NETLINK_NETFILTER, { messageSize: 65535 + 4096 });
  if (args.iterate) {
    const q = await openQueue(queues, options);
    onCount(() => n, q);
    void (async () => {
      for await (const packet of q) {
        n++;
        packet.accept();
      }
    })();
    return q;
  }
  if (args.batches) {
    const q = await openQueue(queues, options);
    onCount(() => n, q);
    void (async () => {
      for await (const batch of q.batches()) {
        for (const packet of batch) {
          n++;
          packet.accept();
        }
      }
    })();
    return q;
  }
  const q = await openQueue(queues, () => {
    n++;
    return 'accept';
  }, options);
  onCount(() => n, q);
  return q;
}

if (isMainThread) {
  const args = parseArgs(process.argv.slice(2));
  const counters = [];
  const workers = [];
  let queueObj;
  if (args.workers > 0) {
    // Queue q goes to worker (q - first) % workers.
    const groups = Array.from({ length: args.workers }, () => []);
    args.queues.forEach((q, i) => groups[i % args.workers].push(q));
    const shared = new Int32Array(new SharedArrayBuffer(4 * args.workers));
    await Promise.all(
      groups.map(
        (qs, i) =>
          new Promise((resolve, reject) => {
            const w = new Worker(new URL(import.meta.url), { workerData: { queues: qs, args, shared, index: i } });
            w.once('message', resolve);
            w.once('error', reject);
            workers.push(w);
          }),
      ),
    );
    counters.push(() => shared.reduce((s, x) => s + x, 0));
  } else {
    queueObj = await serve(args.queues, args, (get) => counters.push(get));
  }
  process.stderr.write(`ready ${JSON.stringify({ queues: args.queues, workers: args.workers, transport: queueObj?.transportKind ?? args.transport ?? 'default' })}\n`);
  const done = () => {
    const packets = counters.reduce((s, f) => s + f(), 0);
    // The transport is private API (the Queue's NetlinkConn holds it); read here only to
    // report the native socket's system-call counters.
    const t = queueObj?.conn?.transport ?? queueObj?.transport;
    const report = { consumer: 'netfilter-queue', iterate: args.iterate, batches: args.batches, queues: args.queues, workers: args.workers, packets, transport: t?.kind };
    if (typeof t?.stats === 'function') report.syscalls = t.stats();
    process.stdout.write(`${JSON.stringify(report)}\n`);
    process.exit(0);
  };
  process.on('SIGTERM', done);
  process.on('SIGINT', done);
} else {
  const { queues, args, shared, index } = workerData;
  await serve(queues, args, (get) => {
    // Publish the count a few times a second (cheap) for the main thread's report.
    setInterval(() => Atomics.store(shared, index, get()), 100).unref();
  });
  parentPort.postMessage('ready');
}
