/**
 * The native transport: a raw AF_NETLINK socket from this package's own small N-API addon
 * (native/nfq_native.c).
 * It exists for speed; the protocol stays in TypeScript. Compared with the `netlink`
 * package's socket it:
 *  - reads many datagrams per JS call: recvmmsg() straight into the unused tail of a
 *    256 KiB slab ArrayBuffer, one slot per datagram (sized to the previous batch's longest),
 *    and delivers them with ONE `datagram()` call as one valid stream of netlink messages:
 *    the room a shorter datagram leaves in its slot is an NLMSG_NOOP message (which netlink
 *    readers skip), and a batch whose datagrams do not fit their slots is copied back to
 *    back instead. Delivered bytes are never overwritten (a full
 *    slab is replaced, not reused), so views stay valid as long as they are referenced
 *    and no allocation is made per batch. A kept view keeps
 *    its whole slab alive, like a pooled Node Buffer: copy (`.slice()`) what you keep long;
 *  - sends synchronously with one sendto() per datagram (no persistent reference, no
 *    completion callback), and `sendMany()` sends several datagrams with one sendmmsg();
 *  - sets NETLINK_NO_ENOBUFS (by default), NETLINK_EXT_ACK and SO_RCVBUFFORCE;
 *  - can create its socket in another network namespace (`netns`), and open that
 *    namespace's /proc/net files (`procNetFiles`) for `readProcNet()`.
 * The addon ships prebuilt (prebuilds/, see its README) for linux-x64 and linux-arm64 glibc
 * and linux-x64 musl; elsewhere the install script compiles it (native/build.mjs).
 * Knows nothing of nfqueue. When the addon is not built or cannot load,
 * `loadNativeAddon()` throws and `nativeTransportUnavailable()` says why.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { constants } from 'node:os';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Transport, TransportHandlers } from './transport.js';
import { NetfilterQueueError, NetlinkSocketError, errnoName } from './errors.js';

const { ENOBUFS } = constants.errno;
import { openNetns, netnsErrorHint, readWholeFd, type NetnsTarget } from './netns.js';
import { currentRuntime, requireLibuv, runtimeLabel } from './runtime.js';

const require = createRequire(import.meta.url);

/** The addon's functions (see native/nfq_native.c). */
interface NativeAddon {
  open(protocol: number, msgSize: number, batch: number, noEnobufs: number, extAck: number, rcvbuf: number, netnsFd?: number): object;
  openInNetns(netnsFd: number, path: string): number;
  portId(h: object): number;
  start(h: object, cb: (slab: ArrayBuffer | undefined, offset: number, length: number, datagrams: number, errno: number, truncated: number) => void, threaded?: boolean): void;
  send(h: object, bytes: Uint8Array): number;
  /** The count when every datagram went, else how many did and the errno that stopped the rest. */
  sendMany(h: object, bytes: Uint8Array, lengths: Uint32Array, count: number): number | { sent: number; errno: number };
  setRcvbuf(h: object, bytes: number): number;
  getRcvbuf(h: object): number;
  ref(h: object, on: boolean): void;
  stats(h: object, out: Float64Array): void;
  setReading(h: object, on: boolean): void;
  close(h: object): void;
  openWarnings(h: object): { option: string; errno: number }[];
  simulatePollError(h: object, status: number): void;
  /** Makes a step fail, for tests: 'async_init', 'poll_init', 'thread', 'slab'. */
  injectFault(h: object, step: string, on: boolean): void;
}

/** What the addon's receive callback says reading does after an error (its `datagrams`). */
const READING_ENDED = 1;
const READING_PAUSED = 2;
/** How long reading stays paused after the addon found no memory for a receive slab. */
const NO_MEMORY_RETRY_MS = 100;

/** Options of the native transport. */
export interface NativeTransportOptions {
  /**
   * Receive slot per datagram in bytes (default 69632 = 64 KiB + 4 KiB, enough for any
   * nfqueue packet message). Size it to the largest datagram expected, e.g. the copy range
   * plus 4 KiB of metadata; longer datagrams are reported as truncated (EMSGSIZE).
   */
  messageSize?: number;
  /** Datagrams read per recvmmsg() call and JS callback (default 64, at most 256). */
  batch?: number;
  /**
   * Set NETLINK_NO_ENOBUFS (default true): the kernel stops reporting receive-buffer
   * overruns as ENOBUFS errors (drops still show in /proc as user_dropped). Set false to get
   * the errors.
   */
  noEnobufs?: boolean;
  /** Set NETLINK_EXT_ACK (default true): kernel errors carry an explanatory text. */
  extAck?: boolean;
  /** SO_RCVBUFFORCE (falls back to SO_RCVBUF without CAP_NET_ADMIN), in bytes. */
  receiveBufferSize?: number;
  /**
   * Create the socket in this network namespace: a path (`/run/netns/NAME`,
   * `/proc/PID/ns/net`) or an open fd of one. Needs CAP_SYS_ADMIN. The process stays in
   * its own namespace.
   */
  netns?: NetnsTarget;
  /**
   * Files under /proc/net (e.g. `'netfilter/nfnetlink_queue'`) to open inside `netns`,
   * for `readProcNet()`: the process's own /proc/net shows its own namespace.
   */
  procNetFiles?: readonly string[];
}

/** Counters of the native socket, for benchmarks and tests. */
export interface NativeTransportStats {
  /** recvmmsg() calls (including those that found nothing). */
  receiveCalls: number;
  /** Datagrams received. */
  datagramsReceived: number;
  /** Bytes received (padded). */
  bytesReceived: number;
  /** sendto()/sendmmsg() calls. */
  sendCalls: number;
  /** Datagrams sent. */
  datagramsSent: number;
  /** Receive slabs (256 KiB ArrayBuffers) handed out, and how many of them reused collected memory. */
  slabs: number;
  slabsReused: number;
}

/** A Transport over the native addon, with its extras. */
export interface NativeTransport extends Transport {
  readonly kind: 'native';
  /** A socket of this machine's kernel (not a replay or a fake). */
  readonly live: true;
  /**
   * Reads `/proc/net/<name>` as the socket's network namespace shows it. Present only when
   * the socket lives in another namespace than the process (the `netns` option): otherwise
   * the process's own /proc/net describes the socket. Throws when the file is unreadable.
   */
  readProcNet?(name: string): string;
  /** Sends several datagrams with one sendmmsg() (per 64). */
  sendMany(datagrams: readonly Uint8Array[]): void;
  /** System call and datagram counters. */
  stats(): NativeTransportStats;
  /** How this socket learns it is readable: libuv's poll (Node.js) or a receive thread (Bun, Deno). */
  readonly receiveMode: NativeReceiveMode;
  /** @internal Runs the addon's poll-error path with libuv status `status` (< 0); for tests. */
  simulatePollError(status: number): void;
}

/** `uv`: libuv polls the socket on the JS thread; `thread`: a receive thread hands batches over. */
export type NativeReceiveMode = 'uv' | 'thread';

/**
 * The receive mode for this runtime: `uv` where addons have libuv (Node.js), else `thread`.
 * Env NFQUEUE_NATIVE_RECEIVE=thread forces the thread on Node.js too (tests, comparisons);
 * =uv where there is no libuv is refused with a typed error naming the runtime.
 */
export function nativeReceiveMode(): NativeReceiveMode {
  const want = process.env.NFQUEUE_NATIVE_RECEIVE;
  if (want !== undefined && want !== '' && want !== 'uv' && want !== 'thread') throw new RangeError(`NFQUEUE_NATIVE_RECEIVE must be uv or thread, got ${JSON.stringify(want)}`);
  if (want === 'uv') requireLibuv('NFQUEUE_NATIVE_RECEIVE=uv');
  if (want === 'thread') return 'thread';
  return currentRuntime().libuv ? 'uv' : 'thread';
}

/** Where a local compile puts the addon: `<package>/build/Release/nfq_native.node`. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../build/Release/nfq_native.node', import.meta.url));

/** The C library the running Node is linked with: its ELF interpreter says (ld-musl-* or ld-linux-*). */
function runtimeLibc(): 'glibc' | 'musl' {
  try {
    const fd = openSync(process.execPath, 'r');
    try {
      const head = Buffer.alloc(4096);
      const text = head.subarray(0, readSync(fd, head, 0, head.length, 0)).toString('latin1');
      if (text.includes('/ld-musl-')) return 'musl';
      if (text.includes('/ld-linux')) return 'glibc';
    } finally {
      closeSync(fd);
    }
  } catch {
    // unreadable binary: ask the diagnostic report below
  }
  const header = (process.report?.getReport() as { header?: { glibcVersionRuntime?: string } } | undefined)?.header;
  return header?.glibcVersionRuntime === undefined ? 'musl' : 'glibc';
}

/**
 * The prebuilt addon shipped for this platform (node-gyp-build's naming):
 * `<package>/prebuilds/linux-<arch>/nfq_native.<glibc|musl>.node`.
 */
export function prebuiltAddonPath(): string {
  return fileURLToPath(new URL(`../../prebuilds/${process.platform}-${process.arch}/nfq_native.${runtimeLibc()}.node`, import.meta.url));
}

let cached: { addon: NativeAddon; path: string } | { error: Error } | undefined;

function loadFrom(path: string): NativeAddon {
  const addon = require(path) as NativeAddon;
  if (typeof addon.open !== 'function' || typeof addon.sendMany !== 'function') throw new NetfilterQueueError(`${path} is not this package's addon`, { code: 'ERR_NATIVE_UNAVAILABLE' });
  return addon;
}

/**
 * Loads the addon once: env NFQUEUE_NATIVE_ADDON's path when set, else the prebuilt binary
 * for this platform, else a local compile (build/Release). Throws an Error that says why
 * none loads.
 */
export function loadNativeAddon(): NativeAddon {
  if (cached === undefined) {
    const override = process.env.NFQUEUE_NATIVE_ADDON;
    const tried: string[] = [];
    if (process.platform !== 'linux') tried.push('netlink sockets exist only on Linux');
    else {
      for (const path of override !== undefined ? [override] : [prebuiltAddonPath(), NATIVE_ADDON_PATH]) {
        try {
          cached = { addon: loadFrom(path), path };
          break;
        } catch (e) {
          const code = (e as { code?: string }).code;
          tried.push(code === 'MODULE_NOT_FOUND' ? `${path} missing` : (e as Error).message);
        }
      }
    }
    if (cached === undefined) {
      const build = fileURLToPath(new URL('../../native/build.mjs', import.meta.url));
      cached = {
        error: new NetfilterQueueError(`native netlink transport unavailable${currentRuntime().name === 'node' ? '' : ` on ${runtimeLabel()}`} (${tried.join('; ')}); build it with: npm rebuild netfilter-queue (or: node ${build})`, { code: 'ERR_NATIVE_UNAVAILABLE' }),
      };
    }
  }
  if ('error' in cached) throw cached.error;
  return cached.addon;
}

/** The file the native addon was loaded from, or undefined when it is not loaded. */
export function nativeAddonPath(): string | undefined {
  return cached !== undefined && 'path' in cached ? cached.path : undefined;
}

/** Why the native transport cannot be used here, or undefined when it can. */
export function nativeTransportUnavailable(): string | undefined {
  try {
    loadNativeAddon();
    return undefined;
  } catch (e) {
    return (e as Error).message;
  }
}

function socketError(what: string, syscall: string, errno: number): NetlinkSocketError {
  return new NetlinkSocketError(`${what}: ${errnoName(errno)}`, { errno, syscall });
}

const DEFAULT_MESSAGE_SIZE = 65536 + 4096;
const DEFAULT_BATCH = 64;

/** Opens a raw netlink socket of `protocol` on the native addon. Throws when unavailable. */
export function openNativeTransport(protocol: number, options: NativeTransportOptions = {}): NativeTransport {
  const addon = loadNativeAddon();
  const receiveMode = nativeReceiveMode();
  const intOpt = (name: string, v: number | undefined, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`native transport option ${name} must be an integer in ${min}..${max}, got ${String(v)}`);
    return v;
  };
  const msgSize = intOpt('messageSize', options.messageSize, DEFAULT_MESSAGE_SIZE, 64, 1 << 20);
  const batch = intOpt('batch', options.batch, DEFAULT_BATCH, 1, 256);
  const rcvbuf = intOpt('receiveBufferSize', options.receiveBufferSize, 0, 0, 0x7fffffff);
  const procNames = options.procNetFiles ?? [];
  for (const name of procNames) {
    if (typeof name !== 'string' || !/^[\w.-]+(\/[\w.-]+)*$/.test(name) || name.split('/').includes('..')) throw new TypeError(`procNetFiles: ${JSON.stringify(name)} is not a path under /proc/net`);
  }
  // An addon built before the netns option would ignore the fd and open the socket HERE.
  if (options.netns !== undefined && typeof addon.openInNetns !== 'function') {
    throw new NetlinkSocketError('the native addon predates the netns option: rebuild it (npm run build:native)', { code: 'EOPNOTSUPP' });
  }
  const ns = options.netns === undefined ? undefined : openNetns(options.netns);
  let h: object;
  // Files of the socket's namespace: an fd, or why it could not be opened.
  const procFiles = new Map<string, number | Error>();
  try {
    h = addon.open(protocol, msgSize, batch, options.noEnobufs === false ? 0 : 1, options.extAck === false ? 0 : 1, rcvbuf, ns?.fd ?? -1);
    if (ns !== undefined) {
      for (const name of procNames) {
        try {
          procFiles.set(name, addon.openInNetns(ns.fd, `/proc/thread-self/net/${name}`));
        } catch (e) {
          procFiles.set(name, e as Error);
        }
      }
    }
  } catch (e) {
    const err = e as { errno?: number; syscall?: string; message: string };
    const o: { errno?: number; syscall?: string; cause: unknown } = { cause: e };
    if (err.errno !== undefined) o.errno = err.errno;
    if (err.syscall !== undefined) o.syscall = err.syscall;
    const hint = err.syscall === 'setns' ? netnsErrorHint(err.errno) : '';
    const where = ns === undefined ? '' : ` in network namespace ${ns.label}`;
    throw new NetlinkSocketError(`cannot open netlink socket${where}: ${hint === '' ? err.message : hint}`, o);
  } finally {
    ns?.close();
  }
  const portId = addon.portId(h);
  const statBuf = new Float64Array(8);
  let closed = false;
  let handlers: TransportHandlers | undefined;
  let keepAlive = true;
  /** A ref'd timer while reading is paused (see pause()). */
  let holdOpen: NodeJS.Timeout | undefined;
  /** Reading paused by the addon (no memory for a slab): the timer that resumes it. */
  let retry: NodeJS.Timeout | undefined;
  // Socket options that did not take: reported as errors once the handlers are there.
  const warnings = addon.openWarnings(h).map(
    (w) => new NetlinkSocketError(`setsockopt ${w.option} failed: ${errnoName(w.errno)}; the socket works without it`, { errno: w.errno, syscall: 'setsockopt' }),
  );
  const warn = (err: NetlinkSocketError): void => {
    if (handlers === undefined) warnings.push(err);
    else handlers.error(err);
  };

  const close = (): void => {
    if (closed) return;
    closed = true;
    if (holdOpen !== undefined) clearInterval(holdOpen);
    if (retry !== undefined) clearTimeout(retry);
    addon.close(h);
    for (const f of procFiles.values()) if (typeof f === 'number') closeSync(f);
  };
  const onReceive = (slab: ArrayBuffer | undefined, offset: number, length: number, count: number, errno: number, truncated: number): void => {
    if (closed || handlers === undefined) return;
    if (slab === undefined) {
      if (count === READING_PAUSED) {
        // Out of memory for a receive slab: the addon stopped reading rather than spin on a
        // readable socket. Try again shortly, unless the user paused reading meanwhile.
        handlers.error(socketError(`no memory for a receive slab; reading paused for ${NO_MEMORY_RETRY_MS} ms`, 'mmap', errno));
        retry ??= setTimeout(() => {
          retry = undefined;
          if (!closed && holdOpen === undefined) addon.setReading(h, true);
        }, NO_MEMORY_RETRY_MS);
        if (!keepAlive) retry.unref();
        return;
      }
      if (count === READING_ENDED) {
        // The addon could not poll the socket any more: end rather than go deaf.
        const h = handlers;
        h.error(socketError('netlink socket failed and was closed', 'poll', errno));
        close();
        h.end?.();
        return;
      }
      handlers.error(errno === ENOBUFS ? socketError('receive buffer overrun', 'recvmmsg', errno) : socketError('netlink receive failed', 'recvmmsg', errno));
      return;
    }
    if (truncated > 0) {
      handlers.error(
        new NetlinkSocketError(`${truncated} received datagram(s) truncated to the ${msgSize}-byte receive slot; raise messageSize`, { code: 'EMSGSIZE', syscall: 'recvmmsg' }),
      );
    }
    handlers.datagram(new Uint8Array(slab, offset, length));
  };

  const transport: NativeTransport = {
    kind: 'native',
    receiveMode,
    live: true,
    portId,
    start(hs) {
      if (handlers !== undefined) throw new NetlinkSocketError('a native transport can be started once', { code: 'EALREADY' });
      handlers = hs;
      addon.start(h, onReceive, receiveMode === 'thread');
      for (const w of warnings.splice(0)) hs.error(w);
    },
    send(datagram) {
      if (closed) throw new NetlinkSocketError('send on a closed netlink socket', { code: 'EBADF' });
      const errno = addon.send(h, datagram);
      if (errno !== 0) handlers?.error(socketError('netlink send failed', 'sendto', errno));
    },
    sendMany(datagrams) {
      if (closed) throw new NetlinkSocketError('send on a closed netlink socket', { code: 'EBADF' });
      if (datagrams.length === 0) return;
      let total = 0;
      for (const d of datagrams) total += d.byteLength;
      const bytes = new Uint8Array(total);
      const lengths = new Uint32Array(datagrams.length);
      let off = 0;
      datagrams.forEach((d, i) => {
        bytes.set(d, off);
        lengths[i] = d.byteLength;
        off += d.byteLength;
      });
      const r = addon.sendMany(h, bytes, lengths, datagrams.length);
      if (typeof r !== 'number') handlers?.error(socketError(`netlink send failed after ${r.sent} of ${datagrams.length} datagrams`, 'sendmmsg', r.errno));
    },
    setReceiveBufferSize(bytes) {
      if (!Number.isInteger(bytes) || bytes < 1 || bytes > 0x7fffffff) throw new RangeError(`receive buffer size must be an integer in 1..2147483647, got ${String(bytes)}`);
      const r = addon.setRcvbuf(h, bytes);
      if (r > 0) throw socketError(`cannot set the receive buffer to ${bytes} bytes`, 'setsockopt', r);
      if (r < 0) {
        const got = transport.getReceiveBufferSize!();
        warn(
          new NetlinkSocketError(
            `SO_RCVBUFFORCE refused (${errnoName(-r)}, needs CAP_NET_ADMIN): set with SO_RCVBUF instead, which net.core.rmem_max caps; the receive buffer is ${got} bytes (${bytes} asked, the kernel doubles it)`,
            { errno: -r, syscall: 'setsockopt' },
          ),
        );
      }
    },
    getReceiveBufferSize() {
      try {
        return addon.getRcvbuf(h);
      } catch (e) {
        const err = e as { errno?: number; message: string };
        throw closed ? new NetlinkSocketError('receive buffer size of a closed netlink socket', { code: 'EBADF', syscall: 'getsockopt' }) : socketError('cannot read the receive buffer size', 'getsockopt', err.errno ?? 0);
      }
    },
    setKeepAlive(alive) {
      keepAlive = alive;
      addon.ref(h, alive);
      if (alive) holdOpen?.ref();
      else holdOpen?.unref();
    },
    pause() {
      if (closed || holdOpen !== undefined) return;
      addon.setReading(h, false);
      // A stopped poll handle no longer keeps the event loop alive, but the queue is still
      // open: hold the loop open as the socket did.
      holdOpen = setInterval(() => {}, 0x7fffffff);
      if (!keepAlive) holdOpen.unref();
    },
    resume() {
      if (closed || holdOpen === undefined) return;
      clearInterval(holdOpen);
      holdOpen = undefined;
      addon.setReading(h, true);
    },
    stats() {
      addon.stats(h, statBuf);
      return {
        receiveCalls: statBuf[0] ?? 0,
        datagramsReceived: statBuf[1] ?? 0,
        bytesReceived: statBuf[2] ?? 0,
        sendCalls: statBuf[3] ?? 0,
        datagramsSent: statBuf[4] ?? 0,
        slabs: statBuf[6] ?? 0,
        slabsReused: statBuf[7] ?? 0,
      };
    },
    close,
    simulatePollError(status) {
      addon.simulatePollError(h, status);
    },
  };
  if (ns !== undefined) {
    transport.readProcNet = (name: string): string => {
      const f = procFiles.get(name);
      if (f === undefined) throw new NetlinkSocketError(`/proc/net/${name} of the socket's namespace was not opened (procNetFiles)`, { code: 'ENOENT' });
      if (typeof f !== 'number') throw f;
      if (closed) throw new NetlinkSocketError(`/proc/net/${name}: the transport is closed`, { code: 'EBADF' });
      return readWholeFd(f);
    };
  }
  return transport;
}
