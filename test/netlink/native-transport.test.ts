/**
 * The native transport (native/nfq_native.c via src/netlink/native-transport.ts):
 * fallback when the addon is absent, several datagrams per receive call, several messages
 * and datagrams per send call. The socket tests need no privileges: verdicts for a queue
 * nobody bound make the kernel answer one NLMSG_ERROR per message.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { openNativeTransport, nativeTransportUnavailable, type NativeTransport } from '../../src/netlink/native-transport.js';
import { MessageWriter } from '../../src/netlink/writer.js';
import { NETLINK_NETFILTER, NLMSG_ERROR, NLMSG_NOOP, NLM_F_REQUEST, NLM_F_ACK } from '../../src/netlink/constants.js';
import { parseMessages } from '../../src/netlink/message.js';
import { NetlinkSocketError } from '../../src/netlink/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const unavailable = nativeTransportUnavailable();
// An unbound queue number; the kernel answers ENODEV (or EPERM without CAP_NET_ADMIN).
const QUEUE = 65_431;
const NFQ_TYPE_VERDICT = (3 << 8) | 1;

/** `count` verdict messages with NLM_F_ACK, one datagram. */
function verdicts(count: number, firstSeq: number): Uint8Array {
  const w = new MessageWriter(1024);
  for (let i = 0; i < count; i++) {
    w.begin({ type: NFQ_TYPE_VERDICT, flags: NLM_F_REQUEST | NLM_F_ACK, seq: firstSeq + i, pid: 0 });
    w.rawU8(0).rawU8(0).rawBe16(QUEUE);
    w.attrBytes(2, new Uint8Array([0, 0, 0, 1, 0, 0, 0, 1 + i]));
    w.end();
  }
  return w.finishCopy();
}

/** The messages of a delivery but the NLMSG_NOOP fillers the addon puts between datagrams read in place. */
function replies(d: Uint8Array): ReturnType<typeof parseMessages> {
  return parseMessages(d).filter((m) => m.header.type !== NLMSG_NOOP);
}

interface Received {
  calls: number;
  seqs: number[];
  errnos: number[];
  errors: NetlinkSocketError[];
}

function collect(t: NativeTransport): Received {
  const r: Received = { calls: 0, seqs: [], errnos: [], errors: [] };
  t.start({
    datagram(d) {
      r.calls++;
      for (const m of replies(d)) {
        expect(m.header.type).toBe(NLMSG_ERROR);
        const v = new DataView(d.buffer, d.byteOffset + m.payloadOffset);
        r.errnos.push(-v.getInt32(0, true));
        r.seqs.push(v.getUint32(12, true));
      }
    },
    error(e) {
      r.errors.push(e);
    },
  });
  return r;
}

async function until(cond: () => boolean, ms = 5000): Promise<void> {
  const t0 = Date.now();
  while (!cond()) {
    if (Date.now() - t0 > ms) throw new Error('timed out');
    await new Promise((res) => setTimeout(res, 5));
  }
}

function runNode(code: string, env: Record<string, string>): { stdout: string; stderr: string; status: number | null } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe('default transport fallback', () => {
  const probe = `
    import { openDefaultTransport } from './dist/netlink/default-transport.js';
    const a = openDefaultTransport(12); const b = openDefaultTransport(12);
    console.log(JSON.stringify({ a: a.kind, b: b.kind, portId: a.portId > 0 }));
    a.close(); b.close();`;

  it('falls back to the netlink package with one notice when the addon cannot load', () => {
    const r = runNode(probe, { NFQUEUE_NATIVE_ADDON: '/nonexistent/nfq_native.node' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ a: 'netlink', b: 'netlink', portId: true });
    const notices = r.stderr.split('\n').filter((l) => l.includes('NFQUEUE_NATIVE_UNAVAILABLE'));
    expect(notices).toHaveLength(1);
    expect(notices[0]).toMatch(/native netlink transport unavailable \(\/nonexistent\/nfq_native.node missing\); build it with: npm rebuild netfilter-queue \(or: node \/.*\/native\/build.mjs\)\. Meanwhile/);
  });

  it('uses the netlink package silently when NFQUEUE_TRANSPORT=netlink', () => {
    const r = runNode(probe, { NFQUEUE_TRANSPORT: 'netlink' });
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout).a).toBe('netlink');
    expect(r.stderr).not.toMatch(/NFQUEUE_NATIVE_UNAVAILABLE/);
  });

  it.skipIf(unavailable !== undefined)('uses the native addon when it is built', () => {
    const r = runNode(probe, {});
    expect(r.status, r.stderr).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({ a: 'native', b: 'native', portId: true });
    expect(r.stderr).toBe('');
  });

  it('refuses NFQUEUE_TRANSPORT=native when the addon cannot load', () => {
    const r = runNode(probe, { NFQUEUE_TRANSPORT: 'native', NFQUEUE_NATIVE_ADDON: '/nonexistent/nfq_native.node' });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/NFQUEUE_TRANSPORT=native: native netlink transport unavailable/);
  });
});

describe.skipIf(unavailable !== undefined)('native transport socket', () => {
  it('sends several messages in one datagram and receives the replies in one call', async () => {
    const t = openNativeTransport(NETLINK_NETFILTER);
    try {
      expect(t.kind).toBe('native');
      expect(t.portId).toBeGreaterThan(0);
      const r = collect(t);
      t.send(verdicts(8, 100));
      await until(() => r.seqs.length >= 8);
      expect(r.seqs).toEqual([100, 101, 102, 103, 104, 105, 106, 107]);
      expect(new Set(r.errnos).size).toBe(1);
      expect(r.errnos[0]).toBeGreaterThan(0);
      const s = t.stats();
      expect(s.sendCalls).toBe(1);
      expect(s.datagramsSent).toBe(1);
      // The kernel queued eight reply datagrams during the send: one recvmmsg, one JS call.
      expect(s.datagramsReceived).toBe(8);
      expect(r.calls).toBe(1);
      expect(s.receiveCalls).toBeLessThanOrEqual(2);
      expect(r.errors).toEqual([]);
    } finally {
      t.close();
    }
  });

  it('sends several datagrams with one sendmmsg', async () => {
    const t = openNativeTransport(NETLINK_NETFILTER);
    try {
      const r = collect(t);
      t.sendMany([verdicts(2, 200), verdicts(3, 210), verdicts(1, 220)]);
      await until(() => r.seqs.length >= 6);
      expect(r.seqs).toEqual([200, 201, 210, 211, 212, 220]);
      const s = t.stats();
      expect(s.sendCalls).toBe(1);
      expect(s.datagramsSent).toBe(3);
      expect(s.datagramsReceived).toBe(6);
    } finally {
      t.close();
    }
  });

  it('keeps delivered bytes valid after later receives (fresh buffer per batch)', async () => {
    const t = openNativeTransport(NETLINK_NETFILTER, { batch: 2 });
    try {
      const kept: Uint8Array[] = [];
      t.start({ datagram: (d) => kept.push(d), error: () => {} });
      t.send(verdicts(5, 300));
      await until(() => kept.reduce((n, d) => n + replies(d).length, 0) >= 5);
      // batch 2: five replies arrive over three calls, none overwriting another.
      expect(kept.length).toBe(3);
      const seqs = kept.flatMap((d) => replies(d).map((m) => new DataView(d.buffer, d.byteOffset + m.payloadOffset).getUint32(12, true)));
      expect(seqs).toEqual([300, 301, 302, 303, 304]);
    } finally {
      t.close();
    }
  });

  it('delivers datagrams of mixed sizes intact: in place with fillers, moved together, or copied when one outgrows its slot', async () => {
    const t = openNativeTransport(NETLINK_NETFILTER);
    try {
      const kept: Uint8Array[] = [];
      t.start({ datagram: (d) => kept.push(d), error: () => {} });
      const mixed = [8, 8, 8, 8, 3000, 8, 600, 8, 5000, 40, 8];
      const close = [600, 560, 600, 580, 600];
      // Each error reply echoes its request, so reply sizes follow the request sizes. The
      // slots are sized to the previous batch's longest reply: round 1 outgrows them (copied
      // after the slots), rounds 2 and 3 fit but would be mostly filler (moved together),
      // round 4 fits closely (read in place, NLMSG_NOOP fillers between the replies).
      const noops: number[] = [];
      for (const [round, sizes] of [mixed, mixed, close, close].entries()) {
        const requests = sizes.map((n, i) => {
          const w = new MessageWriter(8192);
          w.begin({ type: NFQ_TYPE_VERDICT, flags: NLM_F_REQUEST, seq: 1000 * (round + 1) + i, pid: 0 });
          w.rawU8(0).rawU8(0).rawBe16(QUEUE);
          w.attrBytes(2, new Uint8Array([0, 0, 0, 1, 0, 0, 0, 1]));
          w.attrBytes(10, new Uint8Array(n).map((_, j) => (j * 7 + i + round) & 0xff));
          w.end();
          return w.finishCopy();
        });
        kept.length = 0;
        t.sendMany(requests);
        await until(() => kept.reduce((n, d) => n + replies(d).length, 0) >= sizes.length);
        const got = kept.flatMap((d) => parseMessages(d).map((m) => ({ d, m })));
        for (const { m } of got) expect([NLMSG_ERROR, NLMSG_NOOP]).toContain(m.header.type);
        noops.push(got.filter(({ m }) => m.header.type === NLMSG_NOOP).length);
        const errs = got.filter(({ m }) => m.header.type === NLMSG_ERROR);
        expect(errs.map(({ d, m }) => new DataView(d.buffer, d.byteOffset + m.payloadOffset).getUint32(12, true))).toEqual(sizes.map((_, i) => 1000 * (round + 1) + i));
        errs.forEach(({ d, m }, i) => {
          // nlmsgerr: errno, then the whole request as sent.
          const echoed = d.subarray(m.payloadOffset + 4, m.payloadOffset + 4 + requests[i]!.byteLength);
          expect(Buffer.from(echoed).equals(Buffer.from(requests[i]!))).toBe(true);
        });
      }
      expect(noops.slice(0, 3)).toEqual([0, 0, 0]);
      expect(noops[3]).toBeGreaterThan(0);
    } finally {
      t.close();
    }
  });

  it('reports truncated datagrams and sets the receive buffer', async () => {
    const t = openNativeTransport(NETLINK_NETFILTER, { messageSize: 64 });
    try {
      t.setReceiveBufferSize?.(1 << 20);
      expect(t.getReceiveBufferSize?.()).toBeGreaterThanOrEqual(1 << 20);
      const errors: NetlinkSocketError[] = [];
      let got = 0;
      t.start({ datagram: () => got++, error: (e) => errors.push(e) });
      // An error reply echoes the whole 4-message request: longer than 64 bytes.
      const w = new MessageWriter(1024);
      w.begin({ type: NFQ_TYPE_VERDICT, flags: NLM_F_REQUEST, seq: 9, pid: 0 });
      w.rawU8(0).rawU8(0).rawBe16(QUEUE);
      w.attrBytes(2, new Uint8Array(8));
      w.attrBytes(10, new Uint8Array(200));
      w.end();
      t.send(w.finishCopy());
      await until(() => errors.length > 0);
      expect(errors[0]?.code).toBe('EMSGSIZE');
    } finally {
      t.close();
    }
  });

  it('closes from inside its own receive callback without further deliveries', async () => {
    const t = openNativeTransport(NETLINK_NETFILTER, { batch: 1 });
    let calls = 0;
    t.start({
      datagram: () => {
        calls++;
        t.close();
      },
      error: () => {},
    });
    t.send(verdicts(4, 400));
    await until(() => calls > 0);
    await new Promise((res) => setTimeout(res, 50));
    expect(calls).toBe(1);
  });

  it('lets the process exit when not kept alive, and keeps it alive otherwise', () => {
    const code = (alive: boolean): string => `
      import { openNativeTransport } from './dist/netlink/native-transport.js';
      const t = openNativeTransport(12);
      t.setKeepAlive(${alive});
      t.start({ datagram() {}, error() {} });
      console.log('started');`;
    const exited = spawnSync(process.execPath, ['--input-type=module', '-e', code(false)], { cwd: ROOT, encoding: 'utf8', timeout: 10_000 });
    expect(exited.status, exited.stderr).toBe(0);
    expect(exited.stdout).toBe('started\n');
    const held = spawnSync(process.execPath, ['--input-type=module', '-e', code(true)], { cwd: ROOT, encoding: 'utf8', timeout: 1500 });
    expect(held.signal).toBe('SIGTERM'); // still running when the timeout killed it
  });

  it('works in worker threads, and a terminated worker closes its socket', () => {
    const code = `
      import { Worker } from 'node:worker_threads';
      const src = \`
        import { parentPort } from 'node:worker_threads';
        import { openNativeTransport } from '${ROOT}dist/netlink/native-transport.js';
        import { MessageWriter } from '${ROOT}dist/netlink/writer.js';
        const t = openNativeTransport(12);
        t.start({ datagram(d) { parentPort.postMessage({ got: d.byteLength, port: t.portId }); }, error() {} });
        const w = new MessageWriter(64);
        w.begin({ type: 0x301, flags: 5, seq: 1, pid: 0 }); w.rawU8(0).rawU8(0).rawBe16(${QUEUE}); w.attrBytes(2, new Uint8Array(8)); w.end();
        t.send(w.finish());
      \`;
      const ports = [];
      for (let i = 0; i < 2; i++) {
        const wk = new Worker(src, { eval: true, type: 'module' });
        const m = await new Promise((res) => wk.once('message', res));
        ports.push(m.port);
        await wk.terminate();
      }
      const { readFileSync } = await import('node:fs');
      const open = readFileSync('/proc/net/netlink', 'utf8').split('\\n').filter((l) => ports.some((p) => l.split(/\\s+/)[2] === String(p)));
      console.log(JSON.stringify({ ports, stillOpen: open.length }));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 20_000 });
    expect(r.status, r.stderr).toBe(0);
    const out = JSON.parse(r.stdout) as { ports: number[]; stillOpen: number };
    expect(out.ports).toHaveLength(2);
    expect(out.stillOpen).toBe(0);
  });

  it('refuses to send after close and closes twice quietly', () => {
    const t = openNativeTransport(NETLINK_NETFILTER);
    t.close();
    t.close();
    expect(() => t.send(verdicts(1, 1))).toThrow(NetlinkSocketError);
  });
});
