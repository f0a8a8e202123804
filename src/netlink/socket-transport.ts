/**
 * The one file that touches the OS socket through the `netlink` npm package
 * (RawNetlinkSocket, prebuilt N-API). Its limits, kept behind the Transport interface:
 * one JS callback per datagram, an async completion per send, no NETLINK_NO_ENOBUFS.
 */
import { createRequire } from 'node:module';
import type { Transport, TransportHandlers } from './transport.js';
import { NetlinkSocketError } from './errors.js';
import { requireLibuv } from './runtime.js';

const require = createRequire(import.meta.url);

interface RawSocket {
  on(event: 'message', l: (msg: Buffer) => void): void;
  on(event: 'truncatedMessage', l: (msg: Buffer, rinfo: { truncated?: number }) => void): void;
  on(event: 'error', l: (err: { errno?: number; code?: string; syscall?: string; message: string }) => void): void;
  send(msg: Uint8Array, options: { port?: number } | undefined, cb: (err?: { errno?: number; code?: string; message: string }) => void): void;
  close(): void;
  address(): { port: number };
  ref(): void;
  unref(): void;
  setRecvBufferSize(n: number): void;
  getRecvBufferSize(): number;
}
interface RawModule {
  RawNetlinkSocket: new (protocol: number, options?: Record<string, unknown>) => RawSocket;
}

/** Options of the `netlink`-package transport. */
export interface SocketTransportOptions {
  /**
   * Fixed receive buffer per datagram. With it, one recvmsg per datagram into a buffer of
   * this size (longer datagrams are reported truncated); without it, the package peeks
   * first to size each buffer exactly (two system calls per datagram, less memory).
   */
  messageBufferSize?: number;
  /** SO_RCVBUF in bytes. */
  receiveBufferSize?: number;
}

function toSocketError(e: { errno?: number; code?: string; syscall?: string; message: string }, what: string): NetlinkSocketError {
  const errno = typeof e.errno === 'number' ? Math.abs(e.errno) : undefined;
  const opts: { errno?: number; code?: string; syscall?: string; cause?: unknown } = { cause: e };
  if (errno !== undefined) opts.errno = errno;
  if (e.code !== undefined) opts.code = e.code;
  if (e.syscall !== undefined) opts.syscall = e.syscall;
  return new NetlinkSocketError(`${what}: ${e.message}`, opts);
}

/** A Transport over the `netlink` package's socket. */
export interface SocketTransport extends Transport {
  readonly kind: 'netlink';
  /** A socket of this machine's kernel (not a replay or a fake). */
  readonly live: true;
  /**
   * A receive-buffer overrun ends the process (the package's socket aborts on the kernel's
   * pending ENOBUFS): its users must keep the buffer from filling up.
   */
  readonly overrunIsFatal: true;
}

/** Opens a raw netlink socket of `protocol` with the `netlink` package. */
export function openSocketTransport(protocol: number, options: SocketTransportOptions = {}): SocketTransport {
  requireLibuv("the 'netlink' package's socket");
  let mod: RawModule;
  try {
    mod = require('netlink') as RawModule;
  } catch (e) {
    throw new NetlinkSocketError(`cannot load the 'netlink' package's native socket: ${(e as Error).message}`, { cause: e });
  }
  let sock: RawSocket;
  try {
    const opts: Record<string, unknown> = {};
    if (options.messageBufferSize !== undefined) {
      opts.messagePeeking = false;
      opts.msgBufferSize = options.messageBufferSize;
    }
    if (options.receiveBufferSize !== undefined) opts.recvBufferSize = options.receiveBufferSize;
    sock = new mod.RawNetlinkSocket(protocol, opts);
  } catch (e) {
    throw toSocketError(e as { message: string }, 'cannot open netlink socket');
  }
  let closed = false;
  let handlers: TransportHandlers | undefined;
  const onSendDone = (err?: { errno?: number; code?: string; message: string }): void => {
    if (err !== undefined && !closed) handlers?.error(toSocketError(err, 'netlink send failed'));
  };
  return {
    kind: 'netlink',
    live: true,
    overrunIsFatal: true,
    portId: sock.address().port,
    start(h) {
      handlers = h;
      sock.on('message', (msg) => {
        if (!closed) h.datagram(msg);
      });
      sock.on('truncatedMessage', (msg, rinfo) => {
        if (closed) return;
        h.error(new NetlinkSocketError(`received datagram truncated from ${rinfo.truncated ?? '?'} to ${msg.byteLength} bytes; raise the message buffer size`, { code: 'EMSGSIZE', syscall: 'recvmsg' }));
      });
      sock.on('error', (e) => {
        if (!closed) h.error(toSocketError(e, 'netlink receive failed'));
      });
    },
    send(datagram) {
      if (closed) throw new NetlinkSocketError('send on a closed netlink socket', { code: 'EBADF' });
      // The package queues the bytes until the socket is writable, so hand it a copy.
      sock.send(Buffer.from(datagram), undefined, onSendDone);
    },
    setReceiveBufferSize(bytes) {
      sock.setRecvBufferSize(bytes);
    },
    getReceiveBufferSize() {
      return sock.getRecvBufferSize();
    },
    setKeepAlive(alive) {
      if (alive) sock.ref();
      else sock.unref();
    },
    close() {
      if (closed) return;
      closed = true;
      sock.close();
    },
  };
}
