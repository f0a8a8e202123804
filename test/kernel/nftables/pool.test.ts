/**
 * openQueuePool({ queues, rule }): the main thread installs one managed rule spreading over
 * the pool's queues (`queue num 20-23 bypass`), the workers serve them; judged by the
 * receiver, the pool's counts against /proc's ids, `nft list ruleset`, and the ruleset left
 * empty by close(). No iptables rule is written.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
// From the build: the pool's workers load dist/pool/worker.js.
import { openQueuePool } from '../../../dist/index.js';
import { nativeTransportUnavailable } from '../../../src/netlink/native-transport.js';
import { createNetns, kernelTestsUnavailable, sendUdp, sinkSummary, startUdpSink, type Netns } from '../../support/netns.js';

const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();
const ACCEPT = fileURLToPath(new URL('../../support/consumers/pool-handlers/accept.mjs', import.meta.url));

describe.skipIf(skip !== undefined)('a pool with a managed rule', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = createNetns('nftpool');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it('one rule spreads over queues 20..23 served by 2 workers; close() removes it', async () => {
    const pool = await openQueuePool({ queues: '20:23', workers: 2, handler: ACCEPT, netns: `/run/netns/${ns.name}`, rule: { hook: 'output', protocol: 'udp', dport: 9501 } });
    try {
      const s0 = await pool.stats();
      expect(s0.rule).toMatchObject({ tables: [`inet nfqueue_${process.pid}_q20_23`], queues: { first: 20, total: 4, bypass: true } });
      expect(ns.exec(['nft', 'list', 'ruleset'])).toMatch(/udp dport 9501 counter packets 0 bytes 0 queue num 20-23 bypass/);
      const sink = await startUdpSink(ns, 9501, { count: 36, timeoutMs: 15_000 });
      // Flows from 12 source addresses: the queue is picked by a hash of the addresses.
      for (let i = 0; i < 12; i++) await sendUdp(ns, '127.0.0.1', 9501, { count: 3, bind: `127.0.0.${i + 2}` });
      expect((await sinkSummary(sink, 15_000)).received).toBe(36);
      const s = await pool.stats();
      expect(s.received).toBe(36);
      expect(s.queues.filter((q) => q.received > 0).length).toBeGreaterThan(1);
      for (const q of s.queues) expect(q.received).toBe(ns.queueRow(q.queue)?.lastId ?? 0);
    } finally {
      await pool.close();
    }
    expect(ns.exec(['nft', 'list', 'ruleset']).trim()).toBe('');
  });
});
