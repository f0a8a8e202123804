#!/usr/bin/env node
// Traffic for `npm run demo`, run INSIDE the demo's network namespace. Only ever talks to
// 127.0.0.1 and ::1. No dependencies.
//
//   node demo-traffic.mjs mix      UDP, TCP and ICMP over IPv4 and IPv6, spread over a few
//                                  seconds, with a narration line before each step
//   node demo-traffic.mjs drop     3 UDP datagrams to port 9 (the demo drops them)
//
// Narration goes to stderr, each line starting with "\r\x1b[K" so that it replaces the live
// status line nfq-dump draws on the same terminal.

import dgram from 'node:dgram';
import net from 'node:net';
import { spawnSync } from 'node:child_process';

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tty = process.stderr.isTTY;
const say = (msg) => process.stderr.write(`${tty ? '\r\x1b[K' : ''}${tty ? '\x1b[36m' : ''}>>> ${msg}${tty ? '\x1b[0m' : ''}\n`);

function udpServer(host, port) {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket({ type: net.isIPv6(host) ? 'udp6' : 'udp4', ipv6Only: net.isIPv6(host) });
    const got = [];
    s.on('message', (m) => got.push(m.toString()));
    s.once('error', reject);
    s.bind(port, host, () => resolve({ got, close: () => s.close() }));
  });
}

function udpSend(host, port, texts) {
  return new Promise((resolve) => {
    const s = dgram.createSocket(net.isIPv6(host) ? 'udp6' : 'udp4');
    const errors = [];
    let left = texts.length;
    s.on('error', () => {});
    for (const t of texts) {
      s.send(Buffer.from(t), port, host, (e) => {
        if (e) errors.push(e.code ?? String(e));
        if (--left === 0) {
          s.close();
          resolve(errors);
        }
      });
    }
  });
}

function tcpServer(host, port) {
  return new Promise((resolve, reject) => {
    const srv = net.createServer((c) => {
      c.on('data', (d) => c.write(`echo: ${d}`));
      c.on('end', () => c.end());
      c.on('error', () => {});
    });
    srv.once('error', reject);
    srv.listen({ host, port, ipv6Only: net.isIPv6(host) }, () => resolve({ close: () => srv.close() }));
  });
}

function tcpExchange(host, port, text) {
  return new Promise((resolve, reject) => {
    const c = net.connect({ host, port });
    let reply = '';
    const timer = setTimeout(() => {
      c.destroy();
      reject(new Error(`TCP to ${host}:${port} timed out`));
    }, 5000);
    c.on('connect', () => c.end(text));
    c.on('data', (d) => (reply += d));
    c.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    c.on('close', () => {
      clearTimeout(timer);
      resolve(reply);
    });
  });
}

function ping(args) {
  const r = spawnSync('ping', args, { stdio: 'ignore', timeout: 5000 });
  return r.error === undefined && r.status === 0;
}

async function mix() {
  const udp4 = await udpServer('127.0.0.1', 7000);
  const udp6 = await udpServer('::1', 7000);
  const tcp4 = await tcpServer('127.0.0.1', 8080);
  const tcp6 = await tcpServer('::1', 8080);
  await sleep(700);

  say('UDP: 3 datagrams to 127.0.0.1:7000');
  await udpSend('127.0.0.1', 7000, ['hello', 'from', 'nfq-dump']);
  await sleep(1200);

  say('TCP: a short connection to 127.0.0.1:8080 (handshake, data, echo, close)');
  await tcpExchange('127.0.0.1', 8080, 'GET / HTTP/1.0\r\n\r\n');
  await sleep(1200);

  if (ping(['-c', '2', '-i', '0.2', '-W', '1', '127.0.0.1'])) say('ICMP: ping -c 2 127.0.0.1 (echo request and reply, already marked 0x7 by a mangle rule)');
  say('ICMP: a datagram to closed port 7999, so the kernel answers "port unreachable" (marked 0x7 too)');
  await udpSend('127.0.0.1', 7999, ['anyone?']);
  await sleep(1200);

  say('IPv6: UDP to [::1]:7000, TCP to [::1]:8080');
  await udpSend('::1', 7000, ['hello over IPv6']);
  await tcpExchange('::1', 8080, 'hi6');
  await sleep(600);
  if (ping(['-6', '-c', '1', '-W', '1', '::1'])) say('ICMPv6: ping -6 -c 1 ::1');
  say('ICMPv6: a datagram to closed port [::1]:7999 ("port unreachable")');
  await udpSend('::1', 7999, ['anyone6?']);
  await sleep(1200);

  say(`receivers got: UDP ${udp4.got.length} (IPv4) + ${udp6.got.length} (IPv6) datagrams, all accepted`);
  for (const s of [udp4, udp6, tcp4, tcp6]) s.close();
}

async function dropPhase() {
  const sink = await udpServer('127.0.0.1', 9);
  await sleep(300);
  say('UDP: 3 datagrams to 127.0.0.1:9, queued on queue 1, where nfq-dump answers drop');
  const errors = await udpSend('127.0.0.1', 9, ['drop me 1', 'drop me 2', 'drop me 3']);
  await sleep(500);
  const how = errors.length > 0 ? ` (sendto said ${[...new Set(errors)].join(', ')}: the verdict dropped them)` : '';
  say(`the receiver on port 9 got ${sink.got.length} of 3 datagrams${how}`);
  sink.close();
}

const what = process.argv[2];
try {
  if (what === 'mix') await mix();
  else if (what === 'drop') await dropPhase();
  else {
    process.stderr.write('usage: demo-traffic.mjs mix|drop\n');
    process.exit(2);
  }
} catch (e) {
  process.stderr.write(`demo-traffic: ${e.message}\n`);
  process.exit(1);
}
