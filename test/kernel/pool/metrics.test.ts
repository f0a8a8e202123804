// formatMetrics and nfq-dump --metrics. Every exposition is checked by an independent
// parser and linter, `promtool check metrics` (Debian's prometheus package): the test fails
// when promtool is missing, it never skips.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { formatMetrics, type PoolStats, type QueueCounters, type QueueStats } from '../../../dist/index.js';
import { parseCli, parseListenAddress } from '../../../dist/cli/args.js';
import { Ns, eventually } from '../../support/capabilities.js';
import { countDelivered, sendUdp } from '../../support/netns.js';
import { openMetricsCheck, promtoolCheck } from '../../support/promtool.js';

const NFQ_DUMP = fileURLToPath(new URL('../../../dist/cli/nfq-dump.js', import.meta.url));

function counters(over: Partial<QueueCounters> = {}): QueueCounters {
  return {
    received: 7,
    verdicts: { accept: 5, drop: 2, repeat: 0, stop: 0, queue: 0 },
    callbackErrors: 1,
    verdictErrors: 0,
    decodeErrors: 0,
    overruns: 3,
    socketErrors: 0,
    pending: 4,
    timedOut: 2,
    overflowed: 0,
    userDropped: 9,
    ...over,
  };
}
const row = (queue: number) => ({ queue, portId: 100 + queue, waiting: 6, copyMode: 2, copyRange: 65531, queueDropped: 8, userDropped: 9, lastId: 7 });

describe('formatMetrics', () => {
  it("a Queue's stats: valid for promtool; library counters unlabelled, kernel counters per queue", () => {
    const stats: QueueStats = { ...counters(), kernel: [row(0), row(1)] };
    const text = formatMetrics(stats);
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
    const lines = text.split('\n');
    expect(lines).toContain('nfqueue_packets_received_total 7');
    expect(lines).toContain('nfqueue_verdicts_total{verdict="accept"} 5');
    expect(lines).toContain('nfqueue_verdicts_total{verdict="drop"} 2');
    expect(lines).toContain('nfqueue_callback_errors_total 1');
    expect(lines).toContain('nfqueue_verdict_timeouts_total 2');
    expect(lines).toContain('nfqueue_receive_overruns_total 3');
    expect(lines).toContain('nfqueue_packets_pending 4');
    expect(lines).toContain('nfqueue_kernel_packets_waiting{queue="1"} 6');
    expect(lines).toContain('nfqueue_kernel_queue_dropped_total{queue="0"} 8');
    expect(lines).toContain('nfqueue_kernel_user_dropped_total{queue="1"} 9');
    expect(lines).toContain('# TYPE nfqueue_packets_pending gauge');
    expect(lines).toContain('# TYPE nfqueue_verdicts_total counter');
    expect(text.endsWith('\n')).toBe(true);
  });

  it("a pool's stats: per queue with its worker, per worker state, restarts and CPU seconds", () => {
    const q = (queue: number, worker: number) => ({ ...counters({ received: queue + 1 }), kernel: [row(queue)], queue, worker });
    const stats: PoolStats = {
      ...counters(),
      kernel: [row(0), row(1)],
      queues: [q(0, 0), q(1, 1)],
      workers: [
        { ...counters(), worker: 0, queues: [0], state: 'running', restarts: 0, threadId: 1, cpu: { user: 1.5, system: 0.25 }, answered: true },
        { ...counters(), worker: 1, queues: [1], state: 'restarting', restarts: 2, threadId: undefined, cpu: undefined, answered: false },
      ],
    };
    const text = formatMetrics(stats, { labels: { instance_role: 'edge "a"\\b' } });
    expect(promtoolCheck(text)).toEqual({ status: 0, output: '' });
    const lines = text.split('\n');
    expect(lines).toContain('nfqueue_packets_received_total{instance_role="edge \\"a\\"\\\\b",queue="1",worker="1"} 2');
    expect(lines).toContain('nfqueue_verdicts_total{instance_role="edge \\"a\\"\\\\b",queue="0",worker="0",verdict="drop"} 2');
    expect(lines).toContain('nfqueue_pool_worker_up{instance_role="edge \\"a\\"\\\\b",worker="1"} 0');
    expect(lines).toContain('nfqueue_pool_worker_restarts_total{instance_role="edge \\"a\\"\\\\b",worker="1"} 2');
    expect(lines).toContain('nfqueue_pool_worker_cpu_seconds_total{instance_role="edge \\"a\\"\\\\b",worker="0",mode="user"} 1.5');
    expect(text).not.toMatch(/worker="1",mode=/);
  });

  it('OpenMetrics 1.0 on request: a strict OpenMetrics parser accepts it', () => {
    const q = (queue: number, worker: number) => ({ ...counters(), kernel: [row(queue)], queue, worker });
    const stats: PoolStats = {
      ...counters(),
      kernel: [row(0), row(1)],
      queues: [q(0, 0), q(1, 1)],
      workers: [{ ...counters(), worker: 0, queues: [0, 1], state: 'running', restarts: 1, threadId: 1, cpu: { user: 1, system: 2 }, answered: true }],
    };
    const text = formatMetrics(stats, { openMetrics: true });
    expect(text.endsWith('\n# EOF\n')).toBe(true);
    expect(text).toContain('# TYPE nfqueue_verdicts counter\n');
    expect(text).toContain('nfqueue_verdicts_total{queue="1",worker="1",verdict="accept"} 5\n');
    const parsed = openMetricsCheck(text);
    expect(parsed.error).toBeUndefined();
    expect(parsed.families).toMatchObject({
      nfqueue_verdicts: { type: 'counter', samples: 10 },
      nfqueue_packets_pending: { type: 'gauge', samples: 2 },
      nfqueue_kernel_user_dropped: { type: 'counter', samples: 2 },
      nfqueue_pool_worker_cpu_seconds: { type: 'counter', samples: 2 },
    });
    // The parser is strict: the Prometheus variant (no # EOF) is refused.
    expect(openMetricsCheck(formatMetrics(stats)).ok).toBe(false);
  });

  it('refuses what is not stats, and label names Prometheus does not allow', () => {
    expect(() => formatMetrics({} as QueueStats)).toThrow(TypeError);
    const stats: QueueStats = { ...counters(), kernel: [] };
    expect(() => formatMetrics(stats, { labels: { 'bad-name': 'x' } })).toThrow(RangeError);
    expect(() => formatMetrics(stats, { labels: { queue: 'x' } })).toThrow(/set by formatMetrics/);
  });

  it('promtool does reject a broken exposition (the check can fail)', () => {
    expect(promtoolCheck('# TYPE x_total counter\nx_total{a="1" 3\n').status).not.toBe(0);
    expect(promtoolCheck('# HELP foo_count x\n# TYPE foo_count counter\nfoo_count 1\n').status).not.toBe(0);
  });
});

describe('nfq-dump --metrics: arguments', () => {
  it('takes ADDR:PORT (IPv6 in brackets) and nothing vaguer', () => {
    expect(parseListenAddress('127.0.0.1:9101')).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(parseListenAddress('[::1]:0')).toEqual({ host: '::1', port: 0 });
    expect(parseListenAddress('localhost:80')).toEqual({ host: 'localhost', port: 80 });
    for (const bad of ['9101', ':9101', '127.0.0.1', '::1:9101', '127.0.0.1:70000', '127.0.0.1:x']) {
      expect(() => parseListenAddress(bad), bad).toThrow(/--metrics/);
    }
    expect(parseCli(['--metrics', '127.0.0.1:9101']).metrics).toEqual({ host: '127.0.0.1', port: 9101 });
    expect(() => parseCli(['-r', 'x.pcap', '--metrics', '127.0.0.1:1'])).toThrow(/--metrics applies to a live queue/);
  });
});

describe('nfq-dump --metrics: a live queue', () => {
  let ns: Ns;
  beforeAll(() => {
    ns = new Ns('metr');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it('serves the queue counters at /metrics on the address given; promtool accepts them', async () => {
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '9601', '-j', 'NFQUEUE', '--queue-num', '7');
    const dump = ns.spawn([process.execPath, NFQ_DUMP, '-q', '7', '--no-status', '--metrics', '127.0.0.1:0']);
    await dump.waitForStderr(/metrics at http:\/\/127\.0\.0\.1:\d+\/metrics/);
    const url = /metrics at (\S+)/.exec(dump.stderr())![1]!;
    expect(url).not.toMatch(/:0\//);
    const delivered = countDelivered(ns.netns, 9601);
    await sendUdp(ns.netns, '127.0.0.1', 9601, { count: 5 });
    await eventually(() => delivered.pkts() === 5, 'delivered: 5');
    const scrape = ns.run('curl', '-sS', '-D', '-', url);
    expect(scrape.status).toBe(0);
    const [head, body] = scrape.stdout.split('\r\n\r\n');
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(head).toMatch(/content-type: text\/plain; version=0\.0\.4; charset=utf-8/i);
    expect(promtoolCheck(body!)).toEqual({ status: 0, output: '' });
    const lines = body!.split('\n');
    expect(lines).toContain('nfqueue_packets_received_total 5');
    expect(lines).toContain('nfqueue_verdicts_total{verdict="accept"} 5');
    expect(lines).toContain('nfqueue_kernel_last_packet_id{queue="7"} 5');
    expect(lines).toContain('nfqueue_kernel_packets_waiting{queue="7"} 0');
    // OpenMetrics when asked for, as Prometheus does.
    const om = ns.run('curl', '-sS', '-D', '-', '-H', 'Accept: application/openmetrics-text;version=1.0.0,text/plain;version=0.0.4;q=0.5', url);
    const [omHead, omBody] = om.stdout.split('\r\n\r\n');
    expect(omHead).toMatch(/content-type: application\/openmetrics-text; version=1\.0\.0; charset=utf-8/i);
    expect(openMetricsCheck(omBody!).families).toMatchObject({ nfqueue_packets_received: { type: 'counter', samples: 1 } });
    // Only /metrics.
    expect(ns.run('curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', url.replace('/metrics', '/')).stdout).toBe('404');
    dump.kill('SIGINT');
    await dump.exited;
    expect(dump.exitStatus()?.code).toBe(0);
    expect(ns.row(7)).toBeUndefined();
    // The server went away with it.
    expect(ns.run('curl', '-s', url).status).not.toBe(0);
  });
});
