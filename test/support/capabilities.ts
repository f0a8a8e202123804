// The capability tests' view of the shared namespace library (test/support/netns.ts): a
// namespace per test file, iptables counters by comment tag, /proc rows, and HTB classes on
// lo. Consumers and traffic start through their one driver each (consumer.ts,
// netns/traffic.ts) on `ns.netns`. Needs root, iproute2, iptables-legacy.
import { fileURLToPath } from 'node:url';
import { createNetns, TIME_SCALE, type Child, type Netns, type QueueProcRow } from './netns.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A row of /proc/net/netfilter/nfnetlink_queue. */
export type Row = QueueProcRow;

/** A network namespace made for one test file. */
export class Ns {
  readonly netns: Netns;
  constructor(prefix: string) {
    this.netns = createNetns(`cap${prefix}`);
  }
  get name(): string {
    return this.netns.name;
  }
  exec(...cmd: string[]): string {
    return this.netns.exec(cmd);
  }
  /** Runs a command in the namespace without throwing; returns its status and output. */
  run(...cmd: string[]): { status: number | null; stdout: string } {
    const r = this.netns.run(cmd);
    return { status: r.status, stdout: r.stdout };
  }
  ip(...args: string[]): string {
    return this.netns.ip(...args);
  }
  ipt(...args: string[]): string {
    return this.netns.iptables(...args);
  }
  ip6t(...args: string[]): string {
    return this.netns.ip6tables(...args);
  }
  /** Packet count of the rule tagged `-m comment --comment TAG` in TABLE/CHAIN. */
  count(table: string, chain: string, tag: string, v6 = false): number {
    return this.netns.counter(table, chain, `/* ${tag} */`, v6 ? 6 : 4).pkts;
  }
  queueRows(): Row[] {
    return this.netns.queueProc();
  }
  row(q: number): Row | undefined {
    return this.netns.queueRow(q);
  }
  async waitRow(q: number, pred: (r: Row) => boolean, timeoutMs = 15_000): Promise<Row> {
    let r: Row | undefined;
    await eventually(() => {
      r = this.row(q);
      return r !== undefined && pred(r);
    }, `queue ${q} row never matched: ${JSON.stringify(r)}`, timeoutMs);
    return r!;
  }
  /** Starts a command in the namespace (killed with the namespace). */
  spawn(cmd: string[]): Child {
    return this.netns.spawn(cmd, { cwd: ROOT });
  }
  /**
   * HTB on lo with classes 1:1 (default) and 1:3: HTB puts a packet whose skb->priority
   * names one of its classes in that class, so `tc -s class` counts prove a priority.
   * (This kernel has no prio qdisc.)
   */
  htbOnLo(): void {
    this.exec('tc', 'qdisc', 'add', 'dev', 'lo', 'root', 'handle', '1:', 'htb', 'default', '1');
    this.exec('tc', 'class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:1', 'htb', 'rate', '10gbit');
    this.exec('tc', 'class', 'add', 'dev', 'lo', 'parent', '1:', 'classid', '1:3', 'htb', 'rate', '10gbit');
  }
  /** Packets sent through HTB class 1:N on lo. */
  htbPackets(cls: number): number {
    const out = this.exec('tc', '-s', 'class', 'show', 'dev', 'lo');
    const m = new RegExp(`class htb 1:${cls} [^\\n]*\\n\\s*Sent \\d+ bytes (\\d+) pkt`).exec(out);
    if (!m) throw new Error(`no class 1:${cls} in:\n${out}`);
    return Number(m[1]);
  }
  destroy(): Promise<void> {
    return this.netns.destroy();
  }
}

/** A veth pair a <-> b between two namespaces, with IPv4 and IPv6 addresses. */
export function veth(a: Ns, b: Ns, nameA: string, nameB: string, v4a: string, v4b: string, v6a: string, v6b: string): void {
  a.ip('link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', b.name);
  a.ip('addr', 'add', v4a, 'dev', nameA);
  b.ip('addr', 'add', v4b, 'dev', nameB);
  a.ip('-6', 'addr', 'add', v6a, 'dev', nameA, 'nodad');
  b.ip('-6', 'addr', 'add', v6b, 'dev', nameB, 'nodad');
  a.ip('link', 'set', nameA, 'up');
  b.ip('link', 'set', nameB, 'up');
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Waits until `fn` returns true (polling); throws with `what` on timeout. */
export async function eventually(fn: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
  const deadline = Date.now() + timeoutMs * TIME_SCALE;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}
