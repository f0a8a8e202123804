/**
 * The transport interface: how the protocol layers reach a netlink socket. Implementations:
 * `socket-transport.ts` (the `netlink` npm package's RawNetlinkSocket), replay from a capture,
 * and recording wrappers. Protocol code never touches a socket directly.
 */
import type { NetlinkSocketError } from './errors.js';

/** Callbacks a transport delivers to. */
export interface TransportHandlers {
  /**
   * One received datagram (one or more netlink messages). The bytes are valid during this
   * call; a transport whose `reusesReceiveBuffer` is true overwrites them afterwards.
   */
  datagram(data: Uint8Array): void;
  /**
   * A non-fatal socket problem, e.g. ENOBUFS (receive buffer overrun: the kernel dropped
   * messages) or a failed send. The transport keeps running.
   */
  error(err: NetlinkSocketError): void;
  /** The transport ended by itself (a replay reached its end, or the socket failed). */
  end?(): void;
}

/** A bidirectional netlink datagram channel. */
export interface Transport {
  /** A short name for logs: `'netlink'`, `'native'`, `'replay'`… */
  readonly kind: string;
  /**
   * True when the transport talks to this machine's kernel (a real socket), so the kernel's
   * /proc counters describe it; false for replays and fakes.
   */
  readonly live?: boolean;
  /**
   * True when a receive-buffer overrun would end the process (the `netlink` package's
   * socket aborts on the kernel's pending ENOBUFS): its users must keep the buffer from
   * filling up.
   */
  readonly overrunIsFatal?: boolean;
  /** True when received bytes are overwritten after `datagram()` returns. */
  readonly reusesReceiveBuffer: boolean;
  /** Our netlink port id (nl_pid); requests carry it in their headers. */
  readonly portId: number;
  /** Begins delivering received datagrams to `handlers`. Called once. */
  start(handlers: TransportHandlers): void;
  /**
   * Sends one datagram (one or more netlink messages). The bytes may be reused by the caller
   * once this returns: implementations copy what they queue.
   */
  send(datagram: Uint8Array): void;
  /** Sets the socket receive buffer (SO_RCVBUF, or SO_RCVBUFFORCE when allowed). */
  setReceiveBufferSize?(bytes: number): void;
  /** Current receive buffer size in bytes, when the transport can tell. */
  getReceiveBufferSize?(): number;
  /** Lets the process exit while the transport is open (or not). */
  setKeepAlive?(alive: boolean): void;
  /**
   * Reads `/proc/net/<name>` as the socket's network namespace shows it. Present only when
   * the socket lives in another namespace than the process (the `netns` option): otherwise
   * the process's own /proc/net describes the socket. Throws when the file is unreadable.
   */
  readProcNet?(name: string): string;
  /**
   * Stops reading the socket until resume(): what arrives meanwhile waits in the kernel
   * (backpressure). Datagrams already read may still be delivered. Absent: cannot pause.
   */
  pause?(): void;
  /** Reads the socket again after pause(). */
  resume?(): void;
  /** Closes the channel; idempotent. No handler is called afterwards. */
  close(): void;
}

/** Creates a transport for a netlink protocol; used by higher layers to open sockets lazily. */
export type TransportFactory = (protocol: number) => Transport;
