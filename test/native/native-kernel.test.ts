/**
 * The native transport on the kernel, in a namespace made for this file: a burst of UDP
 * through an NFQUEUE rule arrives several datagrams per receive call and leaves with
 * several verdicts per send, and every packet passes; receive slabs are reused once
 * collected, and never while a view into them is alive.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { fileURLToPath } from 'node:url';
import { createNetns, kernelTestsUnavailable, sendUdp, type Netns } from '../helpers/netns.js';
import { nativeTransportUnavailable } from '../../src/netlink/native-transport.js';

const CONSUMER = fileURLToPath(new URL('./native-consumer.mjs', import.meta.url));
const SLAB_CONSUMER = fileURLToPath(new URL('./slab-consumer.mjs', import.meta.url));
const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();

interface Done {
  done: true;
  received: number;
  calls: number;
  stats: { receiveCalls: number; datagramsReceived: number; sendCalls: number; datagramsSent: number };
}

describe.skipIf(skip !== undefined)('native transport on the kernel', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = createNetns('nat');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it('batches receives and verdicts under a burst, and passes every packet', async () => {
    const queue = 7;
    const port = 7101;
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue));
    // Accepted packets resume at the next hook: count them there (no receiver to overflow).
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', 'native-passed');
    const c = ns.spawnNode(CONSUMER, [String(queue), '300']);
    await c.waitForJson<{ ready?: boolean }>((j) => j.ready === true, 15_000);
    await ns.waitForQueueBound(queue, 10_000, { copyMode: 2 });
    const count = 500;
    const sent = await sendUdp(ns, '127.0.0.1', port, { count });
    expect(sent.sent).toBe(count);
    const t0 = Date.now();
    while (ns.counter('mangle', 'POSTROUTING', 'native-passed').pkts < count && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    expect(ns.counter('mangle', 'POSTROUTING', 'native-passed').pkts).toBe(count);
    c.kill('SIGTERM');
    const done = await c.waitForJson<Done>((j) => j.done === true, 15_000);
    await c.waitForExit(5_000);
    expect(done.received).toBe(count);
    expect(done.stats.datagramsReceived).toBeGreaterThanOrEqual(count);
    // The first callback held the loop while the burst queued up: later reads take many at once.
    expect(done.calls).toBeLessThan(done.stats.datagramsReceived / 2);
    // One verdict datagram per delivery: far fewer sends than packets.
    expect(done.stats.sendCalls).toBeLessThan(count / 2);
  });

  it('reuses the memory of collected receive slabs, never of one a payload view still holds', async () => {
    const queue = 8;
    const port = 7102;
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue));
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', 'slab-passed');
    const c = ns.spawnNode(SLAB_CONSUMER, [String(queue), '200']);
    await c.waitForJson<{ ready?: boolean }>((j) => j.ready === true, 15_000);
    await ns.waitForQueueBound(queue, 10_000, { copyMode: 2 });
    // ~1.1 KB datagrams: a 256 KiB slab holds ~230, so 3000 packets go through ~13 slabs.
    const count = 3000;
    const sent = await sendUdp(ns, '127.0.0.1', port, { count, size: 1000, payloadPrefix: 'slab', rate: 3000 });
    expect(sent.sent).toBe(count);
    const t0 = Date.now();
    while (ns.counter('mangle', 'POSTROUTING', 'slab-passed').pkts < count && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    c.kill('SIGTERM');
    const done = await c.waitForJson<{ done: true; received: number; kept: number; changed: number; stats: { slabs: number; slabsReused: number } }>((j) => j.done === true, 15_000);
    await c.waitForExit(5_000);
    expect(done.received).toBe(count);
    expect(done.kept).toBe(200);
    expect(done.stats.slabs).toBeGreaterThan(5);
    expect(done.stats.slabsReused).toBeGreaterThan(0);
    // The first slabs stayed referenced: their bytes are still the packets they held.
    expect(done.changed).toBe(0);
  });
});
