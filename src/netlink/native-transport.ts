/**
 * The native transport: a raw AF_NETLINK socket from this package's own small N-API addon
 * (native/nfq_native.c, built by node-gyp at install into build/Release/nfq_native.node).
 * It exists for speed; the protocol stays in TypeScript. Compared with the `netlink`
 * package's socket it:
 *  - reads many datagrams per JS call: recvmmsg() into a reused scratch area, then the
 *    datagrams are copied back to back (each padded to 4 bytes, so the result is a valid
 *    stream of netlink messages) into the unused tail of a 256 KiB slab ArrayBuffer and
 *    delivered with ONE `datagram()` call. Delivered bytes are never overwritten (a full
 *    slab is replaced, not reused), so views stay valid as long as they are referenced
 *    (`reusesReceiveBuffer` is false) and no allocation is made per batch. A kept view keeps
 *    its whole slab alive, like a pooled Node Buffer: copy (`.slice()`) what you keep long;
 *  - sends synchronously with one sendto() per datagram (no persistent reference, no
 *    completion callback), and `sendMany()` sends several datagrams with one sendmmsg();
 *  - sets NETLINK_NO_ENOBUFS (by default), NETLINK_EXT_ACK and SO_RCVBUFFORCE.
 * Knows nothing of nfqueue. When the addon is not built or cannot load,
 * `loadNativeAddon()` throws and `nativeTransportUnavailable()` says why.
 */
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import type { Transport, TransportHandlers } from './transport.js';
import { NetlinkSocketError, errnoName } from './errors.js';

const require = createRequire(import.meta.url);

/** The addon's functions (see native/nfq_native.c). */
interface NativeAddon {
  open(protocol: number, msgSize: number, batch: number, noEnobufs: number, extAck: number, rcvbuf: number): object;
  portId(h: object): number;
  start(h: object, cb: (slab: ArrayBuffer | undefined, offset: number, length: number, datagrams: number, errno: number, truncated: number) => void): void;
  send(h: object, bytes: Uint8Array): number;
  sendMany(h: object, bytes: Uint8Array, lengths: Uint32Array, count: number): number;
  setRcvbuf(h: object, bytes: number): number;
  getRcvbuf(h: object): number;
  ref(h: object, on: boolean): void;
  stats(h: object, out: Float64Array): void;
  close(h: object): void;
}

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
  /** Sends several datagrams with one sendmmsg() (per 64). */
  sendMany(datagrams: readonly Uint8Array[]): void;
  /** System call and datagram counters. */
  stats(): NativeTransportStats;
}

/** Where the built addon lives: `<package>/build/Release/nfq_native.node`. */
export const NATIVE_ADDON_PATH = fileURLToPath(new URL('../../build/Release/nfq_native.node', import.meta.url));

let cached: { addon: NativeAddon } | { error: Error } | undefined;

/**
 * Loads the addon once (env NFQUEUE_NATIVE_ADDON overrides its path). Throws an Error that
 * says why when it is not built or cannot load.
 */
export function loadNativeAddon(): NativeAddon {
  if (cached === undefined) {
    const path = process.env.NFQUEUE_NATIVE_ADDON ?? NATIVE_ADDON_PATH;
    try {
      if (process.platform !== 'linux') throw new Error('netlink sockets exist only on Linux');
      const addon = require(path) as NativeAddon;
      if (typeof addon.open !== 'function' || typeof addon.sendMany !== 'function') throw new Error(`${path} is not this package's addon`);
      cached = { addon };
    } catch (e) {
      const code = (e as { code?: string }).code;
      const why = code === 'MODULE_NOT_FOUND' ? `not built (${path} missing; run npm run build:native)` : (e as Error).message;
      cached = { error: new Error(`native netlink transport unavailable: ${why}`, { cause: e }) };
    }
  }
  if ('error' in cached) throw cached.error;
  return cached.addon;
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
  const intOpt = (name: string, v: number | undefined, dflt: number, min: number, max: number): number => {
    if (v === undefined) return dflt;
    if (!Number.isInteger(v) || v < min || v > max) throw new RangeError(`native transport option ${name} must be an integer in ${min}..${max}, got ${String(v)}`);
    return v;
  };
  const msgSize = intOpt('messageSize', options.messageSize, DEFAULT_MESSAGE_SIZE, 64, 1 << 20);
  const batch = intOpt('batch', options.batch, DEFAULT_BATCH, 1, 256);
  const rcvbuf = intOpt('receiveBufferSize', options.receiveBufferSize, 0, 0, 0x7fffffff);
  let h: object;
  try {
    h = addon.open(protocol, msgSize, batch, options.noEnobufs === false ? 0 : 1, options.extAck === false ? 0 : 1, rcvbuf);
  } catch (e) {
    const err = e as { errno?: number; syscall?: string; message: string };
    const o: { errno?: number; syscall?: string; cause: unknown } = { cause: e };
    if (err.errno !== undefined) o.errno = err.errno;
    if (err.syscall !== undefined) o.syscall = err.syscall;
    throw new NetlinkSocketError(`cannot open netlink socket: ${err.message}`, o);
  }
  const portId = addon.portId(h);
  const statBuf = new Float64Array(8);
  let closed = false;
  let handlers: TransportHandlers | undefined;

  const onReceive = (slab: ArrayBuffer | undefined, offset: number, length: number, _count: number, errno: number, truncated: number): void => {
    if (closed || handlers === undefined) return;
    if (slab === undefined) {
      handlers.error(errno === 105 ? socketError('receive buffer overrun', 'recvmmsg', errno) : socketError('netlink receive failed', 'recvmmsg', errno));
      return;
    }
    if (truncated > 0) {
      handlers.error(
        new NetlinkSocketError(`${truncated} received datagram(s) truncated to the ${msgSize}-byte receive slot; raise messageSize`, { code: 'EMSGSIZE', syscall: 'recvmmsg' }),
      );
    }
    handlers.datagram(new Uint8Array(slab, offset, length));
  };

  return {
    kind: 'native',
    live: true,
    reusesReceiveBuffer: false,
    portId,
    start(hs) {
      if (handlers !== undefined) throw new Error('transport already started');
      handlers = hs;
      addon.start(h, onReceive);
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
      if (r < 0) handlers?.error(socketError('netlink send failed', 'sendmmsg', -r));
      else if (r < datagrams.length) handlers?.error(new NetlinkSocketError(`sendmmsg sent ${r} of ${datagrams.length} datagrams`, { syscall: 'sendmmsg' }));
    },
    setReceiveBufferSize(bytes) {
      const errno = addon.setRcvbuf(h, bytes);
      if (errno !== 0) throw socketError(`cannot set the receive buffer to ${bytes} bytes`, 'setsockopt', errno);
    },
    getReceiveBufferSize() {
      return addon.getRcvbuf(h);
    },
    setKeepAlive(alive) {
      addon.ref(h, alive);
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
    close() {
      if (closed) return;
      closed = true;
      addon.close(h);
    },
  };
}
