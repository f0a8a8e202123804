// /proc/net/netfilter/nfnetlink_queue, parsed.

// ------------------------------------------------------------------ /proc/net/netfilter/nfnetlink_queue

export interface QueueProcRow {
  queue: number;
  /** Netlink port id of the bound socket. */
  portid: number;
  /** Packets waiting for a verdict. */
  waiting: number;
  /** 0 NONE, 1 META, 2 PACKET. */
  copyMode: number;
  /** Kernel clamps it to 65531 (0xffff minus an attribute header). */
  copyRange: number;
  queueDropped: number;
  userDropped: number;
  /** Id of the last packet queued (ids start at 1). */
  lastId: number;
}

/** Parse the text of /proc/net/netfilter/nfnetlink_queue (one row per bound queue). */
export function parseQueueProc(text: string): QueueProcRow[] {
  const rows: QueueProcRow[] = [];
  for (const line of text.split('\n')) {
    const t = line.trim();
    if (!t) continue;
    const f = t.split(/\s+/).map(Number);
    if (f.length < 8 || f.some((n) => !Number.isFinite(n))) {
      throw new Error(`unexpected nfnetlink_queue line: ${JSON.stringify(line)}`);
    }
    rows.push({
      queue: f[0]!,
      portid: f[1]!,
      waiting: f[2]!,
      copyMode: f[3]!,
      copyRange: f[4]!,
      queueDropped: f[5]!,
      userDropped: f[6]!,
      lastId: f[7]!,
    });
  }
  return rows;
}
