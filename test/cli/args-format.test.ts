// nfq-dump's argument parsing and output formatting, as pure functions. No privileges.
import { describe, expect, it } from 'vitest';
import { parseCli, parseQueueList, parseSize, UsageError } from '../../src/cli/args.js';
import { epochSeconds, formatLine, hexDump, recordJson, timeOfDay, type DumpRecord } from '../../src/cli/format.js';
import { parseIpPacket } from '../../src/packet/index.js';

describe('parseCli', () => {
  it('has tcpdump-like defaults', () => {
    const o = parseCli([]);
    expect(o).toMatchObject({ queues: [0], queueGiven: false, verdict: 'accept', mark: undefined, count: undefined, json: false, hex: false, meta: false, status: true });
  });

  it('reads short and long options', () => {
    const o = parseCli(['-q', '2', '-c', '10', '-x', '-w', 'out.pcap', '--json', '--mark', '0x2a', '-s', '96', '--maxlen', '4096', '--fail-open', '--gso', '--uid-gid', '--family', 'inet6', '-B', '8M', '--no-status', '-v']);
    expect(o).toMatchObject({ queues: [2], count: 10, hex: true, write: 'out.pcap', json: true, mark: 42, copyRange: 96, maxLen: 4096, failOpen: true, gso: true, uidGid: true, family: 10, familyName: 'inet6', bufferSize: 8 * 1024 * 1024, status: false, verbose: true });
    expect(parseCli(['--queue=5', '--verdict=DROP'])).toMatchObject({ queues: [5], verdict: 'drop' });
  });

  it('takes queue lists and ranges', () => {
    expect(parseQueueList('0-3')).toEqual([0, 1, 2, 3]);
    expect(parseQueueList('5,0,2-3,2')).toEqual([0, 2, 3, 5]);
    expect(parseQueueList('65535')).toEqual([65535]);
    for (const bad of ['', 'x', '3-1', '1-', '65536', '0-5000', '-1', '1.5']) expect(() => parseQueueList(bad), bad).toThrow(UsageError);
  });

  it('takes sizes with suffixes', () => {
    expect(parseSize('-B', '262144')).toBe(262144);
    expect(parseSize('-B', '256K')).toBe(262144);
    expect(parseSize('-B', '16m')).toBe(16 * 1024 * 1024);
    expect(() => parseSize('-B', 'lots')).toThrow(UsageError);
  });

  it('refuses mistakes with a message that says what to do', () => {
    const msg = (args: string[]): string => {
      try {
        parseCli(args);
      } catch (e) {
        expect(e).toBeInstanceOf(UsageError);
        return (e as Error).message;
      }
      throw new Error(`accepted: ${args.join(' ')}`);
    };
    expect(msg(['--bogus'])).toBe('unknown option --bogus');
    expect(msg(['-Z'])).toBe('unknown option -Z');
    expect(msg(['--queue'])).toMatch(/--queue.*needs a value/);
    // A value starting with a dash: not the parser's raw "argument is ambiguous".
    expect(msg(['-q', '-1'])).toBe("option -q got '-1', which reads as an option: a queue number is 0..65535, e.g. -q 1 or -q 0-3");
    expect(msg(['--mark', '-5'])).toBe("option --mark got '-5', which reads as an option: write --mark=-5 if you mean it as the value");
    expect(msg(['--verdict', 'reject'])).toMatch(/--verdict must be accept or drop/);
    expect(msg(['--verdict', 'drop', '--mark', '1'])).toMatch(/--mark goes with --verdict accept/);
    expect(msg(['--mark', '0x1ffffffff'])).toMatch(/--mark must be between 0 and 4294967295/);
    expect(msg(['-c', '0'])).toMatch(/--count must be between 1/);
    expect(msg(['-c', 'ten'])).toMatch(/--count must be a number/);
    expect(msg(['--copy-range', '70000'])).toMatch(/--copy-range must be between 0 and 65535/);
    expect(msg(['--meta', '--copy-range', '64'])).toMatch(/--meta copies no packet bytes/);
    expect(msg(['--family', 'ipx'])).toMatch(/--family must be one of/);
    expect(msg(['udp', 'port', '53'])).toMatch(/bad filter: 'port' is not a udp field.*\n  udp port 53\n      \^/s);
    expect(msg(['--hook', 'output'])).toMatch(/--hook places nfq-dump's own rule, which needs a filter/);
    expect(msg(['--hook', 'inbound', 'udp'])).toMatch(/--hook must be prerouting, input, forward, output, postrouting/);
    expect(msg(['--priority', 'first', 'udp'])).toMatch(/--priority must be a whole number/);
    expect(msg(['--check', '-c', '3'])).toMatch(/--check .* takes only -q, --netns and --json \(not --count\)/);
    expect(msg(['--check', 'udp'])).toMatch(/not a filter/);
    expect(msg(['-r', 'x.pcap', 'udp'])).toMatch(/a filter applies to a live queue/);
    expect(msg(['-r', 'x.pcap', '--verdict', 'drop', '--gso'])).toMatch(/--verdict, --gso apply to a live queue, not to --replay/);
    expect(msg(['--record', 'a.pcap', '-w', 'a.pcap'])).toMatch(/different files/);
    expect(msg(['--json', '--json=1'])).toMatch(/does not take a value/);
  });

  it('reads a filter after the options, with --hook and --priority', () => {
    expect(parseCli(['-q', '3', 'udp', 'dport', '53'])).toMatchObject({ queues: [3], filter: [{ protocol: 'udp', dport: 53 }], filterText: 'udp dport 53', hooks: ['output'], priority: undefined });
    expect(parseCli(['--hook', 'input,OUTPUT,input', '--priority=-5', 'tcp', 'dport', '443', 'and', 'ip', 'daddr', '10.0.0.0/8'])).toMatchObject({
      hooks: ['input', 'output'],
      priority: -5,
      filter: [{ protocol: 'tcp', dport: 443, family: 'ip', daddr: '10.0.0.0/8' }],
    });
    expect(parseCli([]).filter).toBeUndefined();
    expect(parseCli(['--check', '-q', '2'])).toMatchObject({ check: true, queues: [2], queueGiven: true });
  });

  it('lets --help and --version through whatever else is given', () => {
    expect(parseCli(['--help', '--verdict', 'nonsense']).help).toBe(true);
    expect(parseCli(['--version']).version).toBe(true);
  });
});

function ipv4Udp(): Uint8Array {
  return Uint8Array.from(Buffer.from('45000022f5824000401147467f0000017f000001d34b270f000ec39868656c6c6f0a', 'hex'));
}

function record(extra: Partial<DumpRecord> = {}): DumpRecord {
  const payload = ipv4Udp();
  return {
    queue: 0,
    id: 7,
    family: 2,
    hook: 3,
    hwProtocol: 0x0800,
    mark: 0,
    outdev: 1,
    time: { sec: 1700000000, usec: 42 },
    timeSource: 'received',
    wireLength: payload.length,
    payload,
    ip: parseIpPacket(payload)!,
    verdict: { verdict: 'accept', mark: 0x2a },
    ...extra,
  };
}

const names = (i: number): string | undefined => (i === 1 ? 'lo' : undefined);

describe('formatLine', () => {
  it('prints time, queue, id, hook, interfaces, mark, the packet and the verdict', () => {
    const line = formatLine(record(), { nameOf: names });
    expect(line).toMatch(/^\d\d:\d\d:\d\d\.000042 q0 id 7 OUTPUT out lo mark 0x0 IP 127\.0\.0\.1\.54091 > 127\.0\.0\.1\.9999: UDP, length 6 -> accept, mark 0x2a$/);
  });

  it('shows unknown interfaces by index, uid/gid, truncation and missing bytes', () => {
    const r = record({ indev: 9, outdev: undefined, hook: 1, uid: 1000, gid: 100, wireLength: 1500, verdict: { verdict: 'drop' } });
    expect(formatLine(r, { nameOf: names })).toMatch(/ q0 id 7 INPUT in if9 mark 0x0 uid 1000 gid 100 IP .* \[copied 34 of 1500 bytes\] -> drop$/);
    const meta = record({ payload: undefined, ip: undefined, wireLength: undefined });
    expect(formatLine(meta, { nameOf: names })).toMatch(/mark 0x0 \(no packet bytes copied\) -> accept, mark 0x2a$/);
  });

  it('prints no verdict part for records without one, and says so for replays without one', () => {
    expect(formatLine(record({ verdict: undefined }), { nameOf: names })).toMatch(/UDP, length 6$/);
    expect(formatLine(record({ verdict: null }), { nameOf: names })).toMatch(/-> no verdict recorded$/);
    expect(formatLine(record({ verdict: { verdict: 'queue', queue: 3 } }), { nameOf: names })).toMatch(/-> requeue to 3$/);
    expect(formatLine(record({ verdict: { verdict: 'drop', error: 'ENOENT' } }), { nameOf: names })).toMatch(/-> drop \(refused: ENOENT\)$/);
  });

  it('adds IP details with verbose', () => {
    expect(formatLine(record(), { nameOf: names, verbose: true })).toMatch(/IP \(tos 0x0, ttl 64, id 62850, flags \[DF\], proto udp \(17\), length 34\) 127/);
  });
});

describe('recordJson', () => {
  it('has the documented fields', () => {
    const j = recordJson(record({ uid: 0, gid: 0 }), { nameOf: names });
    expect(j).toMatchObject({
      queue: 0,
      id: 7,
      family: 'inet',
      hook: 'output',
      hwProtocol: 2048,
      mark: 0,
      indev: null,
      outdev: 'lo',
      uid: 0,
      gid: 0,
      timestamp: 1700000000.000042,
      timestampSource: 'received',
      capLen: 34,
      payloadLength: 34,
      truncated: false,
      src: '127.0.0.1',
      dst: '127.0.0.1',
      proto: 17,
      protoName: 'udp',
      sport: 54091,
      dport: 9999,
      length: 6,
      verdict: 'accept',
      verdictMark: 42,
    });
    expect(j).not.toHaveProperty('payload');
    expect(recordJson(record(), { nameOf: names, hex: true })['payload']).toBe('45000022f5824000401147467f0000017f000001d34b270f000ec39868656c6c6f0a');
    expect(recordJson(record({ outdev: 12 }), { nameOf: names })['outdev']).toBe(12);
  });

  it('keeps microseconds exact in the timestamp', () => {
    for (const usec of [0, 1, 999999, 123456, 100000]) {
      const t = epochSeconds({ sec: 1795719273, usec });
      expect(JSON.stringify(t)).toBe(usec === 0 ? '1795719273' : `1795719273.${String(usec).padStart(6, '0').replace(/0+$/, '')}`);
    }
  });
});

describe('hexDump and timeOfDay', () => {
  it('dumps like tcpdump -X', () => {
    const d = hexDump(ipv4Udp());
    expect(d.split('\n')).toEqual([
      '\t0x0000:  4500 0022 f582 4000 4011 4746 7f00 0001  E.."..@.@.GF....',
      '\t0x0010:  7f00 0001 d34b 270f 000e c398 6865 6c6c  .....K\'.....hell',
      '\t0x0020:  6f0a                                     o.',
      '',
    ]);
  });

  it('prints local time with microseconds', () => {
    expect(timeOfDay({ sec: 0, usec: 5 })).toMatch(/^\d\d:\d\d:\d\d\.000005$/);
  });
});
