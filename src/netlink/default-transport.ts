/**
 * The default transport: the native addon's socket when it is built and loads, else the
 * `netlink` package's socket, with a one-line notice (once per process). Env
 * NFQUEUE_TRANSPORT=netlink forces the netlink package (no notice), =native requires the
 * addon (throws when it cannot load).
 */
import type { Transport } from './transport.js';
import { openSocketTransport } from './socket-transport.js';
import { openNativeTransport, nativeTransportUnavailable } from './native-transport.js';

/** Hints for sizing the socket's receive path. */
export interface DefaultTransportOptions {
  /** Largest datagram expected (the native transport sizes its receive slots to it). */
  maxDatagramSize?: number;
  /**
   * Keep the kernel's ENOBUFS reports of receive-buffer overruns (the native socket turns
   * them off by default, for callers that can see drops some other way).
   */
  reportOverruns?: boolean;
}

let noticed = false;

/** Opens the best available transport for `protocol`. */
export function openDefaultTransport(protocol: number, options: DefaultTransportOptions = {}): Transport {
  const want = process.env.NFQUEUE_TRANSPORT;
  if (want === 'netlink') return openSocketTransport(protocol);
  const why = nativeTransportUnavailable();
  if (why === undefined) {
    const o: Parameters<typeof openNativeTransport>[1] = {};
    if (options.maxDatagramSize !== undefined) o.messageSize = options.maxDatagramSize;
    if (options.reportOverruns === true) o.noEnobufs = false;
    return openNativeTransport(protocol, o);
  }
  if (want === 'native') throw new Error(`NFQUEUE_TRANSPORT=native: ${why}`);
  if (!noticed) {
    noticed = true;
    process.emitWarning(`${why}. Meanwhile the netlink package's socket is used (slower)`, { code: 'NFQUEUE_NATIVE_UNAVAILABLE' });
  }
  return openSocketTransport(protocol);
}
