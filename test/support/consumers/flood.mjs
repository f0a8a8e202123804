#!/usr/bin/env node
// A UDP flood for robustness tests: sends as fast as Node can to HOST PORT for --seconds
// (or --count datagrams), keeping at most --window sends in flight. Plain JS, no
// dependencies; runs inside the test's namespace. Prints one JSON line at the end:
// {"done":true,"sent":N,"errors":E,"ms":T}. SIGTERM stops it early (summary still printed).
import dgram from 'node:dgram';

const [, , host, portArg, ...rest] = process.argv;
const opt = (name, dflt) => {
  const i = rest.indexOf(`--${name}`);
  return i >= 0 ? Number(rest[i + 1]) : dflt;
};
const seconds = opt('seconds', 0);
const count = opt('count', 0);
const size = opt('size', 64);
const window = opt('window', 128);
const port = Number(portArg);
const sock = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
sock.on('error', () => {});
const buf = Buffer.alloc(size, 0x2e);
buf.write('flood;');
let sent = 0;
let errors = 0;
let inFlight = 0;
let stop = false;
const start = performance.now();
const deadline = seconds > 0 ? start + seconds * 1000 : Infinity;
process.on('SIGTERM', () => {
  stop = true;
});

function finish() {
  process.stdout.write(JSON.stringify({ done: true, sent, errors, ms: Math.round(performance.now() - start) }) + '\n');
  sock.close();
  process.exit(0);
}

function onSent(err) {
  inFlight--;
  if (err) errors++;
  else sent++;
  pump();
}

function pump() {
  if (stop || performance.now() >= deadline || (count > 0 && sent + errors + inFlight >= count)) {
    stop = true;
    if (inFlight === 0) finish();
    return;
  }
  while (inFlight < window && !(count > 0 && sent + errors + inFlight >= count)) {
    inFlight++;
    sock.send(buf, port, host, onSent);
  }
}
sock.bind(0, () => pump());
