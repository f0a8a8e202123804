/**
 * Shutdown under full load: close() (library, on SIGTERM) and nfq-dump (on SIGINT) while a
 * flood is running. The kernel referee: the NFQUEUE rule (with --queue-bypass) counts every
 * packet; a counting rule in mangle POSTROUTING counts every packet that went on (ACCEPT
 * resumes at the next hook: our verdicts, fail-open during close, bypass after it). The
 * only other fate is user_dropped (receive buffer full, never reached us). A packet that
 * UNBIND flushed, or that got no verdict, would be missing from both.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { startFlood, createNetns, type Netns } from '../../support/netns.js';
import { startConsumer, stopConsumer, fatalLines, waitRow } from '../../support/consumer.js';

const NFQ_DUMP = fileURLToPath(new URL('../../../dist/cli/nfq-dump.js', import.meta.url));

let ns: Netns;
beforeAll(() => {
  ns = createNetns('rbshut');
});
afterAll(async () => {
  await ns?.destroy();
});

function rules(port: number, queue: number): void {
  // --queue-bypass: once nobody listens, packets pass (and are counted) instead of vanishing.
  ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue), '--queue-bypass', '-m', 'comment', '--comment', `q${port}`);
  ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', `post${port}`);
}

describe('shutdown under load', () => {
  it('close() during a flood with many async callbacks in flight: every received packet gets its verdict, no unhandled rejection', async () => {
    rules(9301, 31);
    const c = await startConsumer(ns, { queues: 31, overrunEvents: true, policy: 'async', options: { maxLen: 100000 } });
    const f = startFlood(ns, '127.0.0.1', 9301, { seconds: 20 });
    // Let the flood build up: packets waiting in the kernel and callbacks in flight.
    await waitRow(ns, 31, (r) => (r?.lastId ?? 0) > 20_000 && (r?.waiting ?? 0) > 0);
    const before = ns.queueRow(31)!;
    expect(before.waiting).toBeGreaterThan(0);
    const closed = await stopConsumer(c, 'SIGTERM');
    f.kill('SIGTERM');
    await f.waitForExit(10_000);
    const s = closed.stats;
    expect(s.received).toBeGreaterThan(0);
    expect(s.pending).toBe(0);
    expect(s.verdicts.accept).toBe(s.received);
    expect(s.verdictErrors).toBe(0); // every verdict met a packet still waiting
    const queued = ns.counter('filter', 'OUTPUT', 'q9301').pkts;
    const passed = ns.counter('mangle', 'POSTROUTING', 'post9301').pkts;
    expect(passed).toBeGreaterThanOrEqual(s.verdicts.accept);
    expect(queued).toBe(passed + s.userDropped);
    expect(fatalLines(c)).toEqual([]);
    expect(ns.queueRow(31)).toBeUndefined();
  });

  it('nfq-dump on SIGINT during a flood: exits 0, unbinds, and every packet it saw got its verdict', async () => {
    rules(9302, 32);
    const cli = ns.spawn([process.execPath, NFQ_DUMP, '-q', '32', '--maxlen', '100000', '--no-status']);
    await ns.waitForQueueBound(32, 15_000, { copyMode: 2 });
    const f = startFlood(ns, '127.0.0.1', 9302, { count: 400_000 });
    await waitRow(ns, 32, (r) => (r?.lastId ?? 0) > 10_000);
    cli.kill('SIGINT');
    const exit = await cli.waitForExit(20_000);
    f.kill('SIGTERM');
    await f.waitForExit(10_000);
    expect(exit.code).toBe(0);
    const err = cli.stderr();
    const seen = Number(/(\d+) packets? seen/.exec(err)?.[1]);
    const accepted = Number(/(\d+) verdicts?: (\d+) accept/.exec(err)?.[2]);
    expect(seen).toBeGreaterThan(0);
    expect(accepted).toBeGreaterThanOrEqual(seen); // packets read while closing get the verdict unseen
    expect(cli.lines().filter((l) => l.trim() !== '').length).toBe(seen);
    expect(ns.counter('mangle', 'POSTROUTING', 'post9302').pkts).toBeGreaterThanOrEqual(accepted);
    expect(err).not.toMatch(/refused by the kernel/);
    expect(err).not.toMatch(/unhandled|TypeError|RangeError|at .*\.js:\d+/i);
    expect(ns.queueRow(32)).toBeUndefined();
    await new Promise((r) => setTimeout(r, 0));
  });
});
