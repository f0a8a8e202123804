/**
 * The runtime check that picks the native socket's receive mode: Node.js keeps libuv's
 * poll; a runtime without libuv (Bun, Deno: process.versions.bun / .deno) gets the receive
 * thread, and whatever needs libuv there fails at open with a typed error that names the
 * runtime instead of aborting the process. The runtimes themselves run the package in
 * scripts/runtime-matrix.sh; here Node pretends to be Bun or Deno in a child process.
 */
import { describe, it, expect } from 'vitest';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { currentRuntime } from '../../src/netlink/runtime.js';
import { nativeTransportUnavailable, openNativeTransport } from '../../src/netlink/native-transport.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** Runs `code` (an ES module, cwd = the package) in a Node that says it is `as`. */
function runAs(as: Record<string, string>, code: string, env: Record<string, string> = {}): unknown {
  const pretend = Object.entries(as)
    .map(([k, v]) => `Object.defineProperty(process.versions, ${JSON.stringify(k)}, { value: ${JSON.stringify(v)}, enumerable: true });`)
    .join('');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', pretend + code], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, ...env } });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout);
}

const report = `const out = (e) => e === undefined ? null : { name: e.name, code: e.code, message: e.message };`;

describe('runtime check', () => {
  it('Node.js has libuv; the native socket polls with it unless told otherwise', () => {
    expect(currentRuntime()).toEqual({ name: 'node', version: process.versions.node, libuv: true });
    if (nativeTransportUnavailable() !== undefined) return;
    const t = openNativeTransport(12);
    expect(t.receiveMode).toBe('uv');
    t.close();
    expect(runAs({}, `import { openNativeTransport } from './dist/netlink/native-transport.js'; const t = openNativeTransport(12); console.log(JSON.stringify(t.receiveMode)); t.close();`, { NFQUEUE_NATIVE_RECEIVE: 'thread' })).toBe('thread');
  });

  it.each([
    [{ bun: '1.4.5' }, 'Bun 1.4.5'],
    [{ deno: '2.9.6' }, 'Deno 2.9.6'],
  ])('%o: the receive thread; libuv needs fail at open with a typed error naming %s', (as, label) => {
    const code = `${report}
      import { currentRuntime } from './dist/netlink/runtime.js';
      import { openNativeTransport, nativeTransportUnavailable } from './dist/netlink/native-transport.js';
      import { openSocketTransport } from './dist/netlink/socket-transport.js';
      const res = { runtime: currentRuntime() };
      if (nativeTransportUnavailable() === undefined) { const t = openNativeTransport(12); res.mode = t.receiveMode; t.close(); }
      try { openSocketTransport(12); } catch (e) { res.fallback = out(e); }
      process.env.NFQUEUE_NATIVE_RECEIVE = 'uv';
      try { openNativeTransport(12); } catch (e) { res.forcedUv = out(e); }
      console.log(JSON.stringify(res));`;
    const res = runAs(as, code) as Record<string, { name: string; code: string; message: string } | string | object>;
    expect(res.runtime).toMatchObject({ libuv: false });
    if (nativeTransportUnavailable() === undefined) expect(res.mode).toBe('thread');
    for (const key of ['fallback', 'forcedUv']) {
      expect(res[key], key).toMatchObject({ name: 'NetlinkSocketError', code: 'ERR_RUNTIME_UNSUPPORTED' });
      expect((res[key] as { message: string }).message, key).toContain(`${label} does not give native addons`);
    }
  });

  it('without libuv and without the addon, opening a queue says why instead of falling back', () => {
    const code = `${report}
      import { openDefaultTransport } from './dist/netlink/default-transport.js';
      try { openDefaultTransport(12); console.log('null'); } catch (e) { console.log(JSON.stringify(out(e))); }`;
    const res = runAs({ bun: '1.4.5' }, code, { NFQUEUE_NATIVE_ADDON: '/nonexistent/nfq_native.node' }) as { name: string; code: string; message: string };
    expect(res).toMatchObject({ name: 'NetfilterQueueError', code: 'ERR_RUNTIME_UNSUPPORTED' });
    expect(res.message).toMatch(/^Bun 1\.4\.5 needs this package's native socket, and it cannot load: native netlink transport unavailable on Bun 1\.4\.5 \(\/nonexistent\/nfq_native\.node missing\)/);
  });
});
