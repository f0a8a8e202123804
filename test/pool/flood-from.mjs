#!/usr/bin/env node
// UDP to HOST PORT from many source addresses (the --queue-balance hash covers addresses,
// not ports): flood-from HOST PORT SOURCES SECONDS. Sends round-robin, 64 datagrams at a
// time, as fast as it can. Prints {"done":true,"sent":N} at the end (or on SIGTERM).
import dgram from 'node:dgram';

const [host, portS, sourcesS, secondsS] = process.argv.slice(2);
const port = Number(portS);
const socks = await Promise.all(
  sourcesS.split(',').map(
    (addr) =>
      new Promise((res) => {
        const s = dgram.createSocket('udp4');
        s.on('error', () => {});
        // connect(): no per-datagram address lookup.
        s.bind(0, addr, () => s.connect(port, host, () => res(s)));
      }),
  ),
);
const buf = Buffer.from('flood;................................');
const deadline = performance.now() + Number(secondsS) * 1000;
let sent = 0;
let next = 0;
let stop = false;
process.on('SIGTERM', () => (stop = true));
while (!stop && performance.now() < deadline) {
  await new Promise((res) => {
    let n = 64;
    const done = (e) => {
      if (!e) sent++;
      if (--n === 0) setImmediate(res);
    };
    for (let i = 0; i < 64; i++) socks[next++ % socks.length].send(buf, done);
  });
}
process.stdout.write(`${JSON.stringify({ done: true, sent })}\n`);
process.exit(0);
