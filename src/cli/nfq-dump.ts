#!/usr/bin/env node
/**
 * nfq-dump: tcpdump for NFQUEUE. Binds one or more queues, prints every queued packet (text,
 * JSON lines, hex), optionally writes a pcap and records the netlink conversation, gives
 * each packet a verdict, and on exit unbinds and summarises. `-r FILE` decodes a recorded
 * conversation instead. Uses only the public API (../index.js) and ../pcap.
 */
import { readFileSync } from 'node:fs';
import { formatMetrics, interfaceName, openQueue, type Packet, type Queue, type QueueOptions, type QueueStats, type KernelQueueStats, type Verdict } from '../index.js';
import { PcapFileWriter, LINKTYPE_RAW, PcapFormatError } from '../pcap/index.js';
import { parseCli, HELP, UsageError, type CliOptions } from './args.js';
import { explainFileError, explainOpenError } from './errors.js';
import { formatJson, formatLine, hexDump, recordFromPacket, type DumpRecord, type FormatOptions, type NameOf, type ShownVerdict } from './format.js';
import { LineOutput, StatusLine } from './output.js';
import { serveMetrics } from './metrics-server.js';
import { replayCapture, UnsupportedCaptureError } from './replay.js';
import { idleHint, listNfqueueRules } from './idle-hint.js';

const PROG = 'nfq-dump';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
    return `${pkg.name ?? 'netfilter-queue'} ${pkg.version ?? '?'}`;
  } catch {
    return 'unknown';
  }
}

/** Current wall time with microseconds. */
function now(): { sec: number; usec: number } {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  return { sec, usec: Math.min(999999, Math.floor((ms - sec * 1000) * 1000)) };
}

/** Where the packet lines go, and the pcap writer: shared by the live and replay paths. */
class Sink {
  readonly out: LineOutput;
  readonly status: StatusLine;
  private pcap: PcapFileWriter | undefined;
  private pcapFailed: string | undefined;
  /** The reader of `-w -` went away. */
  readerGone = false;
  private readonly fmt: FormatOptions & { hex?: boolean };
  /** True when the pcap goes to stdout: no text lines then. */
  private readonly quiet: boolean;
  private lastWarning = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly o: CliOptions,
    nameOf: NameOf,
    statusEnabled: boolean,
  ) {
    this.status = new StatusLine(process.stderr, statusEnabled);
    const sameTerminal = process.stdout.isTTY === true && process.stderr.isTTY === true;
    this.out = new LineOutput(
      process.stdout,
      () => {
        if (sameTerminal) this.status.clear();
      },
      () => {
        if (sameTerminal) this.status.redraw();
      },
    );
    this.fmt = { nameOf, verbose: o.verbose, hex: o.hex };
    this.quiet = o.write === '-';
  }

  /** Opens the -w file; throws with a message on failure. */
  openPcap(): void {
    if (this.o.write === undefined) return;
    const path = this.o.write === '-' ? '/dev/stdout' : this.o.write;
    try {
      this.pcap = new PcapFileWriter(path, LINKTYPE_RAW, { snaplen: 65535 });
    } catch (e) {
      throw new Error(explainFileError(e, this.o.write, 'write'));
    }
  }

  /** A pcap write error, once: the caller stops. */
  get pcapError(): string | undefined {
    return this.pcapFailed;
  }

  emit(r: DumpRecord): void {
    if (this.pcap !== undefined && this.pcapFailed === undefined) {
      try {
        const data = r.payload ?? new Uint8Array(0);
        const nsec = r.time.usec * 1000;
        this.pcap.write(data, { sec: r.time.sec, nsec }, Math.max(r.wireLength ?? data.byteLength, data.byteLength));
      } catch (e) {
        // `-w - | tshark ...` whose reader went away: stop quietly, like tcpdump.
        if ((e as NodeJS.ErrnoException).code === 'EPIPE' && this.o.write === '-') this.readerGone = true;
        this.pcapFailed = explainFileError(e, this.o.write ?? '', 'write');
      }
    }
    if (this.quiet) return;
    let text = this.o.json ? formatJson(r, this.fmt) : formatLine(r, this.fmt);
    text += '\n';
    if (this.o.hex && !this.o.json && r.payload !== undefined) text += hexDump(r.payload);
    this.out.write(text);
  }

  /** A message on stderr, around the status line. Same-kind warnings at most once a second. */
  warn(message: string, kind?: string): void {
    if (kind !== undefined) {
      const t = Date.now();
      const w = this.lastWarning.get(kind);
      if (w !== undefined && t - w.at < 1000) {
        w.suppressed++;
        return;
      }
      if (w !== undefined && w.suppressed > 0) message += ` (and ${w.suppressed} more like it)`;
      this.lastWarning.set(kind, { at: t, suppressed: 0 });
    }
    this.out.flush();
    this.status.clear();
    process.stderr.write(`${PROG}: ${message}\n`);
    this.status.redraw();
  }

  close(): void {
    this.out.flush();
    this.status.stop();
    this.pcap?.close();
  }
}

// ------------------------------------------------------------------ live

function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

function queueList(qs: readonly number[]): string {
  return qs.length === 1 ? `queue ${qs[0]}` : `queues ${qs.join(', ')}`;
}

function verdictSummary(v: QueueStats['verdicts'], mark: number | undefined): string {
  const parts: string[] = [];
  for (const [k, n] of Object.entries(v)) {
    if (n > 0) parts.push(`${n} ${k}${k === 'accept' && mark !== undefined ? ` (mark 0x${mark.toString(16)})` : ''}`);
  }
  const total = Object.values(v).reduce((a, b) => a + b, 0);
  return `${plural(total, 'verdict')}${parts.length > 0 ? `: ${parts.join(', ')}` : ''}`;
}

function kernelSummary(rows: KernelQueueStats[] | undefined, queues: readonly number[]): string {
  if (rows === undefined || rows.length === 0) return 'kernel counters unavailable (/proc/net/netfilter/nfnetlink_queue unreadable)';
  const dropped = rows.reduce((a, r) => a + r.queueDropped + r.userDropped, 0);
  const per = queues.map((q) => {
    const r = rows.find((x) => x.queue === q);
    if (r === undefined) return `queue ${q}: not listed`;
    return `queue ${q}: ${r.queueDropped} queue full, ${r.userDropped} socket buffer full`;
  });
  return `${plural(dropped, 'packet')} dropped by kernel (${per.join('; ')})`;
}

async function runLive(o: CliOptions): Promise<number> {
  const statusEnabled = o.status && process.stderr.isTTY === true;
  const sink = new Sink(o, interfaceName, statusEnabled);
  try {
    sink.openPcap();
  } catch (e) {
    process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
    return 1;
  }
  const verdict: Verdict = o.verdict === 'drop' ? { verdict: 'drop' } : o.mark !== undefined ? { verdict: 'accept', mark: o.mark } : { verdict: 'accept' };
  const shown: ShownVerdict = o.mark !== undefined ? { verdict: o.verdict, mark: o.mark } : { verdict: o.verdict };
  let seen = 0;
  let passed = 0;
  let stopping = false;
  /** Set once the queue is closing: verdicts refused with ENOENT then are expected. */
  let closing = false;
  let exitCode = 0;
  let queue: Queue | undefined;
  let shutdownPromise: Promise<void> | undefined;
  /** Queues nothing arrived on yet (for the idle hint). */
  const quiet = new Set(o.queues);
  let idleTimer: NodeJS.Timeout | undefined;
  let metricsServer: { close(): unknown } | undefined;

  const shutdown = (code: number): Promise<void> => {
    exitCode = Math.max(exitCode, code);
    stopping = true;
    shutdownPromise ??= (async () => {
      clearInterval(statusTimer);
      clearTimeout(idleTimer);
      metricsServer?.close();
      const q = queue;
      let kernel: KernelQueueStats[] | undefined;
      let stats: QueueStats | undefined;
      if (q !== undefined) {
        // Let the verdicts of the packet being handled leave first (they go out when its
        // datagram is done), then read the kernel's counters before unbinding removes the
        // queue's row.
        await new Promise((r) => setImmediate(r));
        kernel = q.stats().kernel;
        // Packets still waiting in the kernel (a burst in flight) are not lost to the unbind:
        // close() reads them first and gives them the default verdict, which is ours.
        closing = true;
        await q.close();
        stats = q.stats();
      }
      sink.close();
      if (stats !== undefined) {
        const lines = [
          `${plural(seen, 'packet')} seen on ${queueList(o.queues)}${passed > 0 ? ` (+${passed} of other families accepted unseen)` : ''}`,
          verdictSummary(stats.verdicts, o.mark),
          kernelSummary(kernel, o.queues),
        ];
        const extra: string[] = [];
        if (stats.overruns > 0) extra.push(`${plural(stats.overruns, 'receive buffer overrun')} (ENOBUFS): raise --buffer-size`);
        if (stats.verdictErrors > 0) extra.push(`${plural(stats.verdictErrors, 'verdict')} refused by the kernel`);
        if (stats.decodeErrors > 0) extra.push(`${plural(stats.decodeErrors, 'message')} could not be decoded`);
        if (stats.socketErrors > 0) extra.push(`${plural(stats.socketErrors, 'socket error')}`);
        process.stderr.write(lines.concat(extra).join('\n') + '\n');
      }
    })();
    return shutdownPromise;
  };

  const onPacket = (p: Packet): Verdict | 'accept' => {
    quiet.delete(p.queue);
    if (stopping) return verdict;
    if (o.family !== undefined && p.family !== o.family) {
      passed++;
      return 'accept';
    }
    seen++;
    const r = recordFromPacket(p, now());
    r.verdict = shown;
    sink.emit(r);
    if (sink.pcapError !== undefined) {
      if (sink.readerGone) void shutdown(0);
      else {
        sink.warn(sink.pcapError);
        void shutdown(1);
      }
    } else if (o.count !== undefined && seen >= o.count) void shutdown(0);
    return verdict;
  };

  const options: QueueOptions = {
    copyMode: o.meta ? 'meta' : 'packet',
    defaultVerdict: verdict,
    onError: (err) => {
      const code = (err as { code?: string }).code;
      // A verdict racing the unbind at exit finds its packet gone: nothing to report.
      if (closing && code === 'ENOENT') return;
      if (code === 'ENOBUFS') {
        sink.warn(
          'warning: the kernel dropped packets it could not deliver to nfq-dump (socket receive buffer full, ENOBUFS): raise --buffer-size (e.g. -B 16M), or print less (--json or -w to a file instead of a terminal)',
          'ENOBUFS',
        );
      } else sink.warn(`warning: ${err.message}`, err.name);
    },
  };
  if (o.copyRange !== undefined) options.copyRange = o.copyRange;
  if (o.maxLen !== undefined) options.maxLen = o.maxLen;
  if (o.bufferSize !== undefined) options.receiveBufferSize = o.bufferSize;
  if (o.failOpen || o.gso || o.uidGid) {
    options.flags = {};
    if (o.failOpen) options.flags.failOpen = true;
    if (o.gso) options.flags.gso = true;
    if (o.uidGid) options.flags.uidGid = true;
  }
  if (o.record !== undefined) options.record = o.record;
  if (o.netnsPath !== undefined) options.netns = o.netnsPath;

  // Signals before the queue exists: nothing to unbind yet, just leave.
  let signalled = 0;
  const onSignal = (sig: NodeJS.Signals): void => {
    signalled++;
    if (signalled > 1 || queue === undefined) {
      sink.close();
      if (queue !== undefined) process.stderr.write(`${PROG}: ${sig} again: exiting without unbinding (packets still queued are dropped)\n`);
      process.exit(130);
    }
    void shutdown(0);
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  process.on('SIGHUP', onSignal);
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    sink.out.markBroken();
    // The reader went away (nfq-dump | head): stop quietly.
    if (e.code !== 'EPIPE') sink.warn(`cannot write to stdout: ${e.message}`);
    void shutdown(e.code === 'EPIPE' ? 0 : 1);
  });

  let statusTimer: NodeJS.Timeout | undefined;
  try {
    queue = await openQueue(o.queues, onPacket, options);
  } catch (e) {
    sink.close();
    const recordFailed = o.record !== undefined && (e as NodeJS.ErrnoException).path === o.record;
    process.stderr.write(`${PROG}: ${recordFailed ? explainFileError(e, o.record!, 'write') : explainOpenError(e, o.netns !== undefined)}\n`);
    return 1;
  }
  if (o.metrics !== undefined) {
    const q = queue;
    try {
      const { server, url } = await serveMetrics(o.metrics, (openMetrics) => formatMetrics(q.stats(), { openMetrics }));
      metricsServer = server;
      process.stderr.write(`${PROG}: metrics at ${url}\n`);
    } catch (e) {
      sink.warn(`cannot serve metrics on ${o.metrics.host}:${o.metrics.port}: ${(e as Error).message}`);
      await shutdown(1);
      return exitCode;
    }
  }
  if (signalled > 0) void shutdown(0);

  queue.once('close', () => {
    if (!stopping) sink.warn('the netlink socket closed unexpectedly');
  });

  const mode = o.meta ? 'metadata only' : `copy ${o.copyRange ?? 65535} bytes`;
  const v = o.mark !== undefined ? `${o.verdict} with mark 0x${o.mark.toString(16)}` : o.verdict;
  const extras = [o.write !== undefined ? `writing ${o.write}` : '', o.record !== undefined ? `recording ${o.record}` : ''].filter((x) => x !== '');
  const inNetns = o.netns !== undefined ? ` in network namespace ${o.netns}` : '';
  process.stderr.write(`${PROG}: listening on ${queueList(o.queues)}${inNetns} (${mode}), verdict ${v}${extras.length > 0 ? `, ${extras.join(', ')}` : ''}; Ctrl-C to stop\n`);

  const showIdleHint = async (q: Queue, ms: number): Promise<void> => {
    if (stopping || quiet.size === 0) return;
    const rules = await listNfqueueRules(o.netnsPath);
    if (stopping || quiet.size === 0) return;
    // Our own row is there whenever /proc is readable: none at all means unreadable.
    const kernel = q.stats().kernel;
    const input: Parameters<typeof idleHint>[0] = { queues: [...quiet], idleMs: ms, portId: q.portId, rows: kernel.length > 0 ? kernel : undefined, rules };
    if (o.netns !== undefined) input.netns = o.netns;
    sink.warn(idleHint(input).join('\n'));
  };

  const idleMs = idleHintDelay();
  if (idleMs > 0) {
    const bound = queue;
    idleTimer = setTimeout(() => void showIdleHint(bound, idleMs), idleMs);
    idleTimer.unref();
  }

  if (statusEnabled) {
    let lastSeen = 0;
    let lastAt = performance.now();
    const tick = (): void => {
      if (stopping || queue === undefined) return;
      const s = queue.stats();
      const t = performance.now();
      const rate = ((seen - lastSeen) * 1000) / Math.max(1, t - lastAt);
      lastSeen = seen;
      lastAt = t;
      const waiting = s.kernel.reduce((a, r) => a + r.waiting, 0);
      const qd = s.kernel.reduce((a, r) => a + r.queueDropped, 0);
      const ud = s.kernel.reduce((a, r) => a + r.userDropped, 0);
      sink.status.draw(`${plural(seen, 'packet')}, ${rate < 10 ? rate.toFixed(1) : Math.round(rate)} pkts/s, ${waiting + s.pending} pending, drops: ${qd} queue full, ${ud} socket buffer${s.overruns > 0 ? `, ${s.overruns} overruns` : ''}`);
    };
    tick();
    statusTimer = setInterval(tick, 500);
  }

  // The queue closes when shutdown() closes it, or by itself when the socket fails.
  await new Promise<void>((resolve) => queue!.once('close', () => resolve()));
  if (shutdownPromise === undefined) await shutdown(1);
  else await shutdownPromise;
  return exitCode;
}

/**
 * How long a queue may stay quiet before nfq-dump explains where packets may be going
 * (ms): 5 s, or env NFQ_DUMP_IDLE_HINT_MS (0: never).
 */
function idleHintDelay(): number {
  const env = process.env.NFQ_DUMP_IDLE_HINT_MS;
  const n = env === undefined || env === '' ? 5000 : Number(env);
  return Number.isFinite(n) && n >= 0 ? n : 5000;
}

// ------------------------------------------------------------------ replay

function runReplay(o: CliOptions): number {
  const path = o.replay!;
  const filter: { queues?: Set<number>; family?: number } = {};
  if (o.queueGiven) filter.queues = new Set(o.queues);
  if (o.family !== undefined) filter.family = o.family;
  let result: ReturnType<typeof replayCapture>;
  try {
    result = replayCapture(path, filter);
  } catch (e) {
    let msg: string;
    if (e instanceof PcapFormatError) msg = `${path} is not a pcap or pcapng file nfq-dump can read: ${e.message}`;
    else if (e instanceof UnsupportedCaptureError) msg = e.message;
    else if ((e as NodeJS.ErrnoException).code !== undefined) msg = explainFileError(e, path, 'read');
    else msg = `${path}: ${(e as Error).message}`;
    process.stderr.write(`${PROG}: ${msg}\n`);
    return 1;
  }
  // Interface indexes in a recording belong to the recording machine's namespace; only lo
  // (always index 1 in every namespace) can be named with confidence.
  const nameOf: NameOf = (i) => (i === 1 ? 'lo' : undefined);
  const sink = new Sink(o, nameOf, false);
  try {
    sink.openPcap();
  } catch (e) {
    process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
    return 1;
  }
  let broken = false;
  process.stdout.on('error', () => {
    broken = true;
    sink.out.markBroken();
  });
  const { records, summary } = result;
  const shown = o.count !== undefined ? records.slice(0, o.count) : records;
  for (const r of shown) {
    sink.emit(r);
    if (sink.pcapError !== undefined) {
      sink.close();
      process.stderr.write(`${PROG}: ${sink.pcapError}\n`);
      return 1;
    }
  }
  sink.close();
  if (broken) return 0;
  const counts = new Map<string, number>();
  let none = 0;
  let isNetlink = false;
  for (const r of shown) {
    if (r.verdict === undefined) continue;
    isNetlink = true;
    if (r.verdict === null) none++;
    else {
      const k = r.verdict.verdict === 'queue' ? 'requeue' : r.verdict.verdict;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  const lines = [`${plural(shown.length, 'packet')} from ${path}${summary.filtered > 0 ? ` (${summary.filtered} filtered out)` : ''}`];
  if (isNetlink) {
    const parts = [...counts].map(([k, n]) => `${n} ${k}`);
    if (none > 0) parts.push(`${none} without a recorded verdict`);
    lines.push(`verdicts recorded: ${parts.length > 0 ? parts.join(', ') : 'none'}`);
  }
  if (summary.queues.size > 0) lines.push(`${queueList([...summary.queues].sort((a, b) => a - b))} in the recording`);
  if (summary.packets === 0 && summary.records > 0 && summary.notIp === 0) {
    lines.push(`no queued packets in ${plural(summary.records, 'record')}${summary.otherProtocol > 0 ? ` (${summary.otherProtocol} of other netlink protocols)` : ''}`);
  }
  // -v lists every refusal; otherwise the first ten.
  const shownRefusals = o.verbose ? summary.refused : summary.refused.slice(0, 10);
  for (const r of shownRefusals) lines.push(`kernel refused ${r}`);
  if (summary.refused.length > shownRefusals.length) lines.push(`… and ${summary.refused.length - shownRefusals.length} more refusals (-v lists them all)`);
  if (summary.malformed > 0) lines.push(`${plural(summary.malformed, 'record')} could not be decoded, first: ${summary.firstProblem ?? '?'}`);
  process.stderr.write(lines.join('\n') + '\n');
  return 0;
}

// ------------------------------------------------------------------ main

/**
 * Process warnings as nfq-dump messages. The library's notice that its faster native socket
 * is not built only matters with -v.
 */
function routeWarnings(verbose: boolean): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    if (w.code === 'NFQUEUE_NATIVE_UNAVAILABLE') {
      if (verbose) process.stderr.write(`${PROG}: note: ${w.message}\n`);
      return;
    }
    // The library's option names in nfq-dump's terms.
    const message =
      w.code === 'NFQUEUE_MAXLEN_BOUNDED' ? w.message.replace('flags.failOpen', '--fail-open').replace('Raise receiveBufferSize, lower copyRange', 'Raise --buffer-size, lower --copy-range') : w.message;
    process.stderr.write(`${PROG}: warning: ${message}\n`);
  });
}

async function main(argv: string[]): Promise<number> {
  let o: CliOptions;
  try {
    o = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${PROG}: ${e.message}\nTry '${PROG} --help' for the options.\n`);
      return 2;
    }
    throw e;
  }
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (o.version) {
    process.stdout.write(`${PROG} (${version()})\n`);
    return 0;
  }
  routeWarnings(o.verbose);
  if (o.replay !== undefined) return runReplay(o);
  return runLive(o);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; do not let a stray handle keep the process alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`${PROG}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
