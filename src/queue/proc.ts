/**
 * The kernel's per-queue counters from /proc/net/netfilter/nfnetlink_queue (of the network
 * namespace this process is in). Columns: queue, portid, waiting, copy mode, copy range,
 * queue_dropped, user_dropped, last id, 1.
 */
import { readFileSync } from 'node:fs';
import type { KernelSocket } from './kernel-socket.js';

/** Default path of the kernel's queue table. */
export const PROC_NFNETLINK_QUEUE = '/proc/net/netfilter/nfnetlink_queue';
/** The table's name under /proc/net (for a transport's `procNetFiles`). */
export const NFNETLINK_QUEUE_PROC_NET = 'netfilter/nfnetlink_queue';

/** One row of /proc/net/netfilter/nfnetlink_queue. */
export interface KernelQueueStats {
  /** Queue number. */
  queue: number;
  /** Netlink port id of the socket bound to it. */
  portId: number;
  /** Packets waiting for a verdict. */
  waiting: number;
  /** Copy mode: 0 none, 1 meta, 2 packet. */
  copyMode: number;
  /** Copy range in bytes. */
  copyRange: number;
  /** Packets dropped because the queue was full. */
  queueDropped: number;
  /** Packets dropped because they could not be delivered to the socket (receive buffer full). */
  userDropped: number;
  /** Id of the last packet queued. */
  lastId: number;
}

/** Parses the text of /proc/net/netfilter/nfnetlink_queue. */
export function parseKernelQueueStats(text: string): KernelQueueStats[] {
  const rows: KernelQueueStats[] = [];
  for (const line of text.split('\n')) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const n = f.map((x) => Number(x));
    if (n.slice(0, 8).some((x) => !Number.isFinite(x))) continue;
    rows.push({ queue: n[0]!, portId: n[1]!, waiting: n[2]!, copyMode: n[3]!, copyRange: n[4]!, queueDropped: n[5]!, userDropped: n[6]!, lastId: n[7]! });
  }
  return rows;
}

/** Reads the kernel's table (throws if /proc is not readable). */
export function readKernelQueueStats(path = PROC_NFNETLINK_QUEUE): KernelQueueStats[] {
  return parseKernelQueueStats(readFileSync(path, 'utf8'));
}

/**
 * Reads the table of the namespace the transport's socket lives in: through the file the
 * transport opened there when it was created in another namespace (`netns`), else this
 * process's /proc (throws when unreadable).
 */
export function readKernelQueueStatsOf(transport: KernelSocket): KernelQueueStats[] {
  if (transport.readProcNet === undefined) return readKernelQueueStats();
  return parseKernelQueueStats(transport.readProcNet(NFNETLINK_QUEUE_PROC_NET));
}
