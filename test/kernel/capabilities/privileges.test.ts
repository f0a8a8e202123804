// Privileges, as the kernel enforces them. nfnetlink checks CAP_NET_ADMIN on EVERY message
// (config and verdicts), of both the socket's opener and the sending process. So:
// - open as root, then process.setgid/setuid(65534) with nothing else: the verdicts are
//   refused with EPERM (reported in words) and the packets stay queued;
// - the same, started with `setpriv --securebits=+no_setuid_fixup` and a bounding set of
//   net_admin,setuid,setgid: the uid change keeps CAP_NET_ADMIN and the queue keeps working;
// - a non-root user holding only CAP_NET_ADMIN (ambient) opens and serves a queue;
// - without the capability the bind is refused with EPERM.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { consumerLines, startConsumer } from '../../support/consumer.js';
import { countDelivered, sendUdp } from '../../support/netns.js';

let ns: Ns;
beforeAll(() => {
  ns = new Ns('p');
});
afterAll(async () => {
  await ns?.destroy();
});

const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];
// Root with only these capabilities, and setuid no longer clears them.
const KEEP_NET_ADMIN = ['setpriv', '--securebits=+no_setuid_fixup', '--bounding-set=-all,+net_admin,+setuid,+setgid', '--inh-caps=-all'];

describe('privileges', () => {
  it('opened as root then process.setuid(65534) with no capability left: the kernel refuses the verdicts (EPERM)', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9299', '-j', 'NFQUEUE', '--queue-num', '9');
    const delivered = countDelivered(ns.netns, 9299);
    const c = await startConsumer(ns.netns, { report: true, queues: 9, dropTo: { uid: 65534, gid: 65534 } });
    expect(c.json<Json>().find((l) => l.ready)).toMatchObject({ uid: 65534, gid: 65534, euid: 65534 });
    await sendUdp(ns.netns, '127.0.0.1', 9299, { count: 3 });
    await c.untilJson<Json>((lines) => lines.filter((l) => l.pkt).length === 3 && lines.some((l) => l.error));
    // The kernel answers EPERM once per datagram, for its first message, and ignores the
    // rest of it: verdicts sent together get one error between them.
    const errs = c.json<Json>().filter((l) => l.error).map((l) => l.error);
    expect(errs.length).toBeGreaterThanOrEqual(1);
    expect(errs.length).toBeLessThanOrEqual(3);
    for (const e of errs) {
      expect(e).toMatchObject({ code: 'EPERM', step: 'verdict' });
      expect(e.message).toMatch(/CAP_NET_ADMIN/);
    }
    // Kernel side: the 3 packets still wait, none was delivered.
    expect(ns.row(9)).toMatchObject({ waiting: 3, lastId: 3 });
    expect(delivered.pkts()).toBe(0);
    c.kill('SIGKILL');
    await c.exited;
  });

  it('opened as root, then process.setgid/setuid(65534) keeping CAP_NET_ADMIN (no_setuid_fixup): verdicts and close work', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9300', '-j', 'NFQUEUE', '--queue-num', '1');
    ns.ipt('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '9300', '-m', 'mark', '--mark', '0x5', '-m', 'comment', '--comment', 'pmark');
    const delivered = countDelivered(ns.netns, 9300);
    const c = await startConsumer(ns.netns, { report: true, queues: 1, verdict: { verdict: 'accept', mark: 5 }, dropTo: { uid: 65534, gid: 65534 } }, { prefix: KEEP_NET_ADMIN });
    expect(c.json<Json>().find((l) => l.ready)).toMatchObject({ uid: 65534, gid: 65534, euid: 65534 });
    await sendUdp(ns.netns, '127.0.0.1', 9300, { count: 5 });
    await eventually(() => delivered.pkts() === 5, 'delivered: 5');
    expect(ns.count('mangle', 'POSTROUTING', 'pmark')).toBe(5);
    expect((await consumerLines<Json>(c)).filter((l) => l.error)).toEqual([]);
    c.write('close\n');
    await c.exited;
    expect(c.exitStatus()?.code).toBe(0);
    await eventually(() => ns.row(1) === undefined, 'queue unbound by the process running as nobody');
  });

  it('a non-root user with only CAP_NET_ADMIN can open and serve a queue', async () => {
    ns.ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9301', '-j', 'NFQUEUE', '--queue-num', '2');
    const delivered = countDelivered(ns.netns, 9301);
    const c = await startConsumer(ns.netns, { report: true, queues: 2 }, { prefix: [...NOBODY, '--inh-caps=+net_admin', '--ambient-caps=+net_admin'] });
    expect(c.json<Json>().find((l) => l.ready)).toMatchObject({ uid: 65534, gid: 65534 });
    await sendUdp(ns.netns, '127.0.0.1', 9301, { count: 5 });
    await eventually(() => delivered.pkts() === 5, 'delivered: 5');
    expect(ns.row(2)?.lastId).toBe(5);
    c.write('close\n');
    await c.exited;
  });

  it('without CAP_NET_ADMIN the bind is refused with EPERM, in words', async () => {
    const c = await startConsumer(ns.netns, { report: true, queues: 3 }, { prefix: NOBODY, mayFail: true });
    const e = c.json<Json>().find((l) => l.openError)?.openError;
    expect(e).toMatchObject({ code: 'EPERM', step: 'bind' });
    expect(e.message).toMatch(/CAP_NET_ADMIN/);
    expect(ns.row(3)).toBeUndefined();
  });
});
