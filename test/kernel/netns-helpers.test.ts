// Tests for the kernel-test infrastructure in test/support/. Everything after the parser
// tests runs on the real kernel as root (as CI does) inside throwaway network namespaces.
// Set NFQ_SKIP_KERNEL_TESTS=1 to skip those explicitly; they are never skipped silently.

import { spawn as spawnChild, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import {
  CommandError,
  MINI_QUEUE_SCRIPT,
  type Netns,
  createNetns,
  createRouterTopology,
  linkVeth,
  listNetns,
  parseIptablesList,
  parseQueueProc,
  sendTcp,
  sendUdp,
  sinkDatagrams,
  sinkSummary,
  startTcpSink,
  startUdpSink,
  sweepStaleNetns,
} from '../support/netns.js';

const KERNEL_TIMEOUT = 30_000;
const skipKernel = process.env.NFQ_SKIP_KERNEL_TESTS === '1';

describe('parseQueueProc', () => {
  it('parses the kernel format (queue portid waiting mode range qdrop udrop lastid 1)', () => {
    const text = '    7 134221825     0 2 65531     0     0        3  1\n    9   4242     5 1    64    11    12  4294967295  1\n';
    expect(parseQueueProc(text)).toEqual([
      { queue: 7, portid: 134221825, waiting: 0, copyMode: 2, copyRange: 65531, queueDropped: 0, userDropped: 0, lastId: 3 },
      { queue: 9, portid: 4242, waiting: 5, copyMode: 1, copyRange: 64, queueDropped: 11, userDropped: 12, lastId: 4294967295 },
    ]);
  });

  it('returns no rows for an empty file and rejects garbage', () => {
    expect(parseQueueProc('')).toEqual([]);
    expect(() => parseQueueProc('queue portid\n')).toThrow(/unexpected nfnetlink_queue line/);
  });
});

describe('parseIptablesList', () => {
  const listing = [
    'Chain OUTPUT (policy ACCEPT 3 packets, 186 bytes)',
    'num      pkts      bytes target     prot opt in     out     source               destination         ',
    '1          10      340 NFQUEUE    17   --  *      *       0.0.0.0/0            0.0.0.0/0            udp dpt:9 /* tag one */ NFQUEUE num 3 bypass',
    '2           4      120            17   --  *      lo      0.0.0.0/0            0.0.0.0/0            udp dpt:10',
    '3           0        0 ACCEPT     0    --  *      *       ::/0                 ::/0                ',
    '',
    'Chain mine (1 references)',
    'num      pkts      bytes target     prot opt in     out     source               destination         ',
  ].join('\n');

  it('parses counters, blank targets, comments, policies and user chains', () => {
    const chains = parseIptablesList(listing);
    expect(chains.map((c) => c.name)).toEqual(['OUTPUT', 'mine']);
    expect(chains[0]!.policy).toEqual({ target: 'ACCEPT', pkts: 3, bytes: 186 });
    expect(chains[1]!.references).toBe(1);
    expect(chains[1]!.rules).toEqual([]);
    const [r1, r2, r3] = chains[0]!.rules;
    expect(r1).toMatchObject({ num: 1, pkts: 10, bytes: 340, target: 'NFQUEUE', prot: '17', in: '*', out: '*' });
    expect(r1!.extra).toBe('udp dpt:9 /* tag one */ NFQUEUE num 3 bypass');
    expect(r2).toMatchObject({ num: 2, pkts: 4, bytes: 120, target: '', prot: '17', out: 'lo', extra: 'udp dpt:10' });
    expect(r3).toMatchObject({ num: 3, target: 'ACCEPT', source: '::/0', destination: '::/0', extra: '' });
  });
});

describe.skipIf(skipKernel)('network namespace helpers (real kernel, root)', () => {
  const all: Netns[] = [];
  const track = <T extends Netns>(ns: T): T => {
    all.push(ns);
    return ns;
  };
  afterAll(async () => {
    await Promise.all(all.map((ns) => ns.destroy()));
  });

  describe('createNetns / exec / destroy', () => {
    it('creates a uniquely named namespace with lo up, runs commands in it, and destroys it', async () => {
      const a = track(createNetns('hlp'));
      const b = track(createNetns('hlp'));
      expect(a.name).toMatch(new RegExp(`^hlp-${process.pid}-\\d+$`));
      expect(b.name).not.toBe(a.name);
      expect(listNetns()).toEqual(expect.arrayContaining([a.name, b.name]));

      // lo is up, and only lo exists.
      const links = a.exec(['ip', '-o', 'link', 'show']);
      expect(links.trim().split('\n')).toHaveLength(1);
      expect(links).toMatch(/^1: lo: <[^>]*\bUP\b/);
      expect(a.exec(['ip', '-o', 'addr', 'show', 'dev', 'lo'])).toContain('127.0.0.1/8');

      // exec returns stdout; failures throw with stderr.
      expect(a.exec(['sh', '-c', 'echo out; echo err >&2'])).toBe('out\n');
      expect(() => a.exec(['sh', '-c', 'echo boom >&2; exit 3'])).toThrowError(CommandError);
      expect(() => a.exec(['sh', '-c', 'echo boom >&2; exit 3'])).toThrow(/exit code 3[\s\S]*boom/);
      expect(a.run(['sh', '-c', 'exit 4']).status).toBe(4);

      // A sysctl written in one namespace is not visible in another.
      a.sysctl('net.ipv4.ip_forward', 1);
      expect(a.readSysctl('net.ipv4.ip_forward')).toBe('1');
      expect(b.readSysctl('net.ipv4.ip_forward')).toBe('0');

      // destroy kills children, removes the namespace, and is idempotent.
      const sleeper = a.spawn(['sleep', '1000']);
      await new Promise((r) => setTimeout(r, 100));
      expect(sleeper.running).toBe(true);
      await a.destroy();
      await a.destroy();
      a.destroySync();
      expect(a.alive).toBe(false);
      expect(listNetns()).not.toContain(a.name);
      expect(listNetns()).toContain(b.name);
      expect((await sleeper.exited).signal).toBe('SIGKILL');
      expect(() => a.exec(['true'])).toThrow(/destroyed/);
      await b.destroy();
      expect(listNetns()).not.toContain(b.name);
    }, KERNEL_TIMEOUT);

    it('cleans up after a test process that exits, is SIGTERMed (as vitest does), or is SIGKILLed', async () => {
      // Compile netns.ts on its own, then run throwaway Node processes that create a
      // namespace, start a child in it, and end without cleaning up.
      const dir = mkdtempSync(join(tmpdir(), 'nfq-hook-'));
      try {
        const helpers = fileURLToPath(new URL('../support/netns.ts', import.meta.url));
        writeFileSync(
          join(dir, 'tsconfig.json'),
          JSON.stringify({
            compilerOptions: {
              target: 'ES2022',
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              types: ['node'],
              typeRoots: [fileURLToPath(new URL('../../node_modules/@types', import.meta.url))],
              strict: true,
              skipLibCheck: true,
              outDir: join(dir, 'out'),
              rootDir: fileURLToPath(new URL('../support', import.meta.url)),
            },
            files: [helpers],
          }),
        );
        const tsc = fileURLToPath(new URL('../../node_modules/typescript/bin/tsc', import.meta.url));
        const built = spawnSync(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { encoding: 'utf8' });
        expect(built.stdout + built.stderr).toBe('');
        expect(built.status).toBe(0);
        const script = join(dir, 'out', 'leak.mjs');
        writeFileSync(
          script,
          [
            "import { createNetns } from './netns.js';",
            'const ns = createNetns(process.argv[2]);',
            "const child = ns.spawn(['sleep', '1000']);",
            'await new Promise((r) => setTimeout(r, 200));',
            'console.log(JSON.stringify({ name: ns.name, pid: child.pid }));',
            "if (process.argv[3] === 'exit') process.exit(0);",
            'setInterval(() => {}, 1000);',
          ].join('\n'),
        );
        const gone = (pid: number): (() => string) => () => {
          try {
            process.kill(pid, 0);
            return 'alive';
          } catch {
            return 'gone';
          }
        };
        const runLeaker = async (prefix: string, how: 'exit' | 'SIGTERM' | 'SIGKILL') => {
          const p = spawnChild(process.execPath, [script, prefix, how], { stdio: ['ignore', 'pipe', 'pipe'] });
          let out = '';
          let err = '';
          p.stdout.on('data', (d: Buffer) => (out += d.toString()));
          p.stderr.on('data', (d: Buffer) => (err += d.toString()));
          const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
            p.on('close', (code, signal) => resolve({ code, signal })),
          );
          await expect.poll(() => out.includes('\n'), { timeout: 10_000 }).toBe(true);
          const info = JSON.parse(out) as { name: string; pid: number };
          if (how !== 'exit') {
            expect(listNetns()).toContain(info.name);
            p.kill(how);
          }
          const end = await ended;
          expect(err).toBe('');
          return { ...info, end };
        };

        const viaExit = await runLeaker('hookx', 'exit');
        expect(viaExit.end).toEqual({ code: 0, signal: null });
        expect(viaExit.name).toMatch(/^hookx-\d+-1$/);
        expect(listNetns()).not.toContain(viaExit.name);
        await expect.poll(gone(viaExit.pid), { timeout: 5000 }).toBe('gone');

        const viaTerm = await runLeaker('hookt', 'SIGTERM');
        expect(viaTerm.end).toEqual({ code: null, signal: 'SIGTERM' }); // still dies by the signal
        expect(listNetns()).not.toContain(viaTerm.name);
        await expect.poll(gone(viaTerm.pid), { timeout: 5000 }).toBe('gone');

        // SIGKILL cannot be caught: the namespace stays until swept, the child dies anyway
        // (parent-death signal).
        const viaKill = await runLeaker('hookk', 'SIGKILL');
        expect(viaKill.end.signal).toBe('SIGKILL');
        await expect.poll(gone(viaKill.pid), { timeout: 5000 }).toBe('gone');
        expect(listNetns()).toContain(viaKill.name);
        expect(sweepStaleNetns('hookk')).toEqual([viaKill.name]);
        expect(listNetns()).not.toContain(viaKill.name);
      } finally {
        for (const prefix of ['hookx', 'hookt', 'hookk']) sweepStaleNetns(prefix);
        rmSync(dir, { recursive: true, force: true });
      }
    }, KERNEL_TIMEOUT);
  });

  describe('Child', () => {
    it('collects lines, waits for them, and reports early exit and timeouts', async () => {
      const ns = track(createNetns('hlp'));
      const c = ns.spawn(['sh', '-c', 'echo one; echo \'{"k":2}\'; sleep 0.2; echo three; echo oops >&2; exit 5']);
      expect(await c.waitForLine('three', 5000)).toBe('three');
      expect(await c.waitForLine(/^one$/, 100)).toBe('one'); // already received
      expect(await c.waitForJson<{ k: number }>((j) => j.k === 2, 100)).toEqual({ k: 2 });
      const exit = await c.exited;
      expect(exit).toEqual({ code: 5, signal: null });
      expect(c.lines()).toEqual(['one', '{"k":2}', 'three']);
      expect(c.json()).toEqual([{ k: 2 }]);
      expect(c.stderr()).toBe('oops\n');
      await expect(c.waitForLine('never', 5000)).rejects.toThrow(/exited \(code 5\)[\s\S]*oops/);

      const slow = ns.spawn(['sleep', '1000']);
      await expect(slow.waitForLine('x', 200)).rejects.toThrow(/timed out after 200 ms/);
      slow.kill('SIGTERM');
      expect((await slow.exited).signal).toBe('SIGTERM');
      await ns.destroy();
    }, KERNEL_TIMEOUT);
  });

  describe('traffic over loopback', () => {
    let ns: Netns;
    afterEach(async () => {
      await ns?.destroy();
    });

    for (const fam of [4, 6] as const) {
      const host = fam === 4 ? '127.0.0.1' : '::1';
      it(`delivers 100 numbered UDP datagrams over ${host}, counted by ${fam === 4 ? 'iptables' : 'ip6tables'}-legacy`, async () => {
        ns = track(createNetns('hlp'));
        const ipt = (...a: string[]): string => (fam === 4 ? ns.iptables(...a) : ns.ip6tables(...a));
        ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5001', '-m', 'comment', '--comment', 'out5001');
        ipt('-t', 'filter', '-A', 'INPUT', '-p', 'udp', '--dport', '5001', '-m', 'comment', '--comment', 'in5001', '-j', 'ACCEPT');
        ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5999', '-m', 'comment', '--comment', 'other');

        const sink = await startUdpSink(ns, 5001, { family: fam, count: 100, timeoutMs: 20_000 });
        const sent = await sendUdp(ns, host, 5001, { count: 100, size: 64, payloadPrefix: 'hello;' });
        expect(sent).toMatchObject({ sent: 100, errors: 0, bytes: 6400 });

        const summary = await sinkSummary(sink);
        expect(summary).toMatchObject({ received: 100, distinct: 100, duplicates: 0, bytes: 6400, timedOut: false });
        expect((await sink.exited).code).toBe(0);
        const dgrams = sinkDatagrams(sink);
        expect(dgrams.map((d) => d.seq).sort((x, y) => x! - y!)).toEqual(Array.from({ length: 100 }, (_, i) => i));
        expect(dgrams.every((d) => d.from === host && d.len === 64 && d.port === sent.local.port)).toBe(true);
        expect(dgrams[0]!.payload).toMatch(/^hello;seq=\d+;\.+$/);

        const hdr = fam === 4 ? 20 + 8 : 40 + 8;
        expect(ns.counter('mangle', 'OUTPUT', 'out5001', fam)).toMatchObject({ pkts: 100, bytes: 100 * (hdr + 64) });
        expect(ns.counter('filter', 'INPUT', 'in5001', fam)).toMatchObject({ pkts: 100, bytes: 100 * (hdr + 64) });
        expect(ns.counter('mangle', 'OUTPUT', 'other', fam).pkts).toBe(0);
        expect(ns.counter('mangle', 'OUTPUT', 1, fam).rule.target).toBe('');
        expect(() => ns.counter('mangle', 'OUTPUT', 'udp', fam)).toThrow(/2 rules .* match udp/);
        expect(() => ns.counter('mangle', 'OUTPUT', 'nothing-like-this', fam)).toThrow(/0 rules/);
      }, KERNEL_TIMEOUT);
    }

    it('moves a TCP stream intact over 127.0.0.1 and ::1, and reports refused connections', async () => {
      ns = track(createNetns('hlp'));
      for (const [fam, host] of [[4, '127.0.0.1'], [6, '::1']] as const) {
        const sink = await startTcpSink(ns, 6001, { family: fam, conns: 1, timeoutMs: 20_000 });
        const r = await sendTcp(ns, host, 6001, { bytes: 3_000_000, family: fam });
        expect(r).toMatchObject({ done: true, sent: 3_000_000 });
        const conn = await sink.waitForJson<{ conn?: boolean; bytes: number; patternOk: boolean }>((j) => j.conn === true);
        expect(conn).toMatchObject({ bytes: 3_000_000, patternOk: true });
        expect(await sink.waitForJson<{ done?: boolean }>((j) => j.done === true)).toMatchObject({ connections: 1, bytes: 3_000_000 });
      }
      expect(await sendTcp(ns, '127.0.0.1', 6002, { bytes: 10 })).toMatchObject({ done: false, error: 'ECONNREFUSED' });
    }, KERNEL_TIMEOUT);

    it('sender --uid drops privileges before creating the socket (owner match sees it)', async () => {
      ns = track(createNetns('hlp'));
      ns.iptables('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '-m', 'owner', '--uid-owner', '65534', '-m', 'comment', '--comment', 'nobody');
      ns.iptables('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '-m', 'owner', '--uid-owner', '0', '-m', 'comment', '--comment', 'root');
      const sink = await startUdpSink(ns, 5002, { count: 7, quiet: true });
      await sendUdp(ns, '127.0.0.1', 5002, { count: 5, uid: 65534, gid: 65534 });
      await sendUdp(ns, '127.0.0.1', 5002, { count: 2 });
      expect(await sinkSummary(sink)).toMatchObject({ received: 7 });
      expect(ns.counter('mangle', 'OUTPUT', 'nobody').pkts).toBe(5);
      expect(ns.counter('mangle', 'OUTPUT', 'root').pkts).toBe(2);
    }, KERNEL_TIMEOUT);
  });

  describe('/proc/net/netfilter/nfnetlink_queue', () => {
    it('has no rows without a consumer; --queue-bypass lets traffic pass, a plain NFQUEUE rule drops it', async () => {
      const ns = track(createNetns('hlp'));
      expect(ns.exec(['cat', '/proc/net/netfilter/nfnetlink_queue'])).toBe('');
      expect(ns.queueProc()).toEqual([]);
      ns.iptables('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5003', '-j', 'NFQUEUE', '--queue-num', '3', '--queue-bypass');
      ns.iptables('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5004', '-j', 'NFQUEUE', '--queue-num', '4');

      const bypassed = await startUdpSink(ns, 5003, { count: 50, timeoutMs: 20_000, quiet: true });
      expect((await sendUdp(ns, '127.0.0.1', 5003, { count: 50 })).errors).toBe(0);
      expect(await sinkSummary(bypassed)).toMatchObject({ received: 50 });
      expect(ns.counter('mangle', 'OUTPUT', 'dpt:5003').pkts).toBe(50);
      expect(ns.queueProc()).toEqual([]);

      // No listener and no bypass: every packet is dropped, yet sendmsg() reports success.
      const dropped = await startUdpSink(ns, 5004, { timeoutMs: 1000, quiet: true });
      const s = await sendUdp(ns, '127.0.0.1', 5004, { count: 20 });
      expect(s).toMatchObject({ sent: 20, errors: 0 });
      expect(await sinkSummary(dropped)).toMatchObject({ received: 0, timedOut: true });
      expect(ns.counter('mangle', 'OUTPUT', 'dpt:5004').pkts).toBe(20);
      expect(ns.queueProc()).toEqual([]);
      await ns.destroy();
    }, KERNEL_TIMEOUT);

    it('shows a bound queue (seen only inside its namespace) and tracks ids until unbind', async () => {
      const ns = track(createNetns('hlp'));
      const other = track(createNetns('hlp'));
      ns.iptables('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '5005', '-j', 'NFQUEUE', '--queue-num', '11');
      const q = ns.spawnNode(MINI_QUEUE_SCRIPT, ['11', '--quiet']);
      const bound = await q.waitForJson<{ bound?: boolean; portid: number }>((j) => j.bound === true, 10_000);
      const row = await ns.waitForQueueBound(11, 10_000, { copyMode: 2 });
      expect(row).toEqual({
        queue: 11,
        portid: bound.portid,
        waiting: 0,
        copyMode: 2,
        copyRange: 65531, // asked for 0xffff; the kernel clamps to 0xffff - NLA_HDRLEN
        queueDropped: 0,
        userDropped: 0,
        lastId: 0,
      });
      expect(ns.queueRow(11)).toEqual(row);
      expect(ns.queueRow(12)).toBeUndefined();
      expect(other.queueProc()).toEqual([]); // per namespace
      await expect(other.waitForQueueBound(11, 300)).rejects.toThrow(/queue 11 not bound .* after 300 ms/);

      const sink = await startUdpSink(ns, 5005, { count: 20, timeoutMs: 20_000, quiet: true });
      await sendUdp(ns, '127.0.0.1', 5005, { count: 20 });
      expect(await sinkSummary(sink)).toMatchObject({ received: 20 });
      expect(ns.queueRow(11)).toMatchObject({ waiting: 0, lastId: 20, queueDropped: 0, userDropped: 0 });

      q.kill('SIGTERM');
      expect(await q.waitForJson<{ done?: boolean }>((j) => j.done === true)).toMatchObject({ packets: 20 });
      await ns.waitForQueueUnbound(11, 5000);
      expect(ns.queueProc()).toEqual([]);
      await ns.destroy();
      await other.destroy();
    }, KERNEL_TIMEOUT);
  });

  describe('veth pairs and a router', () => {
    it('passes UDP (IPv4 and IPv6) and TCP between two namespaces over a veth pair', async () => {
      const a = track(createNetns('hlp'));
      const b = track(createNetns('hlp'));
      const link = linkVeth(a, b, { a: '10.200.1.1/24', b: '10.200.1.2/24', a6: 'fd00:200:1::1/64', b6: 'fd00:200:1::2/64' });
      expect(link.a).toMatchObject({ ip: '10.200.1.1', ip6: 'fd00:200:1::1' });
      expect(link.b).toMatchObject({ ip: '10.200.1.2', ip6: 'fd00:200:1::2' });
      expect(a.exec(['ip', '-o', 'link', 'show', link.a.ifname])).toMatch(/<[^>]*\bUP\b/);
      // The pair exists only inside our namespaces.
      expect(spawnSync('ip', ['link', 'show', link.a.ifname]).status).not.toBe(0);

      b.iptables('-A', 'INPUT', '-i', link.b.ifname, '-p', 'udp', '--dport', '5006', '-m', 'comment', '--comment', 'veth-in');
      const sink = await startUdpSink(b, 5006, { count: 100, timeoutMs: 20_000, quiet: true });
      expect((await sendUdp(a, '10.200.1.2', 5006, { count: 100, size: 200 })).errors).toBe(0);
      expect(await sinkSummary(sink)).toMatchObject({ received: 100, distinct: 100 });
      expect(b.counter('filter', 'INPUT', 'veth-in').pkts).toBe(100);

      const sink6 = await startUdpSink(b, 5007, { family: 6, count: 100, timeoutMs: 20_000 });
      await sendUdp(a, 'fd00:200:1::2', 5007, { count: 100 });
      expect(await sinkSummary(sink6)).toMatchObject({ received: 100 });
      expect(sinkDatagrams(sink6)[0]!.from).toBe('fd00:200:1::1');

      const tsink = await startTcpSink(b, 6003, { conns: 1, timeoutMs: 20_000 });
      expect(await sendTcp(a, '10.200.1.2', 6003, { bytes: 2_000_000 })).toMatchObject({ done: true });
      expect(await tsink.waitForJson<{ conn?: boolean }>((j) => j.conn === true)).toMatchObject({ bytes: 2_000_000, patternOk: true });
      await a.destroy();
      await b.destroy();
    }, KERNEL_TIMEOUT);

    it('routes client -> server through the router FORWARD chain, with UDP echo replies', async () => {
      const topo = createRouterTopology('hlr');
      for (const ns of [topo.client, topo.router, topo.server]) track(ns);
      const { client, router, server, addr } = topo;
      router.iptables('-A', 'FORWARD', '-s', addr.client, '-d', addr.server, '-m', 'comment', '--comment', 'c2s');
      router.iptables('-A', 'FORWARD', '-s', addr.server, '-d', addr.client, '-m', 'comment', '--comment', 's2c');
      router.ip6tables('-A', 'FORWARD', '-s', addr.client6, '-d', addr.server6, '-m', 'comment', '--comment', 'c2s6');

      const sink = await startUdpSink(server, 5008, { count: 30, echo: true, timeoutMs: 20_000, quiet: true });
      const sent = await sendUdp(client, addr.server, 5008, { count: 30, echoWaitMs: 500 });
      expect(await sinkSummary(sink)).toMatchObject({ received: 30 });
      expect(sent.echoed).toBe(30);
      expect(router.counter('filter', 'FORWARD', 'c2s').pkts).toBe(30);
      expect(router.counter('filter', 'FORWARD', 's2c').pkts).toBe(30);

      const sink6 = await startUdpSink(server, 5009, { family: 6, count: 10, timeoutMs: 20_000 });
      await sendUdp(client, addr.server6, 5009, { count: 10 });
      expect(await sinkSummary(sink6)).toMatchObject({ received: 10 });
      expect(sinkDatagrams(sink6)[0]!.from).toBe(addr.client6);
      expect(router.counter('filter', 'FORWARD', 'c2s6', 6).pkts).toBe(10);

      await topo.destroy();
      const names = listNetns();
      for (const ns of [client, router, server]) expect(names).not.toContain(ns.name);
    }, KERNEL_TIMEOUT);
  });
});
