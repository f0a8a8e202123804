#!/usr/bin/env node
// Child for native-kernel.test.ts: opens QUEUE through the built library with the native
// transport, accepts everything; the first callback busy-waits HOLD_MS so that packets pile
// up in the socket. Prints {"ready":true} once bound and, on SIGTERM,
// {"done":true,"received":N,"calls":C,"stats":{...}} (calls = datagram() deliveries).
import { openQueue } from '../../../dist/index.js';
import { openNativeTransport } from '../../../dist/netlink/index.js';

const [, , queueArg, holdArg = '300'] = process.argv;
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const transport = openNativeTransport(12);
let calls = 0;
const start = transport.start.bind(transport);
transport.start = (h) => start({ ...h, datagram: (d) => { calls++; h.datagram(d); } });
let received = 0;
const hold = Number(holdArg);
const q = await openQueue(Number(queueArg), () => {
  if (received++ === 0) {
    const t0 = Date.now();
    while (Date.now() - t0 < hold);
  }
  return 'accept';
}, { transport, flags: { gso: true }, receiveBufferSize: 8 << 20 });
out({ ready: true, portId: q.portId });
process.on('SIGTERM', async () => {
  const stats = transport.stats();
  await q.close();
  out({ done: true, received, calls, stats });
  process.exit(0);
});
