/**
 * The transport interface: how the protocol layers reach a netlink socket, and no more than
 * what a socket is (send, receive, its port id, its buffer, pause). Implementations:
 * `native-transport.ts` (the addon), `socket-transport.ts` (the `netlink` npm package's
 * RawNetlinkSocket), replay from a capture, recording wrappers, the test kit's kernel.
 * Protocol code never touches a socket directly. What a queue needs to know beyond this
 * (whether the kernel of this machine is behind it, its /proc/net) is asked above.
 */
import type { NetlinkSocketError } from './errors.js';

/** Callbacks a transport delivers to. */
export interface TransportHandlers {
  /**
   * One received datagram (one or more netlink messages). The bytes are never overwritten:
   * views into them stay valid for as long as they are referenced.
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
