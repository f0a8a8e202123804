// Bridged traffic. This kernel cannot queue bridge-family (7) packets: the nft `queue`
// statement and ebtables' NFQUEUE do not exist (proven below). With br_netfilter, bridged
// IPv4/IPv6 goes through iptables/ip6tables FORWARD and is queued as family 2/10 with the
// bridge ports as PHYSINDEV/PHYSOUTDEV, resolved here to their names.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { consumerLines, startConsumer } from '../../support/consumer.js';
import { sendUdp, sinkDatagrams, startUdpSink } from '../../support/netns.js';

let left: Ns;
let bridge: Ns;
let right: Ns;

beforeAll(() => {
  left = new Ns('bl');
  bridge = new Ns('bb');
  right = new Ns('br');
  bridge.ip('link', 'add', 'br0', 'type', 'bridge');
  for (const [ns, port, peer, v4, v6] of [
    [left, 'bp0', 'l0', '10.202.3.1/24', 'fd00:202:3::1/64'],
    [right, 'bp1', 'r0', '10.202.3.2/24', 'fd00:202:3::2/64'],
  ] as const) {
    bridge.ip('link', 'add', port, 'type', 'veth', 'peer', 'name', peer, 'netns', ns.name);
    bridge.ip('link', 'set', port, 'master', 'br0', 'up');
    ns.ip('addr', 'add', v4, 'dev', peer);
    ns.ip('-6', 'addr', 'add', v6, 'dev', peer, 'nodad');
    ns.ip('link', 'set', peer, 'up');
  }
  bridge.ip('link', 'set', 'br0', 'up');
  bridge.exec('sysctl', '-qw', 'net.bridge.bridge-nf-call-iptables=1', 'net.bridge.bridge-nf-call-ip6tables=1');
});
afterAll(async () => {
  await Promise.all([left?.destroy(), bridge?.destroy(), right?.destroy()]);
});

describe('bridge', () => {
  it('bridge-family queueing is not available on this kernel (no nft queue, no ebtables NFQUEUE)', () => {
    bridge.exec('nft', 'add', 'table', 'bridge', 'q');
    bridge.exec('nft', 'add', 'chain', 'bridge', 'q', 'c', '{ type filter hook forward priority 0; }');
    expect(bridge.run('nft', 'add', 'rule', 'bridge', 'q', 'c', 'queue', 'num', '1').status).not.toBe(0);
    expect(bridge.run('ebtables', '-A', 'FORWARD', '-j', 'NFQUEUE').status).not.toBe(0);
    bridge.exec('nft', 'delete', 'table', 'bridge', 'q');
  });

  it('bridged IPv4 and IPv6 are queued at FORWARD with the bridge ports as physical devices', async () => {
    bridge.ipt('-A', 'FORWARD', '-m', 'physdev', '--physdev-in', 'bp0', '-p', 'udp', '--dport', '9100', '-j', 'NFQUEUE', '--queue-num', '1');
    bridge.ip6t('-A', 'FORWARD', '-m', 'physdev', '--physdev-in', 'bp0', '-p', 'udp', '--dport', '9100', '-j', 'NFQUEUE', '--queue-num', '2');
    const c = await startConsumer(bridge.netns, { report: true, queues: [1, 2] });
    const sink = await startUdpSink(right.netns, 9100, { host: '::' });
    await sendUdp(left.netns, '10.202.3.2', 9100, { count: 2 });
    await sendUdp(left.netns, 'fd00:202:3::2', 9100, { count: 2 });
    await eventually(() => sinkDatagrams(sink).length === 4, 'right side got 4');
    const leftMac = (JSON.parse(left.ip('-j', 'link', 'show', 'l0')) as { address: string }[])[0]!.address;
    const pkts = (await consumerLines<Json>(c)).filter((l) => l.pkt).map((l) => l.pkt as Json);
    expect(pkts).toHaveLength(4);
    expect(pkts.map((p) => p.family).sort()).toEqual([10, 10, 2, 2]);
    for (const p of pkts) {
      expect(p).toMatchObject({ hook: 2, indevName: 'br0', outdevName: 'br0', physindevName: 'bp0', physoutdevName: 'bp1', hwaddr: leftMac });
    }
    expect(bridge.row(1)?.lastId).toBe(2);
    expect(bridge.row(2)?.lastId).toBe(2);
    c.write('close\n');
    await c.exited;
  });
});
