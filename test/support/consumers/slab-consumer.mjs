#!/usr/bin/env node
// Child for native-kernel.test.ts: accepts everything on QUEUE (native transport), keeps the
// payload views of the first KEEP packets with a copy of each, and forces a full garbage
// collection every 100 packets so that collected receive slabs are reused. Prints
// {"ready":true} once bound and, on SIGTERM, {"done":true,"received":N,"kept":K,
// "changed":C,"stats":{...}}: C kept views whose bytes differ from their copies.
import v8 from 'node:v8';
import vm from 'node:vm';
import { openQueue } from '../../../dist/index.js';
import { openNativeTransport } from '../../../dist/netlink/index.js';

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const [, , queueArg, keepArg = '200'] = process.argv;
const keep = Number(keepArg);
const out = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const transport = openNativeTransport(12);
const kept = [];
let received = 0;
const q = await openQueue(Number(queueArg), (p) => {
  if (received < keep) kept.push({ view: p.payload, copy: p.payload.slice() });
  if (++received % 100 === 0) gc();
  return 'accept';
}, { transport, flags: { gso: true }, receiveBufferSize: 8 << 20 });
out({ ready: true, portId: q.portId });
process.on('SIGTERM', async () => {
  gc();
  const changed = kept.filter((k) => Buffer.compare(k.view, k.copy) !== 0).length;
  const stats = transport.stats();
  await q.close();
  out({ done: true, received, kept: kept.length, changed, stats });
  process.exit(0);
});
