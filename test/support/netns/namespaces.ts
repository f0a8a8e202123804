// Throwaway network namespaces for kernel tests.
//
// nfnetlink_queue instances are per namespace, so kernel tests create a namespace, install
// rules in it with `ip netns exec NS iptables-legacy ...`, and start the packet-touching
// processes INSIDE it with `ip netns exec NS ...` (the `netns` option's tests instead open
// the queue from the root namespace). Children talk back through stdout JSON lines.
//
// Needs root (CAP_SYS_ADMIN + CAP_NET_ADMIN), iproute2 and iptables-legacy. Traffic only ever
// goes to 127.0.0.1 / ::1 or to addresses on veth pairs between namespaces made here.

import { spawn as spawnChild } from 'node:child_process';
import { existsSync } from 'node:fs';
import { Child, CommandError, TIME_SCALE, execCommand, haveSetpriv, runCommand, type ExecOptions, type ExecResult } from './exec.js';
import { parseIptablesList, type IptablesChain, type IptablesRule } from './iptables.js';
import { parseQueueProc, type QueueProcRow } from './proc.js';

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
    // Where nfnetlink_queue is a module (Debian's kernels in the kernel matrix), the file
    // appears only once the first bind loaded it: until then no queue is bound.
    const r = this.run(['cat', '/proc/net/netfilter/nfnetlink_queue']);
    if (r.status !== 0 && /No such file/.test(r.stderr)) return [];
    if (r.status !== 0) throw new Error(`cat /proc/net/netfilter/nfnetlink_queue in ${this.name} failed: ${r.stderr}`);
    return parseQueueProc(r.stdout);
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
