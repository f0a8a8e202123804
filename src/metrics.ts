/**
 * formatMetrics(): a Queue's or a pool's stats in the Prometheus text exposition format
 * (version 0.0.4), or in OpenMetrics 1.0, for a /metrics endpoint. Names follow Prometheus
 * conventions: the `nfqueue_` prefix, `_total` on counters, seconds for time; labels
 * `queue`, `verdict`, `worker`, `mode`.
 */
import type { QueueCounters, QueueStats } from './queue/queue-stats.js';
import type { PoolStats } from './pool/pool.js';

/** The Content-Type of formatMetrics()'s output. */
export const METRICS_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8';
/** The Content-Type of formatMetrics(stats, { openMetrics: true }). */
export const OPENMETRICS_CONTENT_TYPE = 'application/openmetrics-text; version=1.0.0; charset=utf-8';

/** Options of formatMetrics(). */
export interface MetricsOptions {
  /**
   * OpenMetrics 1.0 instead of the Prometheus text format: counter families are named
   * without `_total` in HELP/TYPE (the samples keep it), and the text ends with `# EOF`.
   */
  openMetrics?: boolean;
  /** Labels added to every sample, e.g. `{ instance_role: 'edge' }`. */
  labels?: Readonly<Record<string, string>>;
}

type Labels = Readonly<Record<string, string | number>>;

interface Family {
  name: string;
  type: 'counter' | 'gauge';
  help: string;
  samples: { labels: Labels; value: number }[];
}

const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function escapeLabelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"');
}

function formatValue(v: number): string {
  if (Number.isNaN(v)) return 'NaN';
  if (v === Infinity) return '+Inf';
  if (v === -Infinity) return '-Inf';
  return String(v);
}

/** Library counters: [metric suffix, type, help, value]. The verdicts are their own family. */
const COUNTERS: readonly [string, 'counter' | 'gauge', string, (c: QueueCounters) => number][] = [
  ['packets_received_total', 'counter', 'Packet messages received from the kernel.', (c) => c.received],
  ['callback_errors_total', 'counter', 'Packets that got the default verdict because their callback threw, rejected or answered garbage.', (c) => c.callbackErrors],
  ['verdict_timeouts_total', 'counter', 'Packets that got the default verdict because their callback took longer than verdictTimeout.', (c) => c.timedOut],
  ['packets_overflowed_total', 'counter', 'Packets that got the default verdict without a callback because maxInFlight callbacks were running.', (c) => c.overflowed],
  ['receive_overruns_total', 'counter', 'Receive-buffer overruns: times the kernel could not deliver packets to the socket.', (c) => c.overruns],
  ['verdict_errors_total', 'counter', 'Verdicts the kernel refused.', (c) => c.verdictErrors],
  ['decode_errors_total', 'counter', 'Malformed datagrams or messages skipped.', (c) => c.decodeErrors],
  ['socket_errors_total', 'counter', 'Socket errors other than overruns.', (c) => c.socketErrors],
  ['packets_pending', 'gauge', 'Packets whose callback has not answered yet.', (c) => c.pending],
];

function isPoolStats(s: QueueStats | PoolStats): s is PoolStats {
  return Array.isArray((s as PoolStats).workers) && Array.isArray((s as PoolStats).queues);
}

/**
 * Formats a Queue's `stats()` or a pool's `await stats()` as Prometheus text. For a pool,
 * the library's counters are per queue (labels `queue`, `worker`) plus per-worker state,
 * restarts and CPU; for a single Queue they describe the whole Queue (no `queue` label).
 * The kernel's counters (waiting, queue_dropped, user_dropped, last id) are per queue.
 */
export function formatMetrics(stats: QueueStats | PoolStats, options: MetricsOptions = {}): string {
  if (stats === null || typeof stats !== 'object' || typeof stats.received !== 'number' || !Array.isArray(stats.kernel)) {
    throw new TypeError('formatMetrics(stats) takes the result of queue.stats() or await pool.stats()');
  }
  const extra = options.labels ?? {};
  for (const k of Object.keys(extra)) {
    if (!LABEL_NAME.test(k) || k.startsWith('__')) throw new RangeError(`metric label name ${JSON.stringify(k)} is not valid in Prometheus ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)`);
    if (['queue', 'verdict', 'worker', 'mode'].includes(k)) throw new RangeError(`metric label ${k} is set by formatMetrics itself`);
  }
  // Per-queue library series for a pool; one unlabelled series for a single Queue.
  const series: { labels: Labels; c: QueueCounters }[] = isPoolStats(stats) ? stats.queues.map((q) => ({ labels: { queue: q.queue, worker: q.worker }, c: q })) : [{ labels: {}, c: stats }];
  const families: Family[] = [];
  const family = (name: string, type: Family['type'], help: string): Family => {
    const f: Family = { name: `nfqueue_${name}`, type, help, samples: [] };
    families.push(f);
    return f;
  };

  const received = family(COUNTERS[0]![0], COUNTERS[0]![1], COUNTERS[0]![2]);
  for (const s of series) received.samples.push({ labels: s.labels, value: s.c.received });
  const verdicts = family('verdicts_total', 'counter', 'Verdicts sent, by kind (accept, drop, repeat, stop, queue).');
  for (const s of series) {
    for (const [verdict, n] of Object.entries(s.c.verdicts)) verdicts.samples.push({ labels: { ...s.labels, verdict }, value: n });
  }
  for (const [name, type, help, get] of COUNTERS.slice(1)) {
    const f = family(name, type, help);
    for (const s of series) f.samples.push({ labels: s.labels, value: get(s.c) });
  }

  const kernel: [string, Family['type'], string, (r: QueueStats['kernel'][number]) => number][] = [
    ['kernel_packets_waiting', 'gauge', 'Packets waiting in the kernel for a verdict (/proc/net/netfilter/nfnetlink_queue).', (r) => r.waiting],
    ['kernel_queue_dropped_total', 'counter', 'Packets the kernel dropped because the queue was full (queue_dropped).', (r) => r.queueDropped],
    ['kernel_user_dropped_total', 'counter', 'Packets the kernel could not deliver to the socket, receive buffer full (user_dropped).', (r) => r.userDropped],
    ['kernel_last_packet_id', 'gauge', 'Id of the last packet queued: the number of packets queued since the queue was bound, modulo 2^32.', (r) => r.lastId],
  ];
  for (const [name, type, help, get] of kernel) {
    const f = family(name, type, help);
    for (const r of stats.kernel) f.samples.push({ labels: { queue: r.queue }, value: get(r) });
  }

  if (isPoolStats(stats)) {
    const up = family('pool_worker_up', 'gauge', 'Whether the pool worker is running (1) or not (0: restarting, given up or closed).');
    const restarts = family('pool_worker_restarts_total', 'counter', 'Times the pool worker was started again after dying.');
    const cpu = family('pool_worker_cpu_seconds_total', 'counter', 'CPU time of the pool worker thread, by mode (user, system).');
    const queues = family('pool_worker_queues', 'gauge', 'Queues the pool worker serves.');
    for (const w of stats.workers) {
      const l = { worker: w.worker };
      up.samples.push({ labels: l, value: w.state === 'running' ? 1 : 0 });
      restarts.samples.push({ labels: l, value: w.restarts });
      queues.samples.push({ labels: l, value: w.queues.length });
      if (w.cpu !== undefined) {
        cpu.samples.push({ labels: { ...l, mode: 'user' }, value: w.cpu.user });
        cpu.samples.push({ labels: { ...l, mode: 'system' }, value: w.cpu.system });
      }
    }
  }

  const om = options.openMetrics === true;
  let out = '';
  for (const f of families) {
    if (f.samples.length === 0) continue;
    // OpenMetrics names a counter family without the _total its samples carry.
    const familyName = om && f.type === 'counter' ? f.name.replace(/_total$/, '') : f.name;
    const help = f.help.replace(/\\/g, '\\\\').replace(/\n/g, '\\n');
    out += `# HELP ${familyName} ${om ? help.replace(/"/g, '\\"') : help}\n# TYPE ${familyName} ${f.type}\n`;
    for (const s of f.samples) {
      const all = { ...extra, ...s.labels };
      const keys = Object.keys(all);
      const labels = keys.length === 0 ? '' : `{${keys.map((k) => `${k}="${escapeLabelValue(String(all[k]))}"`).join(',')}}`;
      out += `${f.name}${labels} ${formatValue(s.value)}\n`;
    }
  }
  return om ? `${out}# EOF\n` : out;
}
