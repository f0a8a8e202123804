#!/usr/bin/env node
// The one traffic script of the kernel tests: sinks, senders and floods. Plain JavaScript,
// no dependencies (it must not depend on the library it helps to test). Meant to run INSIDE
// a test network namespace (`ip netns exec NS node traffic.mjs ...`), talking to the test
// through stdout, one JSON object per line. Driven from TypeScript by test/support/netns/traffic.ts.
//
//   sink udp PORT [--family 4|6] [--host ADDR] [--count N] [--timeout MS] [--idle MS]
//                 [--payload utf8|latin1|hex|none] [--payload-max BYTES] [--quiet] [--echo]
//       -> {"ready":true,...}, then one line per datagram
//          {"from":ADDR,"port":P,"len":N,"seq":S|null,"payload":"..."} ,
//          and finally {"done":true,"received":N,"bytes":B,"distinct":D,"duplicates":U,
//                       "outOfOrder":O,"timedOut":bool}
//       --payload-max 0 prints the whole payload (default: the first 64 bytes). An IPv6 sink
//       is IPv6-only, unless --host :: is given explicitly (then IPv4 arrives as ::ffff:a.b.c.d).
//       Ends when --count datagrams arrived, --timeout ms passed since ready, --idle ms passed
//       without a datagram (after the first), or on SIGTERM/SIGINT (summary still printed).
//       Exit code 0, or 3 when it stopped before --count was reached.
//
//   send udp HOST PORT [--count N] [--size B] [--payload-prefix S] [--rate PPS]
//                 [--family 4|6] [--bind ADDR | --from ADDR,ADDR,...] [--sport PORT]
//                 [--uid N] [--gid N] [--echo-wait MS]
//       Datagram i (0-based) carries `${prefix}seq=${i};`, padded with '.' to --size bytes
//       (never truncated below that text). --from sends --count datagrams from each source
//       address in turn, `${prefix}from=${addr};seq=${i};`.
//       --uid/--gid drop privileges BEFORE the socket is created, so the kernel sees that
//       owner (NFQA_UID/GID). --echo-wait collects replies from an `--echo` sink for MS after
//       the last send.
//       -> {"done":true,"sent":N,"errors":E,"errorCodes":{...},"bytes":B,"ms":T,"echoed":R,
//           "uid":U,"gid":G,"local":{...}}
//       Exit code 0 (send errors are counted, not fatal; the test decides).
//
//   agent
//       Runs `send udp` requests from stdin, {"id":N,"args":["send","udp",...]}, each answered
//       by its summary with the same "id" (no --uid/--gid): one process per namespace for all
//       of a test file's sends. -> {"ready":true,"agent":true} first.
//
//   flood udp HOST PORT [--seconds S] [--count N] [--size B] [--window W] [--from ADDR,...] [--rate PPS]
//       As fast as Node can, keeping at most --window sends in flight (default 128); with
//       --from, round-robin over one socket per source address (the --queue-balance hash
//       covers addresses, not ports). Ends after --seconds, --count datagrams or SIGTERM.
//       -> {"done":true,"sent":N,"errors":E,"ms":T}
//
//   sink tcp PORT [--family 4|6] [--host ADDR] [--conns N] [--timeout MS]
//       -> {"ready":true,...}, per closed connection {"conn":true,"from":A,"port":P,"bytes":N,
//          "patternOk":bool}, final {"done":true,"connections":C,"bytes":B,"timedOut":bool}
//   send tcp HOST PORT [--bytes N] [--chunk B] [--family 4|6] [--timeout MS] [--uid N] [--gid N]
//       Sends N bytes of the pattern byte[i] = i % 251 and half-closes, waits for the peer
//       to close. -> {"done":true,"sent":N,"ms":T} or {"done":false,"error":"ECONNREFUSED",...}
//       (exit code 1 on error).
//
// SO_PRIORITY / SO_TIMESTAMPNS / SO_MARK cannot be set from Node: not offered.

import dgram from 'node:dgram';
import net from 'node:net';

function out(obj) {
  // stdout to a pipe is synchronous on Linux, so lines are never lost on exit.
  process.stdout.write(JSON.stringify(obj) + '\n');
}

function fail(msg) {
  process.stderr.write(`traffic.mjs: ${msg}\n`);
  process.exit(2);
}

const BOOL_FLAGS = new Set(['quiet', 'echo']);

function parseArgs(argv) {
  const pos = [];
  const opts = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a.startsWith('--')) {
      const eq = a.indexOf('=');
      if (eq > 0) {
        opts[a.slice(2, eq)] = a.slice(eq + 1);
      } else {
        const key = a.slice(2);
        if (BOOL_FLAGS.has(key)) opts[key] = true;
        else {
          if (i + 1 >= argv.length) fail(`option ${a} needs a value`);
          opts[key] = argv[++i];
        }
      }
    } else pos.push(a);
  }
  return { pos, opts };
}

function num(opts, key, dflt) {
  if (opts[key] === undefined) return dflt;
  const n = Number(opts[key]);
  if (!Number.isFinite(n) || n < 0) fail(`--${key} must be a non-negative number, got ${opts[key]}`);
  return n;
}

function family(opts, host) {
  if (opts.family !== undefined) {
    if (opts.family !== '4' && opts.family !== '6') fail('--family must be 4 or 6');
    return Number(opts.family);
  }
  if (host !== undefined && net.isIPv6(host)) return 6;
  return 4;
}

function dropPrivileges(opts) {
  // Order matters: setgid needs the privileges setuid gives away.
  if (opts.gid !== undefined) {
    process.setgroups([]);
    process.setgid(Number(opts.gid));
  }
  if (opts.uid !== undefined) process.setuid(Number(opts.uid));
}

const SEQ_RE = /seq=(\d+);/;

function renderPayload(buf, mode, max) {
  if (mode === 'none') return undefined;
  const b = max > 0 && buf.length > max ? buf.subarray(0, max) : buf;
  return b.toString(mode);
}

// ---------------------------------------------------------------- UDP sink

function udpSink(port, opts) {
  const fam = family(opts, opts.host);
  const host = opts.host ?? (fam === 6 ? '::' : '0.0.0.0');
  const count = num(opts, 'count', 0);
  const timeout = num(opts, 'timeout', 0);
  const idle = num(opts, 'idle', 0);
  const mode = opts.payload ?? 'utf8';
  if (!['utf8', 'latin1', 'hex', 'none'].includes(mode)) fail('--payload must be utf8, latin1, hex or none');
  const max = num(opts, 'payload-max', 64);
  const quiet = !!opts.quiet;
  const echo = !!opts.echo;

  const sock = dgram.createSocket({ type: fam === 6 ? 'udp6' : 'udp4', ipv6Only: fam === 6 && opts.host !== '::' });
  let received = 0;
  let bytes = 0;
  let duplicates = 0;
  let outOfOrder = 0;
  let lastSeq = -1;
  const seen = new Set();
  let idleTimer;
  let finished = false;

  function finish(timedOut) {
    if (finished) return;
    finished = true;
    out({ done: true, received, bytes, distinct: seen.size, duplicates, outOfOrder, timedOut });
    process.exit(count > 0 && received < count ? 3 : 0);
  }

  sock.on('error', (e) => {
    out({ error: e.code ?? String(e), message: e.message });
    process.exit(1);
  });
  sock.on('message', (msg, rinfo) => {
    received++;
    bytes += msg.length;
    const m = SEQ_RE.exec(msg.subarray(0, 256).toString('latin1'));
    const seq = m ? Number(m[1]) : null;
    if (seq !== null) {
      if (seen.has(seq)) duplicates++;
      else seen.add(seq);
      if (seq < lastSeq) outOfOrder++;
      lastSeq = seq;
    }
    if (!quiet) {
      const line = { from: rinfo.address, port: rinfo.port, len: msg.length, seq };
      const p = renderPayload(msg, mode, max);
      if (p !== undefined) line.payload = p;
      out(line);
    }
    if (echo) sock.send(msg, rinfo.port, rinfo.address);
    if (count > 0 && received >= count) {
      // Let a pending echo leave before exiting.
      if (echo) setTimeout(() => finish(false), 20);
      else finish(false);
      return;
    }
    if (idle > 0) {
      clearTimeout(idleTimer);
      idleTimer = setTimeout(() => finish(true), idle);
    }
  });
  sock.bind(port, host, () => {
    const a = sock.address();
    out({ ready: true, proto: 'udp', family: fam, address: a.address, port: a.port, pid: process.pid });
    if (timeout > 0) setTimeout(() => finish(true), timeout);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => finish(false));
}

// ---------------------------------------------------------------- UDP sender

function makePayload(text, size) {
  const head = Buffer.from(text, 'utf8');
  if (head.length >= size) return head;
  const buf = Buffer.alloc(size, 0x2e); // '.'
  head.copy(buf, 0);
  return buf;
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A UDP socket bound to `addr` (and `port`, 0 for any). */
async function udpSocket(fam, addr, port = 0) {
  const sock = dgram.createSocket({ type: fam === 6 ? 'udp6' : 'udp4' });
  await new Promise((resolve, reject) => {
    sock.once('error', reject);
    sock.bind(port, addr ?? (fam === 6 ? '::' : '0.0.0.0'), () => {
      sock.off('error', reject);
      resolve();
    });
  });
  // Per-send errors are counted by the callers.
  sock.on('error', () => {});
  return sock;
}

const sources = (opts) => (opts.from === undefined ? [opts.bind] : String(opts.from).split(','));

async function udpSend(host, port, opts) {
  const fam = family(opts, host);
  const count = num(opts, 'count', 1);
  const size = num(opts, 'size', 0);
  const rate = num(opts, 'rate', 0);
  const prefix = opts['payload-prefix'] ?? '';
  const echoWait = num(opts, 'echo-wait', 0);

  let echoed = 0;
  const errorCodes = {};
  let errors = 0;
  let sent = 0;
  let bytes = 0;
  let local;
  const start = performance.now();
  let k = 0; // datagrams so far, over every source: the rate is the sender's
  for (const source of sources(opts)) {
    const sock = await udpSocket(fam, source, num(opts, 'sport', 0));
    sock.on('message', () => echoed++);
    const from = opts.from === undefined ? '' : `from=${source};`;
    for (let i = 0; i < count; i++, k++) {
      if (rate > 0) {
        const due = start + (k * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 1) await sleep(wait);
      }
      const buf = makePayload(`${prefix}${from}seq=${i};`, size);
      const err = await new Promise((resolve) => sock.send(buf, port, host, (e) => resolve(e)));
      if (err) {
        errors++;
        const code = err.code ?? String(err.errno ?? err);
        errorCodes[code] = (errorCodes[code] ?? 0) + 1;
      } else {
        sent++;
        bytes += buf.length;
      }
    }
    local = sock.address();
    if (echoWait > 0) await sleep(echoWait);
    sock.close();
  }
  const ms = Math.round(performance.now() - start);
  return { done: true, sent, errors, errorCodes, bytes, ms, echoed, uid: process.getuid(), gid: process.getgid(), local };
}

// ---------------------------------------------------------------- agent

// One long-lived process per namespace runs the test's UDP sends, so that each send costs no
// process start: requests {"id":N,"args":["send","udp",HOST,PORT,...]} on stdin, answers the
// send's summary with the same "id" on stdout. Not for --uid/--gid (they would stick).
function agent() {
  let buffered = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => {
    const lines = (buffered + chunk).split('\n');
    buffered = lines.pop();
    for (const line of lines) if (line.trim() !== '') void serve(JSON.parse(line));
  });
  process.stdin.on('end', () => process.exit(0));
  out({ ready: true, agent: true, pid: process.pid });
}

async function serve({ id, args }) {
  const { pos, opts } = parseArgs(args);
  const [role, proto, host, port] = pos;
  try {
    if (role !== 'send' || proto !== 'udp' || port === undefined) throw new Error(`the agent only sends UDP, not ${args.join(' ')}`);
    if (opts.uid !== undefined || opts.gid !== undefined) throw new Error('the agent cannot change its owner');
    out({ id, ...(await udpSend(host, portOf(port), opts)) });
  } catch (e) {
    out({ id, done: false, error: e.code ?? String(e), message: e.message });
  }
}

// ---------------------------------------------------------------- UDP flood

async function udpFlood(host, port, opts) {
  const fam = family(opts, host);
  const seconds = num(opts, 'seconds', 0);
  const count = num(opts, 'count', 0);
  const window = Math.max(1, num(opts, 'window', 128));
  // --rate: at most this many datagrams per second (0: as fast as it can), paced in 1 ms steps.
  const rate = num(opts, 'rate', 0);
  const socks = await Promise.all(sources(opts).map((addr) => udpSocket(fam, addr)));
  const buf = makePayload('flood;', num(opts, 'size', 64));
  let sent = 0;
  let errors = 0;
  let inFlight = 0;
  let next = 0;
  let stop = false;
  const start = performance.now();
  const deadline = seconds > 0 ? start + seconds * 1000 : Infinity;
  process.on('SIGTERM', () => (stop = true));
  const finish = () => {
    out({ done: true, sent, errors, ms: Math.round(performance.now() - start) });
    process.exit(0);
  };
  const limited = () => count > 0 && sent + errors + inFlight >= count;
  // A send that completes at once calls back on the next tick: refilling only from there
  // would never let the event loop turn (nor a SIGTERM in). Refill at once, but let the loop
  // turn every 4096 completions (a pause per window would let the receiver catch up).
  let scheduled = false;
  let sinceTurn = 0;
  const onSent = (err) => {
    inFlight--;
    if (err) errors++;
    else sent++;
    if (++sinceTurn < 4096) pump();
    else if (!scheduled) {
      scheduled = true;
      setImmediate(() => {
        scheduled = false;
        sinceTurn = 0;
        pump();
      });
    }
  };
  function pump() {
    if (stop || performance.now() >= deadline || limited()) {
      stop = true;
      if (inFlight === 0) finish();
      return;
    }
    // What the rate allows by now; none: go on in a millisecond (once nothing is in flight,
    // no completion will call pump() again).
    const allowed = rate > 0 ? Math.ceil(((performance.now() - start) * rate) / 1000) - (sent + errors + inFlight) : Infinity;
    if (allowed <= 0) {
      if (inFlight === 0 && !scheduled) {
        scheduled = true;
        setTimeout(() => {
          scheduled = false;
          pump();
        }, 1);
      }
      return;
    }
    for (let k = 0; k < allowed && inFlight < window && !limited(); k++) {
      inFlight++;
      socks[next++ % socks.length].send(buf, port, host, onSent);
    }
  }
  pump();
}

// ---------------------------------------------------------------- TCP

const PATTERN_MOD = 251;

function tcpSink(port, opts) {
  const fam = family(opts, opts.host);
  const host = opts.host ?? (fam === 6 ? '::' : '0.0.0.0');
  const conns = num(opts, 'conns', 0);
  const timeout = num(opts, 'timeout', 0);
  let connections = 0;
  let total = 0;
  let finished = false;
  const open = new Set();

  function finish(timedOut) {
    if (finished) return;
    finished = true;
    out({ done: true, connections, bytes: total, timedOut });
    for (const s of open) s.destroy();
    process.exit(conns > 0 && connections < conns ? 3 : 0);
  }

  const server = net.createServer((s) => {
    open.add(s);
    let n = 0;
    let patternOk = true;
    const from = s.remoteAddress;
    const rport = s.remotePort;
    s.on('data', (d) => {
      if (patternOk) {
        for (let i = 0; i < d.length; i++) {
          if (d[i] !== (n + i) % PATTERN_MOD) { patternOk = false; break; }
        }
      }
      n += d.length;
      total += d.length;
    });
    s.on('error', () => {});
    s.on('end', () => s.end());
    s.on('close', () => {
      open.delete(s);
      connections++;
      out({ conn: true, from, port: rport, bytes: n, patternOk });
      if (conns > 0 && connections >= conns) finish(false);
    });
  });
  server.on('error', (e) => {
    out({ error: e.code ?? String(e), message: e.message });
    process.exit(1);
  });
  server.listen({ port, host, ipv6Only: fam === 6 }, () => {
    const a = server.address();
    out({ ready: true, proto: 'tcp', family: fam, address: a.address, port: a.port, pid: process.pid });
    if (timeout > 0) setTimeout(() => finish(true), timeout);
  });
  for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => finish(false));
}

function tcpSend(host, port, opts) {
  const fam = family(opts, host);
  const bytes = num(opts, 'bytes', 0);
  const chunk = Math.max(1, num(opts, 'chunk', 65536));
  const timeout = num(opts, 'timeout', 20000);
  dropPrivileges(opts);
  const start = performance.now();
  let written = 0;
  let done = false;

  const s = net.connect({ host, port, family: fam });
  const timer = setTimeout(() => {
    if (done) return;
    done = true;
    out({ done: false, error: 'ETIMEDOUT', sent: written, ms: Math.round(performance.now() - start) });
    process.exit(1);
  }, timeout);
  s.on('error', (e) => {
    if (done) return;
    done = true;
    clearTimeout(timer);
    out({ done: false, error: e.code ?? String(e), message: e.message, sent: written });
    process.exit(1);
  });
  s.on('connect', () => {
    const local = { address: s.localAddress, port: s.localPort };
    const pump = () => {
      while (written < bytes) {
        const n = Math.min(chunk, bytes - written);
        const buf = Buffer.allocUnsafe(n);
        for (let i = 0; i < n; i++) buf[i] = (written + i) % PATTERN_MOD;
        written += n;
        if (!s.write(buf)) { s.once('drain', pump); return; }
      }
      s.end();
    };
    pump();
    s.on('data', () => {});
    s.on('close', () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      out({ done: true, sent: written, ms: Math.round(performance.now() - start), local });
      process.exit(0);
    });
  });
}

// ---------------------------------------------------------------- main

const { pos, opts } = parseArgs(process.argv.slice(2));
const [role, proto, a1, a2] = pos;
const portOf = (s) => {
  const p = Number(s);
  if (!Number.isInteger(p) || p < 0 || p > 65535) fail(`bad port ${s}`);
  return p;
};

if (role === 'agent') agent();
else if (role === 'sink' && proto === 'udp' && a1 !== undefined) udpSink(portOf(a1), opts);
else if (role === 'sink' && proto === 'tcp' && a1 !== undefined) tcpSink(portOf(a1), opts);
else if (role === 'send' && proto === 'udp' && a2 !== undefined) {
  dropPrivileges(opts);
  udpSend(a1, portOf(a2), opts).then(
    (summary) => {
      out(summary);
      process.exit(0);
    },
    (e) => {
      out({ done: false, error: e.code ?? String(e), message: e.message });
      process.exit(1);
    },
  );
} else if (role === 'flood' && proto === 'udp' && a2 !== undefined) {
  udpFlood(a1, portOf(a2), opts).catch((e) => {
    out({ done: false, error: e.code ?? String(e), message: e.message });
    process.exit(1);
  });
} else if (role === 'send' && proto === 'tcp' && a2 !== undefined) tcpSend(a1, portOf(a2), opts);
else fail('usage: traffic.mjs sink udp|tcp PORT [opts] | send udp|tcp HOST PORT [opts] | flood udp HOST PORT [opts] | agent');
