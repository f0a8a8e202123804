/**
 * nfq-dump on a live queue: binds the queues, prints every packet, gives it the verdict,
 * and on exit (count reached, a signal, a broken pipe) unbinds and summarises.
 */
import { diagnoseQueues, type DiagnoseOptions } from '../diagnosis/index.js';
import { formatMetrics, openQueue, type Packet, type Queue, type QueueOptions, type QueueStats, type KernelQueueStats, type Verdict } from '../index.js';
import { interfaceName } from '../packet/index.js';
import type { CliOptions } from './args.js';
import { explainFileError, explainOpenError } from './errors.js';
import { recordFromPacket, type ShownVerdict } from './format.js';
import { idleHint } from './idle-hint.js';
import { serveMetrics } from './metrics-server.js';
import { PROG, plural, queueList } from './output.js';
import { Sink, now } from './sink.js';

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

/** Runs nfq-dump on a live queue; resolves to the exit code. */
export async function runLive(o: CliOptions): Promise<number> {
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
  if (o.rule !== undefined) options.rule = o.rule;

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
  const managed = queue.stats().rule;
  if (managed !== undefined && o.filterText !== undefined) {
    const how = managed.backend === 'queue' ? 'nft queue expression' : 'NFQUEUE target through nft_compat, as this kernel has no nft queue expression';
    process.stderr.write(`${PROG}: rule '${o.filterText}' at ${o.hooks.join(', ')} installed in table ${managed.tables.join(', ')} (${how}; bypass); it goes when nfq-dump exits\n`);
  }

  const showIdleHint = async (q: Queue, ms: number): Promise<void> => {
    if (stopping || quiet.size === 0) return;
    const diagnose: DiagnoseOptions = {};
    if (o.netnsPath !== undefined) diagnose.netns = o.netnsPath;
    const diagnosis = await diagnoseQueues([...quiet], diagnose);
    if (stopping || quiet.size === 0) return;
    const input: Parameters<typeof idleHint>[0] = { queues: [...quiet], idleMs: ms, portId: q.portId, diagnosis };
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
