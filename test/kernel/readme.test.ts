/**
 * The README's library example, run as written (import rewritten to the built package)
 * against the kernel: it must drop "forbidden" datagrams, mark the rest, and close cleanly.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { createNetns, startUdpSink, sinkSummary, sinkDatagrams, sendUdp, type Netns } from '../support/netns.js';
import { importingBuiltPackage, readmeExample } from '../support/readme.js';

let ns: Netns;
let dir: string;

const libraryExample = (): string => readmeExample('## Library');

beforeAll(() => {
  ns = createNetns('readme');
  dir = mkdtempSync(join(tmpdir(), 'nfq-readme-'));
});
afterAll(async () => {
  await ns?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('README example', () => {
  it('imports the package by name and uses only public API', () => {
    const code = libraryExample();
    expect(code).toMatch(/from 'netfilter-queue'/);
    expect(code).toMatch(/openQueue\(0,/);
  });

  it('runs: drops forbidden datagrams, marks the rest, closes on SIGTERM', async () => {
    const code = importingBuiltPackage(libraryExample());
    const file = join(dir, 'firewall.mjs');
    writeFileSync(file, code);
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '-j', 'NFQUEUE', '--queue-num', '0');
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '-m', 'mark', '--mark', '0x10', '-m', 'comment', '--comment', 'mark16');
    const app = ns.spawn([process.execPath, file]);
    await app.waitForLine(/queue 0 bound/, 15_000);
    const sink = await startUdpSink(ns, 7100, { idleMs: 1500, timeoutMs: 20_000 });
    await sendUdp(ns, '127.0.0.1', 7100, { count: 30, payloadPrefix: 'ok;' });
    await sendUdp(ns, '127.0.0.1', 7100, { count: 20, payloadPrefix: 'forbidden;' });
    await sinkSummary(sink, 25_000);
    const got = sinkDatagrams(sink);
    expect(got.length).toBe(30);
    expect(got.every((d) => d.payload?.startsWith('ok;'))).toBe(true);
    expect(ns.counter('mangle', 'POSTROUTING', 'mark16').pkts).toBe(30);
    app.kill('SIGTERM');
    const statsLine = await app.waitForLine((l) => l.startsWith('{"received"'), 10_000);
    const stats = JSON.parse(statsLine) as { received: number; verdicts: { accept: number; drop: number } };
    expect(stats.received).toBe(50);
    expect(stats.verdicts).toMatchObject({ accept: 30, drop: 20 });
    expect((await app.waitForExit(5_000)).code).toBe(0);
    expect(ns.queueRow(0)).toBeUndefined();
  });
});
