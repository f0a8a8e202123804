// Lean namespace helpers for the capability tests: a namespace per test file, commands run
// in it with `ip netns exec`, children whose stdout JSON lines the test waits for, iptables
// counters and the kernel's /proc queue table. Needs root, iproute2, iptables-legacy.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { parseQueueProc, type QueueProcRow } from '../../helpers/netns.js';
import { fileURLToPath } from 'node:url';

export const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
export const CONSUMER = fileURLToPath(new URL('../consumers/consumer.mjs', import.meta.url));
export const TRAFFIC = fileURLToPath(new URL('./traffic.mjs', import.meta.url));

export function sh(cmd: readonly string[], input?: string): string {
  const r = spawnSync(cmd[0]!, cmd.slice(1), { encoding: 'utf8', input, timeout: 30_000 });
  if (r.status !== 0) throw new Error(`command failed (${r.status ?? r.signal}): ${cmd.join(' ')}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

export type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** A child process whose stdout is read as JSON lines. */
export class Proc {
  readonly lines: Json[] = [];
  stderr = '';
  exited = false;
  exitCode: number | null = null;
  private partial = '';
  private waiters: (() => void)[] = [];
  readonly done: Promise<void>;
  constructor(readonly argv: string[], private readonly child: ChildProcess) {
    child.stdout!.setEncoding('utf8');
    child.stderr!.setEncoding('utf8');
    child.stdout!.on('data', (s: string) => {
      const parts = (this.partial + s).split('\n');
      this.partial = parts.pop() ?? '';
      for (const p of parts) {
        try {
          if (p.trim().startsWith('{')) this.lines.push(JSON.parse(p) as Json);
        } catch {
          /* not JSON */
        }
      }
      this.wake();
    });
    child.stderr!.on('data', (s: string) => {
      this.stderr = (this.stderr + s).slice(-8000);
    });
    child.stdin!.on('error', () => {});
    this.done = new Promise((resolve) => {
      child.on('close', (code) => {
        this.exited = true;
        this.exitCode = code;
        this.wake();
        resolve();
      });
    });
  }
  private wake(): void {
    for (const w of this.waiters.splice(0)) w();
  }
  /** Resolves with the first JSON line matching `pred`; rejects on exit or timeout. */
  waitFor(pred: (j: Json) => boolean, timeoutMs = 15_000): Promise<Json> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timeout waiting in ${this.argv.join(' ')}\n${this.describe()}`)), timeoutMs);
      const check = (): void => {
        const hit = this.lines.find(pred);
        if (hit) {
          clearTimeout(timer);
          resolve(hit);
        } else if (this.exited) {
          clearTimeout(timer);
          reject(new Error(`process exited (${this.exitCode}) first: ${this.argv.join(' ')}\n${this.describe()}`));
        } else this.waiters.push(check);
      };
      check();
    });
  }
  /** Waits until `pred` holds for the lines collected (e.g. a count). */
  async until(pred: (lines: Json[]) => boolean, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(this.lines)) {
      if (this.exited) throw new Error(`process exited first: ${this.argv.join(' ')}\n${this.describe()}`);
      if (Date.now() > deadline) throw new Error(`timeout: ${this.argv.join(' ')}\n${this.describe()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  /** Waits until stderr matches `re` (e.g. tshark's "Capturing on"). */
  async waitStderr(re: RegExp, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(this.stderr)) {
      if (this.exited || Date.now() > deadline) throw new Error(`never saw ${re} from ${this.argv.join(' ')}\n${this.describe()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }
  send(line: string): void {
    this.child.stdin!.write(`${line}\n`);
  }
  kill(sig: NodeJS.Signals = 'SIGKILL'): void {
    if (!this.exited) this.child.kill(sig);
  }
  describe(): string {
    return `stdout: ${this.lines.slice(-20).map((l) => JSON.stringify(l)).join('\n')}\nstderr: ${this.stderr}`;
  }
}

let n = 0;

/** A row of /proc/net/netfilter/nfnetlink_queue (the shared test helpers' parser). */
export type Row = QueueProcRow;

/** A network namespace made for one test file. */
export class Ns {
  private readonly procs: Proc[] = [];
  readonly name: string;
  constructor(prefix: string) {
    this.name = `cap${prefix}-${process.pid}-${++n}`;
    sh(['ip', 'netns', 'add', this.name]);
    this.ip('link', 'set', 'lo', 'up');
  }
  exec(...cmd: string[]): string {
    return sh(['ip', 'netns', 'exec', this.name, ...cmd]);
  }
  /** Runs a command in the namespace without throwing; returns its status and output. */
  run(...cmd: string[]): { status: number | null; stdout: string } {
    const r = spawnSync('ip', ['netns', 'exec', this.name, ...cmd], { encoding: 'utf8', timeout: 30_000 });
    return { status: r.status, stdout: r.stdout };
  }
  ip(...args: string[]): string {
    return sh(['ip', '-n', this.name, ...args]);
  }
  ipt(...args: string[]): string {
    return this.exec('iptables-legacy', '-w', ...args);
  }
  ip6t(...args: string[]): string {
    return this.exec('ip6tables-legacy', '-w', ...args);
  }
  /** Packet count of the rule tagged `-m comment --comment TAG` in TABLE/CHAIN. */
  count(table: string, chain: string, tag: string, v6 = false): number {
    const out = (v6 ? this.ip6t : this.ipt).call(this, '-t', table, '-L', chain, '-v', '-x', '-n');
    const line = out.split('\n').find((l) => l.includes(`/* ${tag} */`));
    if (!line) throw new Error(`no rule tagged ${tag} in ${table}/${chain}:\n${out}`);
    return Number(line.trim().split(/\s+/)[0]);
  }
  queueRows(): Row[] {
    return parseQueueProc(this.exec('cat', '/proc/net/netfilter/nfnetlink_queue'));
  }
  row(q: number): Row | undefined {
    return this.queueRows().find((r) => r.queue === q);
  }
  async waitRow(q: number, pred: (r: Row) => boolean, timeoutMs = 15_000): Promise<Row> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const r = this.row(q);
      if (r && pred(r)) return r;
      if (Date.now() > deadline) throw new Error(`queue ${q} row never matched: ${JSON.stringify(r)}`);
      await new Promise((res) => setTimeout(res, 50));
    }
  }
  /** Starts a command in the namespace (killed with the namespace). */
  spawn(cmd: string[]): Proc {
    const argv = ['ip', 'netns', 'exec', this.name, 'setpriv', '--pdeathsig', 'KILL', '--', ...cmd];
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'], cwd: ROOT });
    const p = new Proc(cmd, child);
    this.procs.push(p);
    return p;
  }
  /** Starts the library consumer with a config (see consumers/consumer.mjs). */
  async consumer(config: Json, prefix: string[] = []): Promise<Proc> {
    const p = this.spawn([...prefix, process.execPath, CONSUMER, JSON.stringify(config)]);
    await p.waitFor((j) => j.ready === true || j.openError !== undefined);
    return p;
  }
  traffic(args: string[], prefix: string[] = []): Proc {
    return this.spawn([...prefix, process.execPath, TRAFFIC, ...args]);
  }
  /** Runs a UDP sink; resolves once bound. */
  async udpSink(port: number, host = '0.0.0.0'): Promise<Proc> {
    const p = this.traffic(['udp-sink', host, String(port)]);
    await p.waitFor((j) => j.ready === true);
    return p;
  }
  /** Sends `count` UDP datagrams `${prefix}${i}` and waits for the sender to finish. */
  async sendUdp(host: string, port: number, count: number, opts: { prefix?: string; bind?: string; size?: number } = {}, cmdPrefix: string[] = []): Promise<Json> {
    const args = ['udp-send', host, String(port), String(count), opts.prefix ?? 'pkt', opts.bind ?? '', String(opts.size ?? 0)];
    const p = this.traffic(args, cmdPrefix);
    return p.waitFor((j) => j.sent !== undefined, 30_000);
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
  async destroy(): Promise<void> {
    for (const p of this.procs) p.kill();
    await Promise.race([Promise.all(this.procs.map((p) => p.done)), new Promise((r) => setTimeout(r, 3000))]);
    spawnSync('ip', ['netns', 'del', this.name]);
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
  const deadline = Date.now() + timeoutMs;
  while (!fn()) {
    if (Date.now() > deadline) throw new Error(`timed out: ${what}`);
    await sleep(50);
  }
}
