/**
 * Who holds a queue: /proc/net/netfilter/nfnetlink_queue gives the netlink port id bound to
 * it; /proc/net/netlink maps port ids to socket inodes; a process's /proc/PID/fd links
 * (`socket:[INODE]`) name the process. The port id is not a pid: a process's second
 * netlink socket, or one opened by a worker thread, gets another number.
 */
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import { NETLINK_NETFILTER } from '../netlink/constants.js';
import { parseKernelQueueStats } from '../queue/proc.js';

/** One row of /proc/net/netlink. */
export interface NetlinkSocketRow {
  /** Netlink protocol (12: netfilter). */
  protocol: number;
  /** The socket's port id. */
  portId: number;
  /** The socket's inode, as in `socket:[INODE]` links. */
  inode: number;
}

/** Parses /proc/net/netlink (`sk Eth Pid Groups Rmem Wmem Dump Locks Drops Inode`). */
export function parseNetlinkSockets(text: string): NetlinkSocketRow[] {
  const rows: NetlinkSocketRow[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 10 || !/^[0-9a-f]+$/i.test(f[0]!) || f[0] === 'sk') continue;
    const protocol = Number(f[1]);
    const portId = Number(f[2]);
    const inode = Number(f[9]);
    if (![protocol, portId, inode].every(Number.isSafeInteger)) continue;
    rows.push({ protocol, portId, inode });
  }
  return rows;
}

/** The process holding a queue's socket. */
export interface QueueHolder {
  /** The netlink port id bound to the queue (/proc/net/netfilter/nfnetlink_queue). */
  portId: number;
  /** The process with that socket open, when /proc shows it. */
  pid?: number;
  /** Its command name (/proc/PID/comm). */
  command?: string;
}

/** The pid of the process that has the socket with `inode` open, by its fd links. */
export function findSocketOwner(inode: number, procRoot = '/proc'): number | undefined {
  const link = `socket:[${inode}]`;
  let pids: string[];
  try {
    pids = readdirSync(procRoot).filter((d) => /^\d+$/.test(d));
  } catch {
    return undefined;
  }
  for (const pid of pids) {
    let fds: string[];
    try {
      fds = readdirSync(`${procRoot}/${pid}/fd`);
    } catch {
      continue; // gone, or not ours to read
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`${procRoot}/${pid}/fd/${fd}`) === link) return Number(pid);
      } catch {
        // closed meanwhile
      }
    }
  }
  return undefined;
}

/**
 * Names the process behind a netfilter netlink port id, given the /proc/net/netlink text of
 * the namespace the socket lives in. Fields it cannot find are left out.
 */
export function queueHolder(portId: number, netlinkTable: string | undefined, procRoot = '/proc'): QueueHolder {
  const holder: QueueHolder = { portId };
  if (netlinkTable === undefined) return holder;
  const row = parseNetlinkSockets(netlinkTable).find((r) => r.protocol === NETLINK_NETFILTER && r.portId === portId);
  if (row === undefined || row.inode === 0) return holder;
  const pid = findSocketOwner(row.inode, procRoot);
  if (pid === undefined) return holder;
  holder.pid = pid;
  try {
    holder.command = readFileSync(`${procRoot}/${pid}/comm`, 'utf8').trim();
  } catch {
    // exited meanwhile
  }
  return holder;
}

/** `process 1234 (node), netlink port 1234`, or `netlink port 4242` when no process shows. */
export function describeHolder(h: QueueHolder): string {
  if (h.pid === undefined) return `netlink port ${h.portId}`;
  return `process ${h.pid}${h.command !== undefined ? ` (${h.command})` : ''}, netlink port ${h.portId}`;
}

/**
 * The holder of queue `queue` in this process's network namespace, from /proc, or undefined
 * when nothing holds it (or /proc is unreadable).
 */
export function findQueueHolder(queue: number, procRoot = '/proc'): QueueHolder | undefined {
  let portId: number | undefined;
  try {
    portId = parseKernelQueueStats(readFileSync(`${procRoot}/net/netfilter/nfnetlink_queue`, 'utf8')).find((r) => r.queue === queue)?.portId;
  } catch {
    return undefined;
  }
  if (portId === undefined) return undefined;
  let table: string | undefined;
  try {
    table = readFileSync(`${procRoot}/net/netlink`, 'utf8');
  } catch {
    // named by port id only
  }
  return queueHolder(portId, table, procRoot);
}
