/**
 * Messages nfq-dump prints for runtime failures, phrased so that a person knows what to do.
 */
import { readFileSync } from 'node:fs';
import { QueueKernelError, QueueTimeoutError } from '../index.js';
import { findQueueHolder, readKernelQueueStats } from '../diagnosis/index.js';
import { NetlinkSocketError } from '../netlink/index.js';

const CAP_NET_ADMIN = 12n;

/** Whether this process has CAP_NET_ADMIN in its effective set (undefined when unknown). */
export function hasNetAdmin(): boolean | undefined {
  try {
    const m = /^CapEff:\s*([0-9a-f]+)$/im.exec(readFileSync('/proc/self/status', 'utf8'));
    if (m === null) return undefined;
    return ((BigInt(`0x${m[1]}`) >> CAP_NET_ADMIN) & 1n) === 1n;
  } catch {
    return undefined;
  }
}

/**
 * Who holds queue `q`, from /proc: `netlink port 1234 (process 1234, node)`, or undefined.
 * The library matches the port id to the process through the socket's inode, so a port id
 * that is not a pid (a second socket, a worker thread's) still names its process.
 */
export function queueOwner(q: number): string | undefined {
  const h = findQueueHolder(q);
  if (h === undefined) return undefined;
  return h.pid === undefined ? `netlink port ${h.portId}` : `netlink port ${h.portId} (process ${h.pid}${h.command !== undefined ? `, ${h.command}` : ''})`;
}

/** Is queue `q` bound by someone (per /proc)? undefined when /proc is unreadable. */
function queueBound(q: number): boolean | undefined {
  try {
    return readKernelQueueStats().some((r) => r.queue === q);
  } catch {
    return undefined;
  }
}

function busy(q: number, code: string): string {
  const owner = queueOwner(q);
  return (
    `queue ${q} is already bound by another process (${code})` +
    (owner !== undefined ? `: ${owner}` : '') +
    `\n  stop that program, or use another queue number (-q) with a rule that feeds it (or a filter: nfq-dump -q N udp dport 53)`
  );
}

/**
 * The message (without the `nfq-dump: ` prefix) for an error of openQueue(). With
 * `otherNetns`, this process's /proc describes another namespace: the library's message
 * (which read the right one) is kept.
 */
export function explainOpenError(e: unknown, otherNetns = false): string {
  if (e instanceof QueueKernelError && otherNetns) {
    return e.step === 'bind' && e.code === 'EBUSY' ? `${e.message}\n  stop that program, or use another queue number (-q) with a rule that feeds it (or a filter: nfq-dump -q N udp dport 53)` : e.message;
  }
  if (e instanceof QueueKernelError) {
    const q = e.queue;
    if (e.step === 'bind' && e.code === 'EBUSY') return busy(q, 'EBUSY');
    if (e.code === 'EPERM') {
      // The kernel answers EPERM both without CAP_NET_ADMIN and when another socket owns
      // the queue: tell them apart.
      const cap = hasNetAdmin();
      if (cap === false) return 'needs CAP_NET_ADMIN (EPERM): run as root or with that capability';
      if (queueBound(q) === true) return busy(q, 'EPERM');
      return 'needs CAP_NET_ADMIN (EPERM): run as root or with that capability';
    }
    if (e.step === 'flags') {
      return `${e.message}\n  leave out --fail-open, --gso or --uid-gid, whichever this kernel does not support`;
    }
    if (e.step === 'maxlen') return `${e.message}\n  check the --maxlen value`;
    return e.message;
  }
  if (e instanceof QueueTimeoutError) {
    return `${e.message}\n  is nfnetlink_queue available? (modprobe nfnetlink_queue, or a kernel with CONFIG_NETFILTER_NETLINK_QUEUE)`;
  }
  if (e instanceof NetlinkSocketError) {
    if (e.code === 'EPROTONOSUPPORT' || e.code === 'EAFNOSUPPORT') {
      return `${e.message}\n  this kernel has no netfilter netlink support (modprobe nfnetlink)`;
    }
    if (/cannot load/.test(e.message)) return `${e.message}\n  install the dependencies first: npm ci`;
    return e.message;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}

/** `ENOENT` → a phrase, for file errors. */
export function explainFileError(e: unknown, path: string, action: 'read' | 'write'): string {
  const err = e as NodeJS.ErrnoException;
  switch (err.code) {
    case 'ENOENT':
      return action === 'read' ? `cannot read ${path}: no such file (ENOENT)` : `cannot write ${path}: its directory does not exist (ENOENT)`;
    case 'EACCES':
    case 'EPERM':
      return `cannot ${action} ${path}: permission denied (${err.code})`;
    case 'EISDIR':
      return `cannot ${action} ${path}: it is a directory (EISDIR)`;
    case 'ENOSPC':
      return `cannot write ${path}: no space left on the device (ENOSPC)`;
    default:
      return `cannot ${action} ${path}: ${err.message ?? String(e)}`;
  }
}
