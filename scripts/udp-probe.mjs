// udp-probe.mjs sink PORT COUNT | udp-probe.mjs send PORT PREFIX COUNT [GAP_MS]
// The traffic of scripts/consumer-check.sh and scripts/runtime-matrix.sh: a sink that counts
// datagrams by the prefix before ";", and a sender of PREFIX;i datagrams to 127.0.0.1.
import dgram from 'node:dgram';
const [mode, port, a, b, gap = '0'] = process.argv.slice(2);
const sock = dgram.createSocket('udp4');
if (mode === 'sink') {
  const seen = {};
  let total = 0;
  let idle;
  const done = () => { console.log(JSON.stringify({ total, seen })); process.exit(0); };
  setTimeout(done, 20000);
  sock.on('message', (m) => {
    const prefix = m.toString('latin1').split(';')[0];
    seen[prefix] = (seen[prefix] ?? 0) + 1;
    if (++total >= Number(a)) done();
    clearTimeout(idle);
    idle = setTimeout(done, 2000);
  });
  sock.bind(Number(port), '127.0.0.1', () => console.log('listening'));
} else {
  for (let i = 0; i < Number(b); i++) {
    await new Promise((r) => sock.send(`${a};${i}`, Number(port), '127.0.0.1', r));
    if (Number(gap) > 0) await new Promise((r) => setTimeout(r, Number(gap)));
  }
  sock.close();
}
