/**
 * The README's for await example, run as written (imports rewritten to the built package)
 * against the kernel: it drops UDP to port 9, marks the rest, and closes on SIGTERM.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { readmeExample, importingBuiltPackage } from '../support/readme.js';
import { countDelivered, createNetns, sendUdp, type Netns } from '../support/netns.js';

let ns: Netns;
let dir: string;
const example = (): string => readmeExample('### Iterating with `for await`');

beforeAll(() => {
  ns = createNetns('readmeit');
  dir = mkdtempSync(join(tmpdir(), 'nfq-readme-iter-'));
});
afterAll(async () => {
  await ns?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('README for await example', () => {
  it('opens the queue without a callback and iterates it', () => {
    const code = example();
    expect(code).toMatch(/from 'netfilter-queue'/);
    expect(code).toMatch(/openQueue\(1, \{/);
    expect(code).toMatch(/for await \(const packet of queue\)/);
  });

  it('runs: drops UDP to port 9, marks the rest, closes on SIGTERM', async () => {
    const file = join(dir, 'loop.mjs');
    writeFileSync(file, importingBuiltPackage(example()));
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '-j', 'NFQUEUE', '--queue-num', '1');
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '-m', 'mark', '--mark', '0x20', '-m', 'comment', '--comment', 'mark32');
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '9', '-m', 'comment', '--comment', 'discard');
    const app = ns.spawn([process.execPath, file]);
    await app.waitForLine(/queue 1 bound/, 15_000);
    const delivered = countDelivered(ns, 7400);
    await sendUdp(ns, '127.0.0.1', 7400, { count: 30 });
    await sendUdp(ns, '127.0.0.1', 9, { count: 10 });
    expect(await delivered.waitFor(30, 25_000)).toBe(30);
    expect(ns.counter('mangle', 'POSTROUTING', 'mark32').pkts).toBe(30);
    expect(ns.counter('mangle', 'POSTROUTING', 'discard').pkts).toBe(0);
    app.kill('SIGTERM');
    const stats = JSON.parse(await app.waitForLine((l) => l.startsWith('{"received"'), 10_000)) as { received: number; pending: number; verdicts: { accept: number; drop: number } };
    expect(stats).toMatchObject({ received: 40, pending: 0, verdicts: { accept: 30, drop: 10 } });
    expect((await app.waitForExit(5_000)).code).toBe(0);
    expect(ns.queueRow(1)).toBeUndefined();
  });
});
