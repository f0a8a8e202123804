/**
 * Typed errors of the netlink layer. Every error the library raises for bad bytes, a
 * failing socket or a kernel refusal is one of these, so callers can use `instanceof`
 * and read `.code` / `.errno` instead of parsing messages.
 */
import { constants } from 'node:os';

const errnoNames = new Map<number, string>();
for (const [name, value] of Object.entries(constants.errno)) {
  if (!errnoNames.has(value)) errnoNames.set(value, name);
}
// Kernel-internal errno values that leak to netlink users but are not in libc's table.
errnoNames.set(524, 'ENOTSUPP');
// Node lists 95 as ENOTSUP first; Linux (and the kernel's netlink answers) call it EOPNOTSUPP.
errnoNames.set(95, 'EOPNOTSUPP');

/** The symbolic name of an errno value (`16` → `'EBUSY'`), or `'E<n>'` when unknown. */
export function errnoName(errno: number): string {
  return errnoNames.get(errno) ?? `E${errno}`;
}

/** Options every error of the library takes. */
export interface ErrorOptions {
  /** A stable code to match on (an errno name such as `'EBUSY'`, or an `ERR_*` name). */
  code?: string;
  cause?: unknown;
}

/**
 * The root of every error this package throws or reports (bad arguments excepted: those are
 * TypeError and RangeError, as in Node's own APIs). It lives in the bottom layer so that
 * every layer can extend it. `code` is stable: match on it, or on the subclass.
 */
export class NetfilterQueueError extends Error {
  override name = 'NetfilterQueueError';
  /** A stable code: an errno name (`'EBUSY'`) for system and kernel errors, else `'ERR_*'`. */
  readonly code: string;
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = options.code ?? 'ERR_NFQUEUE';
  }
}

/** Errors of the netlink socket, of the kernel's answers, and of decoding its messages. */
export class NetlinkError extends NetfilterQueueError {
  override name = 'NetlinkError';
  constructor(message: string, options: ErrorOptions = {}) {
    super(message, { ...options, code: options.code ?? 'ERR_NETLINK' });
  }
}

/** Bytes that are not a valid netlink message; `offset` is where decoding stopped. */
export class NetlinkDecodeError extends NetlinkError {
  override name = 'NetlinkDecodeError';
  /** Byte offset in the buffer being decoded where the problem was found. */
  readonly offset: number;
  /** True when the input ended before a length field said it would. */
  readonly truncated: boolean;
  constructor(message: string, offset: number, truncated = false, code = 'ERR_NETLINK_DECODE') {
    super(`${message} (at byte ${offset})`, { code });
    this.offset = offset;
    this.truncated = truncated;
  }
}

/** A description of the request a kernel error answers, for messages and matching. */
export interface RequestInfo {
  /** Netlink message type of the request. */
  type: number;
  /** Sequence number the request was sent with. */
  seq: number;
  /** Human description, e.g. `'BIND queue 0'` or `'verdict for packet 17'`. */
  what?: string;
}

/** The kernel refused a request: an NLMSG_ERROR with a non-zero errno. */
export class NetlinkKernelError extends NetlinkError {
  override name = 'NetlinkKernelError';
  /** Positive errno value, e.g. 16. */
  readonly errno: number;
  /** The request this error answers, when it could be tied to one. */
  readonly request: RequestInfo | undefined;
  /** Extended-ack message from the kernel, when it sent one. */
  readonly extAckMessage: string | undefined;
  /** Extended-ack offset of the offending attribute in the request, when given. */
  readonly extAckOffset: number | undefined;
  constructor(
    errno: number,
    message: string,
    request?: RequestInfo,
    extAck?: { message?: string; offset?: number },
  ) {
    super(message, { code: errnoName(errno) });
    this.errno = errno;
    this.request = request;
    this.extAckMessage = extAck?.message;
    this.extAckOffset = extAck?.offset;
  }
}

/** The socket itself failed: creation, send, receive (ENOBUFS overruns included). */
export class NetlinkSocketError extends NetlinkError {
  override name = 'NetlinkSocketError';
  /** Positive errno value, when the OS gave one. */
  readonly errno: number | undefined;
  /** The system call or step that failed (`'recvmsg'`, `'sendmsg'`, `'socket'`). */
  readonly syscall: string | undefined;
  constructor(message: string, opts: { errno?: number; code?: string; syscall?: string; cause?: unknown } = {}) {
    // `code`: the errno's name (`'ENOBUFS'`), or ERR_NETLINK_SOCKET when the OS gave none.
    super(message, { code: opts.code ?? (opts.errno === undefined ? 'ERR_NETLINK_SOCKET' : errnoName(opts.errno)), cause: opts.cause });
    this.errno = opts.errno;
    this.syscall = opts.syscall;
  }
}
