// The capability tests' view of the shared namespace library (test/support/netns.ts): a
// namespace per test file whose children print JSON lines, the consumer and the traffic
// script started through their one driver each (consumer.ts, netns/traffic.ts), iptables
// counters by comment tag, and HTB classes on lo. Needs root, iproute2, iptables-legacy.
import { fileURLToPath } from 'node:url';
import { consumerOpened, spawnConsumer, type ConsumerConfig } from './consumer.js';
import { createNetns, sendUdp, sinkDatagrams, startUdpSink, TIME_SCALE, type Child, type Netns, type QueueProcRow, type UdpDatagramLine, type UdpSendSummary } from './netns.js';

export const ROOT = fileURLToPath(new URL('../../', import.meta.url));

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A child in the namespace, read as JSON lines (a view of the shared library's Child). */
export class Proc {
  /** Resolves when the process has exited. */
  readonly done: Promise<void>;
  constructor(readonly child: Child) {
    this.done = child.exited.then(() => undefined);
  }
  /** The JSON lines printed so far. */
  get lines(): Json[] {
    return this.child.json<Json>();
  }
  get stderr(): string {
    return this.child.stderr();
  }
  get exitCode(): number | null {
    return this.child.exitStatus()?.code ?? null;
  }
  /** Resolves with the first JSON line matching `pred`; rejects on exit or timeout. */
  waitFor(pred: (j: Json) => boolean, timeoutMs = 15_000): Promise<Json> {
    return this.child.waitForJson<Json>(pred, timeoutMs);
  }
  /** Waits until `pred` holds for the lines collected (e.g. a count). */
  async until(pred: (lines: Json[]) => boolean, timeoutMs = 15_000): Promise<void> {
    await eventually(() => {
      if (!this.child.running) throw new Error(`process exited first: ${this.child.describe()}\n${this.child.transcript()}`);
      return pred(this.lines);
    }, `${this.child.describe()}\n${this.child.transcript()}`, timeoutMs);
  }
  /** Waits until stderr matches `re` (e.g. tshark's "Capturing on"). */
  async waitStderr(re: RegExp, timeoutMs = 15_000): Promise<void> {
    await eventually(() => re.test(this.stderr) || !this.child.running, `${re} from ${this.child.describe()}`, timeoutMs);
    if (!re.test(this.stderr)) throw new Error(`never saw ${re} from ${this.child.describe()}\n${this.child.transcript()}`);
  }
  send(line: string): void {
    this.child.write(`${line}\n`);
  }
  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    this.child.kill(sig);
  }
}

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
  spawn(cmd: string[]): Proc {
    return new Proc(this.netns.spawn(cmd, { cwd: ROOT }));
  }
  /**
   * Starts the consumer (consumer.ts) reporting every packet, under `prefix` if given;
   * resolves once it is open or could not open (its openError line).
   */
  async consumer(config: ConsumerConfig, prefix: string[] = []): Promise<Proc> {
    const c = spawnConsumer(this.netns, { report: true, ...config }, { prefix, cwd: ROOT });
    await consumerOpened(c);
    return new Proc(c);
  }
  /** A UDP sink (the traffic script) printing whole payloads as latin1; resolves once bound. */
  async udpSink(port: number, host = '0.0.0.0'): Promise<Proc> {
    return new Proc(await startUdpSink(this.netns, port, { host, payload: 'latin1', payloadMax: 0 }));
  }
  /**
   * Sends `count` UDP datagrams `${prefix}${i}` (from each of `from`, prefixed `from=ADDR;`)
   * and waits for the sender to finish. `uid`/`gid`: the sender's owner.
   */
  sendUdp(host: string, port: number, count: number, o: { prefix?: string; bind?: string; from?: string[]; size?: number; uid?: number; gid?: number } = {}): Promise<UdpSendSummary> {
    const { prefix, ...rest } = o;
    return sendUdp(this.netns, host, port, { count, payloadPrefix: prefix ?? 'pkt', plain: true, ...rest });
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

/** The datagrams a UDP sink (Ns.udpSink) printed so far. */
export function datagrams(sink: Proc): UdpDatagramLine[] {
  return sinkDatagrams(sink.child);
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
