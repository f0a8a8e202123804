/**
 * The native addon's edges: a poll error with no pending socket error ends the transport
 * (error, then end()) instead of leaving a deaf socket; receive-buffer sizes above 2^31-1 are
 * refused with a RangeError, not narrowed to a negative int; socket options that fail are
 * reported as NetlinkSocketErrors once the transport starts; a netns argument that is not an
 * integer throws; a failed start leaves nothing set; a partial sendmmsg keeps its errno; no
 * memory for a slab pauses reading instead of spinning; the receive buffer size never comes
 * back as -1. Both receive modes (libuv's poll, the receive thread) where it matters.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon, openNativeTransport, nativeTransportUnavailable, prebuiltAddonPath } from '../../src/netlink/native-transport.js';
import { NETLINK_NETFILTER, NLMSG_NOOP, NLMSG_ERROR, NLM_F_REQUEST, NLM_F_ACK } from '../../src/netlink/constants.js';
import { NetlinkSocketError } from '../../src/netlink/errors.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const unavailable = nativeTransportUnavailable();

function runNode(code: string, env: Record<string, string> = {}, prefix: string[] = []): { stdout: string; stderr: string; status: number | null } {
  const [cmd, ...args] = [...prefix, process.execPath, '--input-type=module', '-e', code];
  const r = spawnSync(cmd!, args, { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { stdout: r.stdout, stderr: r.stderr, status: r.status };
}

describe.skipIf(unavailable !== undefined)('native addon edges', () => {
  it('a poll error without a pending socket error ends the transport: error, then end()', () => {
    const t = openNativeTransport(NETLINK_NETFILTER);
    const errors: NetlinkSocketError[] = [];
    let ended = 0;
    t.start({ datagram() {}, error: (e) => errors.push(e), end: () => ended++ });
    t.simulatePollError(-9); // UV_EBADF, what libuv reports for POLLERR
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(NetlinkSocketError);
    expect(errors[0]).toMatchObject({ syscall: 'poll', errno: 9 });
    expect(errors[0]!.message).toMatch(/failed and was closed/);
    expect(ended).toBe(1);
    expect(() => t.send(new Uint8Array(16))).toThrow(/closed/);
    t.close();
  });

  it('refuses receive-buffer sizes above 2^31-1 with a RangeError, in JS and in the addon', () => {
    expect(() => openNativeTransport(NETLINK_NETFILTER, { receiveBufferSize: 2 ** 31 })).toThrow(RangeError);
    const t = openNativeTransport(NETLINK_NETFILTER);
    try {
      expect(() => t.setReceiveBufferSize!(2 ** 31)).toThrow(RangeError);
      expect(() => t.setReceiveBufferSize!(0)).toThrow(RangeError);
      t.setReceiveBufferSize!(2 ** 31 - 1); // the kernel clamps it; no narrowing to a negative int
      expect(t.getReceiveBufferSize!()).toBeGreaterThan(0);
    } finally {
      t.close();
    }
    const addon = loadNativeAddon();
    expect(() => addon.open(NETLINK_NETFILTER, 4096, 1, 1, 1, 2 ** 31)).toThrow(RangeError);
    const h = addon.open(NETLINK_NETFILTER, 4096, 1, 1, 1, 0);
    try {
      expect(() => addon.setRcvbuf(h, 2 ** 32 - 1)).toThrow(RangeError);
    } finally {
      addon.close(h);
    }
  });

  it('reports a refused SO_RCVBUFFORCE (no CAP_NET_ADMIN), at open and when set later', () => {
    const code = `
      import { openNativeTransport } from './dist/netlink/native-transport.js';
      const t = openNativeTransport(12, { receiveBufferSize: 1 << 20 });
      const errors = [];
      t.setReceiveBufferSize(1 << 21);
      t.start({ datagram() {}, error: (e) => errors.push({ name: e.name, errno: e.errno, syscall: e.syscall, message: e.message }) });
      console.log(JSON.stringify(errors));
      t.close();`;
    const r = runNode(code, {}, ['setpriv', '--inh-caps=-all', '--bounding-set=-all', '--']);
    expect(r.status, r.stderr).toBe(0);
    const errors = JSON.parse(r.stdout) as { name: string; errno: number; syscall: string; message: string }[];
    expect(errors).toHaveLength(2);
    expect(errors[0]).toMatchObject({ name: 'NetlinkSocketError', errno: 1, syscall: 'setsockopt' });
    expect(errors[0]!.message).toMatch(/SO_RCVBUFFORCE failed: EPERM/);
    expect(errors[1]!.message).toMatch(/SO_RCVBUFFORCE refused \(EPERM.*rmem_max caps; the receive buffer is \d+ bytes \(2097152 asked/);
  });

  it('reports failed NETLINK_NO_ENOBUFS / NETLINK_EXT_ACK options (an addon that says they failed)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfq-fake-addon-'));
    try {
      const fake = join(dir, 'fake.cjs');
      writeFileSync(
        fake,
        `const real = require(${JSON.stringify(prebuiltAddonPath())});
         module.exports = { ...real, openWarnings: () => [{ option: 'NETLINK_NO_ENOBUFS', errno: 92 }, { option: 'NETLINK_EXT_ACK', errno: 92 }] };`,
      );
      const code = `
        import { openNativeTransport } from './dist/netlink/native-transport.js';
        const t = openNativeTransport(12);
        const errors = [];
        t.start({ datagram() {}, error: (e) => errors.push(e.message) });
        console.log(JSON.stringify(errors));
        t.close();`;
      const r = runNode(code, { NFQUEUE_NATIVE_ADDON: fake });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual([
        'setsockopt NETLINK_NO_ENOBUFS failed: ENOPROTOOPT; the socket works without it',
        'setsockopt NETLINK_EXT_ACK failed: ENOPROTOOPT; the socket works without it',
      ]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  /** A NOOP request the kernel acks: makes the socket readable. */
  const noopAck = (seq: number): Uint8Array => {
    const b = new Uint8Array(16);
    const v = new DataView(b.buffer);
    v.setUint32(0, 16, true);
    v.setUint16(4, NLMSG_NOOP, true);
    v.setUint16(6, NLM_F_REQUEST | NLM_F_ACK, true);
    v.setUint32(8, seq, true);
    return b;
  };
  const waitFor = async (cond: () => boolean, ms = 10_000): Promise<void> => {
    for (const t0 = Date.now(); !cond(); await new Promise((r) => setTimeout(r, 5))) if (Date.now() - t0 > ms) throw new Error('timed out');
  };
  type Delivery = { bytes: number; datagrams: number; errno: number };
  const collect = (out: Delivery[]) => (slab: ArrayBuffer | undefined, _off: number, length: number, datagrams: number, errno: number): void => {
    out.push({ bytes: slab === undefined ? 0 : length, datagrams, errno });
  };

  it('open: a netns argument that is not an integer throws instead of opening here', () => {
    const addon = loadNativeAddon();
    for (const bad of ['3', 1.5, null, {}, -2, 2 ** 31]) {
      expect(() => addon.open(NETLINK_NETFILTER, 4096, 1, 1, 1, 0, bad as number), String(bad)).toThrow(TypeError);
    }
    for (const here of [undefined, -1]) addon.close(addon.open(NETLINK_NETFILTER, 4096, 1, 1, 1, 0, here));
  });

  for (const [step, threaded] of [['async_init', false], ['poll_init', false], ['thread', true]] as const) {
    it(`start: a failed ${step} leaves nothing set, and a retry reads`, async () => {
      const addon = loadNativeAddon();
      const h = addon.open(NETLINK_NETFILTER, 4096, 8, 1, 1, 0);
      try {
        addon.injectFault(h, step, true);
        expect(() => addon.start(h, () => {}, threaded)).toThrow(step === 'async_init' ? /napi_async_init failed/ : step === 'poll_init' ? /uv_poll_init/ : /pthread_create/);
        addon.injectFault(h, step, false);
        const got: Delivery[] = [];
        addon.start(h, collect(got), threaded);
        expect(() => addon.start(h, () => {}, threaded)).toThrow(/already started/);
        addon.send(h, noopAck(7));
        await waitFor(() => got.length > 0);
        expect(got[0]).toEqual({ bytes: 36, datagrams: 1, errno: 0 });
      } finally {
        addon.close(h);
      }
    });
  }

  it('a failed thread start followed by a working one survives garbage collection (no stale finalizer)', () => {
    // The first start's thread-safe function, had it been made, would release the struct
    // when finalized while the second one still used it: a crash once V8 collects the handle.
    const code = `
      import { loadNativeAddon } from './dist/netlink/native-transport.js';
      const addon = loadNativeAddon();
      for (let i = 0; i < 200; i++) {
        const h = addon.open(12, 4096, 8, 1, 1, 0);
        addon.injectFault(h, 'thread', true);
        try { addon.start(h, () => {}, true); } catch {}
        addon.injectFault(h, 'thread', false);
        addon.start(h, () => {}, true);
        addon.close(h);
        if (i % 10 === 0) { globalThis.gc(); await new Promise((r) => setTimeout(r, 1)); }
      }
      globalThis.gc();
      await new Promise((r) => setTimeout(r, 50));
      globalThis.gc();
      console.log('survived');`;
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], { cwd: ROOT, encoding: 'utf8', timeout: 60_000 });
    expect(r.signal, r.stderr).toBeNull();
    expect(r.stdout.trim()).toBe('survived');
  });

  it('sendMany: a datagram that fails after others went keeps its errno', () => {
    const addon = loadNativeAddon();
    const h = addon.open(NETLINK_NETFILTER, 4096, 1, 1, 1, 0);
    try {
      // The kernel refuses a datagram larger than the send buffer with EMSGSIZE; sendmmsg()
      // returns 1 for the first and drops the error, the addon's next round gets it.
      const big = new Uint8Array(1 << 22);
      new DataView(big.buffer).setUint32(0, big.byteLength, true);
      const bytes = new Uint8Array(16 + big.byteLength + 16);
      bytes.set(noopAck(1).map((b, i) => (i === 6 ? NLM_F_REQUEST : b)), 0);
      bytes.set(big, 16);
      expect(addon.sendMany(h, bytes, new Uint32Array([16, big.byteLength, 16]), 3)).toEqual({ sent: 1, errno: 90 });
      expect(addon.sendMany(h, bytes, new Uint32Array([16]), 1)).toBe(1);
    } finally {
      addon.close(h);
    }
    const t = openNativeTransport(NETLINK_NETFILTER);
    const errors: NetlinkSocketError[] = [];
    t.start({ datagram() {}, error: (e) => errors.push(e) });
    const big = new Uint8Array(1 << 22);
    new DataView(big.buffer).setUint32(0, big.byteLength, true);
    t.sendMany([new Uint8Array(16).fill(0).map((_, i) => (i === 0 ? 16 : i === 4 ? NLMSG_NOOP : 0)), big]);
    t.close();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatchObject({ errno: 90, code: 'EMSGSIZE', syscall: 'sendmmsg' });
    expect(errors[0]!.message).toMatch(/after 1 of 2 datagrams/);
  });

  for (const threaded of [false, true]) {
    it(`no memory for a slab pauses reading once instead of spinning (${threaded ? 'thread' : 'uv'})`, async () => {
      const addon = loadNativeAddon();
      const h = addon.open(NETLINK_NETFILTER, 4096, 8, 1, 1, 0);
      const stats = new Float64Array(8);
      try {
        const got: Delivery[] = [];
        if (!threaded) addon.injectFault(h, 'slab', true); // the thread mode prepares a slab at start
        addon.start(h, collect(got), threaded);
        if (threaded) {
          addon.send(h, noopAck(1));
          await waitFor(() => got.length > 0);
          addon.injectFault(h, 'slab', true);
          // Fill the first slab so the next batch needs a new one.
          for (let round = 0; !got.some((d) => d.errno !== 0); round++) {
            if (round > 500) throw new Error('never ran out of slab');
            for (let i = 0; i < 100 && !got.some((d) => d.errno !== 0); i++) addon.send(h, noopAck(i + 2));
            await new Promise((r) => setTimeout(r, 1));
          }
        } else {
          addon.send(h, noopAck(1)); // readable, with no memory to read into
          await waitFor(() => got.length > 0);
        }
        const paused = got.findIndex((d) => d.errno !== 0);
        expect(got[paused]).toEqual({ bytes: 0, datagrams: 2, errno: 12 }); // ENOMEM, reading paused
        addon.stats(h, stats);
        const calls = stats[0];
        await new Promise((r) => setTimeout(r, 200));
        addon.stats(h, stats);
        expect(got.length).toBe(paused + 1); // reported once, not once per readable event
        expect(stats[0]).toBe(calls); // and no receive call since: the socket is not polled
        addon.injectFault(h, 'slab', false);
        addon.setReading(h, true);
        // Something to read after the resume: in thread mode the pause may have come when the
        // socket held nothing more (the failed slab was for the next batch).
        addon.send(h, noopAck(100_000));
        await waitFor(() => got.length > paused + 1);
        expect(got[paused + 1]).toMatchObject({ errno: 0 });
        expect(got[paused + 1]!.datagrams).toBeGreaterThan(0);
      } finally {
        addon.close(h);
      }
    });
  }

  it('the transport resumes reading after a pause for memory, and reports it once', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfq-fault-addon-'));
    try {
      const fake = join(dir, 'fault.cjs');
      writeFileSync(
        fake,
        `const real = require(${JSON.stringify(prebuiltAddonPath())});
         module.exports = {
           ...real,
           open(...a) { const h = real.open(...a); real.injectFault(h, 'slab', true); return h; },
           // The memory comes back once the pause was reported (not after a delay, which a
           // loaded machine may outrun before the first read).
           start(h, cb, threaded) { return real.start(h, (slab, ...rest) => { if (slab === undefined) real.injectFault(h, 'slab', false); return cb(slab, ...rest); }, threaded); },
         };`,
      );
      const code = `
        import { openNativeTransport } from './dist/netlink/native-transport.js';
        const t = openNativeTransport(12);
        const errors = [];
        t.start({ datagram(d) { console.log(JSON.stringify({ errors, bytes: d.byteLength, type: new DataView(d.buffer, d.byteOffset).getUint16(4, true) })); t.close(); }, error: (e) => errors.push(e.message) });
        const b = new Uint8Array(16); const v = new DataView(b.buffer);
        v.setUint32(0, 16, true); v.setUint16(4, 1, true); v.setUint16(6, 5, true); v.setUint32(8, 1, true);
        t.send(b);`;
      const r = runNode(code, { NFQUEUE_NATIVE_ADDON: fake });
      expect(r.status, r.stderr).toBe(0);
      expect(JSON.parse(r.stdout)).toEqual({ errors: ['no memory for a receive slab; reading paused for 100 ms: ENOMEM'], bytes: 36, type: NLMSG_ERROR });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the receive buffer size never comes back as -1: a closed socket throws', () => {
    const addon = loadNativeAddon();
    const h = addon.open(NETLINK_NETFILTER, 4096, 1, 1, 1, 0);
    expect(addon.getRcvbuf(h)).toBeGreaterThan(0);
    addon.close(h);
    expect(() => addon.getRcvbuf(h)).toThrow(expect.objectContaining({ errno: 9, syscall: 'getsockopt' }));
    const t = openNativeTransport(NETLINK_NETFILTER);
    t.close();
    expect(() => t.getReceiveBufferSize!()).toThrow(NetlinkSocketError);
    expect(() => t.getReceiveBufferSize!()).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
});
