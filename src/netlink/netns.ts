/**
 * The `netns` option of the socket transports: which network namespace a netlink socket is
 * created in. A name as `ip netns add` makes it (`blue`: /run/netns/blue), a path
 * (`/proc/PID/ns/net`) or an open file descriptor of such a file. The native addon enters the namespace on the calling thread only for the
 * socket() call (and to open that namespace's /proc/net files), then returns.
 */
import { openSync, closeSync, readSync, constants as fsConstants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { NetlinkSocketError } from './errors.js';

/**
 * A network namespace: a name from `ip netns add` (looked up in /run/netns), a path to an
 * nsfs file (anything with a `/`), or an open file descriptor of one.
 */
export type NetnsTarget = string | number;

/** Where `ip netns add NAME` puts the namespace file. */
const NETNS_RUN_DIR = '/run/netns';

/** The nsfs path a `netns` string names: a path as given, a bare name under /run/netns (as `ip netns exec NAME` reads it). */
export function netnsPath(netns: string): string {
  return netns.includes('/') ? netns : `${NETNS_RUN_DIR}/${netns}`;
}

/** An opened namespace: its fd and a name for messages. */
export interface OpenedNetns {
  readonly fd: number;
  /** `'/run/netns/blue'` or `'fd 7'`, for error messages. */
  readonly label: string;
  /** Closes the fd when this module opened it (not one the caller passed). */
  close(): void;
}

/** Checks a `netns` option's type before anything is opened (TypeError/RangeError). */
export function validateNetnsTarget(netns: unknown): asserts netns is NetnsTarget {
  if (typeof netns === 'string') {
    if (netns === '' || netns === '.' || netns === '..' || netns.includes('\0')) {
      throw new TypeError(`option netns must be a namespace name (ip netns list), a path such as /proc/PID/ns/net, or an open fd; got ${JSON.stringify(netns)}`);
    }
    return;
  }
  if (typeof netns === 'number') {
    if (!Number.isInteger(netns) || netns < 0 || netns > 0x7fffffff) throw new RangeError(`option netns must be a non-negative integer fd, got ${String(netns)}`);
    return;
  }
  throw new TypeError(`option netns must be a namespace name (ip netns list), a path such as /proc/PID/ns/net, or an open fd; got ${typeof netns}`);
}

/**
 * Opens a namespace path read-only (non-blocking, so a FIFO cannot hang us), or wraps a
 * caller's fd. A path that cannot be opened is a NetlinkSocketError naming it.
 */
export function openNetns(netns: NetnsTarget): OpenedNetns {
  validateNetnsTarget(netns);
  if (typeof netns === 'number') return { fd: netns, label: `fd ${netns}`, close() {} };
  const path = netnsPath(netns);
  const label = path === netns ? netns : `${netns} (${path})`;
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const errno = code === undefined ? undefined : (osConstants.errno as Record<string, number>)[code];
    const o: { errno?: number; code?: string; syscall: string; cause: unknown } = { syscall: 'open', cause: e };
    if (errno !== undefined) o.errno = errno;
    else if (code !== undefined) o.code = code;
    const why =
      code === 'ENOENT'
        ? path === netns
          ? 'no such file (for a named namespace: ip netns add NAME makes /run/netns/NAME)'
          : `no such namespace (ip netns list shows the names; ip netns add ${netns} makes it)`
        : code === 'EACCES' || code === 'EPERM'
          ? `permission denied (${code}): entering another namespace needs root (CAP_SYS_ADMIN)`
          : (code ?? (e as Error).message);
    throw new NetlinkSocketError(`cannot open network namespace ${label}: ${why}`, o);
  }
  let open = true;
  return {
    fd,
    label,
    close() {
      if (open) closeSync(fd);
      open = false;
    },
  };
}

/** What a failed setns() means, for messages. */
export function netnsErrorHint(errno: number | undefined): string {
  const { EINVAL, EBADF, EPERM } = osConstants.errno;
  if (errno === EINVAL) return 'not a network namespace (EINVAL)';
  if (errno === EBADF) return 'not an open file descriptor (EBADF)';
  if (errno === EPERM) return 'not permitted: entering a namespace needs CAP_SYS_ADMIN (EPERM)';
  return '';
}

/** Reads a whole file from the start through an fd opened earlier (pread from 0; /proc files restart there). */
export function readWholeFd(fd: number): string {
  const chunks: Buffer[] = [];
  let pos = 0;
  for (;;) {
    const b = Buffer.allocUnsafe(16384);
    const n = readSync(fd, b, 0, b.length, pos);
    if (n === 0) break;
    chunks.push(b.subarray(0, n));
    pos += n;
  }
  return Buffer.concat(chunks).toString('utf8');
}
