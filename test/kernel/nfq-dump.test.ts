// nfq-dump against the real kernel: a network namespace with NFQUEUE rules, nfq-dump started
// inside it with `ip netns exec`, traffic to 127.0.0.1 / ::1 inside the same namespace.
// Checks the text, JSON and pcap output against the traffic sent and against tshark, the
// verdicts' effects, the exit codes, the stderr summary and the error messages.
// Needs root, iproute2 and iptables-legacy.
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countDelivered, createNetns, kernelTestsUnavailable, sendTcp, sendUdp, sinkSummary, startTcpSink, type Child, type Netns } from '../support/netns.js';
import { CLI, ensureBuilt, haveCommand, jsonLines, runCli, tsharkFields } from '../support/cli.js';
import { importingBuiltPackage, readmeExample } from '../support/readme.js';

const skip = kernelTestsUnavailable();
const NODE = process.execPath;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

type Json = Record<string, unknown>;

describe.skipIf(skip !== undefined)('nfq-dump on a live queue (kernel, root)', () => {
  let ns: Netns;
  let tmp: string;
  const running: Child[] = [];

  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'nfq-dump-live-'));
    chmodSync(tmp, 0o755);
    ns = createNetns('nfqcli');
    const q = (n: number): string[] => ['-j', 'NFQUEUE', '--queue-num', String(n)];
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', '5400', ...q(0));
    ns.iptables('-A', 'OUTPUT', '-p', 'tcp', '--dport', '5401', ...q(0));
    ns.iptables('-A', 'OUTPUT', '-p', 'icmp', ...q(0));
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', '5402', ...q(1));
    ns.ip6tables('-A', 'OUTPUT', '-p', 'udp', '--dport', '5400', ...q(0));
    ns.ip6tables('-A', 'OUTPUT', '-p', 'ipv6-icmp', ...q(0));
    // An accepted packet resumes at the next hook: count the mark a verdict set there.
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-m', 'mark', '--mark', '0x2a', '-m', 'comment', '--comment', 'marked');
    // Datagrams that got through are counted on mangle INPUT (countDelivered), then dropped
    // before a socket lookup, so that no port-unreachable ICMP joins the queued traffic.
    for (const port of ['5400', '5402']) {
      ns.iptables('-A', 'INPUT', '-p', 'udp', '--dport', port, '-j', 'DROP');
      ns.ip6tables('-A', 'INPUT', '-p', 'udp', '--dport', port, '-j', 'DROP');
    }
  });

  afterEach(async () => {
    for (const c of running.splice(0)) {
      c.kill('SIGKILL');
      await c.exited;
    }
    for (const n of [0, 1, 2]) await ns.waitForQueueUnbound(n, 5_000);
  });

  afterAll(async () => {
    await ns?.destroy();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  /** Starts nfq-dump in the namespace and waits until it has bound `queues`. */
  async function startDump(args: string[], queues: number[] = [0], prefix: string[] = []): Promise<Child> {
    const c = ns.spawn([...prefix, NODE, CLI, ...args]);
    running.push(c);
    for (const q of queues) {
      await ns.waitForQueueBound(q, 10_000).catch((e: Error) => {
        throw new Error(`${e.message}\n${c.transcript()}`);
      });
    }
    return c;
  }

  /** Waits until `pred` holds for the child's stdout lines. */
  async function until(c: Child, pred: (lines: string[]) => boolean, what: string, timeoutMs = 10_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!pred(c.lines().filter((l) => l !== ''))) {
      if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}\n${c.transcript()}`);
      if (!c.running) throw new Error(`nfq-dump exited before ${what}\n${c.transcript()}`);
      await sleep(50);
    }
  }

  async function stop(c: Child, signal: NodeJS.Signals = 'SIGINT'): Promise<number | null> {
    c.kill(signal);
    const e = await c.waitForExit(10_000);
    return e.code;
  }

  it('--json and -w: every field matches the UDP, TCP, ICMP and IPv6 traffic sent, and tshark reads the pcap', async () => {
    const pcap = join(tmp, 'live.pcap');
    const dump = await startDump(['--json', '-w', pcap]);
    const udp4 = countDelivered(ns, 5400);
    const udp6 = countDelivered(ns, 5400, { family: 6 });
    const tcp = await startTcpSink(ns, 5401, { conns: 1, timeoutMs: 8_000 });
    const t0 = Date.now() / 1000;
    const s4 = await sendUdp(ns, '127.0.0.1', 5400, { count: 3, size: 50, payloadPrefix: 'v4-' });
    const s6 = await sendUdp(ns, '::1', 5400, { count: 2, size: 70, family: 6 });
    const st = await sendTcp(ns, '127.0.0.1', 5401, { bytes: 300 });
    expect(st.done).toBe(true);
    await sendUdp(ns, '127.0.0.1', 5403, { count: 1 }); // closed port: the kernel answers ICMP
    const isIcmp = (l: string): boolean => l.includes('"proto":1,');
    await until(dump, (ls) => ls.some(isIcmp), 'the ICMP packet');
    const t1 = Date.now() / 1000;
    expect(await stop(dump)).toBe(0);

    const all = jsonLines(dump.lines().join('\n')) as Json[];
    // Every packet: queue metadata, verdict, timestamps.
    all.forEach((j, i) => {
      expect(j).toMatchObject({ queue: 0, family: j['ipVersion'] === 6 ? 'inet6' : 'inet', hook: 'output', hwProtocol: j['ipVersion'] === 6 ? 0x86dd : 0x0800, mark: 0, indev: null, outdev: 'lo', uid: null, gid: null, truncated: false, verdict: 'accept', verdictMark: null });
      expect(j['payloadLength']).toBe(j['capLen']);
      expect(j['ipLength']).toBe(j['capLen']);
      expect(j['timestamp'] as number).toBeGreaterThanOrEqual(t0 - 0.001);
      expect(j['timestamp'] as number).toBeLessThanOrEqual(t1 + 0.001);
      if (i > 0) expect(j['id'] as number).toBeGreaterThan(all[i - 1]!['id'] as number);
    });
    const v4 = all.filter((j) => j['proto'] === 17 && j['ipVersion'] === 4);
    expect(v4).toHaveLength(3);
    for (const j of v4) {
      expect(j).toMatchObject({ src: '127.0.0.1', dst: '127.0.0.1', protoName: 'udp', sport: s4.local.port, dport: 5400, length: 50, capLen: 78, ttl: 64 });
    }
    const v6 = all.filter((j) => j['proto'] === 17 && j['ipVersion'] === 6);
    expect(v6).toHaveLength(2);
    for (const j of v6) expect(j).toMatchObject({ src: '::1', dst: '::1', sport: s6.local.port, dport: 5400, length: 70, capLen: 118 });
    const t = all.filter((j) => j['proto'] === 6);
    expect(t.length).toBeGreaterThanOrEqual(4);
    expect((t[0]!['tcp'] as Json)['flags']).toBe('S');
    expect(t.every((j) => j['dport'] === 5401 && j['sport'] === t[0]!['sport'])).toBe(true);
    expect(t.reduce((a, j) => a + (j['length'] as number), 0)).toBe(300);
    expect(t.some((j) => String((j['tcp'] as Json)['flags']).includes('F'))).toBe(true);
    const icmp = all.filter((j) => j['proto'] === 1);
    expect(icmp).toHaveLength(1);
    expect(icmp[0]!['icmp']).toMatchObject({ type: 3, code: 3, name: 'destination unreachable', inner: { proto: 17, dport: 5403 } });
    expect(all).toHaveLength(3 + 2 + t.length + 1);

    // The traffic went through (accept).
    expect(await udp4.waitFor(3)).toBe(3);
    expect(await udp6.waitFor(2)).toBe(2);
    expect((await sinkSummary(tcp)).bytes).toBe(300);

    // The summary, and no status line: stderr is not a terminal.
    const err = dump.stderr();
    expect(err).toMatch(/^nfq-dump: listening on queue 0 \(copy 65535 bytes\), verdict accept, writing .*live\.pcap; Ctrl-C to stop\n/);
    expect(err).toContain(`${all.length} packets seen on queue 0\n${all.length} verdicts: ${all.length} accept\n0 packets dropped by kernel (queue 0: 0 queue full, 0 socket buffer full)\n`);
    expect(err).not.toMatch(/[\r\x1b]/);

    // The pcap: LINKTYPE_RAW, and tshark sees the same packets.
    expect(readFileSync(pcap).readUInt32LE(20)).toBe(101);
    if (haveCommand('tshark')) {
      const rows = tsharkFields(pcap, ['frame.len', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'ip.proto', 'ipv6.nxt', 'udp.srcport', 'tcp.srcport', 'udp.dstport', 'tcp.dstport', 'udp.length', 'icmp.type', 'frame.time_epoch']);
      expect(rows).toHaveLength(all.length);
      rows.forEach((r, i) => {
        const j = all[i]!;
        const [len, src4, src6, dst4, dst6, proto4, proto6, usp, tsp, udp, tdp, ulen, icmpType, time] = r;
        expect(Number(len)).toBe(j['capLen']);
        // ICMP errors quote a packet: tshark lists the inner header's fields after the outer ones.
        const first = (x: string | undefined): string => (x ?? '').split(',')[0]!;
        expect(first(src4) || first(src6)).toBe(j['src']);
        expect(first(dst4) || first(dst6)).toBe(j['dst']);
        expect(Number(first(proto4) || first(proto6))).toBe(j['proto']);
        if (j['proto'] === 17) {
          expect(Number(first(usp))).toBe(j['sport']);
          expect(Number(first(udp))).toBe(j['dport']);
          expect(Number(first(ulen))).toBe((j['length'] as number) + 8);
        }
        if (j['proto'] === 6) {
          expect(Number(tsp)).toBe(j['sport']);
          expect(Number(tdp)).toBe(j['dport']);
        }
        if (j['proto'] === 1) expect(Number(first(icmpType))).toBe(3);
        expect(Number(time)).toBeCloseTo(j['timestamp'] as number, 5);
      });
    }
  });

  it('text: one tcpdump-like line per packet with the verdict, for UDP, TCP, IPv6 and ICMPv6', async () => {
    const dump = await startDump(['-q', '0']);
    const sink = countDelivered(ns, 5400);
    const sink6 = countDelivered(ns, 5400, { family: 6 });
    const tcp = await startTcpSink(ns, 5401, { conns: 1, timeoutMs: 8_000 });
    const s4 = await sendUdp(ns, '127.0.0.1', 5400, { count: 1, size: 10 });
    const s6 = await sendUdp(ns, '::1', 5400, { count: 1, size: 12, family: 6 });
    await sendTcp(ns, '127.0.0.1', 5401, { bytes: 20 });
    await sendUdp(ns, '::1', 5403, { count: 1, family: 6 }); // closed port: ICMPv6 unreachable
    await until(dump, (ls) => ls.some((l) => l.includes('ICMP6')), 'the ICMPv6 line');
    expect(await stop(dump, 'SIGTERM')).toBe(0);
    const lines = dump.lines().filter((l) => l !== '');
    const head = String.raw`^\d\d:\d\d:\d\d\.\d{6} q0 id \d+ OUTPUT out lo mark 0x0 `;
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`${head}IP 127\\.0\\.0\\.1\\.${s4.local.port} > 127\\.0\\.0\\.1\\.5400: UDP, length 10 -> accept$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`${head}IP6 ::1\\.${s6.local.port} > ::1\\.5400: UDP, length 12 -> accept$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`${head}IP 127\\.0\\.0\\.1\\.\\d+ > 127\\.0\\.0\\.1\\.5401: Flags \\[S\\], seq \\d+, win \\d+, length 0 -> accept$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`${head}IP 127\\.0\\.0\\.1\\.\\d+ > 127\\.0\\.0\\.1\\.5401: Flags \\[P\\.\\], seq (\\d+):\\d+, ack \\d+, win \\d+, length 20 -> accept$`)));
    expect(lines).toContainEqual(expect.stringMatching(new RegExp(`${head}IP6 ::1 > ::1: ICMP6, destination unreachable, unreachable port, ::1 udp port 5403, length \\d+ -> accept$`)));
    for (const l of lines) expect(l).toMatch(new RegExp(`${head}IP6? .* -> accept$`));
    expect(await sink.waitFor(1)).toBe(1);
    expect(await sink6.waitFor(1)).toBe(1);
    expect((await sinkSummary(tcp)).bytes).toBe(20);
    expect(dump.stderr()).toContain(`${lines.length} packets seen on queue 0\n`);
  });

  it('--verdict drop -c 3: the datagrams never arrive, and nfq-dump exits by itself with a summary', async () => {
    const dump = await startDump(['-q', '1', '--verdict', 'drop', '-c', '3'], [1]);
    const sink = countDelivered(ns, 5402);
    await sendUdp(ns, '127.0.0.1', 5402, { count: 3 });
    const exit = await dump.waitForExit(10_000);
    expect(exit.code).toBe(0);
    const lines = dump.lines().filter((l) => l !== '');
    expect(lines).toHaveLength(3);
    for (const l of lines) expect(l).toMatch(/ q1 id \d+ OUTPUT out lo mark 0x0 IP 127\.0\.0\.1\.\d+ > 127\.0\.0\.1\.5402: UDP, length \d+ -> drop$/);
    expect(sink.pkts()).toBe(0);
    expect(dump.stderr(), dump.stderr()).toMatch(/3 packets seen on queue 1\n3 verdicts: 3 drop\n0 packets dropped by kernel \(queue 1: 0 queue full, 0 socket buffer full\)\n$/);
  });

  it('--mark: the packets carry the mark afterwards (counted in mangle POSTROUTING)', async () => {
    const before = ns.counter('mangle', 'POSTROUTING', 'marked').pkts;
    const dump = await startDump(['--mark', '0x2a', '--json', '-c', '2']);
    const sink = countDelivered(ns, 5400);
    await sendUdp(ns, '127.0.0.1', 5400, { count: 2 });
    expect((await dump.waitForExit(10_000)).code).toBe(0);
    expect(await sink.waitFor(2)).toBe(2);
    expect(ns.counter('mangle', 'POSTROUTING', 'marked').pkts - before).toBe(2);
    for (const j of dump.json()) expect(j).toMatchObject({ mark: 0, verdict: 'accept', verdictMark: 42 });
    expect(dump.stderr()).toContain('2 verdicts: 2 accept (mark 0x2a)');
  });

  it('--queue 0-1 binds both queues', async () => {
    const dump = await startDump(['--json', '--queue', '0-1'], [0, 1]);
    const a = countDelivered(ns, 5400);
    const b = countDelivered(ns, 5402);
    await sendUdp(ns, '127.0.0.1', 5400, { count: 1 });
    await sendUdp(ns, '127.0.0.1', 5402, { count: 1 });
    await until(dump, (ls) => ls.length >= 2, 'two packets');
    expect(await stop(dump)).toBe(0);
    expect(dump.json().map((j) => [j['queue'], j['dport']]).sort()).toEqual([
      [0, 5400],
      [1, 5402],
    ]);
    expect(await a.waitFor(1)).toBe(1);
    expect(await b.waitFor(1)).toBe(1);
    expect(dump.stderr()).toMatch(/listening on queues 0, 1 /);
    expect(dump.stderr()).toMatch(/2 packets seen on queues 0, 1\n.*\n0 packets dropped by kernel \(queue 0: 0 queue full, 0 socket buffer full; queue 1: 0 queue full, 0 socket buffer full\)/);
  });

  it('--family inet6 shows IPv6 only; IPv4 packets are accepted unseen', async () => {
    const dump = await startDump(['--json', '--family', 'inet6']);
    const a = countDelivered(ns, 5400);
    const b = countDelivered(ns, 5400, { family: 6 });
    await sendUdp(ns, '127.0.0.1', 5400, { count: 1 });
    await sendUdp(ns, '::1', 5400, { count: 1, family: 6 });
    await until(dump, (ls) => ls.length >= 1, 'the IPv6 packet');
    expect(await a.waitFor(1)).toBe(1);
    expect(await b.waitFor(1)).toBe(1);
    expect(await stop(dump)).toBe(0);
    expect(dump.json().map((j) => [j['family'], j['src']])).toEqual([['inet6', '::1']]);
    expect(dump.stderr()).toContain('1 packet seen on queue 0 (+1 of other families accepted unseen)\n2 verdicts: 2 accept\n');
  });

  it('--copy-range and --uid-gid: a cut copy still shows the lengths on the wire, and the sender', async () => {
    const dump = await startDump(['--json', '-s', '40', '--uid-gid', '-c', '1']);
    const sink = countDelivered(ns, 5400);
    const s = await sendUdp(ns, '127.0.0.1', 5400, { count: 1, size: 100, uid: 4242, gid: 4343 });
    expect((await dump.waitForExit(10_000)).code).toBe(0);
    expect(await sink.waitFor(1)).toBe(1);
    expect(dump.json()[0]).toMatchObject({ uid: 4242, gid: 4343, payloadLength: 40, capLen: 128, truncated: true, ipLength: 128, sport: s.local.port, dport: 5400, length: 100 });
  });

  it('--meta: metadata only, and the text line says no bytes were copied', async () => {
    const dump = await startDump(['--meta', '-c', '1']);
    const sink = countDelivered(ns, 5400);
    await sendUdp(ns, '127.0.0.1', 5400, { count: 1 });
    expect((await dump.waitForExit(10_000)).code).toBe(0);
    expect(await sink.waitFor(1)).toBe(1);
    expect(dump.lines()[0]).toMatch(/ q0 id \d+ OUTPUT out lo mark 0x0 (length \d+ )?\(no packet bytes copied\) -> accept$/);
    expect(dump.stderr()).toMatch(/listening on queue 0 \(metadata only\)/);
  });

  it('--record, then -r without privileges: the replay shows the same packets and verdicts', async () => {
    const rec = join(tmp, 'conversation.pcap');
    const dump = await startDump(['--json', '--record', rec, '--mark', '7', '-c', '3']);
    const sink = countDelivered(ns, 5400);
    await sendUdp(ns, '127.0.0.1', 5400, { count: 3, size: 20 });
    expect((await dump.waitForExit(10_000)).code).toBe(0);
    expect(await sink.waitFor(3)).toBe(3);
    chmodSync(rec, 0o644);
    const replay = runCli(['-r', rec, '--json'], { prefix: ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all'] });
    expect(replay.status, replay.stderr).toBe(0);
    const strip = (j: Json): Json => {
      const { timestamp: _t, timestampSource: _s, ...rest } = j;
      return rest;
    };
    expect(jsonLines(replay.stdout).map(strip)).toEqual(dump.json().map(strip));
    expect(replay.stderr).toMatch(/^3 packets from .*\nverdicts recorded: 3 accept\nqueue 0 in the recording\n$/);
    if (haveCommand('tshark')) {
      // Wireshark's netfilter-queue dissector reads the recording too.
      const ids = tsharkFields(rec, ['netlink-netfilter.queue.packet.id']).map((r) => r[0]).filter((x) => x !== '' && x !== undefined);
      expect(ids.length).toBeGreaterThanOrEqual(3);
    }
  });

  it('a packet burst still waiting in the kernel when nfq-dump stops gets the verdict, not a drop', async () => {
    const dump = await startDump(['-q', '0', '-c', '1']);
    const sink = countDelivered(ns, 5400);
    // Freeze nfq-dump so that the datagrams wait in the kernel's queue, then let it go.
    process.kill(dump.pid!, 'SIGSTOP');
    try {
      await sendUdp(ns, '127.0.0.1', 5400, { count: 5 });
      expect(ns.queueRow(0)?.waiting).toBe(5);
    } finally {
      process.kill(dump.pid!, 'SIGCONT');
    }
    expect((await dump.waitForExit(10_000)).code).toBe(0);
    expect(dump.lines().filter((l) => l !== '')).toHaveLength(1);
    expect(await sink.waitFor(5)).toBe(5);
    expect(dump.stderr()).toMatch(/1 packet seen on queue 0\n5 verdicts: 5 accept\n/);
  });

  it('a receive-buffer overrun is reported, and the kernel drop counter shows in the summary', async () => {
    const dump = await startDump(['-q', '0', '-B', '4K']);
    expect(await overrunAndStop(dump)).toBe(0);
    const err = dump.stderr();
    expect(err).toMatch(/nfq-dump: warning: the kernel dropped packets it could not deliver to nfq-dump \(socket receive buffer full, ENOBUFS\): raise --buffer-size/);
    const m = /(\d+) packets dropped by kernel \(queue 0: 0 queue full, (\d+) socket buffer full\)/.exec(err);
    expect(m, err).not.toBeNull();
    expect(Number(m![1])).toBeGreaterThan(100);
    expect(m![2]).toBe(m![1]);
    expect(err).toMatch(/receive buffer overruns? \(ENOBUFS\): raise --buffer-size/);
  });

  it('--record as a non-root CAP_NET_ADMIN user (no /proc access) still reports a receive-buffer overrun', async () => {
    // /proc/net/netfilter/nfnetlink_queue is root-only, so only the socket's ENOBUFS can tell
    // this user of an overrun; recording must not open a socket that silences it.
    const dir = join(tmp, 'nobody');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    const rec = join(dir, 'overrun.pcap');
    const dump = await startDump(['-q', '0', '-B', '4K', '--record', rec], [0], ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all,+net_admin', '--ambient-caps=+net_admin', '--bounding-set=-all,+net_admin']);
    expect(await overrunAndStop(dump)).toBe(0);
    expect(dump.stderr()).toMatch(/nfq-dump: warning: the kernel dropped packets it could not deliver to nfq-dump \(socket receive buffer full, ENOBUFS\)/);
    expect(dump.stderr()).toMatch(/receive buffer overruns? \(ENOBUFS\): raise --buffer-size/);
  });

  /**
   * Sends a burst while nfq-dump is frozen, so that (with a tiny socket buffer) the kernel
   * drops most of it; then, once nfq-dump has said so (or after 10 s, on a loaded machine),
   * stops it.
   */
  async function overrunAndStop(dump: Child): Promise<number | null> {
    // Right after BIND the copy mode is NONE (the kernel drops every packet): freeze nfq-dump
    // only once its PARAMS (copy mode PACKET) are in force.
    await ns.waitForQueueBound(0, 10_000, { copyMode: 2 });
    process.kill(dump.pid!, 'SIGSTOP');
    try {
      await sendUdp(ns, '127.0.0.1', 5400, { count: 300, size: 1000 });
    } finally {
      process.kill(dump.pid!, 'SIGCONT');
    }
    for (const deadline = Date.now() + 10_000; !/ENOBUFS/.test(dump.stderr()) && Date.now() < deadline; ) await sleep(50);
    await sleep(200); // the packets read after the overrun get their verdicts too
    return stop(dump);
  }

  it('stops quietly when the reader of its output goes away (nfq-dump | head -n 1)', async () => {
    const c = ns.spawn(['sh', '-c', `"${NODE}" "${CLI}" -q 0 | head -n 1`]);
    running.push(c);
    await ns.waitForQueueBound(0);
    const sink = countDelivered(ns, 5400);
    await sendUdp(ns, '127.0.0.1', 5400, { count: 1 });
    await until(c, (ls) => ls.length === 1, 'the first line');
    // head has exited: writing the second line fails (EPIPE), and nfq-dump winds down.
    await sendUdp(ns, '127.0.0.1', 5400, { count: 1 });
    expect((await c.waitForExit(10_000)).code).toBe(0);
    await ns.waitForQueueUnbound(0);
    // Both got their verdict before nfq-dump left.
    expect(await sink.waitFor(2)).toBe(2);
  });

  it("the README's Quick start code example runs as written", async () => {
    const file = join(tmp, 'quick-start.mjs');
    writeFileSync(file, importingBuiltPackage(readmeExample('## Quick start')));
    const before = ns.counter('mangle', 'POSTROUTING', 'marked').pkts;
    const app = ns.spawn([NODE, file]);
    running.push(app);
    await ns.waitForQueueBound(0);
    const sink = countDelivered(ns, 5400);
    const s = await sendUdp(ns, '127.0.0.1', 5400, { count: 2, size: 10 });
    await until(app, (ls) => ls.length >= 2, 'two lines');
    expect(app.lines().filter((l) => l !== '')).toEqual([`#1 127.0.0.1 ${s.local.port} > 127.0.0.1 5400 udp, 10 bytes`, `#2 127.0.0.1 ${s.local.port} > 127.0.0.1 5400 udp, 10 bytes`]);
    expect(await sink.waitFor(1)).toBe(1); // #2 dropped
    expect(ns.counter('mangle', 'POSTROUTING', 'marked').pkts - before).toBe(1); // #1 marked 0x2a
    expect(await stop(app)).toBe(0);
  });

  it('a busy queue: the second nfq-dump exits 1 saying who holds it; the first runs on', async () => {
    const first = await startDump(['-q', '2'], [2]);
    const second = ns.run([NODE, CLI, '-q', '2'], { timeoutMs: 15_000 });
    expect(second.status).toBe(1);
    expect(second.stdout).toBe('');
    expect(second.stderr).toMatch(/^nfq-dump: queue 2 is already bound by another process \((EBUSY|EPERM)\): netlink port \d+/);
    expect(second.stderr).toMatch(/stop that program, or use another queue number/);
    expect(first.running).toBe(true);
    expect(ns.queueRow(2)).toBeDefined();
    expect(await stop(first, 'SIGTERM')).toBe(0);
    expect(first.stderr()).toContain('0 packets seen on queue 2');
  });

  it('without CAP_NET_ADMIN: exit 1 with what to do', () => {
    const r = ns.run(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', NODE, CLI, '-q', '0'], { timeoutMs: 15_000 });
    expect(r.status).toBe(1);
    expect(r.stderr).toBe('nfq-dump: needs CAP_NET_ADMIN (EPERM): run as root or with that capability\n');
  });

  it('draws a live status line only on a terminal', async () => {
    if (!haveCommand('script')) return;
    // `script` gives nfq-dump a pseudo-terminal for stdout and stderr.
    const c = ns.spawn(['script', '-qfec', `"${NODE}" "${CLI}" -q 0 -c 2`, '/dev/null']);
    running.push(c);
    await ns.waitForQueueBound(0);
    const sink = countDelivered(ns, 5400);
    await sleep(700);
    await sendUdp(ns, '127.0.0.1', 5400, { count: 2 });
    expect((await c.waitForExit(10_000)).code).toBe(0);
    const out = c.lines().join('\n');
    expect(out).toMatch(/\r\x1b\[K\d+ packets?, [\d.]+ pkts\/s, \d+ pending, drops: 0 queue full, 0 socket buffer/);
    expect(out).toMatch(/UDP, length \d+ -> accept/);
    expect(out).toMatch(/2 packets seen on queue 0/);
    expect(await sink.waitFor(2)).toBe(2);
  });
});
