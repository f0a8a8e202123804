// Running commands and child processes for the kernel tests: environment probes, a sync
// command runner, and Child (a spawned process whose stdout is read line by line).
import { spawnSync, type ChildProcess } from 'node:child_process';

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
export function haveSetpriv(): boolean {
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
      this.wake();
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

  /** Resolves once `pred` holds for the JSON lines received so far (e.g. a count); rejects on exit or timeout. */
  untilJson<T = Record<string, unknown>>(pred: (objs: T[]) => boolean, timeoutMs = 15_000): Promise<void> {
    return this.until(() => pred(this.json<T>()), 'the awaited lines', timeoutMs);
  }

  /** Resolves once stderr matches `re` (e.g. tshark's "Capturing on"); rejects on exit or timeout. */
  waitForStderr(re: RegExp, timeoutMs = 15_000): Promise<void> {
    return this.until(() => re.test(this.err), `stderr matching ${re}`, timeoutMs);
  }

  private until(cond: () => boolean, what: string, timeoutMs: number): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const check = (): void => {
        if (cond()) {
          done();
          resolve();
        } else if (this.exitInfo) {
          done();
          reject(new Error(`${this.describe()} exited (${fmtExit(this.exitInfo)}) before ${what}\n${this.transcript()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs * TIME_SCALE} ms waiting for ${what} from ${this.describe()}\n${this.transcript()}`));
      }, timeoutMs * TIME_SCALE);
      const done = (): void => {
        this.waiters.delete(check);
        clearTimeout(timer);
      };
      this.waiters.add(check);
      check();
    });
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
