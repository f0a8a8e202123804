#!/usr/bin/env node
// Kernel-test consumer that iterates a queue with for await (BUILT public API, dist/).
//
//   iterating-consumer.mjs QUEUE MODE [--max-outstanding N] [--max-len N]
// Modes:
//   oddeven: accept odd "seq=N;" datagrams, drop even ones, answering each in the loop.
//   hold:    answer nothing; on SIGUSR1 print {"holding":n}; on SIGUSR2 accept the held
//            packets and break the loop at the next one.
// Prints {"ready":true,"transport":…} once bound. On SIGTERM (oddeven) the signal aborts
// the loop. After the loop: {"closed":true,"seqs":[…],"ids":[…],"stats":…}.
import { openQueue } from '../../../dist/index.js';

const [, , queueArg, mode = 'oddeven', ...rest] = process.argv;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const i = rest.indexOf('--max-outstanding');
const maxOutstanding = i >= 0 ? Number(rest[i + 1]) : undefined;
const j = rest.indexOf('--max-len');
const maxLen = j >= 0 ? Number(rest[j + 1]) : undefined;

function udpSeq(payload) {
  const ihl = payload[0] >> 4 === 4 ? (payload[0] & 15) * 4 : 40;
  const m = /seq=(\d+);/.exec(Buffer.from(payload.subarray(ihl + 8)).toString('latin1'));
  return m ? Number(m[1]) : -1;
}

const ac = new AbortController();
process.once('SIGTERM', () => ac.abort());
let stop = false;
const held = [];
// SIGUSR2: answer the held packets (so reading resumes), then break at the next packet.
process.on('SIGUSR2', () => {
  stop = true;
  for (const p of held.splice(0)) p.accept();
});
const queue = await openQueue(Number(queueArg), {
  signal: ac.signal,
  // Held packets stay in the socket's receive buffer: make room for the test's burst.
  receiveBufferSize: 8 << 20,
  // The test's datagrams are small. A short copy range keeps the netlink package's socket,
  // whose queue is bounded to what its receive buffer holds, able to hold the whole burst.
  copyRange: 1024,
  onError: (err) => out({ error: { name: err.name, code: err.code, message: err.message } }),
  ...(maxOutstanding === undefined ? {} : { maxOutstanding }),
  ...(maxLen === undefined ? {} : { maxLen }),
});
out({ ready: true, transport: queue.transportKind, portId: queue.portId });

const seqs = [];
const ids = [];
process.on('SIGUSR1', () => out({ holding: held.length }));
for await (const packet of queue) {
  seqs.push(udpSeq(packet.payload));
  ids.push(packet.id);
  if (mode === 'hold') {
    if (stop) break;
    held.push(packet);
    continue;
  }
  if (seqs.at(-1) % 2 === 1) packet.accept();
  else packet.drop();
}
out({ closed: true, closedQueue: queue.isClosed, held: held.length, seqs, ids, stats: queue.stats() });
