#!/usr/bin/env node
// Regenerates the fixture catalogue in fixtures/ from the real kernel:
//
//   sudo npm run fixtures:capture            # every scenario
//   sudo npm run fixtures:capture -- NAME..  # only these
//
// Needs root, iproute2, iptables-legacy/ip6tables-legacy, python3 and a built library
// (the npm script builds dist/ first). Every scenario runs in network namespaces made here
// (named nfqfx-*, deleted afterwards); traffic goes only to 127.0.0.1/::1 or to 10.201.x.y
// addresses on veth pairs between those namespaces.
//
// For each scenario the recording consumer (scripts/fixture-consumer.mjs) runs inside the
// namespace with `openQueue(..., { record: 'fixtures/NAME.pcap' })`, the traffic comes from
// scripts/fixture-traffic.py, and fixtures/NAME.json is written: the queue options and the
// verdict plan the test must replay with, and what a decoder must report for every packet.
// Those expected values come from how the scenario made its traffic (addresses, ports,
// payloads, uid/gid, marks, MAC addresses we set, interface indexes read with `ip -j link`,
// receive timestamps read by the receiving socket), never from the library's decode. What the
// kernel did with the verdicts (receiver output, iptables counters) is checked here and kept
// under "observed"; a scenario whose observation disagrees is not written.
import { spawn, execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createInterface } from 'node:readline';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// FIXTURES_DIR: write elsewhere, e.g. from a kernel matrix guest, whose checkout is read-only.
const FIXTURES = process.env.FIXTURES_DIR ?? join(ROOT, 'fixtures');
const CONSUMER = join(ROOT, 'scripts', 'fixture-consumer.mjs');
const TRAFFIC = join(ROOT, 'scripts', 'fixture-traffic.py');
const PY = existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const PREFIX = 'nfqfx-';

// ------------------------------------------------------------------ small helpers

function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], ...opts });
  } catch (e) {
    throw new Error(`${cmd} ${args.join(' ')} failed: ${(e.stderr || e.message).toString().trim()}`);
  }
}
const ip = (...args) => run('ip', args);
const nsRun = (ns, cmd, ...args) => run('ip', ['netns', 'exec', ns, cmd, ...args]);
const ipt = (ns, ...args) => nsRun(ns, 'iptables-legacy', '-w', ...args);
const ip6t = (ns, ...args) => nsRun(ns, 'ip6tables-legacy', '-w', ...args);
const sysctl = (ns, kv) => nsRun(ns, 'sysctl', '-qw', kv);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
// Waits stretch by NFQ_TEST_TIME_SCALE: a kernel matrix guest (emulated) starts processes slowly.
const SCALE = Math.max(1, Number(process.env.NFQ_TEST_TIME_SCALE ?? '1') || 1);

const created = [];
function addNs(name) {
  const ns = PREFIX + name;
  if (ip('netns', 'list').split('\n').some((l) => l.split(' ')[0] === ns)) ip('netns', 'del', ns);
  ip('netns', 'add', ns);
  created.push(ns);
  ip('-n', ns, 'link', 'set', 'lo', 'up');
  return ns;
}
function cleanup() {
  while (created.length > 0) {
    const ns = created.pop();
    try {
      ip('netns', 'del', ns);
    } catch {
      // already gone
    }
  }
}
function ifindex(ns, dev) {
  return JSON.parse(ip('-n', ns, '-j', 'link', 'show', 'dev', dev))[0].ifindex;
}
/** A veth pair a (in nsA) <-> b (in nsB) with fixed MACs and /24 addresses, IPv6 off. */
function veth(nsA, a, macA, addrA, nsB, b, macB, addrB) {
  ip('link', 'add', a, 'netns', nsA, 'type', 'veth', 'peer', 'name', b, 'netns', nsB);
  for (const [ns, dev, mac, addr] of [[nsA, a, macA, addrA], [nsB, b, macB, addrB]]) {
    sysctl(ns, `net.ipv6.conf.${dev}.disable_ipv6=1`);
    ip('-n', ns, 'link', 'set', dev, 'address', mac);
    ip('-n', ns, 'addr', 'add', `${addr}/24`, 'dev', dev);
    ip('-n', ns, 'link', 'set', dev, 'up');
  }
  // Static neighbours: no ARP exchange in the middle of a capture.
  ip('-n', nsA, 'neigh', 'replace', addrB, 'lladdr', macB, 'dev', a, 'nud', 'permanent');
  ip('-n', nsB, 'neigh', 'replace', addrA, 'lladdr', macA, 'dev', b, 'nud', 'permanent');
}

/** A child process in a namespace that speaks JSON lines on stdout. */
function child(ns, argv, { user } = {}) {
  const pre = user === undefined ? [] : ['setpriv', `--reuid=${user.uid}`, `--regid=${user.gid}`, '--clear-groups', '--'];
  const p = spawn('ip', ['netns', 'exec', ns, ...pre, ...argv], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines = [];
  const waiters = [];
  let stderr = '';
  p.stderr.on('data', (d) => (stderr += d));
  createInterface({ input: p.stdout }).on('line', (l) => {
    let o;
    try {
      o = JSON.parse(l);
    } catch {
      o = { text: l };
    }
    lines.push(o);
    for (const w of [...waiters]) if (w.pred(o)) w.resolve(o);
  });
  const exit = new Promise((res) => p.on('exit', (code, signal) => res({ code, signal })));
  return {
    lines,
    get stderr() {
      return stderr;
    },
    exit,
    waitFor(pred, ms = 10000, what = 'line') {
      ms *= SCALE;
      const found = lines.find(pred);
      if (found !== undefined) return Promise.resolve(found);
      return new Promise((resolveW, reject) => {
        const w = { pred, resolve: (o) => (clearTimeout(t), resolveW(o)) };
        const t = setTimeout(() => reject(new Error(`timed out waiting for ${what} from ${argv.join(' ')}\nstdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`)), ms);
        waiters.push(w);
        exit.then(() => setTimeout(() => reject(new Error(`${argv.join(' ')} exited before ${what}\nstdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`)), 50));
      });
    },
    async finish(ms = 20000, what = 'exit') {
      ms *= SCALE;
      const r = await Promise.race([exit, sleep(ms).then(() => undefined)]);
      if (r === undefined) {
        p.kill('SIGKILL');
        throw new Error(`${argv.join(' ')} did not ${what} in ${ms} ms\nstdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`);
      }
      if (r.code !== 0) throw new Error(`${argv.join(' ')} failed (${r.code ?? r.signal})\nstdout: ${JSON.stringify(lines)}\nstderr: ${stderr}`);
      return lines;
    },
  };
}

const py = (ns, args, opts) => child(ns, [PY, TRAFFIC, ...args], opts);

/** Starts the recording consumer and waits until it is bound (or refused). */
async function consumer(ns, name, config) {
  const c = child(ns, ['node', CONSUMER, JSON.stringify({ ...config, record: join(FIXTURES, `${name}.pcap`) })]);
  await c.waitFor((o) => o.ready === true || o.openError !== undefined, 10000, 'ready');
  return c;
}

async function udpSend(ns, { family = 4, dst, dport, sport, src, data, ttl, user, gap }) {
  const args = ['udp-send', '--family', String(family), '--dst', dst, '--dport', String(dport), '--sport', String(sport)];
  if (gap !== undefined) args.push('--gap', String(gap));
  if (src !== undefined) args.push('--src', src);
  if (ttl !== undefined) args.push('--ttl', String(ttl));
  for (const d of data) args.push('--data', Buffer.from(d).toString('hex'));
  await py(ns, args, { user }).finish(10000);
}

async function udpReceiver(ns, { family = 4, bind, port, count, timeout = 5, timestamps = false }) {
  const args = ['udp-recv', '--family', String(family), '--bind', bind, '--port', String(port), '--count', String(count), '--timeout', String(timeout * SCALE)];
  if (timestamps) args.push('--timestamps');
  const r = py(ns, args);
  await r.waitFor((o) => o.ready === true, 5000, 'receiver ready');
  return {
    async datagrams() {
      const lines = await r.finish((timeout + 5) * 1000);
      return lines.filter((o) => o.len !== undefined);
    },
  };
}

function iptCount(ns, table, chain, family = 4) {
  const text = (family === 6 ? ip6t : ipt)(ns, '-t', table, '-L', chain, '-n', '-v', '-x');
  return text
    .split('\n')
    .slice(2)
    .filter((l) => l.trim() !== '')
    .map((l) => Number(l.trim().split(/\s+/)[0]));
}

function check(cond, what) {
  if (!cond) throw new Error(`observation failed: ${what}`);
}

// ------------------------------------------------------------------ expected packets

const hex = (s) => Buffer.from(s).toString('hex');
const ETH_P_IP = 0x0800;
const ETH_P_IPV6 = 0x86dd;
const HOOK = { prerouting: 0, input: 1, forward: 2, output: 3, postrouting: 4 };

/** What a decoder must report for a UDP datagram of `data` the scenario sent. */
function udpPacket({ family = 4, queue = 0, id, hook, src, dst, sport, dport, data, ...meta }) {
  return {
    queue,
    id,
    family: family === 6 ? 10 : 2,
    hook: HOOK[hook],
    hwProtocol: family === 6 ? ETH_P_IPV6 : ETH_P_IP,
    src,
    dst,
    proto: 17,
    sport,
    dport,
    payloadLength: (family === 6 ? 40 : 20) + 8 + Buffer.byteLength(data),
    udpData: hex(data),
    ...meta,
  };
}

/** The receive timestamp a socket saw (SO_TIMESTAMPNS), as NFQA_TIMESTAMP carries it: sec + usec. */
function tsFromNs(tsns) {
  const ns = BigInt(tsns);
  return { sec: Number(ns / 1000000000n), usec: Number((ns % 1000000000n) / 1000n) };
}

const loOut = (ns) => ({ outdev: ifindex(ns, 'lo'), outdevName: 'lo' });

// ------------------------------------------------------------------ scenarios

const scenarios = [];
const scenario = (name, description, fn) => scenarios.push({ name, description, fn });

scenario('ipv4-udp-output', 'IPv4 UDP datagrams to 127.0.0.1 queued in OUTPUT; queue with QUEUE_MAXLEN 256 and the FAIL_OPEN flag; every packet accepted.', async (name) => {
  const ns = addNs('udp4');
  ipt(ns, '-A', 'OUTPUT', '-o', 'lo', '-p', 'udp', '--dport', '5301', '-j', 'NFQUEUE', '--queue-num', '0');
  const data = ['fixture ipv4 udp #1', 'fixture ipv4 udp #2, a little longer', 'x'];
  const options = { maxLen: 256, flags: { failOpen: true } };
  const plan = data.map(() => ({ verdict: 'accept' }));
  const recv = await udpReceiver(ns, { bind: '127.0.0.1', port: 5301, count: 3 });
  const c = await consumer(ns, name, { options, plan });
  await udpSend(ns, { dst: '127.0.0.1', dport: 5301, sport: 40001, data });
  await c.finish();
  const got = await recv.datagrams();
  check(got.map((g) => g.data).join() === data.map(hex).join(), 'the receiver got every datagram');
  return {
    scenario: { namespaces: [ns], rules: ['iptables -A OUTPUT -o lo -p udp --dport 5301 -j NFQUEUE --queue-num 0'], traffic: 'udp 127.0.0.1:40001 -> 127.0.0.1:5301, 3 datagrams' },
    options,
    plan,
    expected: { packets: data.map((d, i) => udpPacket({ id: i + 1, hook: 'output', src: '127.0.0.1', dst: '127.0.0.1', sport: 40001, dport: 5301, data: d, ...loOut(ns) })) },
    observed: { received: got.length },
  };
});

scenario('ipv4-tcp-handshake-output', 'A TCP handshake on 127.0.0.1 queued in OUTPUT (SYN, SYN-ACK, ACK); TCP timestamps, SACK, window scaling and ECN off so the SYNs carry only the MSS option; the queue is closed after the handshake.', async (name) => {
  const ns = addNs('tcp4');
  for (const k of ['tcp_timestamps', 'tcp_sack', 'tcp_window_scaling', 'tcp_ecn']) sysctl(ns, `net.ipv4.${k}=0`);
  const rules = ['--dport', '--sport'].map((dir) => ['-A', 'OUTPUT', '-o', 'lo', '-p', 'tcp', dir, '5302', '-j', 'NFQUEUE', '--queue-num', '0', '--queue-bypass']);
  for (const r of rules) ipt(ns, ...r);
  const plan = [{ verdict: 'accept' }, { verdict: 'accept' }, { verdict: 'accept' }];
  const server = py(ns, ['tcp-server', '--bind', '127.0.0.1', '--port', '5302']);
  await server.waitFor((o) => o.ready, 5000, 'server ready');
  const c = await consumer(ns, name, { plan });
  const client = py(ns, ['tcp-client', '--dst', '127.0.0.1', '--dport', '5302', '--sport', '40002', '--hold', '1500']);
  await c.finish();
  await client.finish(15000);
  await server.finish(15000);
  const mtu = JSON.parse(ip('-n', ns, '-j', 'link', 'show', 'dev', 'lo'))[0].mtu;
  // The MSS a SYN advertises: the route's MTU (at most 65535) minus 40 bytes of IPv4 + TCP headers.
  const mss = Math.min(mtu, 65535) - 40;
  const base = { queue: 0, family: 2, hook: HOOK.output, hwProtocol: ETH_P_IP, src: '127.0.0.1', dst: '127.0.0.1', proto: 6, ...loOut(ns) };
  return {
    scenario: { namespaces: [ns], sysctls: ['net.ipv4.tcp_timestamps=0', 'net.ipv4.tcp_sack=0', 'net.ipv4.tcp_window_scaling=0', 'net.ipv4.tcp_ecn=0'], rules: rules.map((r) => `iptables ${r.join(' ')}`), loMtu: mtu, traffic: 'tcp connect 127.0.0.1:40002 -> 127.0.0.1:5302, held 1.5 s, no data' },
    options: {},
    plan,
    expected: {
      packets: [
        // SYN and SYN-ACK: 20-byte IPv4 header + 20-byte TCP header + 4-byte MSS option.
        { ...base, id: 1, sport: 40002, dport: 5302, tcpFlags: 0x02, tcpMss: mss, payloadLength: 44 },
        { ...base, id: 2, sport: 5302, dport: 40002, tcpFlags: 0x12, tcpMss: mss, payloadLength: 44 },
        { ...base, id: 3, sport: 40002, dport: 5302, tcpFlags: 0x10, payloadLength: 40 },
      ],
    },
    observed: {},
  };
});

scenario('icmp-echo-output', 'An ICMP echo request to 127.0.0.1 from a raw socket and the kernel\'s echo reply, both queued in OUTPUT.', async (name) => {
  const ns = addNs('icmp');
  ipt(ns, '-A', 'OUTPUT', '-o', 'lo', '-p', 'icmp', '-j', 'NFQUEUE', '--queue-num', '0');
  const plan = [{ verdict: 'accept' }, { verdict: 'accept' }];
  const c = await consumer(ns, name, { plan });
  const ident = 0x4242;
  const seq = 7;
  const size = 32;
  await py(ns, ['icmp-echo', '--dst', '127.0.0.1', '--ident', String(ident), '--seq', String(seq), '--size', String(size)]).finish(10000);
  await c.finish();
  const base = { queue: 0, family: 2, hook: HOOK.output, hwProtocol: ETH_P_IP, src: '127.0.0.1', dst: '127.0.0.1', proto: 1, icmpId: ident, icmpSeq: seq, payloadLength: 20 + 8 + size, ...loOut(ns) };
  return {
    scenario: { namespaces: [ns], rules: ['iptables -A OUTPUT -o lo -p icmp -j NFQUEUE --queue-num 0'], traffic: `one echo request, id ${ident}, seq ${seq}, ${size} data bytes` },
    options: {},
    plan,
    expected: { packets: [{ ...base, id: 1, icmpType: 8 }, { ...base, id: 2, icmpType: 0 }] },
    observed: { replied: true },
  };
});

scenario('ipv6-udp-output', 'IPv6 UDP datagrams to ::1 queued in OUTPUT (ip6tables).', async (name) => {
  const ns = addNs('udp6');
  ip6t(ns, '-A', 'OUTPUT', '-o', 'lo', '-p', 'udp', '--dport', '5304', '-j', 'NFQUEUE', '--queue-num', '0');
  const data = ['fixture ipv6 udp #1', 'fixture ipv6 udp #2'];
  const plan = data.map(() => ({ verdict: 'accept' }));
  const recv = await udpReceiver(ns, { family: 6, bind: '::1', port: 5304, count: 2 });
  const c = await consumer(ns, name, { plan });
  await udpSend(ns, { family: 6, dst: '::1', dport: 5304, sport: 40004, data });
  await c.finish();
  const got = await recv.datagrams();
  check(got.length === 2, 'the receiver got both datagrams');
  return {
    scenario: { namespaces: [ns], rules: ['ip6tables -A OUTPUT -o lo -p udp --dport 5304 -j NFQUEUE --queue-num 0'], traffic: 'udp [::1]:40004 -> [::1]:5304, 2 datagrams' },
    options: {},
    plan,
    expected: { packets: data.map((d, i) => udpPacket({ family: 6, id: i + 1, hook: 'output', src: '::1', dst: '::1', sport: 40004, dport: 5304, data: d, ...loOut(ns) })) },
    observed: { received: got.length },
  };
});

/** Two namespaces joined by a veth pair; the queue is in B's INPUT; a receiver with SO_TIMESTAMPNS in B. */
async function inputOverVeth(name, { tag, net, port, sport, data, plan, rewrite }) {
  const a = addNs(`${tag}-a`);
  const b = addNs(`${tag}-b`);
  const macA = `02:00:0a:c9:${net.toString(16).padStart(2, '0')}:01`;
  const macB = `02:00:0a:c9:${net.toString(16).padStart(2, '0')}:02`;
  const addrA = `10.201.${net}.1`;
  const addrB = `10.201.${net}.2`;
  const devA = `${tag}a0`;
  const devB = `${tag}b0`;
  veth(a, devA, macA, addrA, b, devB, macB, addrB);
  const rule = ['-A', 'INPUT', '-i', devB, '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', '0'];
  ipt(b, ...rule);
  const recv = await udpReceiver(b, { bind: addrB, port, count: data.length, timestamps: true });
  const c = await consumer(b, name, { plan });
  await udpSend(a, { dst: addrB, dport: port, sport, data });
  await c.finish();
  const got = await recv.datagrams();
  const want = data.map((d) => (rewrite ? d.toUpperCase() : d));
  check(got.map((g) => g.data).join() === want.map(hex).join(), `the receiver got ${JSON.stringify(want)}`);
  check(got.every((g) => g.tsns !== null), 'the receiver got receive timestamps');
  const indev = ifindex(b, devB);
  return {
    scenario: {
      namespaces: [a, b],
      links: [{ ns: a, dev: devA, mac: macA, addr: `${addrA}/24`, ifindex: ifindex(a, devA) }, { ns: b, dev: devB, mac: macB, addr: `${addrB}/24`, ifindex: indev }],
      rules: [`iptables ${rule.join(' ')} (in ${b})`],
      traffic: `udp ${addrA}:${sport} -> ${addrB}:${port}, ${data.length} datagram(s); the receiver in ${b} sets SO_TIMESTAMPNS`,
    },
    options: {},
    plan,
    expected: {
      packets: data.map((d, i) =>
        // The timestamp NFQA_TIMESTAMP carries is the skb's receive time: the one the receiving socket saw.
        udpPacket({ id: i + 1, hook: 'input', src: addrA, dst: addrB, sport, dport: port, data: d, indev, indevName: devB, hwaddr: macA, timestamp: tsFromNs(got[i].tsns) }),
      ),
    },
    observed: { received: got.map((g) => Buffer.from(g.data, 'hex').toString()), receiveTimestampsNs: got.map((g) => g.tsns) },
  };
}

scenario('input-veth', 'UDP from namespace A to B over a veth pair, queued in B\'s INPUT: in-device, the sender\'s MAC address and the receive timestamp.', (name) =>
  inputOverVeth(name, { tag: 'in', net: 1, port: 5305, sport: 40005, data: ['over the veth #1', 'over the veth #2'], plan: [{ verdict: 'accept' }, { verdict: 'accept' }] }),
);

scenario('payload-rewrite', 'UDP over a veth pair queued in INPUT; the verdict carries a new payload (UDP data upper-cased, UDP checksum recomputed). The kernel marks a rewritten packet CHECKSUM_NONE, so the receiver getting the new data proves the checksum.', (name) =>
  inputOverVeth(name, { tag: 'rw', net: 4, port: 5312, sport: 40012, data: ['rewrite me, please'], plan: [{ verdict: 'accept', rewrite: 'uppercase-udp' }], rewrite: true }),
);

scenario('forward-router', 'UDP from a client namespace through a router namespace to a server namespace, queued in the router\'s FORWARD: in- and out-device, the client\'s MAC, TTL already decremented.', async (name) => {
  const cl = addNs('fw-c');
  const rt = addNs('fw-r');
  const sv = addNs('fw-s');
  const mac = { c: '02:00:0a:c9:02:01', r0: '02:00:0a:c9:02:02', r1: '02:00:0a:c9:03:02', s: '02:00:0a:c9:03:01' };
  veth(cl, 'fwc0', mac.c, '10.201.2.1', rt, 'fwr0', mac.r0, '10.201.2.2');
  veth(rt, 'fwr1', mac.r1, '10.201.3.2', sv, 'fws0', mac.s, '10.201.3.1');
  ip('-n', cl, 'route', 'add', '10.201.3.0/24', 'via', '10.201.2.2');
  ip('-n', sv, 'route', 'add', '10.201.2.0/24', 'via', '10.201.3.2');
  sysctl(rt, 'net.ipv4.ip_forward=1');
  const rule = ['-A', 'FORWARD', '-i', 'fwr0', '-o', 'fwr1', '-p', 'udp', '--dport', '5306', '-j', 'NFQUEUE', '--queue-num', '0'];
  ipt(rt, ...rule);
  const data = ['through the router'];
  const plan = [{ verdict: 'accept' }];
  // SO_TIMESTAMPNS on the server's socket turns kernel receive timestamps on (a global switch),
  // so the router's copy of the packet is timestamped as well, at its own arrival.
  const recv = await udpReceiver(sv, { bind: '10.201.3.1', port: 5306, count: 1, timestamps: true });
  const c = await consumer(rt, name, { plan });
  await udpSend(cl, { dst: '10.201.3.1', dport: 5306, sport: 40006, data, ttl: 64 });
  await c.finish();
  const got = await recv.datagrams();
  check(got.length === 1, 'the server got the datagram');
  const indev = ifindex(rt, 'fwr0');
  const outdev = ifindex(rt, 'fwr1');
  return {
    scenario: {
      namespaces: [cl, rt, sv],
      links: [
        { ns: cl, dev: 'fwc0', mac: mac.c, addr: '10.201.2.1/24' },
        { ns: rt, dev: 'fwr0', mac: mac.r0, addr: '10.201.2.2/24', ifindex: indev },
        { ns: rt, dev: 'fwr1', mac: mac.r1, addr: '10.201.3.2/24', ifindex: outdev },
        { ns: sv, dev: 'fws0', mac: mac.s, addr: '10.201.3.1/24' },
      ],
      rules: [`iptables ${rule.join(' ')} (in ${rt})`, `net.ipv4.ip_forward=1 (in ${rt})`],
      traffic: 'udp 10.201.2.1:40006 -> 10.201.3.1:5306, TTL 64, 1 datagram',
    },
    options: {},
    plan,
    expected: {
      packets: [
        udpPacket({ id: 1, hook: 'forward', src: '10.201.2.1', dst: '10.201.3.1', sport: 40006, dport: 5306, data: data[0], ttl: 63, indev, indevName: 'fwr0', outdev, outdevName: 'fwr1', hwaddr: mac.c, timestamp: { within: 'window' } }),
      ],
    },
    observed: { received: got.length },
  };
});

scenario('mark-prerouting', 'UDP on lo marked 0x2a by a mangle PREROUTING rule, then queued by the next rule of that chain: the packet carries the mark, lo as in-device, lo\'s all-zero hardware address and its receive timestamp.', async (name) => {
  const ns = addNs('mark');
  const rules = [
    ['-t', 'mangle', '-A', 'PREROUTING', '-i', 'lo', '-p', 'udp', '--dport', '5307', '-j', 'MARK', '--set-mark', '0x2a'],
    ['-t', 'mangle', '-A', 'PREROUTING', '-i', 'lo', '-p', 'udp', '--dport', '5307', '-j', 'NFQUEUE', '--queue-num', '0'],
  ];
  for (const r of rules) ipt(ns, ...r);
  const data = ['marked before the queue'];
  const plan = [{ verdict: 'accept' }];
  const recv = await udpReceiver(ns, { bind: '127.0.0.1', port: 5307, count: 1, timestamps: true });
  const c = await consumer(ns, name, { plan });
  await udpSend(ns, { dst: '127.0.0.1', dport: 5307, sport: 40007, data });
  await c.finish();
  const got = await recv.datagrams();
  check(got.length === 1 && got[0].tsns !== null, 'the receiver got the datagram with a timestamp');
  return {
    scenario: { namespaces: [ns], rules: rules.map((r) => `iptables ${r.join(' ')}`), traffic: 'udp 127.0.0.1:40007 -> 127.0.0.1:5307, the receiver sets SO_TIMESTAMPNS' },
    options: {},
    plan,
    expected: {
      packets: [udpPacket({ id: 1, hook: 'prerouting', src: '127.0.0.1', dst: '127.0.0.1', sport: 40007, dport: 5307, data: data[0], mark: 0x2a, indev: ifindex(ns, 'lo'), indevName: 'lo', hwaddr: '00:00:00:00:00:00', timestamp: tsFromNs(got[0].tsns) })],
    },
    observed: { received: got.length, receiveTimestampNs: got[0].tsns },
  };
});

/** One namespace, UDP on lo queued in OUTPUT; returns what the verdict scenarios share. */
async function outputUdp(name, { tag, port, sport, data, plan, options = {}, queues, user, after, expectErrors, mangle = [], receive = true, gap }) {
  const ns = addNs(tag);
  const rule = ['-A', 'OUTPUT', '-o', 'lo', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', '0'];
  ipt(ns, ...rule);
  for (const m of mangle) ipt(ns, '-t', 'mangle', ...m);
  const recv = receive ? await udpReceiver(ns, { bind: '127.0.0.1', port, count: data.length, timeout: 3 + (gap ?? 0) / 1000 }) : undefined;
  const config = { plan, options };
  if (queues !== undefined) config.queues = queues;
  if (after !== undefined) config.after = after;
  if (expectErrors !== undefined) config.expectErrors = expectErrors;
  const c = await consumer(ns, name, config);
  await udpSend(ns, { dst: '127.0.0.1', dport: port, sport, data, user, gap });
  const lines = await c.finish();
  const got = recv === undefined ? [] : await recv.datagrams();
  return {
    ns,
    lines,
    received: got.map((g) => Buffer.from(g.data, 'hex').toString()),
    counters: mangle.length > 0 ? iptCount(ns, 'mangle', 'POSTROUTING') : [],
    scenario: {
      namespaces: [ns],
      rules: [`iptables ${rule.join(' ')}`, ...mangle.map((m) => `iptables -t mangle ${m.join(' ')}`)],
      traffic: `udp 127.0.0.1:${sport} -> 127.0.0.1:${port}, ${data.length} datagram(s)${user ? `, sent by uid ${user.uid} gid ${user.gid}` : ''}`,
    },
    packet: (i, meta = {}) => udpPacket({ id: i + 1, hook: 'output', src: '127.0.0.1', dst: '127.0.0.1', sport, dport: port, data: data[i], ...loOut(ns), ...meta }),
  };
}

scenario('verdict-drop', 'Two UDP datagrams queued in OUTPUT: the first dropped, the second accepted; only the second reaches the receiver.', async (name) => {
  const data = ['please drop me', 'please keep me'];
  const plan = [{ verdict: 'drop' }, { verdict: 'accept' }];
  const r = await outputUdp(name, { tag: 'drop', port: 5308, sport: 40008, data, plan });
  check(r.received.join() === data[1], 'only the accepted datagram arrived');
  return { scenario: r.scenario, options: {}, plan, expected: { packets: [r.packet(0), r.packet(1)] }, observed: { received: r.received } };
});

scenario('verdict-mark', 'Two UDP datagrams queued in OUTPUT: the first accepted with mark 0x1234, the second accepted as is; a mangle POSTROUTING rule matching mark 0x1234 counts one packet.', async (name) => {
  const data = ['mark me', 'leave me'];
  const plan = [{ verdict: 'accept', mark: 0x1234 }, { verdict: 'accept' }];
  const mangle = [['-A', 'POSTROUTING', '-o', 'lo', '-p', 'udp', '--dport', '5309', '-m', 'mark', '--mark', '0x1234']];
  const r = await outputUdp(name, { tag: 'vmark', port: 5309, sport: 40009, data, plan, mangle });
  check(r.counters[0] === 1, `the mark rule counted 1 packet (got ${r.counters[0]})`);
  check(r.received.length === 2, 'both datagrams arrived');
  return { scenario: r.scenario, options: {}, plan, expected: { packets: [r.packet(0), r.packet(1)] }, observed: { markRulePackets: r.counters[0], received: r.received } };
});

scenario('verdict-requeue', 'One socket bound to queues 0 and 1; a UDP datagram queued to 0 in OUTPUT is requeued to 1 by the verdict, comes back on queue 1 (its own id counter) and is accepted there.', async (name) => {
  const data = ['requeue me'];
  const plan = [{ verdict: 'queue', queue: 1 }, { verdict: 'accept' }];
  const r = await outputUdp(name, { tag: 'requeue', port: 5310, sport: 40010, data, plan, queues: [0, 1] });
  check(r.received.length === 1, 'the datagram arrived');
  return {
    scenario: r.scenario,
    queues: [0, 1],
    options: {},
    plan,
    expected: { packets: [r.packet(0, { queue: 0, id: 1 }), r.packet(0, { queue: 1, id: 1 })] },
    observed: { received: r.received },
  };
});

scenario('verdict-batch', 'Three UDP datagrams queued in OUTPUT and held; one VERDICT_BATCH up to the third accepts all three with mark 0x77, which a mangle POSTROUTING rule counts.', async (name) => {
  const data = ['batch #1', 'batch #2', 'batch #3'];
  const plan = [{ hold: true }, { hold: true }, { hold: true, batch: { verdict: 'accept', mark: 0x77 } }];
  const mangle = [['-A', 'POSTROUTING', '-o', 'lo', '-p', 'udp', '--dport', '5311', '-m', 'mark', '--mark', '0x77']];
  const r = await outputUdp(name, { tag: 'batch', port: 5311, sport: 40011, data, plan, mangle });
  check(r.counters[0] === 3, `the mark rule counted 3 packets (got ${r.counters[0]})`);
  check(r.received.length === 3, 'all three arrived');
  return { scenario: r.scenario, options: {}, plan, expected: { packets: data.map((_, i) => r.packet(i)) }, observed: { markRulePackets: r.counters[0], received: r.received } };
});

scenario('truncation', 'An ICMPv6 echo request to ::1 with 1000 data bytes queued in OUTPUT with a copy range of 64: the payload is cut to 64 bytes and CAP_LEN gives the full length. (IPv6 + ICMPv6 because tshark 4.0 flags any cut IPv4 or TCP/UDP packet as malformed; a cut ICMPv6 echo only draws warnings.)', async (name) => {
  const ns = addNs('trunc');
  const rule = ['-A', 'OUTPUT', '-o', 'lo', '-p', 'icmpv6', '--icmpv6-type', 'echo-request', '-j', 'NFQUEUE', '--queue-num', '0'];
  ip6t(ns, ...rule);
  const options = { copyRange: 64 };
  const plan = [{ verdict: 'accept' }];
  const c = await consumer(ns, name, { options, plan });
  const ident = 0x1d1d;
  const seq = 3;
  const size = 1000;
  const echo = await py(ns, ['icmp6-echo', '--dst', '::1', '--ident', String(ident), '--seq', String(seq), '--size', String(size)]).finish(10000);
  await c.finish();
  check(echo.some((o) => o.done && o.replyLen === 8 + size), 'the echo reply came back whole');
  return {
    scenario: { namespaces: [ns], rules: [`ip6tables ${rule.join(' ')}`], traffic: `one ICMPv6 echo request ::1 -> ::1, id ${ident}, seq ${seq}, ${size} data bytes` },
    options,
    plan,
    expected: {
      packets: [{ queue: 0, id: 1, family: 10, hook: HOOK.output, hwProtocol: ETH_P_IPV6, src: '::1', dst: '::1', proto: 58, icmpType: 128, icmpCode: 0, icmpId: ident, icmpSeq: seq, payloadLength: 64, capLen: 40 + 8 + size, ...loOut(ns) }],
    },
    observed: { echoReplyBytes: 8 + size },
  };
});

scenario('meta-copy', 'UDP queued in OUTPUT with copy mode META: no payload; the checksum is still to be computed (SKB_INFO CSUMNOTREADY).', async (name) => {
  const data = ['metadata only'];
  const plan = [{ verdict: 'accept' }];
  const options = { copyMode: 'meta' };
  const r = await outputUdp(name, { tag: 'meta', port: 5314, sport: 40014, data, plan, options });
  check(r.received.length === 1, 'the datagram arrived');
  // Without a payload nothing past the metadata can be decoded: keep the scenario facts only.
  const { src, dst, proto, sport, dport, udpData, payloadLength, ...meta } = r.packet(0);
  return {
    scenario: { ...r.scenario, packetFacts: { src, dst, proto, sport, dport, udpData, ipLength: payloadLength } },
    options,
    plan,
    expected: { packets: [{ ...meta, payload: false, skbInfo: 1 }] },
    observed: { received: r.received },
  };
});

scenario('uid-gid', 'UDP sent by a process running as uid 4242 / gid 4343 (setpriv), queued in OUTPUT with the UID_GID flag: the packet carries that uid and gid.', async (name) => {
  const data = ['sent by uid 4242'];
  const plan = [{ verdict: 'accept' }];
  const options = { flags: { uidGid: true } };
  const user = { uid: 4242, gid: 4343 };
  const r = await outputUdp(name, { tag: 'uid', port: 5315, sport: 40015, data, plan, options, user });
  check(r.received.length === 1, 'the datagram arrived');
  return { scenario: r.scenario, options, plan, expected: { packets: [r.packet(0, { uid: user.uid, gid: user.gid })] }, observed: { received: r.received } };
});

scenario('conntrack-udp', 'The CONNTRACK flag, on a kernel with nfnetlink_queue\'s conntrack glue (Debian 12\'s 6.1, booted by npm run test:kernels): two UDP datagrams 127.0.0.1:40021 -> 127.0.0.1:5321, 2 s apart, queued in OUTPUT; the first accepted with connmark 0x2a, the second as is. Each packet carries NFQA_CT (both tuples, the id conntrack -L shows, the mark: none, then 0x2a) and NFQA_CT_INFO NEW (no reply was seen). A mangle POSTROUTING -m connmark --mark 0x2a rule counts both datagrams.', async (name) => {
  const data = ['conntrack one', 'conntrack two'];
  const plan = [{ verdict: 'accept', connmark: 0x2a }, { verdict: 'accept' }];
  const options = { flags: { conntrack: true } };
  // The connmark match also turns conntrack on in the namespace.
  const mangle = [['-A', 'POSTROUTING', '-o', 'lo', '-p', 'udp', '--dport', '5321', '-m', 'connmark', '--mark', '0x2a']];
  // The gap lets the first datagram's verdict confirm its connection before the second is
  // sent: otherwise the second gets an unconfirmed entry of its own (another id, no mark).
  const r = await outputUdp(name, { tag: 'ctudp', port: 5321, sport: 40021, data, plan, options, mangle, gap: 2000 });
  check(r.counters[0] === 2, `the connmark rule counted 2 packets (got ${r.counters[0]})`);
  check(r.received.length === 2, 'both datagrams arrived');
  // ipv4 2 udp 17 29 src=127.0.0.1 dst=127.0.0.1 sport=40021 dport=5321 [UNREPLIED] src=... mark=42 use=1 id=N
  const listed = nsRun(r.ns, 'conntrack', '-L', '-p', 'udp', '--dport', '5321', '-o', 'extended,id').trim();
  const field = (k) => Number(new RegExp(`\\b${k}=(\\d+)`).exec(listed)?.[1]);
  check(listed.split('\n').length === 1 && field('mark') === 0x2a, `conntrack -L shows one entry with mark 42: ${listed}`);
  const tuple = (src, sport, dst, dport) => ({ src, dst, proto: 17, srcPort: sport, dstPort: dport });
  const ct = (mark) => ({ orig: tuple('127.0.0.1', 40021, '127.0.0.1', 5321), reply: tuple('127.0.0.1', 5321, '127.0.0.1', 40021), id: field('id'), ...(mark === undefined ? {} : { mark }) });
  return {
    scenario: r.scenario,
    options,
    plan,
    expected: { packets: [r.packet(0, { ctInfo: 2, ct: ct(undefined) }), r.packet(1, { ctInfo: 2, ct: ct(0x2a) })] },
    observed: { connmarkRulePackets: r.counters[0], conntrackList: listed, received: r.received },
  };
});

scenario('gso-tcp', '200000 bytes over TCP on lo (MTU lowered to 1500) written in 64 KiB chunks, client-to-server segments queued in OUTPUT with the GSO flag: packets come whole (GSO, larger than the MTU) and all marked CSUMNOTREADY.', async (name) => {
  const ns = addNs('gso');
  ip('-n', ns, 'link', 'set', 'lo', 'mtu', '1500');
  const rule = ['-A', 'OUTPUT', '-o', 'lo', '-p', 'tcp', '--dport', '5316', '-j', 'NFQUEUE', '--queue-num', '0', '--queue-bypass'];
  ipt(ns, ...rule);
  const bytes = 200000;
  const options = { flags: { gso: true } };
  const server = py(ns, ['tcp-server', '--bind', '127.0.0.1', '--port', '5316']);
  await server.waitFor((o) => o.ready, 5000, 'server ready');
  const c = await consumer(ns, name, { options, plan: [], planDefault: { verdict: 'accept' }, until: 'tcp-fin' });
  await py(ns, ['tcp-client', '--dst', '127.0.0.1', '--dport', '5316', '--sport', '40016', '--bytes', String(bytes), '--chunk', '65536']).finish(20000);
  const srv = await server.finish(15000);
  await c.finish();
  const done = srv.find((o) => o.done);
  check(done?.bytes === bytes && done.patternOk, `the server got ${bytes} intact bytes`);
  return {
    scenario: { namespaces: [ns], loMtu: 1500, rules: [`iptables ${rule.join(' ')}`], traffic: `tcp 127.0.0.1:40016 -> 127.0.0.1:5316, ${bytes} bytes in 65536-byte writes, then FIN` },
    options,
    plan: [],
    planDefault: { verdict: 'accept' },
    expected: {
      // How TCP cuts the stream is the kernel's business: check what every packet shares and the totals.
      each: { queue: 0, family: 2, hook: HOOK.output, hwProtocol: ETH_P_IP, src: '127.0.0.1', dst: '127.0.0.1', proto: 6, sport: 40016, dport: 5316, ...loOut(ns) },
      aggregate: { tcpPayloadBytes: bytes, firstTcpFlags: 0x02, someFin: true, gsoLargerThan: 1500, skbInfoAllHave: 1 },
    },
    observed: { serverBytes: done.bytes },
  };
});

scenario('error-verdict-enoent', 'A UDP datagram queued in OUTPUT; the callback first accepts it with a batch verdict up to its id, then answers drop: the kernel answers the verdict with ENOENT (no such packet any more). Then a batch verdict up to id 1000 with nothing queued: ENOENT again. The datagram arrives (the batch accepted it).', async (name) => {
  const data = ['answered twice'];
  const plan = [{ batchFirst: { verdict: 'accept' }, verdict: 'drop' }];
  const after = [{ action: 'batch', maxId: 1000, verdict: 'accept' }];
  const r = await outputUdp(name, { tag: 'enoent', port: 5320, sport: 40020, data, plan, after, expectErrors: 2 });
  const errors = [{ step: 'verdict', code: 'ENOENT', packetId: 1 }, { step: 'batch-verdict', code: 'ENOENT', packetId: 1000 }];
  checkErrors(r.lines, errors);
  check(r.received.length === 1, 'the datagram arrived');
  return { scenario: r.scenario, options: {}, plan, after, expected: { packets: [r.packet(0)] }, errors, observed: { received: r.received } };
});

function checkErrors(lines, errors) {
  const got = lines.filter((o) => o.error !== undefined).map((o) => o.error);
  check(got.length === errors.length && errors.every((e, i) => got[i].code === e.code && got[i].step === e.step && (e.packetId === undefined || got[i].packetId === e.packetId)), `errors ${JSON.stringify(errors)}, got ${JSON.stringify(got)}`);
}

/** A queue opened with no traffic, then a request the kernel refuses. */
async function configError(name, { tag, options = {}, after = [], errors = [], openError }) {
  const ns = addNs(tag);
  const c = await consumer(ns, name, { options, after, expectErrors: errors.length });
  const lines = await c.finish();
  checkErrors(lines, errors);
  const oe = lines.find((o) => o.openError !== undefined)?.openError;
  if (openError === undefined) check(oe === undefined, `openQueue succeeded (got ${JSON.stringify(oe)})`);
  else check(oe?.code === openError.code && oe.step === openError.step, `openQueue refused with ${JSON.stringify(openError)}, got ${JSON.stringify(oe)}`);
  const r = { scenario: { namespaces: [ns], traffic: 'none' }, options, plan: [], expected: { packets: [] }, errors, observed: {} };
  if (after.length > 0) r.after = after;
  if (openError !== undefined) r.openError = openError;
  return r;
}

scenario('error-bind-busy', 'Queue 0 bound, then BIND for queue 0 again on the same socket: EBUSY.', (name) =>
  configError(name, { tag: 'ebusy', after: [{ action: 'bind-again' }], errors: [{ step: 'bind', code: 'EBUSY' }] }),
);

scenario('error-flags-einval', 'Queue 0 bound, then a FLAGS request (FAIL_OPEN) without its MASK: EINVAL.', (name) =>
  configError(name, { tag: 'einval', after: [{ action: 'flags-without-mask', flags: 1 }], errors: [{ step: 'flags', code: 'EINVAL' }] }),
);

scenario('error-conntrack', 'openQueue with the CONNTRACK flag on a kernel without conntrack support in nfnetlink_queue: the FLAGS step is refused with EOPNOTSUPP and openQueue rejects.', (name) =>
  configError(name, { tag: 'ct', options: { flags: { conntrack: true } }, openError: { step: 'flags', code: 'EOPNOTSUPP' } }),
);

// ------------------------------------------------------------------ main

async function main() {
  if (process.getuid?.() !== 0) throw new Error('run as root: the capture uses network namespaces and iptables');
  if (!existsSync(join(ROOT, 'dist', 'index.js'))) throw new Error('build the library first: npm run build');
  const only = process.argv.slice(2);
  const unknown = only.filter((n) => !scenarios.some((s) => s.name === n));
  if (unknown.length > 0) throw new Error(`unknown scenario(s): ${unknown.join(', ')}; known: ${scenarios.map((s) => s.name).join(', ')}`);
  mkdirSync(FIXTURES, { recursive: true });
  const kernel = run('uname', ['-r']).trim();
  const failed = [];
  for (const sc of scenarios) {
    if (only.length > 0 && !only.includes(sc.name)) continue;
    process.stdout.write(`${sc.name} ... `);
    const pcap = join(FIXTURES, `${sc.name}.pcap`);
    const start = BigInt(Date.now()) * 1000000n;
    try {
      const r = await sc.fn(sc.name);
      const end = (BigInt(Date.now()) + 1n) * 1000000n;
      const sidecar = {
        fixture: `${sc.name}.pcap`,
        description: sc.description,
        // closeDrain: the recording ends with the close drain's FLAGS (FAIL_OPEN) and QUEUE_MAXLEN 0 (src/queue/close-drain.ts).
        captured: { at: new Date().toISOString(), kernel, windowNs: [String(start), String(end)], closeDrain: true },
        scenario: r.scenario,
        queues: r.queues ?? [0],
        options: r.options,
        plan: r.plan,
        ...(r.planDefault !== undefined ? { planDefault: r.planDefault } : {}),
        ...(r.after !== undefined ? { after: r.after } : {}),
        expected: r.expected,
        errors: r.errors ?? [],
        ...(r.openError !== undefined ? { openError: r.openError } : {}),
        observed: r.observed,
      };
      writeFileSync(join(FIXTURES, `${sc.name}.json`), JSON.stringify(sidecar, null, 2) + '\n');
      process.stdout.write('ok\n');
    } catch (e) {
      failed.push(sc.name);
      rmSync(pcap, { force: true });
      process.stdout.write(`FAILED\n${e.stack ?? e}\n`);
    } finally {
      cleanup();
    }
  }
  if (failed.length > 0) {
    process.stdout.write(`\n${failed.length} scenario(s) failed: ${failed.join(', ')}\n`);
    process.exitCode = 1;
  }
}

for (const sig of ['SIGINT', 'SIGTERM']) {
  process.on(sig, () => {
    cleanup();
    process.exit(130);
  });
}
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((e) => {
    cleanup();
    process.stderr.write(`${e.stack ?? e}\n`);
    process.exitCode = 1;
  });
}
