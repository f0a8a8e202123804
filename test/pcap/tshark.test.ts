// Cross-checks against Wireshark's dissectors. Skipped when tshark is not on PATH.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import {
  LINKTYPE_NETLINK,
  LINKTYPE_RAW,
  PcapFileWriter,
  encodeNetlinkCooked,
  readPcapFile,
  decodeNetlinkCooked,
} from '../../src/pcap/index.js';
import { Bytes, ipv4Udp } from '../support/pcap.js';

const haveTshark = spawnSync('tshark', ['--version'], { stdio: 'ignore' }).status === 0;
const dir = mkdtempSync(join(tmpdir(), 'pcap-tshark-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function tshark(...args: string[]): string {
  return execFileSync('tshark', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

describe.skipIf(!haveTshark)('tshark reads what PcapFileWriter writes', () => {
  it('LINKTYPE_RAW with a hand-made IPv4/UDP packet', { timeout: 60_000 }, () => {
    for (const nanosecond of [false, true]) {
      const path = join(dir, `raw-${nanosecond ? 'ns' : 'us'}.pcap`);
      const w = new PcapFileWriter(path, LINKTYPE_RAW, { nanosecond });
      w.write(ipv4Udp(new TextEncoder().encode('hello')), { sec: 1_700_000_000, nsec: 123_456_789 });
      w.close();
      const out = tshark('-r', path, '-T', 'fields', '-e', 'ip.src', '-e', 'udp.dstport', '-e', 'frame.time_epoch');
      const [src, port, epoch] = out.trim().split('\t');
      expect(src).toBe('10.1.2.3');
      expect(port).toBe('40000');
      expect(epoch).toBe(nanosecond ? '1700000000.123456789' : '1700000000.123456000');
      expect(tshark('-r', path, '-V')).not.toMatch(/Malformed/);
    }
  });

  it('readPcapFile reads the pcapng that tshark converts our pcap to', { timeout: 60_000 }, () => {
    const src = join(dir, 'two.pcap');
    const w = new PcapFileWriter(src, LINKTYPE_RAW, { nanosecond: true });
    const packet = ipv4Udp(new TextEncoder().encode('pcapng'));
    w.write(packet, { sec: 1_700_000_001, nsec: 5 });
    w.write(packet.subarray(0, 20), 2_000_000_000n, packet.length);
    w.close();
    const ng = join(dir, 'two.pcapng');
    tshark('-r', src, '-F', 'pcapng', '-w', ng);
    const cap = readPcapFile(ng);
    expect(cap.format).toBe('pcapng');
    expect(cap.interfaces.map((i) => i.linktype)).toEqual([LINKTYPE_RAW]);
    expect(cap.records.map((r) => [r.timestampNs, r.data.length, r.originalLength])).toEqual([
      [1_700_000_001_000_000_005n, packet.length, packet.length],
      [2_000_000_000n, 20, packet.length],
    ]);
    expect(Array.from(cap.records[0]!.data)).toEqual(Array.from(packet));
  });

  it('LINKTYPE_NETLINK with a cooked header around an nfqueue CONFIG message', { timeout: 60_000 }, () => {
    // nlmsghdr (host order = little-endian here): len 28, type (3<<8)|2, flags REQUEST|ACK, seq 1, pid 0
    const msg = new Bytes(true).u32(28).u16(0x0302).u16(0x0005).u32(1).u32(0)
      .raw([2, 0, 0, 0]) // nfgenmsg: AF_INET, version 0, be16 res_id = queue 0
      .u16(8).u16(1) // NFQA_CFG_CMD
      .raw([1, 0, 0, 2]) // cmd BIND, pad, be16 pf = AF_INET
      .done();
    const noop = new Bytes(true).u32(16).u16(1).u16(0).u32(2).u32(0).done(); // NLMSG_NOOP
    const path = join(dir, 'netlink.pcap');
    const w = new PcapFileWriter(path, LINKTYPE_NETLINK);
    w.write(encodeNetlinkCooked('out', 12, msg), 1n);
    w.write(encodeNetlinkCooked('in', 12, noop), 2n);
    w.close();

    const fields = tshark(
      '-r', path, '-T', 'fields',
      '-e', 'netlink.hatype', '-e', 'netlink.family', '-e', 'netlink.hdr_type',
      '-e', 'netlink-netfilter.queue.config.command.command',
      '-e', 'netlink-netfilter.queue.config.command.pf',
    ).trim().split('\n').map((l) => l.split('\t'));
    expect(fields[0]).toEqual(['824', '0x000c', '0x0302', '1', '2']);
    expect(fields[1]?.slice(0, 3)).toEqual(['824', '0x000c', '0x0001']);
    const verbose = tshark('-r', path, '-V');
    expect(verbose).toMatch(/Linux netlink \(cooked header\)/);
    expect(verbose).toMatch(/Netfilter/);
    expect(verbose).not.toMatch(/Malformed/);

    // and our own reader agrees
    const cap = readPcapFile(path);
    const first = decodeNetlinkCooked(cap.records[0]!.data);
    expect([first.direction, first.protocol, first.datagram.length]).toEqual(['out', 12, 28]);
    expect(decodeNetlinkCooked(cap.records[1]!.data).direction).toBe('in');
  });
});
