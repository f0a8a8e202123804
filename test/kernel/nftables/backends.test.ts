/**
 * The two queue expressions a managed rule can use, each proved on the kernel where it
 * exists: the xtables NFQUEUE target through nft_compat (this project's 6.18 kernels, and
 * iptables-nft's way), and the native queue expression (CONFIG_NFT_QUEUE: Debian's kernels).
 * A probe asks the kernel which it has; 'auto' must pick the native one whenever it exists.
 * Each case is judged by traffic: the queue's /proc ids and the receiver.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue } from '../../../src/open-queue.js';
import { nativeTransportUnavailable } from '../../../src/netlink/native-transport.js';
import { probeQueueRuleSupport, type QueueRuleSupport } from '../../../src/nftables-runtime/managed-rules.js';
import { listRuleset } from '../../../src/nftables-runtime/nft-socket.js';
import { findQueueRules } from '../../../src/nftables/queue-rules.js';
import { NftablesKernelError } from '../../../src/nftables/errors.js';
import { createNetns, kernelTestsUnavailable, sendUdp, sinkSummary, startUdpSink, type Netns } from '../../support/netns.js';

const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();

describe.skipIf(skip !== undefined)('managed rule backends on the kernel', () => {
  let ns: Netns;
  let support: QueueRuleSupport;
  const netns = (): string => `/run/netns/${ns.name}`;

  beforeAll(async () => {
    ns = createNetns('nftback');
    support = await probeQueueRuleSupport({ netns: netns() });
    console.info(`queue rule support on this kernel: ${JSON.stringify(support)}`);
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  async function proveBackend(backend: 'queue' | 'compat', queue: number, port: number): Promise<void> {
    let calls = 0;
    const q = await openQueue([queue, queue + 1], () => {
      calls++;
      return 'accept';
    }, { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: port }, ruleOptions: { backend } });
    try {
      expect(q.stats().rule?.backend).toBe(backend);
      const found = findQueueRules(await listRuleset({ netns: netns() }), queue + 1);
      expect(found.map((f) => f.target)).toEqual([{ first: queue, total: 2, bypass: true, cpuFanout: false, backend }]);
      const sink = await startUdpSink(ns, port, { count: 6, timeoutMs: 8000 });
      await sendUdp(ns, '127.0.0.1', port, { count: 6, rate: 200 });
      expect((await sinkSummary(sink)).received).toBe(6);
      expect(calls).toBe(6);
      // One flow: the kernel hashed it onto one of the two queues.
      const ids = [queue, queue + 1].map((n) => ns.queueRow(n)?.lastId ?? 0).sort();
      expect(ids).toEqual([0, 6]);
    } finally {
      await q.close();
    }
    expect(ns.exec(['nft', 'list', 'ruleset']).trim()).toBe('');
  }

  it('the probe finds owned tables and at least one queue expression', () => {
    expect(support.ownedTables).toBe(true);
    expect(support.queue || support.compat).toBe(true);
  });

  it('the compat backend (xt NFQUEUE v3 through nft_compat) queues with a range and bypass', async (ctx) => {
    if (!support.compat) ctx.skip('this kernel has no nft_compat (CONFIG_NFT_COMPAT)');
    await proveBackend('compat', 30, 9981);
  });

  it('the native queue expression (queue num N-M bypass) queues with a range and bypass', async (ctx) => {
    if (!support.queue) ctx.skip('this kernel has no nft queue expression (CONFIG_NFT_QUEUE is not set): the native path is proved on a kernel that has it');
    await proveBackend('queue', 32, 9982);
  });

  it("'auto' picks the native expression where it exists, else compat", async () => {
    const q = await openQueue(34, () => 'accept', { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9983 } });
    try {
      expect(q.stats().rule?.backend).toBe(support.queue ? 'queue' : 'compat');
    } finally {
      await q.close();
    }
  });

  it('asking for the native expression where the kernel lacks it: a clear error naming CONFIG_NFT_QUEUE, the queue closed again, nothing left', async (ctx) => {
    if (support.queue) ctx.skip('this kernel has the nft queue expression');
    const err = await openQueue(35, () => 'accept', { netns: netns(), rule: { hook: 'output', protocol: 'udp' }, ruleOptions: { backend: 'queue' } }).then(() => undefined, (e: unknown) => e);
    expect(err).toBeInstanceOf(NftablesKernelError);
    expect((err as NftablesKernelError).code).toBe('ENOENT');
    expect((err as Error).message).toMatch(/this kernel has no `queue` expression.*CONFIG_NFT_QUEUE/);
    expect(ns.queueRow(35)).toBeUndefined();
    expect(ns.exec(['nft', 'list', 'ruleset']).trim()).toBe('');
  });
});
