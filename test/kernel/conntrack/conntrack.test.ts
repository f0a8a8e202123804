// The CONNTRACK flag against a kernel that has nfnetlink_queue's conntrack glue
// (CONFIG_NETFILTER_NETLINK_GLUE_CT; Debian's kernels, booted by npm run test:kernels):
// NFQA_CT and NFQA_CT_INFO decoded and compared, field by field, with what
// `conntrack -L` (conntrack-tools, over ctnetlink: a different path through the kernel)
// shows for the same flow while its packet waits for a verdict; over UDP and TCP, IPv4
// and IPv6, with a zone and a mark. And a connmark set by a verdict, counted by a later
// `-m connmark` rule. Kernels without the glue refuse the flag: that refusal is tested,
// the rest skips there.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openQueue, accept, QueueKernelError, type Verdict } from '../../../src/index.js';
import { kernelFeatures, type KernelFeatures } from '../../../src/diagnosis/index.js';
import { decodeConntrack, ctInfoName, tcpStateName, type Conntrack, type ConntrackTuple } from '../../../src/nfqueue/index.js';
import { createNetns, runCommand, type Netns } from '../../support/netns.js';
import { requireFeature } from '../../support/kernel-matrix.js';

const FLOW = fileURLToPath(new URL('./flow.py', import.meta.url));
const NO_GLUE = 'this kernel lacks the conntrack glue of nfnetlink_queue (CONFIG_NETFILTER_NETLINK_GLUE_CT): it refuses the CONNTRACK flag';

// enum ip_conntrack_status
const IPS_SEEN_REPLY = 1 << 1;
const IPS_ASSURED = 1 << 2;
const IPS_CONFIRMED = 1 << 3;

let ns: Netns;
let netnsPath: string;
let features: KernelFeatures;

beforeAll(async () => {
  ns = createNetns('ctk');
  netnsPath = `/run/netns/${ns.name}`;
  features = await kernelFeatures({ netns: netnsPath });
});
afterAll(async () => {
  await ns?.destroy();
});

/** One line of `conntrack -L -o extended,id`. */
interface ListedFlow {
  line: string;
  proto: number;
  timeout: number;
  /** TCP state word (ESTABLISHED, ...); absent for UDP. */
  state?: string;
  orig: Record<string, string>;
  reply: Record<string, string>;
  /** [UNREPLIED], [ASSURED]... without the brackets. */
  flags: string[];
  fields: Record<string, string>;
}

function parseConntrackList(out: string): ListedFlow[] {
  return out
    .split('\n')
    .filter((l) => l.trim() !== '')
    .map((line) => {
      // ipv4 2 tcp 6 431999 ESTABLISHED src=.. dst=.. sport=.. dport=.. src=.. ... [ASSURED] mark=0 use=1 id=..
      const t = line.trim().split(/\s+/);
      const flow: ListedFlow = { line, proto: Number(t[3]), timeout: Number(t[4]), orig: {}, reply: {}, flags: [], fields: {} };
      let i = 5;
      if (!t[i]!.includes('=') && !t[i]!.startsWith('[')) flow.state = t[i++];
      for (; i < t.length; i++) {
        const tok = t[i]!;
        if (tok.startsWith('[')) {
          flow.flags.push(tok.slice(1, -1));
          continue;
        }
        const [k, v = ''] = tok.split('=') as [string, string?];
        if (['src', 'dst', 'sport', 'dport'].includes(k)) (flow.orig[k] === undefined ? flow.orig : flow.reply)[k] = v;
        else flow.fields[k] = v;
      }
      return flow;
    });
}

/** The conntrack table's entries for `proto` to `port`, as conntrack-tools reads them. */
function listFlows(v6: boolean, proto: 'udp' | 'tcp', port: number): ListedFlow[] {
  const r = runCommand(ns.wrap(['conntrack', '-L', '-f', v6 ? 'ipv6' : 'ipv4', '-p', proto, '--dport', String(port), '-o', 'extended,id']));
  if (r.status !== 0) throw new Error(`conntrack -L failed: ${r.stderr}`);
  return parseConntrackList(r.stdout);
}

/** What the callback saw of one packet, and the table at that moment when it looked. */
interface Seen {
  ctInfo: number | undefined;
  ct: Conntrack | undefined;
  listed?: ListedFlow[];
}

/**
 * Runs one flow (test/kernel/conntrack/flow.py) through queue `q` with the CONNTRACK flag.
 * The callback reads the conntrack table while the first NEW packet and the first
 * ESTABLISHED one wait for their verdict (nothing can change the entry meanwhile).
 */
async function observeFlow(proto: 'udp' | 'tcp', host: string, port: number, q: number, verdict: (s: Seen) => Verdict | 'accept' = () => 'accept'): Promise<{ seen: Seen[]; client: number }> {
  const v6 = host.includes(':');
  const seen: Seen[] = [];
  const queue = await openQueue(
    q,
    (p) => {
      const s: Seen = { ctInfo: p.ctInfo, ct: p.ct === undefined ? undefined : decodeConntrack(p.ct) };
      if (!seen.some((x) => x.ctInfo === p.ctInfo && x.listed !== undefined)) s.listed = listFlows(v6, proto, port);
      seen.push(s);
      return verdict(s);
    },
    { netns: netnsPath, flags: { conntrack: true } },
  );
  try {
    const flow = ns.spawn(['python3', FLOW, proto, host, String(port)]);
    const done = await flow.waitForJson<{ client: number; done: boolean }>((j) => j.done === true, 120_000);
    return { seen, client: done.client };
  } finally {
    await queue.close();
  }
}

function queueRule(v6: boolean, proto: string, port: number, q: number): void {
  const ipt = v6 ? ns.ip6tables.bind(ns) : ns.iptables.bind(ns);
  ipt('-t', 'mangle', '-A', 'OUTPUT', '-p', proto, '--dport', String(port), '-m', 'conntrack', '--ctstate', 'NEW,ESTABLISHED', '-j', 'NFQUEUE', '--queue-num', String(q));
}

/** The decoded tuple must be the one conntrack-tools prints for that direction. */
function expectTuple(t: ConntrackTuple | undefined, listed: Record<string, string>, proto: number): void {
  expect(t).toMatchObject({ src: listed.src, dst: listed.dst, srcPort: Number(listed.sport), dstPort: Number(listed.dport), proto });
}

/** NFQA_CT of a packet whose verdict was pending against the entry conntrack -L showed at that moment. */
function expectSameEntry(ct: Conntrack, listed: ListedFlow): void {
  expectTuple(ct.orig, listed.orig, listed.proto);
  expectTuple(ct.reply, listed.reply, listed.proto);
  expect(ct.id).toBe(Number(listed.fields.id));
  expect(ct.mark ?? 0).toBe(Number(listed.fields.mark));
  expect(ct.zone ?? 0).toBe(Number(listed.fields.zone ?? 0));
  expect(((ct.status ?? 0) & IPS_CONFIRMED) !== 0).toBe(true);
  expect(((ct.status ?? 0) & IPS_SEEN_REPLY) === 0).toBe(listed.flags.includes('UNREPLIED'));
  expect(((ct.status ?? 0) & IPS_ASSURED) !== 0).toBe(listed.flags.includes('ASSURED'));
  if (listed.state !== undefined) expect(tcpStateName(ct.tcpState)).toBe(listed.state);
  // Read at queue time vs. a moment later; emulation is slow, so allow some seconds.
  expect(ct.timeout).toBeGreaterThanOrEqual(listed.timeout);
  expect(ct.timeout! - listed.timeout).toBeLessThanOrEqual(15);
}

/** The first NEW packet: an unconfirmed entry, not in the table yet, the flow's own tuple. */
function expectNewPacket(seen: Seen[], host: string, port: number, client: number, proto: number): void {
  const first = seen[0]!;
  expect(ctInfoName(first.ctInfo)).toBe('NEW');
  expect(first.listed).toEqual([]);
  expect(((first.ct?.status ?? 0) & IPS_CONFIRMED) === 0).toBe(true);
  expect(first.ct?.orig).toMatchObject({ src: host, dst: host, srcPort: client, dstPort: port, proto });
  expect(first.ct?.reply).toMatchObject({ src: host, dst: host, srcPort: port, dstPort: client, proto });
}

function firstEstablished(seen: Seen[]): Seen & { ct: Conntrack; listed: ListedFlow[] } {
  const s = seen.find((x) => x.ctInfo === 0 && x.listed !== undefined);
  expect(s, `an ESTABLISHED packet among ${seen.map((x) => ctInfoName(x.ctInfo)).join(', ')}`).toBeDefined();
  expect(s!.ct).toBeDefined();
  return s as Seen & { ct: Conntrack; listed: ListedFlow[] };
}

describe('the CONNTRACK flag', { timeout: 240_000 }, () => {
  it('kernelFeatures() says whether the glue is there, and opening with the flag agrees', async () => {
    expect(features.release).toMatch(/^\d+\.\d+/);
    // GSO, UID_GID and FAIL_OPEN are older than any kernel Node runs on.
    expect(features.flags).toMatchObject({ failOpen: true, gso: true, uidGid: true });
    expect(features.conntrack).toBe(features.flags.conntrack);
    expect(await kernelFeatures({ netns: netnsPath })).toBe(features); // answered from the cache
    const opened = await openQueue(30, () => 'accept', { netns: netnsPath, flags: { conntrack: true } }).then(
      async (q) => {
        await q.close();
        return true;
      },
      (e: unknown) => {
        // A kernel without the glue refuses with a typed error that says what is missing.
        expect(e).toBeInstanceOf(QueueKernelError);
        expect(e).toMatchObject({ code: 'EOPNOTSUPP', step: 'flags', queue: 30 });
        expect((e as Error).message).toMatch(/CONFIG_NETFILTER_NETLINK_GLUE_CT/);
        return false;
      },
    );
    expect(opened).toBe(features.conntrack);
  });

  it('UDP over IPv4: NFQA_CT_INFO NEW then ESTABLISHED; tuples, id, mark, status and timeout as conntrack -L shows them', async (ctx) => {
    requireFeature(ctx, 'conntrack', features.conntrack, NO_GLUE);
    queueRule(false, 'udp', 9101, 1);
    const { seen, client } = await observeFlow('udp', '127.0.0.1', 9101, 1);
    expect(seen.map((s) => ctInfoName(s.ctInfo))).toEqual(['NEW', 'ESTABLISHED']);
    expectNewPacket(seen, '127.0.0.1', 9101, client, 17);
    const est = firstEstablished(seen);
    expect(est.listed).toHaveLength(1);
    expectSameEntry(est.ct, est.listed[0]!);
    expect(est.ct.orig).toMatchObject({ srcPort: client, dstPort: 9101 });
    // The first packet and the later one belong to the same connection.
    expect(est.ct.id).toBe(seen[0]!.ct!.id);
  });

  it('UDP over IPv6 in conntrack zone 7: the zone, and IPv6 tuples as conntrack -L prints them', async (ctx) => {
    requireFeature(ctx, 'conntrack', features.conntrack, NO_GLUE);
    // Both directions in zone 7, so the echo finds the entry (the raw table runs before conntrack).
    ns.ip6tables('-t', 'raw', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9102', '-j', 'CT', '--zone', '7');
    ns.ip6tables('-t', 'raw', '-A', 'OUTPUT', '-p', 'udp', '--sport', '9102', '-j', 'CT', '--zone', '7');
    queueRule(true, 'udp', 9102, 2);
    const { seen, client } = await observeFlow('udp', '::1', 9102, 2);
    expect(seen.map((s) => ctInfoName(s.ctInfo))).toEqual(['NEW', 'ESTABLISHED']);
    expectNewPacket(seen, '::1', 9102, client, 17);
    const est = firstEstablished(seen);
    expect(est.listed).toHaveLength(1);
    expect(est.ct.zone).toBe(7);
    expectSameEntry(est.ct, est.listed[0]!);
  });

  it('TCP over IPv4 with a connmark from a CONNMARK rule: the TCP state and the mark as conntrack -L shows them', async (ctx) => {
    requireFeature(ctx, 'conntrack', features.conntrack, NO_GLUE);
    ns.iptables('-t', 'mangle', '-A', 'OUTPUT', '-p', 'tcp', '--dport', '9103', '-j', 'CONNMARK', '--set-mark', '0x1234');
    queueRule(false, 'tcp', 9103, 3);
    const { seen, client } = await observeFlow('tcp', '127.0.0.1', 9103, 3);
    expectNewPacket(seen, '127.0.0.1', 9103, client, 6);
    expect(seen[0]!.ct!.mark).toBe(0x1234);
    expect(tcpStateName(seen[0]!.ct!.tcpState)).toBe('SYN_SENT');
    const est = firstEstablished(seen);
    expect(est.listed).toHaveLength(1);
    expect(est.listed[0]!.state).toBe('ESTABLISHED');
    expectSameEntry(est.ct, est.listed[0]!);
    // Every later packet of the flow (data, FIN) is ESTABLISHED on the same entry.
    expect(seen.slice(1).every((s) => ctInfoName(s.ctInfo) === 'ESTABLISHED' && s.ct?.id === est.ct.id)).toBe(true);
  });

  it('TCP over IPv6: tuples, state and status as conntrack -L shows them', async (ctx) => {
    requireFeature(ctx, 'conntrack', features.conntrack, NO_GLUE);
    queueRule(true, 'tcp', 9104, 4);
    const { seen, client } = await observeFlow('tcp', '::1', 9104, 4);
    expectNewPacket(seen, '::1', 9104, client, 6);
    const est = firstEstablished(seen);
    expect(est.listed).toHaveLength(1);
    expectSameEntry(est.ct, est.listed[0]!);
  });
});

describe('a connmark set by the verdict', { timeout: 240_000 }, () => {
  it('is applied: a later -m connmark rule counts the flow, conntrack -L and the next packet show the mark', async (ctx) => {
    requireFeature(ctx, 'conntrack', features.conntrack, NO_GLUE);
    queueRule(false, 'udp', 9105, 5);
    // An ACCEPT verdict resumes at the next hook: count in POSTROUTING.
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '9105', '-m', 'connmark', '--mark', '0x2a', '-m', 'comment', '--comment', 'ctk-connmark');
    let marked = 0;
    const { seen } = await observeFlow('udp', '127.0.0.1', 9105, 5, (s) => {
      if (ctInfoName(s.ctInfo) !== 'NEW') return 'accept';
      marked++;
      return accept({ connmark: 0x2a });
    });
    expect(marked).toBe(1);
    expect(seen.map((s) => ctInfoName(s.ctInfo))).toEqual(['NEW', 'ESTABLISHED']);
    expect(seen[0]!.ct!.mark ?? 0).toBe(0);
    // The mark the verdict set is on the connection the second packet belongs to...
    expect(seen[1]!.ct!.mark).toBe(0x2a);
    expect(seen[1]!.listed![0]!.fields.mark).toBe(String(0x2a));
    // ...and a rule in a later hook matched both client packets by it.
    expect(ns.counter('mangle', 'POSTROUTING', 'ctk-connmark').pkts).toBe(2);
  });
});
