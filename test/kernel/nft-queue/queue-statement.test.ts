// The nftables `queue` statement, the way most users send packets to a queue today:
// `queue num N`, a range balanced by flow hash, a range with `fanout` (by CPU), and
// `bypass` when nobody listens. Kernels without the nft queue expression (CONFIG_NFT_QUEUE
// unset, like this project's CI host) refuse the rule: the tests skip there and run in the
// kernel matrix (npm run test:kernels), which boots kernels that have it.
import { cpus } from 'node:os';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue } from '../../../src/index.js';
import { createNetns, runCommand, type Netns } from '../../support/netns.js';
import { requireFeature } from '../../support/kernel-matrix.js';

const BURST = fileURLToPath(new URL('./udp-burst.py', import.meta.url));
const FLOW = fileURLToPath(new URL('../conntrack/flow.py', import.meta.url));
const NO_QUEUE_EXPR = 'this kernel lacks the nftables queue expression (CONFIG_NFT_QUEUE): it refuses `queue` rules';

let ns: Netns;
let queueExpression = false;
let refusal = '';

/** Applies an nft script inside the namespace; returns the failure text, or undefined. */
function nft(script: string): string | undefined {
  const r = runCommand(ns.wrap(['nft', '-f', '-']), { input: script });
  return r.status === 0 ? undefined : r.stderr.trim();
}

beforeAll(() => {
  ns = createNetns('nfqk');
  const error = nft('table inet nfqk {\n chain out {\n type filter hook output priority 0;\n }\n}\n');
  if (error !== undefined) throw new Error(`nft cannot make a table: ${error}`);
  // Does this kernel know the queue expression? Adding a rule with it tells.
  refusal = nft('add rule inet nfqk out meta l4proto udp udp dport 9 queue num 9\n') ?? '';
  queueExpression = refusal === '';
  if (queueExpression) nft('flush chain inet nfqk out\n');
});
afterAll(async () => {
  await ns?.destroy();
});

interface Burst {
  sent: number;
  refused: number;
  received: number;
  from: Record<string, number>;
}

/** udp-burst.py in the namespace: SOURCES loopback sources from 127.0.0.1, COUNT datagrams each. */
async function burst(port: number, sources: number, count: number, waitS = 3): Promise<Burst> {
  const c = ns.spawn(['python3', BURST, '127.0.0.1', String(port), '127.0.0.1', String(sources), String(count), String(waitS)]);
  return c.waitForJson<Burst>((j) => j.sent !== undefined, 120_000);
}

/** Packets counted by the rule of chain out that mentions `port`. */
function ruleCounter(port: number): number {
  const out = ns.exec(['nft', 'list', 'chain', 'inet', 'nfqk', 'out']);
  const line = out.split('\n').find((l) => l.includes(`dport ${port} `));
  const m = line === undefined ? null : /counter packets (\d+)/.exec(line);
  if (m === null) throw new Error(`no counter for port ${port} in:\n${out}`);
  return Number(m[1]);
}

describe('the nftables queue statement', { timeout: 240_000 }, () => {
  it('where the kernel lacks the queue expression, nft says so (and the rest skips)', () => {
    if (queueExpression) return;
    expect(refusal).toMatch(/Could not process rule|Operation not supported|No such file or directory/);
  });

  it('queue num N: IPv4 and IPv6 packets of an inet table reach queue N with their own family, and flow on after accept', async (ctx) => {
    requireFeature(ctx, 'queueExpression', queueExpression, NO_QUEUE_EXPR);
    expect(nft('add rule inet nfqk out udp dport 9201 counter queue num 3\n')).toBeUndefined();
    const seen: { queue: number; family: number }[] = [];
    const q = await openQueue(3, (p) => {
      seen.push({ queue: p.queue, family: p.family });
      return 'accept';
    }, { netns: `/run/netns/${ns.name}` });
    try {
      for (const host of ['127.0.0.1', '::1']) {
        const flow = ns.spawn(['python3', FLOW, 'udp', host, '9201']);
        await flow.waitForJson((j) => j.done === true, 120_000);
      }
    } finally {
      await q.close();
    }
    // The client's "one" and "two" per family (the echo goes from port 9201, not to it).
    expect(seen).toEqual([
      { queue: 3, family: 2 },
      { queue: 3, family: 2 },
      { queue: 3, family: 10 },
      { queue: 3, family: 10 },
    ]);
    expect(ruleCounter(9201)).toBe(4);
  });

  it('queue num 4-7: flows are spread over the range by their addresses; every packet arrives and is accepted', async (ctx) => {
    requireFeature(ctx, 'queueExpression', queueExpression, NO_QUEUE_EXPR);
    expect(nft('add rule inet nfqk out udp dport 9202 counter queue num 4-7\n')).toBeUndefined();
    const byQueue = new Map<number, number>();
    const q = await openQueue([4, 5, 6, 7], (p) => {
      byQueue.set(p.queue, (byQueue.get(p.queue) ?? 0) + 1);
      return 'accept';
    }, { netns: `/run/netns/${ns.name}` });
    let b: Burst;
    try {
      b = await burst(9202, 16, 2);
    } finally {
      await q.close();
    }
    expect(b).toMatchObject({ sent: 32, refused: 0, received: 32 });
    expect([...byQueue.keys()].every((n) => n >= 4 && n <= 7)).toBe(true);
    // 16 source addresses all hashing to one queue of four: chance 4^-15.
    expect(byQueue.size).toBeGreaterThan(1);
    expect([...byQueue.values()].reduce((a, n) => a + n, 0)).toBe(32);
  });

  it('queue num 8-11 fanout: the queue is chosen by CPU, so only the first (CPUs) queues of the range are used', async (ctx) => {
    requireFeature(ctx, 'queueExpression', queueExpression, NO_QUEUE_EXPR);
    expect(nft('add rule inet nfqk out udp dport 9203 counter queue num 8-11 fanout\n')).toBeUndefined();
    const byQueue = new Map<number, number>();
    const q = await openQueue([8, 9, 10, 11], (p) => {
      byQueue.set(p.queue, (byQueue.get(p.queue) ?? 0) + 1);
      return 'accept';
    }, { netns: `/run/netns/${ns.name}` });
    let b: Burst;
    try {
      b = await burst(9203, 16, 2);
    } finally {
      await q.close();
    }
    expect(b).toMatchObject({ sent: 32, refused: 0, received: 32 });
    const used = Math.min(4, cpus().length);
    expect([...byQueue.keys()].every((n) => n >= 8 && n < 8 + used), `queues ${[...byQueue.keys()]} with ${cpus().length} CPUs`).toBe(true);
    expect(ruleCounter(9203)).toBe(32);
  });

  it('bypass: with nobody bound to the queue, packets pass; without bypass they are dropped', async (ctx) => {
    requireFeature(ctx, 'queueExpression', queueExpression, NO_QUEUE_EXPR);
    expect(nft('add rule inet nfqk out udp dport 9204 counter queue num 12 bypass\nadd rule inet nfqk out udp dport 9205 counter queue num 13\n')).toBeUndefined();
    const passed = await burst(9204, 1, 5, 2);
    expect(passed).toMatchObject({ sent: 5, refused: 0, received: 5 });
    expect(ruleCounter(9204)).toBe(5);
    const dropped = await burst(9205, 1, 5, 2);
    expect(dropped.received).toBe(0);
    expect(dropped.sent + dropped.refused).toBe(5);
    expect(ruleCounter(9205)).toBe(5);
  });
});
