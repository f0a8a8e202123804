// The README's managed-rule lead ("a firewall in three lines") and its diagnoseQueues()
// example, run as written (imports pointed at the built package) in namespaces of this
// file's own, with no rule written by the test for the first.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listRuleset } from '../../../src/nftables-runtime/index.js';
import { createNetns, kernelTestsUnavailable, sendUdp, sinkDatagrams, sinkSummary, startUdpSink, type Netns } from '../../support/netns.js';
import { ensureBuilt } from '../../support/cli.js';
import { importingBuiltPackage, readmeExample } from '../../support/readme.js';

const skip = kernelTestsUnavailable();
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe.skipIf(skip !== undefined)('README managed-rule and diagnosis examples (kernel, root)', () => {
  let ns: Netns;
  let other: Netns;
  let dir: string;

  beforeAll(() => {
    ensureBuilt();
    ns = createNetns('clireadme');
    other = createNetns('clireadmeo');
    dir = mkdtempSync(join(tmpdir(), 'nfq-cli-readme-'));
  });

  afterAll(async () => {
    await ns?.destroy();
    await other?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it('the three-line firewall: its own rule, large DNS datagrams dropped, small ones pass, no rule after SIGINT', async () => {
    const code = readmeExample('# netfilter-queue');
    expect(code).toMatch(/rule: \{ hook: 'output', protocol: 'udp', dport: 53 \}/);
    expect(code.trim().split('\n')).toHaveLength(3);
    const file = join(dir, 'firewall.mjs');
    writeFileSync(file, importingBuiltPackage(code));
    const app = ns.spawn([process.execPath, file]);
    await ns.waitForQueueBound(0, 15_000);
    for (let i = 0; i < 200 && (await listRuleset({ netns: `/run/netns/${ns.name}` })).rules.length === 0; i++) await sleep(25);
    const sink = await startUdpSink(ns, 53, { idleMs: 1000, timeoutMs: 10_000 });
    await sendUdp(ns, '127.0.0.1', 53, { count: 3, size: 100 });
    await sendUdp(ns, '127.0.0.1', 53, { count: 2, size: 600 });
    await sinkSummary(sink, 15_000);
    expect(sinkDatagrams(sink).map((d) => d.len)).toEqual([100, 100, 100]);
    // All five went through the queue (the kernel's ids), three came back accepted.
    expect(ns.queueRow(0)!.lastId).toBe(5);
    app.kill('SIGINT');
    expect((await app.waitForExit(10_000)).code, app.transcript()).toBe(0);
    expect((await listRuleset({ netns: `/run/netns/${ns.name}` })).tables).toEqual([]);
  });

  it('diagnoseQueues: a quiet queue whose rule lives in another namespace says so', async () => {
    other.exec(['iptables-nft', '-w', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5701', '-j', 'NFQUEUE', '--queue-num', '1', '--queue-bypass']);
    const file = join(dir, 'diagnose.mjs');
    writeFileSync(file, importingBuiltPackage(readmeExample('### When nothing arrives')));
    const app = ns.spawn([process.execPath, file]);
    const exit = await app.waitForExit(30_000);
    expect(exit.code, app.transcript()).toBe(0);
    expect(app.stderr()).toContain('queue 1: no-rule: no rule in this network namespace sends packets to queue 1');
    expect(app.stderr()).toContain(`queue 1: rule-in-other-namespace: a rule in network namespace ${other.name} sends to queue 1`);
  });
});
