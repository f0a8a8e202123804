/**
 * The default transport: the native addon's socket when it is built and loads, else the
 * `netlink` package's socket, with a one-line notice (once per process). Env
 * NFQUEUE_TRANSPORT=netlink forces the netlink package (no notice), =native requires the
 * addon (throws when it cannot load).
 */
import { openSocketTransport, type SocketTransport } from './socket-transport.js';
import { openNativeTransport, nativeTransportUnavailable, type NativeTransport } from './native-transport.js';
import { NetfilterQueueError, NetlinkSocketError } from './errors.js';
import { validateNetnsTarget, type NetnsTarget } from './netns.js';
import { currentRuntime, runtimeLabel } from './runtime.js';

/** Hints for sizing the socket's receive path. */
export interface DefaultTransportOptions {
  /** Largest datagram expected (the native transport sizes its receive slots to it). */
  maxDatagramSize?: number;
  /**
   * Keep the kernel's ENOBUFS reports of receive-buffer overruns (the native socket turns
   * them off by default, for callers that can see drops some other way).
   */
  reportOverruns?: boolean;
  /** Create the socket in this network namespace (path or fd); only the native transport can. */
  netns?: NetnsTarget;
  /** /proc/net files to open in `netns`, for `readProcNet()` (see the native transport). */
  procNetFiles?: readonly string[];
}

let noticed = false;

/** Opens the best available transport for `protocol`. */
export function openDefaultTransport(protocol: number, options: DefaultTransportOptions = {}): NativeTransport | SocketTransport {
  const want = process.env.NFQUEUE_TRANSPORT;
  if (options.netns !== undefined) {
    validateNetnsTarget(options.netns);
    const why = want === 'netlink' ? 'NFQUEUE_TRANSPORT=netlink is set' : nativeTransportUnavailable();
    if (why !== undefined) {
      throw new NetlinkSocketError(`the netns option needs the native transport, and the netlink package's socket cannot be opened in another namespace (${why}); or run the process inside it: ip netns exec NAME ...`, { code: 'EOPNOTSUPP' });
    }
  }
  if (want === 'netlink') return openSocketTransport(protocol);
  const why = nativeTransportUnavailable();
  if (why === undefined) {
    const o: Parameters<typeof openNativeTransport>[1] = {};
    if (options.maxDatagramSize !== undefined) o.messageSize = options.maxDatagramSize;
    if (options.reportOverruns === true) o.noEnobufs = false;
    if (options.netns !== undefined) o.netns = options.netns;
    if (options.procNetFiles !== undefined) o.procNetFiles = options.procNetFiles;
    return openNativeTransport(protocol, o);
  }
  if (want === 'native') throw new NetfilterQueueError(`NFQUEUE_TRANSPORT=native: ${why}`, { code: 'ERR_NATIVE_UNAVAILABLE' });
  // Without libuv the fallback (a libuv addon) cannot run either: say so now, and what helps.
  const runtime = currentRuntime();
  if (!runtime.libuv) {
    const hint = runtime.name === 'deno' && /allow-ffi/.test(why) ? '; run deno with --allow-ffi (Node-API addons need it)' : '';
    throw new NetfilterQueueError(`${runtimeLabel(runtime)} needs this package's native socket, and it cannot load: ${why}${hint}`, { code: 'ERR_RUNTIME_UNSUPPORTED' });
  }
  if (!noticed) {
    noticed = true;
    process.emitWarning(`${why}. Meanwhile the netlink package's socket is used (slower)`, { code: 'NFQUEUE_NATIVE_UNAVAILABLE' });
  }
  return openSocketTransport(protocol);
}
