/**
 * The native addon's edges: a poll error with no pending socket error ends the transport
 * (error, then end()) instead of leaving a deaf socket; receive-buffer sizes above 2^31-1 are
 * refused with a RangeError, not narrowed to a negative int; socket options that fail are
 * reported as NetlinkSocketErrors once the transport starts.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { loadNativeAddon, openNativeTransport, nativeTransportUnavailable, prebuiltAddonPath } from '../../src/netlink/native-transport.js';
import { NETLINK_NETFILTER } from '../../src/netlink/constants.js';
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
});
