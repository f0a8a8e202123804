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

/** Base class of every error this library throws or reports. */
export class NetlinkError extends Error {
  override name = 'NetlinkError';
}

/** Bytes that are not a valid netlink message; `offset` is where decoding stopped. */
export class NetlinkDecodeError extends NetlinkError {
  override name = 'NetlinkDecodeError';
  /** Byte offset in the buffer being decoded where the problem was found. */
  readonly offset: number;
  /** True when the input ended before a length field said it would. */
  readonly truncated: boolean;
  constructor(message: string, offset: number, truncated = false) {
    super(`${message} (at byte ${offset})`);
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
  /** Symbolic errno, e.g. `'EBUSY'`. */
  readonly code: string;
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
    super(message);
    this.errno = errno;
    this.code = errnoName(errno);
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
  /** Symbolic errno such as `'ENOBUFS'`, when known. */
  readonly code: string | undefined;
  /** The system call or step that failed (`'recvmsg'`, `'sendmsg'`, `'socket'`). */
  readonly syscall: string | undefined;
  constructor(message: string, opts: { errno?: number; code?: string; syscall?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.errno = opts.errno;
    this.code = opts.code ?? (opts.errno === undefined ? undefined : errnoName(opts.errno));
    this.syscall = opts.syscall;
  }
}
