/**
 * Which JavaScript runtime runs this process, as far as the sockets care: Node.js gives
 * native addons libuv (the native transport polls its socket with uv_poll, the fastest
 * way); Bun and Deno implement Node-API without libuv's event loop functions, so the
 * native transport reads on a receive thread there, and the `netlink` package's socket
 * (a libuv addon) cannot work at all.
 */
import { NetlinkSocketError } from './errors.js';

/** The runtime's name and version, and whether native addons get libuv's event loop. */
export interface JsRuntime {
  name: 'node' | 'bun' | 'deno';
  version: string;
  /** Addons may use libuv's event loop (uv_poll and friends): true on Node.js only. */
  libuv: boolean;
}

/** The runtime this process runs on (Bun and Deno set process.versions.bun / .deno). */
export function currentRuntime(): JsRuntime {
  const v = process.versions as NodeJS.ProcessVersions & { bun?: string; deno?: string };
  if (typeof v.bun === 'string') return { name: 'bun', version: v.bun, libuv: false };
  if (typeof v.deno === 'string') return { name: 'deno', version: v.deno, libuv: false };
  return { name: 'node', version: v.node, libuv: true };
}

/** `Bun 1.4.5`, `Deno 2.9.6`, `Node.js 22.1.0`. */
export function runtimeLabel(r: JsRuntime = currentRuntime()): string {
  return `${r.name === 'node' ? 'Node.js' : r.name === 'bun' ? 'Bun' : 'Deno'} ${r.version}`;
}

/**
 * Throws a NetlinkSocketError (code ERR_RUNTIME_UNSUPPORTED) naming the runtime when it
 * lacks libuv, which `what` needs: calling into the missing functions would abort the
 * process instead of failing.
 */
export function requireLibuv(what: string): void {
  const r = currentRuntime();
  if (!r.libuv) {
    throw new NetlinkSocketError(`${what} needs libuv's event loop, which ${runtimeLabel(r)} does not give native addons; use the native transport (this package's prebuilt addon) there`, {
      code: 'ERR_RUNTIME_UNSUPPORTED',
    });
  }
}
