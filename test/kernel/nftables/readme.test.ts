/**
 * The README's managed-rule example, run as written (imports pointed at dist/) in a
 * namespace with no rule at all: it installs its rule, answers with flow verdicts (one
 * packet queued per flow, the rest decided by the kernel), and leaves an empty ruleset.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createNetns, kernelTestsUnavailable, sendUdp, sinkDatagrams, sinkSummary, startUdpSink, type Netns } from '../../support/netns.js';
import { importingBuiltPackage, readmeExample } from '../../support/readme.js';

const skip = kernelTestsUnavailable();

describe.skipIf(skip !== undefined)('README: managed rules and flow verdicts', () => {
  let ns: Netns;
  let dir: string;
  beforeAll(() => {
    ns = createNetns('nftreadme');
    dir = mkdtempSync(join(tmpdir(), 'nft-readme-'));
  });
  afterAll(async () => {
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('runs: installs its rule, one datagram of an accepted flow is queued, a "!" flow never arrives, the ruleset is empty after SIGTERM', async () => {
    const file = join(dir, 'managed.mjs');
    writeFileSync(file, importingBuiltPackage(readmeExample('## Managed rules and flow verdicts')));
    expect(ns.exec(['nft', 'list', 'ruleset']).trim()).toBe('');
    const app = ns.spawn([process.execPath, file]);
    await app.waitForLine(/queue 0 bound/, 15_000);
    expect(ns.exec(['nft', 'list', 'ruleset'])).toMatch(/udp dport 9999 counter packets 0 bytes 0 queue num 0 bypass/);
    const sink = await startUdpSink(ns, 9999, { idleMs: 3000, timeoutMs: 20_000 });
    // Flow A: its first datagram is queued and accepted as a flow; the 9 after it pass
    // without being queued. Flow B carries "!": dropFlow() on its first datagram drops it, and
    // as the kernel forgets a connection whose first packet it dropped, each of B's datagrams
    // is queued (and dropped) in turn.
    await sendUdp(ns, '127.0.0.1', 9999, { count: 1, sport: 41001, payloadPrefix: 'a;' });
    await new Promise((r) => setTimeout(r, 300));
    await sendUdp(ns, '127.0.0.1', 9999, { count: 9, sport: 41001, payloadPrefix: 'a;' });
    await sendUdp(ns, '127.0.0.1', 9999, { count: 3, sport: 41002, rate: 20, payloadPrefix: 'b!;' });
    await sinkSummary(sink, 20_000);
    const got = sinkDatagrams(sink);
    expect(got.filter((d) => d.port === 41001)).toHaveLength(10);
    expect(got.filter((d) => d.port === 41002)).toHaveLength(0);
    app.kill('SIGTERM');
    const stats = JSON.parse(await app.waitForLine((l) => l.startsWith('{"received"'), 10_000)) as { received: number };
    // Flow A: only its first datagram was queued; flow B: all three.
    expect(stats.received).toBe(4);
    expect(ns.exec(['nft', 'list', 'ruleset']).trim()).toBe('');
  });
});
