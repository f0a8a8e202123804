/**
 * The network namespaces of this machine, to look for a queue's rule where the program is
 * not: the named ones (/run/netns, as `ip netns add` makes them) and those of running
 * processes (/proc/PID/ns/net, containers included). One entry per namespace (by inode).
 */
import { fstatSync, readdirSync, readFileSync, statSync } from 'node:fs';
import type { NetnsTarget } from '../netlink/netns.js';

/** A network namespace found on this machine. */
export interface NetworkNamespace {
  /** A path that names it, for nsenter and the `netns` option. */
  path: string;
  /** What to call it: `blue` (ip netns), or `of process 1234 (containerd-shim)`. */
  label: string;
  /** Its nsfs inode: the namespace's identity. */
  inode: number;
}

/** The inode of a namespace (a path or an open fd), or undefined when it cannot be read. */
export function namespaceInode(netns: NetnsTarget | undefined): number | undefined {
  try {
    if (netns === undefined) return statSync('/proc/self/ns/net').ino;
    return typeof netns === 'number' ? fstatSync(netns).ino : statSync(netns).ino;
  } catch {
    return undefined;
  }
}

/** The namespaces of this machine, named ones first, at most `limit`. */
export function listNetworkNamespaces(limit = 64): NetworkNamespace[] {
  const out: NetworkNamespace[] = [];
  const seen = new Set<number>();
  const add = (path: string, label: string): void => {
    if (out.length >= limit) return;
    const inode = namespaceInode(path);
    if (inode === undefined || seen.has(inode)) return;
    seen.add(inode);
    out.push({ path, label, inode });
  };
  let named: string[] = [];
  try {
    named = readdirSync('/run/netns').sort();
  } catch {
    // no named namespaces
  }
  for (const name of named) add(`/run/netns/${name}`, name);
  let pids: string[] = [];
  try {
    // Lowest pids first: a namespace is named after its oldest process (init, a container's first).
    pids = readdirSync('/proc')
      .filter((d) => /^\d+$/.test(d))
      .sort((a, b) => Number(a) - Number(b));
  } catch {
    // no /proc
  }
  for (const pid of pids) {
    let comm = '';
    try {
      comm = readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
    } catch {
      continue;
    }
    add(`/proc/${pid}/ns/net`, `of process ${pid} (${comm})`);
  }
  return out;
}
