#!/usr/bin/env node
// Minimal traffic for capability tests, run inside a namespace. JSON lines on stdout.
//   udp-sink HOST PORT                       -> {"ready":true}, {"recv":true,"from","len","data"} per datagram
//   udp-send HOST PORT COUNT PREFIX [BIND] [SIZE] -> {"sent":N,"errors":E}
//        datagram i is `${PREFIX}${i}` padded with '.' to SIZE
//   udp-send-from HOST PORT BIND1,BIND2,... COUNT -> {"sent":N}, datagrams `from=${bind};${i}`
//   tcp-sink HOST PORT                       -> {"ready":true}, {"conn":true,"bytes":N,"ok":bool}
//   tcp-send HOST PORT BYTES [CHUNK]         -> {"sent":N} or {"error":code}
import dgram from 'node:dgram';
import net from 'node:net';

const out = (o) => process.stdout.write(`${JSON.stringify(o)}\n`);
const [cmd, host, portS, ...rest] = process.argv.slice(2);
const port = Number(portS);
const v6 = net.isIPv6(host);

if (cmd === 'udp-sink') {
  // '::' listens dual-stack (IPv4 arrives as ::ffff:a.b.c.d); a specific v6 address is v6 only.
  const s = dgram.createSocket({ type: v6 ? 'udp6' : 'udp4', ipv6Only: v6 && host !== '::' });
  s.on('message', (m, r) => out({ recv: true, from: r.address, len: m.length, data: m.toString('latin1') }));
  s.bind(port, host, () => out({ ready: true }));
} else if (cmd === 'udp-send') {
  const [countS, prefix = 'pkt', bind = '', sizeS = '0'] = rest;
  const count = Number(countS);
  const size = Number(sizeS);
  const s = dgram.createSocket(v6 ? 'udp6' : 'udp4');
  const go = async () => {
    let sent = 0;
    let errors = 0;
    for (let i = 0; i < count; i++) {
      let b = Buffer.from(`${prefix}${i}`, 'latin1');
      if (b.length < size) b = Buffer.concat([b, Buffer.alloc(size - b.length, 0x2e)]);
      const e = await new Promise((res) => s.send(b, port, host, res));
      if (e) errors++;
      else sent++;
    }
    out({ sent, errors, uid: process.getuid(), gid: process.getgid() });
    s.close();
  };
  if (bind) s.bind(0, bind, go);
  else go();
} else if (cmd === 'udp-send-from') {
  // udp-send-from HOST PORT BIND1,BIND2,... COUNT: COUNT datagrams `from=${bind};${i}` from each source.
  const [binds, countS = '1'] = rest;
  const count = Number(countS);
  let sent = 0;
  for (const bind of binds.split(',')) {
    const s = dgram.createSocket(v6 ? 'udp6' : 'udp4');
    await new Promise((res) => s.bind(0, bind, res));
    for (let i = 0; i < count; i++) {
      const e = await new Promise((res) => s.send(Buffer.from(`from=${bind};${i}`), port, host, res));
      if (!e) sent++;
    }
    s.close();
  }
  out({ sent });
} else if (cmd === 'tcp-sink') {
  const srv = net.createServer((c) => {
    let n = 0;
    let ok = true;
    c.on('data', (d) => {
      for (let i = 0; i < d.length && ok; i++) if (d[i] !== (n + i) % 251) ok = false;
      n += d.length;
    });
    c.on('error', () => {});
    c.on('end', () => c.end());
    c.on('close', () => out({ conn: true, bytes: n, ok }));
  });
  srv.listen({ host, port, ipv6Only: v6 }, () => out({ ready: true }));
} else if (cmd === 'tcp-send') {
  const bytes = Number(rest[0]);
  const chunk = Number(rest[1] ?? 65536);
  const c = net.connect({ host, port });
  let w = 0;
  c.on('error', (e) => {
    out({ error: e.code ?? String(e) });
    process.exit(1);
  });
  c.on('connect', () => {
    const pump = () => {
      while (w < bytes) {
        const n = Math.min(chunk, bytes - w);
        const b = Buffer.allocUnsafe(n);
        for (let i = 0; i < n; i++) b[i] = (w + i) % 251;
        w += n;
        if (!c.write(b)) return void c.once('drain', pump);
      }
      c.end();
    };
    pump();
  });
  c.on('data', () => {});
  c.on('close', () => out({ sent: w }));
} else {
  process.stderr.write('usage: traffic.mjs udp-sink|udp-send|tcp-sink|tcp-send ...\n');
  process.exit(2);
}
