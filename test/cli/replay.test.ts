// nfq-dump -r on recorded conversations (the fixture catalogue captured from the kernel, each
// with a sidecar of the expected decode), on synthetic captures, and on bad input; plus the
// command line's usage errors. Runs the built CLI as a user would. No privileges.
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PcapWriter, encodeNetlinkCooked, LINKTYPE_RAW, LINKTYPE_NETLINK } from '../../src/pcap/index.js';
import { tcpFlagsText } from '../../src/packet/index.js';
import { ensureBuilt, FIXTURES, haveCommand, inBatches, jsonLines, runCli, runCliAsync, tsharkFields, type CliResult } from '../support/cli.js';

interface Sidecar {
  fixture: string;
  captured?: { windowNs?: [string, string] };
  queues: number[];
  plan: Array<Record<string, unknown>>;
  expected: {
    packets?: Array<Record<string, unknown>>;
    each?: Record<string, unknown>;
    aggregate?: Record<string, unknown>;
  };
}

const sidecars: Sidecar[] = readdirSync(FIXTURES)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => JSON.parse(readFileSync(join(FIXTURES, f), 'utf8')) as Sidecar);

const FAMILY: Record<number, string> = { 2: 'inet', 10: 'inet6', 7: 'bridge', 3: 'arp' };
const HOOK = ['prerouting', 'input', 'forward', 'output', 'postrouting'];

/** Checks one nfq-dump JSON object against a sidecar's expected packet fields. */
function checkPacket(got: Record<string, unknown>, want: Record<string, unknown>, where: string, window?: [string, string]): void {
  const dev = (i: unknown): unknown => (i === 1 ? 'lo' : i);
  for (const [k, v] of Object.entries(want)) {
    const at = `${where}: ${k}`;
    switch (k) {
      case 'family':
        expect(got['family'], at).toBe(FAMILY[v as number]);
        break;
      case 'hook':
        expect(got['hook'], at).toBe(HOOK[v as number]);
        break;
      case 'outdev':
      case 'indev':
        expect(got[k], at).toBe(dev(v));
        break;
      case 'outdevName':
      case 'indevName':
        // Names belong to the recording machine; only lo (index 1) is named in a replay.
        if (v === 'lo') expect(got[k.replace('Name', '')], at).toBe('lo');
        break;
      case 'timestamp': {
        expect(got['timestampSource'], at).toBe('kernel');
        const t = v as { sec?: number; usec?: number; within?: string };
        if (t.sec !== undefined) expect(got['timestamp'], at).toBe(Number(`${t.sec}.${String(t.usec ?? 0).padStart(6, '0')}`));
        else if (window !== undefined) {
          // "within the capture window": between the first and last record, in seconds.
          expect(got['timestamp'] as number, at).toBeGreaterThanOrEqual(Number(window[0]) / 1e9 - 1);
          expect(got['timestamp'] as number, at).toBeLessThanOrEqual(Number(window[1]) / 1e9 + 1);
        }
        break;
      }
      case 'udpData': {
        const hex = got['payload'] as string;
        const ipHeader = (got['ipLength'] as number) - (got['length'] as number) - 8;
        expect(hex.slice((ipHeader + 8) * 2).startsWith(v as string), at).toBe(true);
        break;
      }
      case 'payload':
        if (v === false) expect(got['payloadLength'], at).toBe(0);
        break;
      case 'icmpType':
      case 'icmpCode':
      case 'icmpId':
      case 'icmpSeq': {
        const icmp = got['icmp'] as Record<string, unknown>;
        expect(icmp[k.slice(4).toLowerCase()], at).toBe(v);
        break;
      }
      case 'tcpFlags':
        expect((got['tcp'] as { flags: string }).flags, at).toBe(tcpFlagsText(v as number));
        break;
      case 'tcpMss':
        break; // options are not decoded
      case 'ct':
        break; // nfq-dump shows ctInfo, not NFQA_CT's contents (test/fixtures/replay.test.ts decodes them)
      default:
        expect(got[k], at).toEqual(v);
    }
  }
}

/** The verdicts a sidecar's plan says were given, in packet order, when it is simple enough to say. */
function plannedVerdicts(s: Sidecar): Array<{ verdict: string; mark?: number; queue?: number }> | undefined {
  if (s.plan.length === 0) return undefined;
  const batch = s.plan.find((p) => p['batch'] !== undefined)?.['batch'] as { verdict: string; mark?: number } | undefined;
  return s.plan.map((p) => {
    const first = p['batchFirst'] as { verdict: string } | undefined;
    if (first !== undefined) return { verdict: first.verdict }; // the batch answered first; the later single verdict was refused
    if (p['hold'] === true && batch !== undefined) return batch;
    const v: { verdict: string; mark?: number; queue?: number } = { verdict: p['verdict'] as string };
    if (typeof p['mark'] === 'number') v.mark = p['mark'];
    if (typeof p['queue'] === 'number') v.queue = p['queue'];
    return v;
  });
}

let tmp: string;
/** Per fixture: `nfq-dump -r FILE --json -x` and `nfq-dump -r FILE`, run a few at a time up front (each run is a process start). */
const runs = new Map<string, { json: CliResult; text: CliResult }>();
beforeAll(async () => {
  ensureBuilt();
  tmp = mkdtempSync(join(tmpdir(), 'nfq-dump-replay-'));
  const jobs = sidecars.map((s) => async () => {
    const file = join(FIXTURES, s.fixture);
    runs.set(s.fixture, { json: await runCliAsync(['-r', file, '--json', '-x']), text: await runCliAsync(['-r', file]) });
  });
  await inBatches(jobs, 3);
}, 120_000);
afterAll(() => {
  rmSync(tmp, { recursive: true, force: true });
});

describe('nfq-dump -r on the fixture catalogue', () => {
  it('has fixtures to replay', () => {
    expect(sidecars.length).toBeGreaterThan(10);
  });

  for (const s of sidecars) {
    it(`${s.fixture}: JSON matches the sidecar and the recorded verdicts`, () => {
      const r = runs.get(s.fixture)!.json;
      expect(r.status, r.stderr).toBe(0);
      const got = jsonLines(r.stdout);
      const want = s.expected.packets;
      if (want !== undefined) {
        expect(got.length).toBe(want.length);
        want.forEach((w, i) => checkPacket(got[i]!, w, `${s.fixture} packet ${i + 1}`, s.captured?.windowNs));
      }
      if (s.expected.each !== undefined) {
        expect(got.length).toBeGreaterThan(0);
        got.forEach((g, i) => checkPacket(g, s.expected.each!, `${s.fixture} packet ${i + 1}`, s.captured?.windowNs));
        const agg = s.expected.aggregate ?? {};
        if (typeof agg['tcpPayloadBytes'] === 'number') expect(got.reduce((a, g) => a + (g['length'] as number), 0)).toBe(agg['tcpPayloadBytes']);
        if (typeof agg['firstTcpFlags'] === 'number') expect((got[0]!['tcp'] as { flags: string }).flags).toBe(tcpFlagsText(agg['firstTcpFlags']));
        if (typeof agg['gsoLargerThan'] === 'number') expect(got.some((g) => (g['capLen'] as number) > (agg['gsoLargerThan'] as number))).toBe(true);
      }
      const planned = plannedVerdicts(s);
      if (planned !== undefined && want !== undefined) {
        got.forEach((g, i) => {
          const p = planned[i];
          if (p === undefined) return; // a requeued packet's second pass answers with the fixture's default
          expect(g['verdict'], `${s.fixture} packet ${i + 1} verdict`).toBe(p.verdict);
          expect(g['verdictMark'], `${s.fixture} packet ${i + 1} mark`).toBe(p.mark ?? null);
          if (p.queue !== undefined) expect(g['verdictQueue']).toBe(p.queue);
        });
      }
      // The queues seen are the fixture's.
      for (const g of got) expect(s.queues).toContain(g['queue']);
      expect(r.stderr).toMatch(new RegExp(`^${got.length} packets? from `));
    });

    it(`${s.fixture}: one text line per packet, same as the JSON`, () => {
      const { text, json: withHex } = runs.get(s.fixture)!;
      const json = jsonLines(withHex.stdout);
      expect(text.status, text.stderr).toBe(0);
      const lines = text.stdout.split('\n').filter((l) => l !== '');
      expect(lines.length).toBe(json.length);
      lines.forEach((l, i) => {
        const j = json[i]!;
        expect(l).toMatch(new RegExp(`^\\d\\d:\\d\\d:\\d\\d\\.\\d{6} q${j['queue']} id ${j['id']} ${String(j['hook']).toUpperCase()} `));
        expect(l).toMatch(/ mark 0x[0-9a-f]+ /);
        expect(l).toMatch(/ -> (accept|drop|requeue to \d+|no verdict recorded)/);
        if (j['src'] !== null) expect(l).toContain(`${j['ipVersion'] === 4 ? 'IP' : 'IP6'} ${j['src']}`);
        if (j['sport'] !== null && j['proto'] !== 1 && j['proto'] !== 58) expect(l).toContain(`${j['src']}.${j['sport']} > ${j['dst']}.${j['dport']}: `);
      });
    });
  }

  it('-w turns a recording into a pcap that tshark reads, packet for packet', () => {
    if (!haveCommand('tshark')) return;
    for (const name of ['ipv4-tcp-handshake-output', 'ipv6-udp-output', 'icmp-echo-output', 'truncation']) {
      const out = join(tmp, `${name}.pcap`);
      const r = runCli(['-r', join(FIXTURES, `${name}.pcap`), '--json', '-w', out]);
      expect(r.status, r.stderr).toBe(0);
      const json = jsonLines(r.stdout);
      expect(readFileSync(out).readUInt32LE(20)).toBe(LINKTYPE_RAW);
      const rows = tsharkFields(out, ['frame.time_epoch', 'frame.len', 'frame.cap_len', 'ip.src', 'ipv6.src', 'ip.dst', 'ipv6.dst', 'tcp.srcport', 'udp.srcport', 'tcp.dstport', 'udp.dstport']);
      expect(rows.length, name).toBe(json.length);
      rows.forEach((row, i) => {
        const j = json[i]!;
        const [time, len, caplen, src4, src6, dst4, dst6, tsp, usp, tdp, udp] = row;
        expect(Number(time)).toBeCloseTo(j['timestamp'] as number, 5);
        expect(Number(len)).toBe(j['capLen']);
        expect(Number(caplen)).toBe(j['payloadLength']);
        expect(src4 || src6).toBe(j['src']);
        expect(dst4 || dst6).toBe(j['dst']);
        if (j['sport'] !== null) {
          expect(Number(tsp || usp)).toBe(j['sport']);
          expect(Number(tdp || udp)).toBe(j['dport']);
        }
      });
    }
  });

  it('-q filters queues, --family filters families, -c stops early', () => {
    const requeue = join(FIXTURES, 'verdict-requeue.pcap');
    const q1 = jsonLines(runCli(['-r', requeue, '--json', '-q', '1']).stdout);
    expect(q1.map((j) => j['queue'])).toEqual([1]);
    const r = runCli(['-r', requeue, '-q', '7']);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^0 packets from .* \(2 filtered out\)/);
    const udp = join(FIXTURES, 'ipv4-udp-output.pcap');
    expect(jsonLines(runCli(['-r', udp, '--json', '-c', '2']).stdout)).toHaveLength(2);
    expect(runCli(['-r', udp, '--family', 'inet6']).stdout).toBe('');
    const inet = jsonLines(runCli(['-r', udp, '--json', '--family', 'inet']).stdout);
    expect(inet).toHaveLength(3);
    // The payload is in the JSON only with -x (the catalogue above runs with -x).
    for (const j of inet) expect(j).not.toHaveProperty('payload');
  });

  it('-x prints a hex dump of each packet after its line', () => {
    const r = runCli(['-r', join(FIXTURES, 'ipv4-udp-output.pcap'), '-x', '-c', '1']);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toMatch(/ q0 id 1 OUTPUT /);
    expect(lines[1]).toMatch(/^\t0x0000:  45[0-9a-f]{2} [0-9a-f]{4} /);
    expect(lines.filter((l) => l.startsWith('\t0x')).length).toBeGreaterThan(1);
  });

  it('reports requests the kernel refused in the recording', () => {
    const busy = runCli(['-r', join(FIXTURES, 'error-bind-busy.pcap')]);
    expect(busy.status).toBe(0);
    expect(busy.stderr).toMatch(/kernel refused bind on queue 0: EBUSY/);
    const enoent = runCli(['-r', join(FIXTURES, 'error-verdict-enoent.pcap')]);
    expect(enoent.stderr).toMatch(/kernel refused drop verdict for packet 1 on queue 0: ENOENT/);
  });
});

describe('nfq-dump -r on other captures', () => {
  function ipv4Udp(sport: number, dport: number, text: string): Uint8Array {
    const data = Buffer.from(text);
    const b = Buffer.alloc(28 + data.length);
    b[0] = 0x45;
    b.writeUInt16BE(b.length, 2);
    b[8] = 64;
    b[9] = 17;
    b.set([10, 1, 2, 3], 12);
    b.set([10, 4, 5, 6], 16);
    b.writeUInt16BE(sport, 20);
    b.writeUInt16BE(dport, 22);
    b.writeUInt16BE(8 + data.length, 24);
    data.copy(b, 28);
    return new Uint8Array(b);
  }

  it('decodes a raw IP pcap (as -w writes it): packets without queue metadata or verdict', () => {
    const w = new PcapWriter(LINKTYPE_RAW);
    const file = join(tmp, 'raw.pcap');
    writeFileSync(file, Buffer.concat([w.header(), w.record(ipv4Udp(1111, 53, 'query'), { sec: 1700000000, nsec: 5000 })]));
    const r = runCli(['-r', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^\d\d:\d\d:\d\d\.000005 IP 10\.1\.2\.3\.1111 > 10\.4\.5\.6\.53: UDP, length 5\n$/);
    const [j] = jsonLines(runCli(['-r', file, '--json']).stdout);
    expect(j).toMatchObject({ queue: null, id: null, family: 'inet', src: '10.1.2.3', dport: 53, length: 5, timestamp: 1700000000.000005, timestampSource: 'capture' });
    expect(j).not.toHaveProperty('verdict');
  });

  it('decodes an Ethernet pcap, skipping frames that are not IP', () => {
    const w = new PcapWriter(1);
    const eth = (type: number, body: Uint8Array): Uint8Array => {
      const b = new Uint8Array(14 + body.length);
      b.set([2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2], 0);
      b[12] = type >> 8;
      b[13] = type & 0xff;
      b.set(body, 14);
      return b;
    };
    const file = join(tmp, 'eth.pcap');
    writeFileSync(file, Buffer.concat([w.header(), w.record(eth(0x0806, new Uint8Array(28))), w.record(eth(0x0800, ipv4Udp(5, 6, 'x')))]));
    const r = runCli(['-r', file, '--json']);
    expect(r.status, r.stderr).toBe(0);
    expect(jsonLines(r.stdout).map((j) => [j['sport'], j['dport'], j['hwProtocol']])).toEqual([[5, 6, 0x0800]]);
  });

  it('decodes a netlink capture whose verdicts are missing, and skips other netlink protocols', () => {
    // One PACKET message for queue 3, id 9, no verdict; plus a rtnetlink datagram.
    const payload = ipv4Udp(7, 8, 'hi');
    const attr = (type: number, value: Uint8Array): Buffer => {
      const len = 4 + value.length;
      const b = Buffer.alloc((len + 3) & ~3);
      b.writeUInt16LE(len, 0);
      b.writeUInt16LE(type, 2);
      b.set(value, 4);
      return b;
    };
    const hdr = Buffer.alloc(7);
    hdr.writeUInt32BE(9, 0);
    hdr.writeUInt16BE(0x0800, 4);
    hdr[6] = 1;
    const body = Buffer.concat([Buffer.from([2, 0, 0, 3]), attr(1, hdr), attr(10, payload)]);
    const nl = Buffer.alloc(16);
    nl.writeUInt32LE(16 + body.length, 0);
    nl.writeUInt16LE(0x300, 4);
    const msg = Buffer.concat([nl, body]);
    const w = new PcapWriter(LINKTYPE_NETLINK);
    const file = join(tmp, 'synthetic-netlink.pcap');
    writeFileSync(file, Buffer.concat([w.header(), w.record(encodeNetlinkCooked('in', 0, new Uint8Array(20))), w.record(encodeNetlinkCooked('in', 12, msg))]));
    const r = runCli(['-r', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/ q3 id 9 INPUT mark 0x0 IP 10\.1\.2\.3\.7 > 10\.4\.5\.6\.8: UDP, length 2 -> no verdict recorded\n$/);
    expect(r.stderr).toMatch(/verdicts recorded: 1 without a recorded verdict/);
    const [j] = jsonLines(runCli(['-r', file, '--json']).stdout);
    expect(j).toMatchObject({ queue: 3, id: 9, hook: 'input', verdict: null, verdictMark: null });
  });

  it('goes on past undecodable records and says how many there were', () => {
    const good = readFileSync(join(FIXTURES, 'ipv4-udp-output.pcap'));
    const w = new PcapWriter(LINKTYPE_NETLINK);
    const junk = encodeNetlinkCooked('in', 12, Uint8Array.from([200, 0, 0, 0, 0, 3, 0, 0]));
    const file = join(tmp, 'junk.pcap');
    writeFileSync(file, Buffer.concat([good, Buffer.from(w.record(junk))]));
    const r = runCli(['-r', file]);
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout.split('\n').filter((l) => l !== '')).toHaveLength(3);
    expect(r.stderr).toMatch(/1 record could not be decoded, first: record \d+: /);
  });

  it('fails with exit code 1 and a clear message on files it cannot read', () => {
    const missing = runCli(['-r', join(tmp, 'nope.pcap')]);
    expect(missing.status).toBe(1);
    expect(missing.stderr).toMatch(/^nfq-dump: cannot read .*nope\.pcap: no such file \(ENOENT\)\n$/);
    const text = join(tmp, 'text.pcap');
    writeFileSync(text, 'hello, not a capture\n');
    const notPcap = runCli(['-r', text]);
    expect(notPcap.status).toBe(1);
    expect(notPcap.stderr).toMatch(/^nfq-dump: .*text\.pcap is not a pcap or pcapng file nfq-dump can read: /);
    const wifi = join(tmp, 'wifi.pcap');
    const w = new PcapWriter(105);
    writeFileSync(wifi, Buffer.concat([w.header(), w.record(new Uint8Array(30))]));
    const lt = runCli(['-r', wifi]);
    expect(lt.status).toBe(1);
    expect(lt.stderr).toMatch(/has link type 105, which nfq-dump does not decode/);
    const dir = runCli(['-r', tmp]);
    expect(dir.status).toBe(1);
    expect(dir.stderr).toMatch(/it is a directory \(EISDIR\)/);
  });

  it('cannot write the -w file: exit code 1', () => {
    const r = runCli(['-r', join(FIXTURES, 'ipv4-udp-output.pcap'), '-w', join(tmp, 'no/such/dir/x.pcap')]);
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/cannot write .*x\.pcap: its directory does not exist \(ENOENT\)/);
  });
});

describe('nfq-dump command line', () => {
  it('exits 2 on usage mistakes, naming the mistake and pointing at --help', () => {
    for (const [args, msg] of [
      [['--bogus'], /unknown option --bogus/],
      [['-q', 'x'], /--queue takes a number, a range or a list/],
      [['--verdict', 'maybe'], /--verdict must be accept or drop, got 'maybe'/],
      [['--verdict', 'drop', '--mark', '3'], /--mark goes with --verdict accept/],
      [['-c'], /option -c, --count <value> needs a value|needs a value/],
      [['tcp', 'port', '80'], /bad filter: 'port' is not a tcp field: nft's words are sport and dport/],
      [['-r', 'a.pcap', '--verdict', 'drop'], /--verdict applies to a live queue, not to --replay/],
    ] as const) {
      const r = runCli(args);
      expect(r.status, args.join(' ')).toBe(2);
      expect(r.stdout).toBe('');
      expect(r.stderr).toMatch(msg);
      expect(r.stderr).toMatch(/Try 'nfq-dump --help' for the options\.\n$/);
    }
  });

  it('--help lists every option; --version prints the package version', () => {
    const help = runCli(['--help']);
    expect(help.status).toBe(0);
    for (const opt of ['--queue', '--verdict', '--mark', '--count', '--json', '--hex', '--write', '--record', '--replay', '--copy-range', '--meta', '--maxlen', '--fail-open', '--gso', '--uid-gid', '--family', '--buffer-size', '--no-status', '--verbose', '--hook', '--priority', '--check', '--help', '--version']) {
      expect(help.stdout).toContain(opt);
    }
    expect(help.stdout).toMatch(/Exit codes: 0 done, 1 runtime failure .*, 2 usage error/);
    const pkg = JSON.parse(readFileSync(join(FIXTURES, '../package.json'), 'utf8')) as { version: string };
    const v = runCli(['--version']);
    expect(v.status).toBe(0);
    expect(v.stdout).toBe(`nfq-dump (netfilter-queue ${pkg.version})\n`);
  });
});
