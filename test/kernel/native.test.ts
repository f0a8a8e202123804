/**
 * The native transport on the kernel, in a namespace made for this file: a burst of UDP
 * through an NFQUEUE rule arrives several datagrams per receive call and leaves with
 * several verdicts per send, and every packet passes; receive slabs are reused once
 * collected, and never while a view into them is alive.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { createNetns, kernelTestsUnavailable, sendUdp, type Netns } from '../support/netns.js';
import { startConsumer, stopConsumer } from '../support/consumer.js';
import { nativeTransportUnavailable } from '../../src/netlink/native-transport.js';

const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();

/** The consumer's closing line with the native transport's counters (`native: true`). */
interface Done {
  callbacks: number;
  calls: number;
  transportStats: { receiveCalls: number; datagramsReceived: number; sendCalls: number; datagramsSent: number; slabs: number; slabsReused: number };
  kept: number;
  changed: number;
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
    // The first callback blocks for 300 ms, so that packets pile up in the socket.
    const c = await startConsumer(ns, { queues: queue, native: true, holdFirstMs: 300, options: { flags: { gso: true }, receiveBufferSize: 8 << 20 } });
    const count = 500;
    const sent = await sendUdp(ns, '127.0.0.1', port, { count });
    expect(sent.sent).toBe(count);
    const t0 = Date.now();
    while (ns.counter('mangle', 'POSTROUTING', 'native-passed').pkts < count && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 50));
    expect(ns.counter('mangle', 'POSTROUTING', 'native-passed').pkts).toBe(count);
    const done = await stopConsumer<Done>(c);
    expect(done.callbacks).toBe(count);
    expect(done.transportStats.datagramsReceived).toBeGreaterThanOrEqual(count);
    // The first callback held the loop while the burst queued up: later reads take many at once.
    expect(done.calls).toBeLessThan(done.transportStats.datagramsReceived / 2);
    // One verdict datagram per delivery: far fewer sends than packets.
    expect(done.transportStats.sendCalls).toBeLessThan(count / 2);
  });

  it('reuses the memory of collected receive slabs, never of one a payload view still holds', async () => {
    const queue = 8;
    const port = 7102;
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue));
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', 'slab-passed');
    // Keeps the payload views of the first 200 packets with a copy of each, and collects
    // garbage every 100 packets so that collected receive slabs are reused.
    const c = await startConsumer(ns, { queues: queue, native: true, keep: 200, options: { flags: { gso: true }, receiveBufferSize: 8 << 20 } });
    // ~1.1 KB datagrams: a 256 KiB slab holds ~230, so 3000 packets go through ~13 slabs.
    const count = 3000;
    const sent = await sendUdp(ns, '127.0.0.1', port, { count, size: 1000, payloadPrefix: 'slab', rate: 3000 });
    expect(sent.sent).toBe(count);
    const t0 = Date.now();
    while (ns.counter('mangle', 'POSTROUTING', 'slab-passed').pkts < count && Date.now() - t0 < 30_000) await new Promise((r) => setTimeout(r, 50));
    const done = await stopConsumer<Done>(c);
    expect(done.callbacks).toBe(count);
    expect(done.kept).toBe(200);
    expect(done.transportStats.slabs).toBeGreaterThan(5);
    expect(done.transportStats.slabsReused).toBeGreaterThan(0);
    // The first slabs stayed referenced: their bytes are still the packets they held.
    expect(done.changed).toBe(0);
  });
});
