/**
 * Flow verdicts on the kernel: one packet of a connection is queued and answered with
 * acceptFlow() / dropFlow(); the rest of the connection is accepted or dropped by the
 * managed rule's chains without being queued. Judged by the receivers (all data arrives, or
 * none), the queue's /proc row (how many packets the kernel queued), conntrack's mark, and a
 * counter of the user's own packet mark in a later hook (the flow bits never clobber it).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue } from '../../../src/open-queue.js';
import { acceptFlow, dropFlow } from '../../../src/nfqueue/verdict.js';
import { nativeTransportUnavailable } from '../../../src/netlink/native-transport.js';
import { RuleError } from '../../../src/nftables/errors.js';
import { createNetns, kernelTestsUnavailable, runCommand, sendTcp, sendUdp, sinkSummary, startTcpSink, startUdpSink, type Netns } from '../../support/netns.js';
import type { Packet } from '../../../src/nfqueue/packet.js';

const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();

/** Bytes of TCP payload in an IPv4 packet. */
function tcpPayloadLength(p: Packet): number {
  const b = p.payload!;
  const ihl = (b[0]! & 0x0f) * 4;
  const total = (b[2]! << 8) | b[3]!;
  const doff = (b[ihl + 12]! >> 4) * 4;
  return total - ihl - doff;
}

describe.skipIf(skip !== undefined)('flow verdicts on the kernel', () => {
  let ns: Netns;
  const netns = (): string => `/run/netns/${ns.name}`;

  beforeAll(() => {
    ns = createNetns('nftflow');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  /** Resolves once `f()` is true (polled every 5 ms), rejects after `ms`. */
  async function until(f: () => boolean, ms = 5000): Promise<void> {
    const end = Date.now() + ms;
    while (!f()) {
      if (Date.now() > end) throw new Error('timed out');
      await new Promise((r) => setTimeout(r, 5));
    }
  }

  it('UDP, acceptFlow: one datagram queued, the burst of 29 after its verdict is never queued and all 30 arrive; the marks keep the user\'s bits', async () => {
    // The user's own marks, set before our queue chain: ct mark bit 0x5, packet mark 0x7.
    ns.exec(['nft', '-f', '-'], {
      input: `table ip user {
        chain out { type filter hook output priority -10; udp dport 9990 ct mark set ct mark or 0x5 meta mark set 0x7; }
        chain post { type filter hook postrouting priority 0; udp dport 9990 meta mark 0x7 counter; }
      }`,
    });
    let calls = 0;
    const q = await openQueue(10, () => {
      calls++;
      return acceptFlow();
    }, { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9990 }, flow: true });
    try {
      expect(q.stats().rule?.flow).toEqual({ accept: 0x40000000, drop: 0x80000000 });
      const sink = await startUdpSink(ns, 9990, { count: 30, timeoutMs: 8000 });
      // One flow (the same source port): its first datagram, then, once answered, a burst.
      await sendUdp(ns, '127.0.0.1', 9990, { count: 1, sport: 40001 });
      await until(() => calls === 1);
      await sendUdp(ns, '127.0.0.1', 9990, { count: 29, sport: 40001 });
      expect((await sinkSummary(sink)).received).toBe(30);
      expect(calls).toBe(1);
      expect(ns.queueRow(10)?.lastId).toBe(1);
      // conntrack's own view of the connection mark, where the conntrack tool is installed.
      if (runCommand(['conntrack', '--version']).status === 0) {
        const ct = ns.exec(['conntrack', '-L', '-p', 'udp', '--dport', '9990']);
        expect(ct).toMatch(/sport=40001 dport=9990 .*mark=1073741829 /); // 0x40000005: the accept bit and the user's 0x5
      } else console.warn('conntrack (the tool) is not installed: the connection mark is not read back');
      // All 30 reached postrouting still carrying the user's packet mark 0x7 (the flow bit cleared).
      expect(ns.exec(['nft', 'list', 'chain', 'ip', 'user', 'post'])).toMatch(/counter packets 30 /);
    } finally {
      await q.close();
      ns.exec(['nft', 'delete', 'table', 'ip', 'user']);
    }
  });

  it('UDP, dropFlow on a confirmed flow: it and everything after it never arrive, and nothing more is queued', async () => {
    let calls = 0;
    const q = await openQueue(11, () => (++calls === 1 ? 'accept' : dropFlow()), { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9991 }, flow: true });
    try {
      const sink = await startUdpSink(ns, 9991, { idleMs: 1500, timeoutMs: 4000 });
      await sendUdp(ns, '127.0.0.1', 9991, { count: 1, sport: 40002 });
      await until(() => calls === 1);
      await sendUdp(ns, '127.0.0.1', 9991, { count: 1, sport: 40002 });
      await until(() => calls === 2);
      await sendUdp(ns, '127.0.0.1', 9991, { count: 28, sport: 40002 });
      // The first datagram was accepted (the kernel confirmed the connection with it); the
      // second decided the flow: it and the 28 after it never arrive, only two were queued.
      expect((await sinkSummary(sink)).received).toBe(1);
      expect(calls).toBe(2);
      expect(ns.queueRow(11)?.lastId).toBe(2);
    } finally {
      await q.close();
    }
  });

  it('UDP, dropFlow on the first datagram: it is dropped, and as the kernel forgets an unconfirmed connection with its packet, the next datagram is queued again', async () => {
    let calls = 0;
    const q = await openQueue(15, () => {
      calls++;
      return dropFlow();
    }, { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9988 }, flow: true });
    try {
      const sink = await startUdpSink(ns, 9988, { idleMs: 1000, timeoutMs: 2500 });
      await sendUdp(ns, '127.0.0.1', 9988, { count: 1, sport: 40003 });
      await until(() => calls === 1);
      await sendUdp(ns, '127.0.0.1', 9988, { count: 1, sport: 40003 });
      await until(() => calls === 2);
      expect((await sinkSummary(sink)).received).toBe(0);
      expect(ns.queueRow(15)?.lastId).toBe(2);
    } finally {
      await q.close();
    }
  });

  it('TCP, acceptFlow on the SYN: one packet queued, every byte arrives', async () => {
    let calls = 0;
    const q = await openQueue(12, () => {
      calls++;
      return acceptFlow();
    }, { netns: netns(), rule: { hook: 'output', protocol: 'tcp', dport: 9992 }, flow: true });
    try {
      const sink = await startTcpSink(ns, 9992, { conns: 1, timeoutMs: 10_000 });
      const sent = await sendTcp(ns, '127.0.0.1', 9992, { bytes: 300_000 });
      expect(sent.done).toBe(true);
      const summary = await sink.waitForJson<{ done?: boolean; bytes: number }>((j) => j.done === true, 10_000);
      expect(summary.bytes).toBe(300_000);
      expect(calls).toBe(1);
      expect(ns.queueRow(12)?.lastId).toBe(1);
    } finally {
      await q.close();
    }
  });

  it('TCP, dropFlow on the data: no byte arrives, and the retransmissions are never queued', async () => {
    const dataPackets: number[] = [];
    const q = await openQueue(13, (p) => {
      if (tcpPayloadLength(p) === 0) return 'accept';
      dataPackets.push(p.id);
      return dropFlow();
    }, { netns: netns(), rule: { hook: 'output', protocol: 'tcp', dport: 9993 }, flow: true });
    try {
      const sink = await startTcpSink(ns, 9993, { conns: 1, timeoutMs: 4000 });
      const sending = sendTcp(ns, '127.0.0.1', 9993, { bytes: 50_000, timeoutMs: 3000 });
      await until(() => dataPackets.length > 0);
      // Segments already in flight before the verdict are queued too; after it, none.
      await new Promise((r) => setTimeout(r, 500));
      const queuedThen = ns.queueRow(13)!.lastId;
      const sent = await sending;
      const summary = await sink.waitForJson<{ done?: boolean; bytes: number }>((j) => j.done === true, 10_000);
      expect(summary.bytes).toBe(0);
      expect(sent.done).toBe(false);
      // The client retransmitted for seconds; the kernel dropped every retransmission itself.
      expect(ns.queueRow(13)!.lastId).toBe(queuedThen);
      expect(dataPackets.length).toBeGreaterThanOrEqual(1);
    } finally {
      await q.close();
    }
  });

  it('for await: packet.acceptFlow() decides the flow, the rest passes without being queued', async () => {
    const q = await openQueue(16, { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9987 }, flow: true });
    let seen = 0;
    const loop = (async () => {
      for await (const p of q) {
        seen++;
        p.acceptFlow();
      }
    })();
    try {
      const sink = await startUdpSink(ns, 9987, { count: 10, timeoutMs: 8000 });
      await sendUdp(ns, '127.0.0.1', 9987, { count: 1, sport: 40004 });
      await until(() => seen === 1);
      await sendUdp(ns, '127.0.0.1', 9987, { count: 9, sport: 40004 });
      expect((await sinkSummary(sink)).received).toBe(10);
      expect(seen).toBe(1);
      expect(ns.queueRow(16)?.lastId).toBe(1);
    } finally {
      await q.close();
      await loop;
    }
  });

  it('a flow verdict without flow verdicts turned on is a RuleError, and the packet gets the default verdict', async () => {
    const errors: Error[] = [];
    const q = await openQueue(14, () => acceptFlow(), { netns: netns(), rule: { hook: 'output', protocol: 'udp', dport: 9989 }, onError: (e) => errors.push(e) });
    try {
      const sink = await startUdpSink(ns, 9989, { count: 2, timeoutMs: 8000 });
      await sendUdp(ns, '127.0.0.1', 9989, { count: 2, rate: 100 });
      expect((await sinkSummary(sink)).received).toBe(2); // default verdict: accept
      expect(errors).toHaveLength(2);
      expect((errors[0] as Error & { cause?: unknown }).cause).toBeInstanceOf(RuleError);
    } finally {
      await q.close();
    }
    await expect(openQueue(14, () => 'accept', { netns: netns(), flow: true })).rejects.toBeInstanceOf(RuleError);
  });
});
