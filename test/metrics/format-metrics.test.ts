// formatMetrics (src/metrics.ts) read back by an independent parser, the Python
// prometheus_client's (Debian's python3-prometheus-client): every counter carries its own
// value (each input field a distinct prime), no series appears twice, every series has the
// labels it should, and label values with newlines, backslashes and quotes come back intact.
import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { formatMetrics, type PoolStats, type QueueCounters, type QueueStats } from '../../src/index.js';

interface Sample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

/** The samples of `text` as prometheus_client parses them (Prometheus text or OpenMetrics). */
function parse(text: string, openMetrics = false): Sample[] {
  const parser = openMetrics ? 'prometheus_client.openmetrics.parser' : 'prometheus_client.parser';
  const script = [
    'import sys, json',
    `from ${parser} import text_string_to_metric_families as parse`,
    'print(json.dumps([{"name": s.name, "labels": s.labels, "value": s.value} for f in parse(sys.stdin.read()) for s in f.samples]))',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`prometheus_client could not parse the text (apt-get install python3-prometheus-client): ${r.stderr}`);
  return JSON.parse(r.stdout) as Sample[];
}

const key = (s: Sample): string => `${s.name}{${Object.entries(s.labels).sort().map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}}`;

/** Counters whose every field is a different prime, offset by `base` primes. */
const PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107, 109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167, 173, 179, 181, 191, 193, 197, 199];
function counters(base: number): QueueCounters {
  const p = (i: number): number => PRIMES[base + i]!;
  return {
    received: p(0),
    verdicts: { accept: p(1), drop: p(2), repeat: p(3), stop: p(4), queue: p(5) },
    callbackErrors: p(6),
    verdictErrors: p(7),
    decodeErrors: p(8),
    overruns: p(9),
    socketErrors: p(10),
    pending: p(11),
    timedOut: p(12),
    overflowed: p(13),
    userDropped: p(14),
  };
}
/** Which field each library metric must show. */
const LIBRARY: [string, (c: QueueCounters) => number][] = [
  ['nfqueue_packets_received_total', (c) => c.received],
  ['nfqueue_callback_errors_total', (c) => c.callbackErrors],
  ['nfqueue_verdict_timeouts_total', (c) => c.timedOut],
  ['nfqueue_packets_overflowed_total', (c) => c.overflowed],
  ['nfqueue_receive_overruns_total', (c) => c.overruns],
  ['nfqueue_verdict_errors_total', (c) => c.verdictErrors],
  ['nfqueue_decode_errors_total', (c) => c.decodeErrors],
  ['nfqueue_socket_errors_total', (c) => c.socketErrors],
  ['nfqueue_packets_pending', (c) => c.pending],
];
const row = (queue: number, k: number) => ({ queue, portId: 1000 + queue, waiting: 1000 + k, copyMode: 2, copyRange: 65531, queueDropped: 2000 + k, userDropped: 3000 + k, lastId: 4000 + k });

function expectUnique(samples: Sample[]): Map<string, number> {
  const seen = new Map<string, number>();
  for (const s of samples) {
    expect(seen.has(key(s)), `series ${key(s)} appears twice`).toBe(false);
    seen.set(key(s), s.value);
  }
  return seen;
}

describe('formatMetrics read back by prometheus_client', () => {
  it("a Queue: each metric shows its own counter, each kernel metric its own /proc column, no series twice", () => {
    const c = counters(0);
    const stats: QueueStats = { ...c, kernel: [row(3, 1), row(4, 2)] };
    for (const om of [false, true]) {
      const series = expectUnique(parse(formatMetrics(stats, { openMetrics: om }), om));
      for (const [name, get] of LIBRARY) expect(series.get(`${name}{}`), name).toBe(get(c));
      for (const [verdict, n] of Object.entries(c.verdicts)) expect(series.get(`nfqueue_verdicts_total{verdict="${verdict}"}`)).toBe(n);
      for (const [queue, k] of [[3, 1], [4, 2]] as const) {
        expect(series.get(`nfqueue_kernel_packets_waiting{queue="${queue}"}`)).toBe(1000 + k);
        expect(series.get(`nfqueue_kernel_queue_dropped_total{queue="${queue}"}`)).toBe(2000 + k);
        expect(series.get(`nfqueue_kernel_user_dropped_total{queue="${queue}"}`)).toBe(3000 + k);
        expect(series.get(`nfqueue_kernel_last_packet_id{queue="${queue}"}`)).toBe(4000 + k);
      }
      expect(series.size).toBe(LIBRARY.length + 5 + 4 * 2);
    }
  });

  it('a pool: per-queue series carry queue and worker, per-worker series carry worker, none twice', () => {
    const q = [
      { ...counters(0), kernel: [], queue: 0, worker: 0 },
      { ...counters(15), kernel: [], queue: 1, worker: 1 },
      { ...counters(30), kernel: [], queue: 2, worker: 0 },
    ];
    const worker = (w: number, restarts: number, cpu: { user: number; system: number }) => ({
      ...counters(0),
      worker: w,
      queues: q.filter((x) => x.worker === w).map((x) => x.queue),
      state: 'running' as const,
      restarts,
      threadId: 10 + w,
      cpu,
      answered: true,
    });
    const stats: PoolStats = {
      ...counters(0),
      kernel: [row(0, 1), row(1, 2), row(2, 3)],
      queues: q,
      workers: [worker(0, 5, { user: 1.25, system: 0.5 }), { ...worker(1, 7, { user: 2.5, system: 0.75 }), state: 'restarting' }],
    };
    const samples = parse(formatMetrics(stats));
    const series = expectUnique(samples);
    for (const x of q) {
      for (const [name, get] of LIBRARY) expect(series.get(`${name}{queue="${x.queue}",worker="${x.worker}"}`), `${name} queue ${x.queue}`).toBe(get(x));
      expect(series.get(`nfqueue_verdicts_total{queue="${x.queue}",verdict="drop",worker="${x.worker}"}`)).toBe(x.verdicts.drop);
    }
    expect(series.get('nfqueue_pool_worker_up{worker="0"}')).toBe(1);
    expect(series.get('nfqueue_pool_worker_up{worker="1"}')).toBe(0);
    expect(series.get('nfqueue_pool_worker_restarts_total{worker="0"}')).toBe(5);
    expect(series.get('nfqueue_pool_worker_restarts_total{worker="1"}')).toBe(7);
    expect(series.get('nfqueue_pool_worker_queues{worker="0"}')).toBe(2);
    expect(series.get('nfqueue_pool_worker_queues{worker="1"}')).toBe(1);
    expect(series.get('nfqueue_pool_worker_cpu_seconds_total{mode="user",worker="1"}')).toBe(2.5);
    expect(series.get('nfqueue_pool_worker_cpu_seconds_total{mode="system",worker="0"}')).toBe(0.5);
    // Every sample but the kernel's per-queue rows names its worker.
    for (const s of samples) if (!s.name.startsWith('nfqueue_kernel_')) expect(s.labels.worker, key(s)).toBeDefined();
  });

  it('label values with newlines, backslashes and quotes come back intact', () => {
    const value = 'edge "west"\\rack 7\nsecond line \\n not a newline';
    const stats: QueueStats = { ...counters(0), kernel: [row(0, 1)] };
    for (const om of [false, true]) {
      const text = formatMetrics(stats, { openMetrics: om, labels: { site: value } });
      expect(text.split('\n').filter((l) => l.startsWith('nfqueue_')).length).toBe(LIBRARY.length + 5 + 4);
      const samples = parse(text, om);
      expect(samples.length).toBe(LIBRARY.length + 5 + 4);
      for (const s of samples) expect(s.labels.site).toBe(value);
    }
  });
});
