// Payload rewrite with checksum helpers, proven on the receiving side: UDP over IPv4 and
// IPv6, same length, longer and shorter. The sender's consumer rewrites the data on OUTPUT;
// the kernel marks the rewritten skb CHECKSUM_NONE, so the receiving namespace verifies the
// checksums in software (a bad one is dropped and counted in InCsumErrors). tshark in the
// receiving namespace validates the IPv4 header and UDP checksums of what arrived.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, veth } from '../../support/capabilities.js';
import { startConsumer } from '../../support/consumer.js';
import { sendUdp, sinkDatagrams, startUdpSink, execCommand as sh, type Child } from '../../support/netns.js';

let a: Ns;
let b: Ns;
let dir: string;
beforeAll(() => {
  a = new Ns('ra');
  b = new Ns('rb');
  veth(a, b, 'ra0', 'rb0', '10.202.1.1/24', '10.202.1.2/24', 'fd00:202::1/64', 'fd00:202::2/64');
  dir = mkdtempSync(join(tmpdir(), 'nfq-rewrite-'));
});
afterAll(async () => {
  await Promise.all([a?.destroy(), b?.destroy()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const recv = (sink: Child): string[] => sinkDatagrams(sink).map((l) => l.payload!);

function udpInCsumErrors(ns: Ns, v6: boolean): number {
  if (v6) {
    const m = /Udp6InCsumErrors\s+(\d+)/.exec(ns.exec('cat', '/proc/net/snmp6'));
    return Number(m?.[1] ?? NaN);
  }
  const lines = ns.exec('cat', '/proc/net/snmp').split('\n').filter((l) => l.startsWith('Udp:'));
  const keys = lines[0]!.split(/\s+/);
  const vals = lines[1]!.split(/\s+/);
  return Number(vals[keys.indexOf('InCsumErrors')]);
}

interface Case {
  name: string;
  v6: boolean;
  port: number;
  queue: number;
  replace: string;
}
const cases: Case[] = [
  { name: 'IPv4 same length', v6: false, port: 7001, queue: 1, replace: 'HELLO' },
  { name: 'IPv4 longer', v6: false, port: 7002, queue: 2, replace: 'a-much-longer-greeting' },
  { name: 'IPv4 shorter', v6: false, port: 7003, queue: 3, replace: 'hi' },
  { name: 'IPv6 same length', v6: true, port: 7004, queue: 4, replace: 'HELLO' },
  { name: 'IPv6 longer', v6: true, port: 7005, queue: 5, replace: 'a-much-longer-greeting' },
  { name: 'IPv6 shorter', v6: true, port: 7006, queue: 6, replace: 'hi' },
];

describe('payload rewrite with checksum helpers', () => {
  it('rewritten UDP payloads arrive rewritten, with valid checksums in a capture at the receiver', async () => {
    const rewriteByQueue: Record<string, { find: string; replace: string }> = {};
    for (const c of cases) {
      (c.v6 ? a.ip6t.bind(a) : a.ipt.bind(a))('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', String(c.port), '-j', 'NFQUEUE', '--queue-num', String(c.queue));
      rewriteByQueue[c.queue] = { find: 'hello', replace: c.replace };
    }
    const pcap = join(dir, 'rx.pcap');
    // -c: tshark stops by itself once every expected datagram is written (a SIGINT right after
    // the last send could cut packets still in its buffers).
    const cap = b.spawn(['tshark', '-i', 'rb0', '-n', '-f', 'udp', '-c', String(cases.length * 3), '-w', pcap]);
    await cap.waitForStderr(/Capturing on/);
    const sinks = await Promise.all(cases.map((c) => startUdpSink(b.netns, c.port, { host: c.v6 ? 'fd00:202::2' : '10.202.1.2' })));
    const consumer = await startConsumer(a.netns, { report: true, queues: cases.map((c) => c.queue), policy: 'rewrite', rewriteByQueue });
    for (const c of cases) await sendUdp(a.netns, c.v6 ? 'fd00:202::2' : '10.202.1.2', c.port, { count: 3, payloadPrefix: 'hello-' });
    for (const [i, c] of cases.entries()) {
      await eventually(() => recv(sinks[i]!).length === 3, `${c.name}: sink got 3`);
      expect(recv(sinks[i]!).sort()).toEqual([0, 1, 2].map((n) => `${c.replace}-seq=${n};`));
    }
    expect(udpInCsumErrors(b, false)).toBe(0);
    expect(udpInCsumErrors(b, true)).toBe(0);
    consumer.write('close\n');
    await consumer.exited;
    const stopper = setTimeout(() => cap.kill('SIGINT'), 15_000);
    await cap.exited;
    clearTimeout(stopper);
    // Decode the capture with checksum validation on.
    const fields = sh([
      'tshark', '-r', pcap, '-n', '-o', 'ip.check_checksum:TRUE', '-o', 'udp.check_checksum:TRUE',
      '-T', 'fields', '-E', 'separator=|', '-e', 'ip.version', '-e', 'ipv6.version', '-e', 'udp.dstport',
      '-e', 'ip.checksum.status', '-e', 'udp.checksum.status', '-e', 'udp.length', '-e', 'data.data',
    ]);
    const rows = fields.trim().split('\n').map((l) => l.split('|'));
    expect(rows).toHaveLength(cases.length * 3);
    for (const [v4, v6, port, ipStatus, udpStatus, udpLen, data] of rows) {
      const c = cases.find((x) => x.port === Number(port))!;
      const text = Buffer.from(data!, 'hex').toString('latin1');
      expect(text.startsWith(`${c.replace}-`)).toBe(true);
      expect(Number(udpLen)).toBe(8 + text.length);
      // Checksum status: 1 = good (0 bad, 2 unverified).
      expect(udpStatus).toBe('1');
      if (c.v6) expect(v6).toBe('6');
      else {
        expect(v4).toBe('4');
        expect(ipStatus).toBe('1');
      }
    }
  });

  it('control: a same-length rewrite WITHOUT fixing the checksum is dropped by the receiver (InCsumErrors rises)', async () => {
    a.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '7010', '-j', 'NFQUEUE', '--queue-num', '10');
    const sink = await startUdpSink(b.netns, 7010, { host: '10.202.1.2' });
    const before = udpInCsumErrors(b, false);
    const c = await startConsumer(a.netns, { report: true, queues: 10, policy: 'rewrite', rewrite: { find: 'hello', replace: 'HELLO', fix: false } });
    await sendUdp(a.netns, '10.202.1.2', 7010, { count: 3, payloadPrefix: 'hello-' });
    await eventually(() => udpInCsumErrors(b, false) - before === 3, 'receiver counted 3 checksum errors');
    expect(recv(sink)).toHaveLength(0);
    c.write('close\n');
    await c.exited;
  });
});
