// Families and hooks: IPv4 and IPv6 queued on PREROUTING, INPUT, FORWARD, OUTPUT and
// POSTROUTING of a router namespace (client -- router -- server over veth). Each packet's
// hook, family, device names (resolved from the indexes the kernel sent), source hardware
// address and receive timestamp are checked against what the namespaces really are.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, veth, type Json } from '../../support/capabilities.js';
import { consumerLines, startConsumer } from '../../support/consumer.js';
import { sendUdp, sinkDatagrams, startUdpSink, type Child } from '../../support/netns.js';

let client: Ns;
let router: Ns;
let server: Ns;
let stamper: Child;

function mac(ns: Ns, dev: string): string {
  return (JSON.parse(ns.ip('-j', 'link', 'show', dev)) as { address: string }[])[0]!.address;
}
function ifindex(ns: Ns, dev: string): number {
  return Number(ns.exec('cat', `/sys/class/net/${dev}/ifindex`).trim());
}

beforeAll(async () => {
  client = new Ns('hc');
  router = new Ns('hr');
  server = new Ns('hs');
  veth(client, router, 'c0', 'r0', '10.202.1.2/24', '10.202.1.1/24', 'fd00:202:1::2/64', 'fd00:202:1::1/64');
  veth(router, server, 'r1', 's0', '10.202.2.1/24', '10.202.2.2/24', 'fd00:202:2::1/64', 'fd00:202:2::2/64');
  router.exec('sysctl', '-qw', 'net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1');
  client.ip('route', 'add', 'default', 'via', '10.202.1.1');
  client.ip('-6', 'route', 'add', 'default', 'via', 'fd00:202:1::1');
  server.ip('route', 'add', 'default', 'via', '10.202.2.1');
  server.ip('-6', 'route', 'add', 'default', 'via', 'fd00:202:2::1');
  // Receive timestamps exist only while some socket asked for them (SO_TIMESTAMPNS turns
  // on the kernel's global timestamping): keep one such socket (option 35) open meanwhile.
  stamper = router.spawn([
    'python3', '-c',
    'import socket,sys,time\ns=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\ns.setsockopt(socket.SOL_SOCKET,35,1)\nprint(\'{"ready":true}\',flush=True)\ntime.sleep(600)',
  ]);
  await stamper.waitForJson<Json>((j) => j.ready === true);
});
afterAll(async () => {
  await Promise.all([client?.destroy(), router?.destroy(), server?.destroy()]);
});

const HOOKS = { PREROUTING: 0, INPUT: 1, FORWARD: 2, OUTPUT: 3, POSTROUTING: 4 } as const;
type Hook = keyof typeof HOOKS;
// hook -> [port, IPv4 queue, IPv6 queue]
const PLAN: Record<Hook, [number, number, number]> = {
  PREROUTING: [9001, 10, 20],
  FORWARD: [9002, 11, 21],
  POSTROUTING: [9003, 12, 22],
  INPUT: [9004, 13, 23],
  OUTPUT: [9005, 14, 24],
};

// What the kernel attaches per hook (observed on 6.18): the forward path clears the receive
// timestamp after FORWARD, and POSTROUTING of forwarded traffic still names the input
// device and its source MAC; locally generated packets (OUTPUT) carry only the output device.
const EXPECT: Record<Hook, { indev: boolean; outdev: boolean; hwaddr: boolean; timestamp: boolean }> = {
  PREROUTING: { indev: true, outdev: false, hwaddr: true, timestamp: true },
  INPUT: { indev: true, outdev: false, hwaddr: true, timestamp: true },
  FORWARD: { indev: true, outdev: true, hwaddr: true, timestamp: true },
  POSTROUTING: { indev: true, outdev: true, hwaddr: true, timestamp: false },
  OUTPUT: { indev: false, outdev: true, hwaddr: false, timestamp: false },
};

describe('families and hooks', () => {
  it('inet and inet6 on every hook, with device names, hardware address and timestamp', async () => {
    for (const [hook, [port, q4, q6]] of Object.entries(PLAN)) {
      router.ipt('-t', 'mangle', '-A', hook, '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(q4));
      router.ip6t('-t', 'mangle', '-A', hook, '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(q6));
    }
    const queues = Object.values(PLAN).flatMap(([, a, b]) => [a, b]);
    const consumer = await startConsumer(router.netns, { report: true, queues });
    const sinks = [
      ...(await Promise.all([9001, 9002, 9003, 9005].map((p) => startUdpSink(server.netns, p, { host: '::' })))),
      await startUdpSink(router.netns, 9004, { host: '::' }),
    ];
    for (const port of [9001, 9002, 9003]) {
      await sendUdp(client.netns, '10.202.2.2', port, { count: 2 });
      await sendUdp(client.netns, 'fd00:202:2::2', port, { count: 2 });
    }
    await sendUdp(client.netns, '10.202.1.1', 9004, { count: 2 });
    await sendUdp(client.netns, 'fd00:202:1::1', 9004, { count: 2 });
    await sendUdp(router.netns, '10.202.2.2', 9005, { count: 2 });
    await sendUdp(router.netns, 'fd00:202:2::2', 9005, { count: 2 });
    for (const s of sinks) await eventually(() => sinkDatagrams(s).length === 4, 'each sink got 2 IPv4 + 2 IPv6');

    const pkts = (await consumerLines<Json>(consumer)).filter((l) => l.pkt).map((l) => l.pkt as Json);
    if (process.env.SHOW_HOOKS) for (const p of pkts) console.log(JSON.stringify({ ...p, data: undefined }));
    const clientMac = mac(client, 'c0');
    const now = Date.now() / 1000;
    const r0 = ifindex(router, 'r0');
    const r1 = ifindex(router, 'r1');
    for (const [hook, [, q4, q6]] of Object.entries(PLAN) as [Hook, [number, number, number]][]) {
      for (const [q, family] of [
        [q4, 2],
        [q6, 10],
      ]) {
        const got = pkts.filter((p) => p.queue === q);
        expect(got, `${hook} queue ${q}`).toHaveLength(2);
        // Kernel side: this queue saw exactly these 2 packets.
        expect(router.row(q!)?.lastId).toBe(2);
        for (const p of got) {
          expect(p.hook).toBe(HOOKS[hook]);
          expect(p.family).toBe(family);
          expect(p.hwProtocol).toBe(family === 2 ? 0x0800 : 0x86dd);
          const e = EXPECT[hook];
          expect(p.indev).toBe(e.indev ? r0 : undefined);
          expect(p.indevName).toBe(e.indev ? 'r0' : undefined);
          expect(p.outdev).toBe(e.outdev ? r1 : undefined);
          expect(p.outdevName).toBe(e.outdev ? 'r1' : undefined);
          expect(p.hwaddr).toBe(e.hwaddr ? clientMac : undefined);
          if (e.timestamp) {
            expect(p.timestamp, `${hook} timestamp`).toBeDefined();
            expect(Math.abs(p.timestamp.sec - now)).toBeLessThan(3600);
            expect(p.timestamp.usec).toBeLessThan(1_000_000);
          } else expect(p.timestamp).toBeUndefined();
        }
      }
    }
    consumer.write('close\n');
    await consumer.exited;
  });
});
