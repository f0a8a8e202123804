// Throwaway network namespaces for kernel tests.
//
// nfnetlink_queue instances are per namespace, so kernel tests create a namespace, install
// rules in it with `ip netns exec NS iptables-legacy ...`, and start the packet-touching
// processes INSIDE it with `ip netns exec NS ...` (the `netns` option's tests instead open
// the queue from the root namespace). Children talk back through stdout JSON lines.
//
// Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and iptables-legacy. Traffic only ever
// goes to 127.0.0.1 / ::1 or to addresses on veth pairs between namespaces made here.

import { spawn as spawnChild, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/** Path of the standalone traffic script (UDP/TCP sinks and senders). */
export const TRAFFIC_SCRIPT = fileURLToPath(new URL('./traffic.mjs', import.meta.url));
/** Path of the tiny reference consumer used to test these helpers (not the library). */
export const MINI_QUEUE_SCRIPT = fileURLToPath(new URL('./mini-queue.mjs', import.meta.url));

/**
 * Every wait of these helpers is stretched by NFQ_TEST_TIME_SCALE (default 1): the kernel
 * matrix's guests run under emulation, where starting a process takes seconds.
 */
export const TIME_SCALE = Math.max(1, Number(process.env.NFQ_TEST_TIME_SCALE ?? '1') || 1);

// ------------------------------------------------------------------ environment probes

function commandExists(cmd: string): boolean {
  return spawnSync('sh', ['-c', `command -v ${cmd}`], { stdio: 'ignore' }).status === 0;
}

let setprivChecked: boolean | undefined;
/** setpriv --pdeathsig makes children die with the test process, even on a crash. */
function haveSetpriv(): boolean {
  if (setprivChecked === undefined) {
    setprivChecked = spawnSync('setpriv', ['--pdeathsig', 'KILL', '--', 'true'], { stdio: 'ignore' }).status === 0;
  }
  return setprivChecked;
}

/**
 * Why kernel tests cannot run here, or undefined when they can: root, `ip`, `iptables-legacy`
 * present and `ip netns add` works. Use with `describe.skipIf(...)` only where skipping is
 * really wanted; CI runs as root and must not skip.
 */
export function kernelTestsUnavailable(): string | undefined {
  if (process.platform !== 'linux') return 'not Linux';
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'not root';
  for (const c of ['ip', 'iptables-legacy', 'ip6tables-legacy']) {
    if (!commandExists(c)) return `${c} not installed`;
  }
  return undefined;
}

// ------------------------------------------------------------------ sync command runner

export interface ExecOptions {
  /** Written to the command's stdin. */
  input?: string | Buffer;
  /** Kill the command after this many ms (default 30 000). */
  timeoutMs?: number;
  /** Extra environment variables. */
  env?: Record<string, string>;
}

export interface ExecResult {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(
    readonly cmd: readonly string[],
    readonly result: ExecResult,
  ) {
    const how = result.signal ? `signal ${result.signal}` : `exit code ${result.status}`;
    super(`command failed (${how}): ${cmd.join(' ')}\n${result.stderr.trim() || result.stdout.trim()}`);
    this.name = 'CommandError';
  }
}

/** Run a command (no shell) and return what happened, never throwing for a failing status. */
export function runCommand(cmd: readonly string[], opts: ExecOptions = {}): ExecResult {
  const [file, ...args] = cmd;
  if (file === undefined) throw new Error('runCommand: empty command');
  const r = spawnSync(file, args, {
    encoding: 'utf8',
    input: opts.input,
    timeout: opts.timeoutMs ?? 30_000,
    killSignal: 'SIGKILL',
    env: opts.env ? { ...process.env, ...opts.env } : process.env,
    maxBuffer: 64 * 1024 * 1024,
  });
  if (r.error && (r.error as NodeJS.ErrnoException).code !== 'ETIMEDOUT') throw r.error;
  return {
    status: r.status,
    signal: r.signal,
    stdout: r.stdout ?? '',
    stderr: (r.stderr ?? '') + (r.error ? `\n${r.error.message}` : ''),
  };
}

/** Run a command (no shell); return stdout, throw a CommandError carrying stderr on failure. */
export function execCommand(cmd: readonly string[], opts: ExecOptions = {}): string {
  const r = runCommand(cmd, opts);
  if (r.status !== 0) throw new CommandError(cmd, r);
  return r.stdout;
}

// ------------------------------------------------------------------ child processes

export type LinePredicate = string | RegExp | ((line: string) => boolean);

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
}

function toPredicate(p: LinePredicate): (line: string) => boolean {
  if (typeof p === 'function') return p;
  if (typeof p === 'string') return (l) => l.includes(p);
  return (l) => p.test(l);
}

function tryJson(line: string): unknown {
  const t = line.trim();
  if (!t.startsWith('{') && !t.startsWith('[')) return undefined;
  try {
    return JSON.parse(t) as unknown;
  } catch {
    return undefined;
  }
}

/** A process started with {@link Netns.spawn}. Its stdout is collected line by line. */
export class Child {
  readonly pid: number | undefined;
  /** Resolves when the process has exited (never rejects). */
  readonly exited: Promise<ExitInfo>;
  private readonly out: string[] = [];
  private partial = '';
  private err = '';
  private exitInfo: ExitInfo | undefined;
  private waiters = new Set<() => void>();

  constructor(
    readonly cmd: readonly string[],
    private readonly proc: ChildProcess,
  ) {
    this.pid = proc.pid;
    proc.stdout?.setEncoding('utf8');
    proc.stderr?.setEncoding('utf8');
    proc.stdout?.on('data', (chunk: string) => {
      const parts = (this.partial + chunk).split('\n');
      this.partial = parts.pop() ?? '';
      for (const p of parts) this.out.push(p.endsWith('\r') ? p.slice(0, -1) : p);
      this.wake();
    });
    proc.stderr?.on('data', (chunk: string) => {
      // Keep the tail only; a chatty child must not eat memory.
      this.err = (this.err + chunk).slice(-64 * 1024);
    });
    // Writes to a dead child's stdin must not crash the test process.
    proc.stdin?.on('error', () => {});
    this.exited = new Promise<ExitInfo>((resolve) => {
      proc.on('error', (e) => {
        this.err += `\nprocess error: ${e.message}`;
        // Only a failed spawn means "no process"; a failed kill() also lands here.
        if (proc.pid !== undefined) return;
        this.exitInfo ??= { code: null, signal: null };
        this.wake();
        resolve(this.exitInfo);
      });
      // 'close' (not 'exit'): stdout is fully drained by then.
      proc.on('close', (code, signal) => {
        if (this.partial) {
          this.out.push(this.partial);
          this.partial = '';
        }
        this.exitInfo = { code, signal };
        this.wake();
        resolve(this.exitInfo);
      });
    });
  }

  private wake(): void {
    for (const w of [...this.waiters]) w();
  }

  /** Complete stdout lines received so far. */
  lines(): string[] {
    return [...this.out];
  }

  /** stdout lines that parse as JSON objects, parsed. */
  json<T = Record<string, unknown>>(): T[] {
    const res: T[] = [];
    for (const l of this.out) {
      const v = tryJson(l);
      if (v !== undefined) res.push(v as T);
    }
    return res;
  }

  /** The collected stderr (tail). */
  stderr(): string {
    return this.err;
  }

  /** Exit information once the process has exited, else undefined. */
  exitStatus(): ExitInfo | undefined {
    return this.exitInfo;
  }

  get running(): boolean {
    return this.exitInfo === undefined;
  }

  /**
   * Resolve with the first stdout line (already received or future) matching the predicate.
   * Rejects on timeout or when the process exits first, with stdout/stderr in the message.
   */
  waitForLine(pred: LinePredicate, timeoutMs = 10_000): Promise<string> {
    const test = toPredicate(pred);
    return new Promise<string>((resolve, reject) => {
      let next = 0;
      let timer: NodeJS.Timeout | undefined;
      const check = (): void => {
        for (; next < this.out.length; next++) {
          const l = this.out[next]!;
          if (test(l)) {
            done();
            resolve(l);
            return;
          }
        }
        if (this.exitInfo) {
          done();
          reject(new Error(`${this.describe()} exited (${fmtExit(this.exitInfo)}) before printing the awaited line\n${this.transcript()}`));
        }
      };
      const done = (): void => {
        this.waiters.delete(check);
        if (timer) clearTimeout(timer);
      };
      timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs * TIME_SCALE} ms waiting for a line from ${this.describe()}\n${this.transcript()}`));
      }, timeoutMs * TIME_SCALE);
      this.waiters.add(check);
      check();
    });
  }

  /** Like waitForLine for JSON lines: resolves with the first parsed object the predicate accepts. */
  async waitForJson<T = Record<string, unknown>>(pred: (obj: T) => boolean, timeoutMs = 10_000): Promise<T> {
    const line = await this.waitForLine((l) => {
      const v = tryJson(l);
      return v !== undefined && pred(v as T);
    }, timeoutMs);
    return JSON.parse(line) as T;
  }

  /** Wait for exit; kill with SIGKILL and reject if it takes longer than timeoutMs. */
  async waitForExit(timeoutMs = 10_000): Promise<ExitInfo> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        this.kill('SIGKILL');
        reject(new Error(`${this.describe()} did not exit within ${timeoutMs * TIME_SCALE} ms (killed)\n${this.transcript()}`));
      }, timeoutMs * TIME_SCALE);
    });
    try {
      return await Promise.race([this.exited, timeout]);
    } finally {
      if (timer) clearTimeout(timer);
    }
  }

  /** Send a signal (default SIGTERM). No-op once the process has exited. */
  kill(signal: NodeJS.Signals = 'SIGTERM'): void {
    if (this.exitInfo) return;
    try {
      this.proc.kill(signal);
    } catch {
      /* already gone */
    }
  }

  /** Write to the child's stdin. */
  write(data: string | Buffer): void {
    this.proc.stdin?.write(data);
  }

  /** Close the child's stdin. */
  endInput(): void {
    this.proc.stdin?.end();
  }

  describe(): string {
    return `[pid ${this.pid ?? '?'}] ${this.cmd.join(' ')}`;
  }

  /** stdout (last 40 lines) and stderr tail, for error messages. */
  transcript(): string {
    const tail = this.out.slice(-40).join('\n');
    return `--- stdout (last ${Math.min(40, this.out.length)} of ${this.out.length} lines)\n${tail}\n--- stderr\n${this.err.slice(-4000)}`;
  }
}

function fmtExit(e: ExitInfo): string {
  return e.signal ? `signal ${e.signal}` : `code ${e.code}`;
}

// ------------------------------------------------------------------ iptables counters

export interface IptablesRule {
  /** 1-based position in the chain. */
  num: number;
  pkts: number;
  bytes: number;
  /** '' for a rule without target (a pure counting rule). */
  target: string;
  prot: string;
  opt: string;
  in: string;
  out: string;
  source: string;
  destination: string;
  /** Match/target details, e.g. "udp dpt:9 NFQUEUE num 3 bypass", comments as "/* tag *\/". */
  extra: string;
  line: string;
}

export interface IptablesChain {
  name: string;
  /** Built-in chains: policy and its counters. */
  policy?: { target: string; pkts: number; bytes: number };
  /** User chains: number of references. */
  references?: number;
  rules: IptablesRule[];
}

const OPT_RE = /^(--|-f|!f)$/;

/** Parse `iptables -L CHAIN -v -x -n --line-numbers` output (iptables-legacy 1.8 layout). */
export function parseIptablesList(text: string): IptablesChain[] {
  const chains: IptablesChain[] = [];
  let cur: IptablesChain | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const head = /^Chain (\S+) \((.*)\)/.exec(line);
    if (head) {
      cur = { name: head[1]!, rules: [] };
      const pol = /^policy (\S+) (\d+) packets, (\d+) bytes$/.exec(head[2]!);
      if (pol) cur.policy = { target: pol[1]!, pkts: Number(pol[2]), bytes: Number(pol[3]) };
      const refs = /^(\d+) references?$/.exec(head[2]!);
      if (refs) cur.references = Number(refs[1]);
      chains.push(cur);
      continue;
    }
    if (!cur || /^\s*num\s+pkts/.test(line) || /^\s*pkts\s+bytes/.test(line)) continue;
    const t = line.trim().split(/\s+/);
    if (!/^\d+$/.test(t[0] ?? '')) continue;
    // Columns: num pkts bytes [target] prot opt in out source destination extra...
    // The target column is blank for rules without -j, detectable from where "opt" sits.
    let i = 3;
    let target = '';
    if (OPT_RE.test(t[5] ?? '')) target = t[i++]!;
    else if (!OPT_RE.test(t[4] ?? '')) throw new Error(`cannot parse iptables rule line: ${line}`);
    const [prot, opt, inIf, outIf, source, destination] = t.slice(i, i + 6);
    if (destination === undefined) throw new Error(`cannot parse iptables rule line: ${line}`);
    cur.rules.push({
      num: Number(t[0]),
      pkts: Number(t[1]),
      bytes: Number(t[2]),
      target,
      prot: prot!,
      opt: opt!,
      in: inIf!,
      out: outIf!,
      source: source!,
      destination,
      extra: t.slice(i + 6).join(' '),
      line,
    });
  }
  return chains;
}

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

// ------------------------------------------------------------------ namespaces

export interface SpawnOptions {
  env?: Record<string, string>;
  cwd?: string;
  /** Kill the child when the test process dies (setpriv --pdeathsig KILL). Default true. */
  dieWithParent?: boolean;
}

export type Family = 4 | 6;

const live = new Set<Netns>();
let counter = 0;
let exitHookInstalled = false;

function destroyAllLive(): void {
  for (const ns of [...live]) {
    try {
      ns.destroySync();
    } catch {
      /* best effort */
    }
  }
}

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  // Last-resort safety: a namespace this process created and did not delete is deleted
  // when the process exits (children are SIGKILLed first). Synchronous by necessity.
  process.on('exit', destroyAllLive);
  // Vitest ends its fork workers with SIGTERM (SIGKILL 500 ms later), which skips 'exit'.
  // Clean up, then let the signal do what it would have done: if nobody else listens,
  // re-raise it with the default action so the process still dies by that signal.
  for (const sig of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = (): void => {
      destroyAllLive();
      process.off(sig, onSignal);
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig);
    };
    process.on(sig, onSignal);
  }
}

/** A network namespace created by this process. */
export class Netns {
  private readonly children = new Set<Child>();
  private destroyed = false;
  private destroying: Promise<void> | undefined;

  /** @internal use createNetns */
  constructor(readonly name: string) {}

  /** True until destroy(). */
  get alive(): boolean {
    return !this.destroyed;
  }

  private check(): void {
    if (this.destroyed) throw new Error(`netns ${this.name} was destroyed`);
  }

  /** `ip netns exec NAME ...cmd` as argv. */
  wrap(cmd: readonly string[]): string[] {
    return ['ip', 'netns', 'exec', this.name, ...cmd];
  }

  /** Run a command inside the namespace; return stdout, throw CommandError (with stderr) on failure. */
  exec(cmd: readonly string[], opts: ExecOptions = {}): string {
    this.check();
    return execCommand(this.wrap(cmd), opts);
  }

  /** Run a command inside the namespace without throwing on a failing status. */
  run(cmd: readonly string[], opts: ExecOptions = {}): ExecResult {
    this.check();
    return runCommand(this.wrap(cmd), opts);
  }

  /** `iptables-legacy -w ...args` inside the namespace (the xtables lock is machine-wide). */
  iptables(...args: string[]): string {
    return this.exec(['iptables-legacy', '-w', ...args]);
  }

  /** `ip6tables-legacy -w ...args` inside the namespace. */
  ip6tables(...args: string[]): string {
    return this.exec(['ip6tables-legacy', '-w', ...args]);
  }

  /** `ip ...args` inside the namespace (uses `ip -n`, no exec needed). */
  ip(...args: string[]): string {
    this.check();
    return execCommand(['ip', '-n', this.name, ...args]);
  }

  /** Write a sysctl inside the namespace, e.g. sysctl('net.ipv4.ip_forward', '1'). */
  sysctl(key: string, value: string | number): void {
    this.exec(['tee', `/proc/sys/${key.replace(/\./g, '/')}`], { input: `${value}\n` });
  }

  /** Read a sysctl inside the namespace. */
  readSysctl(key: string): string {
    return this.exec(['cat', `/proc/sys/${key.replace(/\./g, '/')}`]).trim();
  }

  /** The chains of a table as listed by `iptables -t TABLE -L [CHAIN] -v -x -n --line-numbers`. */
  chains(table: string, chain?: string, family: Family = 4): IptablesChain[] {
    const args = ['-t', table, '-L', ...(chain ? [chain] : []), '-v', '-x', '-n', '--line-numbers'];
    return parseIptablesList(family === 6 ? this.ip6tables(...args) : this.iptables(...args));
  }

  /** The rules of one chain, with counters. */
  rules(table: string, chain: string, family: Family = 4): IptablesRule[] {
    const c = this.chains(table, chain, family)[0];
    if (!c) throw new Error(`chain ${table}/${chain} not found in netns ${this.name}`);
    return c.rules;
  }

  /**
   * Packet/byte counters of the single rule of TABLE/CHAIN matching `match`: a string
   * looked up in the whole listing line (tag rules with `-m comment --comment TAG` and
   * pass TAG), a RegExp, or the 1-based rule number. Throws when none or several match.
   */
  counter(table: string, chain: string, match: string | RegExp | number, family: Family = 4): { pkts: number; bytes: number; rule: IptablesRule } {
    const rules = this.rules(table, chain, family);
    const hits = rules.filter((r) =>
      typeof match === 'number' ? r.num === match : typeof match === 'string' ? r.line.includes(match) : match.test(r.line),
    );
    if (hits.length !== 1) {
      throw new Error(
        `${hits.length} rules in ${table}/${chain} (IPv${family}) match ${String(match)} in netns ${this.name}:\n` +
          rules.map((r) => r.line).join('\n'),
      );
    }
    const rule = hits[0]!;
    return { pkts: rule.pkts, bytes: rule.bytes, rule };
  }

  /** Rows of /proc/net/netfilter/nfnetlink_queue as seen inside this namespace. */
  queueProc(): QueueProcRow[] {
    return parseQueueProc(this.exec(['cat', '/proc/net/netfilter/nfnetlink_queue']));
  }

  /** The /proc row for one queue, or undefined when nobody is bound to it. */
  queueRow(num: number): QueueProcRow | undefined {
    return this.queueProc().find((r) => r.queue === num);
  }

  /**
   * Poll /proc until queue `num` is bound (optionally with copy mode PACKET, or by a given
   * portid) and resolve with its row; reject after timeoutMs.
   */
  async waitForQueueBound(
    num: number,
    timeoutMs = 10_000,
    opts: { copyMode?: number; portid?: number; intervalMs?: number } = {},
  ): Promise<QueueProcRow> {
    let last: QueueProcRow[] = [];
    const ok = (r: QueueProcRow): boolean =>
      r.queue === num &&
      (opts.copyMode === undefined || r.copyMode === opts.copyMode) &&
      (opts.portid === undefined || r.portid === opts.portid);
    const row = await poll(() => {
      last = this.queueProc();
      return last.find(ok);
    }, timeoutMs, opts.intervalMs);
    if (!row) {
      throw new Error(`queue ${num} not bound in netns ${this.name} after ${timeoutMs} ms; /proc rows: ${JSON.stringify(last)}`);
    }
    return row;
  }

  /** Poll /proc until queue `num` has no row any more (nobody bound). */
  async waitForQueueUnbound(num: number, timeoutMs = 10_000): Promise<void> {
    let last: QueueProcRow[] = [];
    const gone = await poll(() => {
      last = this.queueProc();
      return last.some((r) => r.queue === num) ? undefined : true;
    }, timeoutMs);
    if (!gone) throw new Error(`queue ${num} still bound in netns ${this.name} after ${timeoutMs} ms: ${JSON.stringify(last)}`);
  }

  /**
   * Start `cmd` inside the namespace. stdout is collected line by line (see Child); the
   * child is SIGKILLed on destroy() and, via PR_SET_PDEATHSIG, if the test process dies.
   */
  spawn(cmd: readonly string[], opts: SpawnOptions = {}): Child {
    this.check();
    const inner = opts.dieWithParent !== false && haveSetpriv() ? ['setpriv', '--pdeathsig', 'KILL', '--', ...cmd] : [...cmd];
    const argv = this.wrap(inner);
    // `ip netns exec` execs the command in place (no fork), so the pid is the command's.
    const proc = spawnChild(argv[0]!, argv.slice(1), {
      stdio: ['pipe', 'pipe', 'pipe'],
      cwd: opts.cwd,
      env: opts.env ? { ...process.env, ...opts.env } : process.env,
    });
    const child = new Child(cmd, proc);
    this.children.add(child);
    void child.exited.then(() => this.children.delete(child));
    return child;
  }

  /** Start `node script ...args` inside the namespace with this process's node binary. */
  spawnNode(script: string, args: readonly string[] = [], opts: SpawnOptions = {}): Child {
    return this.spawn([process.execPath, script, ...args], opts);
  }

  /** Children still running. */
  runningChildren(): Child[] {
    return [...this.children].filter((c) => c.running);
  }

  /** Kill children, delete the namespace. Synchronous; safe to call repeatedly. */
  destroySync(): void {
    if (this.destroyed) return;
    this.destroyed = true;
    live.delete(this);
    for (const c of this.children) c.kill('SIGKILL');
    // Deleting the name works even while processes are still inside: the namespace itself
    // then lives on until they are gone, which SIGKILL makes quick.
    const r = runCommand(['ip', 'netns', 'del', this.name], { timeoutMs: 10_000 });
    if (r.status !== 0 && existsSync(`/run/netns/${this.name}`)) {
      throw new CommandError(['ip', 'netns', 'del', this.name], r);
    }
  }

  /**
   * Kill children (SIGKILL), delete the namespace, and resolve once the children have
   * exited (bounded by 5 s). Idempotent; the deletion itself happens synchronously.
   */
  destroy(): Promise<void> {
    if (this.destroying) return this.destroying;
    const kids = [...this.children];
    this.destroySync();
    const wait = Promise.all(kids.map((c) => c.exited));
    this.destroying = Promise.race([wait, new Promise((r) => setTimeout(r, 5000).unref())]).then(() => undefined);
    return this.destroying;
  }
}

async function poll<T>(fn: () => T | undefined, timeoutMs: number, intervalMs = 50): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs * TIME_SCALE;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() >= deadline) return undefined;
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/**
 * Create a namespace named `${prefix}-${pid}-${n}` with `lo` up. Deleted by destroy(), or at
 * the latest when this process exits.
 */
export function createNetns(prefix = 'nfq'): Netns {
  if (!/^[A-Za-z0-9_]+$/.test(prefix)) throw new Error(`netns prefix must be [A-Za-z0-9_]+, got ${prefix}`);
  installExitHook();
  const name = `${prefix}-${process.pid}-${++counter}`;
  execCommand(['ip', 'netns', 'add', name]);
  const ns = new Netns(name);
  live.add(ns);
  try {
    ns.ip('link', 'set', 'lo', 'up');
  } catch (e) {
    ns.destroySync();
    throw e;
  }
  return ns;
}

/** Names from `ip netns list`. */
export function listNetns(): string[] {
  return execCommand(['ip', 'netns', 'list'])
    .split('\n')
    .map((l) => l.trim().split(/\s+/)[0] ?? '')
    .filter((n) => n.length > 0);
}

/**
 * Delete namespaces named `${prefix}-${pid}-${n}` whose creating process is gone (left over by
 * a test process that was SIGKILLed). Returns the names deleted.
 */
export function sweepStaleNetns(prefix: string): string[] {
  if (!/^[A-Za-z0-9_]+$/.test(prefix)) throw new Error(`netns prefix must be [A-Za-z0-9_]+, got ${prefix}`);
  const re = new RegExp(`^${prefix}-(\\d+)-\\d+$`);
  const deleted: string[] = [];
  for (const name of listNetns()) {
    const m = re.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid) continue;
    let alive = true;
    try {
      process.kill(pid, 0);
    } catch (e) {
      alive = (e as NodeJS.ErrnoException).code === 'EPERM';
    }
    if (!alive && runCommand(['ip', 'netns', 'del', name]).status === 0) deleted.push(name);
  }
  return deleted;
}

// ------------------------------------------------------------------ veth and topologies

let vethCounter = 0;

export interface VethEnd {
  ns: Netns;
  ifname: string;
  /** IPv4 address without prefix length, if one was given. */
  ip?: string;
  /** IPv6 address without prefix length, if one was given. */
  ip6?: string;
}

export interface VethOptions {
  /** IPv4 CIDR for side a, e.g. '10.200.1.1/24'. */
  a?: string;
  b?: string;
  /** IPv6 CIDR for side a, e.g. 'fd00:200:1::1/64' (added with nodad: usable at once). */
  a6?: string;
  b6?: string;
  nameA?: string;
  nameB?: string;
  mtu?: number;
}

/**
 * A veth pair between two of our namespaces, created directly inside them (nothing ever
 * appears in the root namespace), addresses assigned, both ends up.
 */
export function linkVeth(nsA: Netns, nsB: Netns, opts: VethOptions = {}): { a: VethEnd; b: VethEnd } {
  const n = ++vethCounter;
  const nameA = opts.nameA ?? `va${n}`;
  const nameB = opts.nameB ?? `vb${n}`;
  nsA.ip('link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', nsB.name);
  const a: VethEnd = { ns: nsA, ifname: nameA };
  const b: VethEnd = { ns: nsB, ifname: nameB };
  const setup = (end: VethEnd, v4?: string, v6?: string): void => {
    if (opts.mtu) end.ns.ip('link', 'set', end.ifname, 'mtu', String(opts.mtu));
    if (v4) {
      end.ns.ip('addr', 'add', v4, 'dev', end.ifname);
      end.ip = v4.split('/')[0];
    }
    if (v6) {
      end.ns.ip('-6', 'addr', 'add', v6, 'dev', end.ifname, 'nodad');
      end.ip6 = v6.split('/')[0];
    }
    end.ns.ip('link', 'set', end.ifname, 'up');
  };
  setup(a, opts.a, opts.a6);
  setup(b, opts.b, opts.b6);
  return { a, b };
}

export interface RouterTopology {
  client: Netns;
  router: Netns;
  server: Netns;
  /** client <-> router link: client end is `a`, router end is `b`. */
  left: { a: VethEnd; b: VethEnd };
  /** router <-> server link: router end is `a`, server end is `b`. */
  right: { a: VethEnd; b: VethEnd };
  addr: {
    client: string;
    routerLeft: string;
    routerRight: string;
    server: string;
    client6: string;
    routerLeft6: string;
    routerRight6: string;
    server6: string;
  };
  destroy(): Promise<void>;
}

/**
 * client (10.200.1.2, fd00:200:1::2) -- router (10.200.1.1 | 10.200.2.1) -- server
 * (10.200.2.2, fd00:200:2::2). The router forwards IPv4 and IPv6, the ends route everything
 * through it, so client->server traffic crosses the router's FORWARD chain.
 */
export function createRouterTopology(prefix = 'nfr'): RouterTopology {
  const made: Netns[] = [];
  try {
    const client = createNetns(`${prefix}c`);
    made.push(client);
    const router = createNetns(`${prefix}r`);
    made.push(router);
    const server = createNetns(`${prefix}s`);
    made.push(server);
    const left = linkVeth(client, router, { a: '10.200.1.2/24', b: '10.200.1.1/24', a6: 'fd00:200:1::2/64', b6: 'fd00:200:1::1/64' });
    const right = linkVeth(router, server, { a: '10.200.2.1/24', b: '10.200.2.2/24', a6: 'fd00:200:2::1/64', b6: 'fd00:200:2::2/64' });
    router.sysctl('net.ipv4.ip_forward', 1);
    router.sysctl('net.ipv6.conf.all.forwarding', 1);
    client.ip('route', 'add', 'default', 'via', '10.200.1.1');
    client.ip('-6', 'route', 'add', 'default', 'via', 'fd00:200:1::1');
    server.ip('route', 'add', 'default', 'via', '10.200.2.1');
    server.ip('-6', 'route', 'add', 'default', 'via', 'fd00:200:2::1');
    return {
      client,
      router,
      server,
      left,
      right,
      addr: {
        client: '10.200.1.2',
        routerLeft: '10.200.1.1',
        routerRight: '10.200.2.1',
        server: '10.200.2.2',
        client6: 'fd00:200:1::2',
        routerLeft6: 'fd00:200:1::1',
        routerRight6: 'fd00:200:2::1',
        server6: 'fd00:200:2::2',
      },
      destroy: async () => {
        await Promise.all(made.map((n) => n.destroy()));
      },
    };
  } catch (e) {
    for (const n of made) n.destroySync();
    throw e;
  }
}

// ------------------------------------------------------------------ traffic conveniences

export interface UdpSinkOptions {
  family?: Family;
  host?: string;
  count?: number;
  timeoutMs?: number;
  idleMs?: number;
  payload?: 'utf8' | 'hex' | 'none';
  payloadMax?: number;
  quiet?: boolean;
  echo?: boolean;
  /** How long to wait for {"ready":true} (default 10 s). */
  readyTimeoutMs?: number;
}

export interface SinkSummary {
  done: true;
  received: number;
  bytes: number;
  distinct: number;
  duplicates: number;
  outOfOrder: number;
  timedOut: boolean;
}

export interface UdpDatagramLine {
  from: string;
  port: number;
  len: number;
  seq: number | null;
  payload?: string;
}

/** Start a UDP sink in `ns` and resolve once it is bound. */
export async function startUdpSink(ns: Netns, port: number, o: UdpSinkOptions = {}): Promise<Child> {
  const args = ['sink', 'udp', String(port)];
  if (o.family) args.push('--family', String(o.family));
  if (o.host) args.push('--host', o.host);
  if (o.count !== undefined) args.push('--count', String(o.count));
  if (o.timeoutMs !== undefined) args.push('--timeout', String(o.timeoutMs));
  if (o.idleMs !== undefined) args.push('--idle', String(o.idleMs));
  if (o.payload) args.push('--payload', o.payload);
  if (o.payloadMax !== undefined) args.push('--payload-max', String(o.payloadMax));
  if (o.quiet) args.push('--quiet');
  if (o.echo) args.push('--echo');
  const child = ns.spawnNode(TRAFFIC_SCRIPT, args);
  await child.waitForJson<{ ready?: boolean }>((j) => j.ready === true, o.readyTimeoutMs ?? 10_000);
  return child;
}

/** Wait for a sink's final summary line (after it ended by itself, or kill it first). */
export async function sinkSummary(sink: Child, timeoutMs = 10_000): Promise<SinkSummary> {
  return sink.waitForJson<SinkSummary>((j) => j.done === true, timeoutMs);
}

/** Datagram lines a UDP sink printed so far. */
export function sinkDatagrams(sink: Child): UdpDatagramLine[] {
  return sink.json<UdpDatagramLine & { from?: string }>().filter((j) => typeof j.from === 'string' && typeof j.len === 'number');
}

export interface UdpSendOptions {
  count?: number;
  size?: number;
  payloadPrefix?: string;
  rate?: number;
  family?: Family;
  bind?: string;
  sport?: number;
  uid?: number;
  gid?: number;
  echoWaitMs?: number;
  timeoutMs?: number;
}

export interface UdpSendSummary {
  done: true;
  sent: number;
  errors: number;
  errorCodes: Record<string, number>;
  bytes: number;
  ms: number;
  echoed: number;
  local: { address: string; port: number };
}

/** Run the UDP sender in `ns` to completion and return its summary. */
export async function sendUdp(ns: Netns, host: string, port: number, o: UdpSendOptions = {}): Promise<UdpSendSummary> {
  const args = ['send', 'udp', host, String(port), '--count', String(o.count ?? 1)];
  if (o.size !== undefined) args.push('--size', String(o.size));
  if (o.payloadPrefix !== undefined) args.push('--payload-prefix', o.payloadPrefix);
  if (o.rate !== undefined) args.push('--rate', String(o.rate));
  if (o.family) args.push('--family', String(o.family));
  if (o.bind) args.push('--bind', o.bind);
  if (o.sport !== undefined) args.push('--sport', String(o.sport));
  if (o.uid !== undefined) args.push('--uid', String(o.uid));
  if (o.gid !== undefined) args.push('--gid', String(o.gid));
  if (o.echoWaitMs !== undefined) args.push('--echo-wait', String(o.echoWaitMs));
  const child = ns.spawnNode(TRAFFIC_SCRIPT, args);
  const summary = await child.waitForJson<UdpSendSummary & { done: boolean; error?: string }>((j) => 'done' in j, o.timeoutMs ?? 30_000);
  await child.waitForExit(5_000);
  if (!summary.done) throw new Error(`UDP sender failed: ${JSON.stringify(summary)}\n${child.transcript()}`);
  return summary;
}

export interface TcpSendSummary {
  done: boolean;
  sent: number;
  ms?: number;
  error?: string;
}

/** Start a TCP sink in `ns` and resolve once it listens. */
export async function startTcpSink(ns: Netns, port: number, o: { family?: Family; host?: string; conns?: number; timeoutMs?: number } = {}): Promise<Child> {
  const args = ['sink', 'tcp', String(port)];
  if (o.family) args.push('--family', String(o.family));
  if (o.host) args.push('--host', o.host);
  if (o.conns !== undefined) args.push('--conns', String(o.conns));
  if (o.timeoutMs !== undefined) args.push('--timeout', String(o.timeoutMs));
  const child = ns.spawnNode(TRAFFIC_SCRIPT, args);
  await child.waitForJson<{ ready?: boolean }>((j) => j.ready === true, 10_000);
  return child;
}

/** Connect, send `bytes` of pattern, close; resolves with the summary (done:false on error). */
export async function sendTcp(ns: Netns, host: string, port: number, o: { bytes?: number; chunk?: number; family?: Family; timeoutMs?: number; uid?: number; gid?: number } = {}): Promise<TcpSendSummary> {
  const args = ['send', 'tcp', host, String(port), '--bytes', String(o.bytes ?? 0)];
  if (o.chunk !== undefined) args.push('--chunk', String(o.chunk));
  if (o.family) args.push('--family', String(o.family));
  if (o.uid !== undefined) args.push('--uid', String(o.uid));
  if (o.gid !== undefined) args.push('--gid', String(o.gid));
  const timeout = o.timeoutMs ?? 20_000;
  args.push('--timeout', String(timeout));
  const child = ns.spawnNode(TRAFFIC_SCRIPT, args);
  const summary = await child.waitForJson<TcpSendSummary>((j) => 'done' in j, timeout + 5_000);
  await child.waitForExit(5_000);
  return summary;
}
