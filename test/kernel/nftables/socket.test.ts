/**
 * The nf_tables socket on the real kernel, in a namespace of its own: an owned table with a
 * base chain and a queue rule is committed in one batch, dumped back and decoded, seen by
 * `nft list ruleset`, and gone when the socket closes; a refused batch leaves nothing behind
 * and names the failing message; and what nft itself sends for the same words
 * (`nft --debug=netlink`) is what we compile from the rule as data, and what our decoder
 * reads back from the kernel's dump of nft's rule.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { nativeTransportUnavailable } from '../../../src/netlink/native-transport.js';
import * as C from '../../../src/nftables/constants.js';
import { describeExpr } from '../../../src/nftables/describe.js';
import { NftablesKernelError } from '../../../src/nftables/errors.js';
import { checkRuleSpec, compatQueueExpr, matchExpressions, nativeQueueExpr, type QueueRuleSpec } from '../../../src/nftables/rule-spec.js';
import { findQueueRules } from '../../../src/nftables/queue-rules.js';
import { listRuleset, openNftSocket, type NftSocket } from '../../../src/nftables-runtime/nft-socket.js';
import { createNetns, kernelTestsUnavailable, type Netns } from '../../support/netns.js';

const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();

/** The expression lines `nft --debug=netlink` printed for each rule it sent, in order. */
export function nftDebugRules(output: string): string[][] {
  const rules: string[][] = [];
  let cur: string[] | undefined;
  for (const line of output.split('\n')) {
    if (/^\s+\[ .* \]$/.test(line)) {
      if (cur === undefined) rules.push((cur = []));
      cur.push(line.trim());
    } else cur = undefined;
  }
  return rules;
}

describe.skipIf(skip !== undefined)('nf_tables socket on the kernel', () => {
  let ns: Netns;
  const netns = (): string => `/run/netns/${ns.name}`;
  let sock: NftSocket | undefined;

  beforeAll(() => {
    ns = createNetns('nftsock');
  });
  afterAll(async () => {
    sock?.close();
    await ns?.destroy();
  });

  it('commits an owned table, chain and compat queue rule in one batch; the dump decodes it; close removes it', async () => {
    sock = openNftSocket({ netns: netns() });
    const spec = checkRuleSpec({ hook: 'output', protocol: 'udp', dport: 9999, daddr: '127.0.0.0/8' });
    const exprs = [...matchExpressions(spec), compatQueueExpr({ first: 4, total: 2, bypass: true })];
    await sock.batch([
      { op: 'newtable', table: { family: C.NFPROTO_INET, name: 'nftsock_t', flags: C.NFT_TABLE_F_OWNER } },
      { op: 'newchain', chain: { family: C.NFPROTO_INET, table: 'nftsock_t', name: 'q', hook: { hooknum: C.NF_INET_LOCAL_OUT, priority: -5 }, type: 'filter', policy: C.NF_ACCEPT } },
      { op: 'newrule', rule: { family: C.NFPROTO_INET, table: 'nftsock_t', chain: 'q', expressions: exprs } },
    ]);
    const rs = await listRuleset({ netns: netns() });
    expect(rs.tables).toEqual([expect.objectContaining({ family: C.NFPROTO_INET, name: 'nftsock_t', flags: C.NFT_TABLE_F_OWNER, owner: sock.portId })]);
    expect(rs.chains).toEqual([expect.objectContaining({ table: 'nftsock_t', name: 'q', hook: { hooknum: C.NF_INET_LOCAL_OUT, priority: -5 }, type: 'filter', policy: C.NF_ACCEPT })]);
    expect(rs.rules).toHaveLength(1);
    expect(rs.rules[0]!.expressions).toEqual(exprs);
    const found = findQueueRules(rs, 5);
    expect(found).toHaveLength(1);
    expect(found[0]).toMatchObject({ owned: true, ownerPortId: sock.portId, target: { first: 4, total: 2, bypass: true, backend: 'compat' } });
    expect(findQueueRules(rs, 6)).toEqual([]);
    const text = ns.exec(['nft', 'list', 'ruleset']);
    expect(text).toMatch(/table inet nftsock_t/);
    expect(text).toMatch(/udp dport 9999 ip daddr 127\.0\.0\.0\/8 queue num 4-5 bypass/);
    sock.close();
    sock = undefined;
    // The kernel deletes the owned table when its socket is released.
    const deadline = Date.now() + 2000;
    while (ns.exec(['nft', 'list', 'ruleset']).trim() !== '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(ns.exec(['nft', 'list', 'ruleset']).trim()).toBe('');
  });

  it('a refused batch applies nothing and names the message; a name clash says so', async () => {
    const s = openNftSocket({ netns: netns() });
    try {
      const table = { family: C.NFPROTO_INET, name: 'nftsock_clash', flags: C.NFT_TABLE_F_OWNER };
      // A rule in a chain that does not exist: the table of the same batch must not stay.
      const err = await s.batch([{ op: 'newtable', table }, { op: 'newrule', rule: { family: C.NFPROTO_INET, table: 'nftsock_clash', chain: 'nochain', expressions: [] } }]).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NftablesKernelError);
      expect((err as NftablesKernelError).code).toBe('ENOENT');
      expect((err as NftablesKernelError).operation).toBe('NEWRULE inet nftsock_clash/nochain');
      expect(await s.tables()).toEqual([]);
      await s.batch([{ op: 'newtable', table }]);
      const clash = await s.batch([{ op: 'newtable', table }]).then(() => undefined, (e: unknown) => e);
      expect(clash).toBeInstanceOf(NftablesKernelError);
      expect((clash as Error).message).toMatch(/EEXIST.*already exists/);
    } finally {
      s.close();
    }
  });

  it('without CAP_NET_ADMIN the kernel refuses the whole batch at BATCH_BEGIN: the error says what is missing', async () => {
    const probe = fileURLToPath(new URL('./nft-probe.mjs', import.meta.url));
    const child = ns.spawn(['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-net_admin', process.execPath, probe]);
    const out = await child.waitForJson<{ ok?: boolean; error?: { name: string; code: string; message: string } }>((j) => j.ok !== undefined || j.error !== undefined, 15_000);
    expect(out.error).toEqual({ name: 'NftablesKernelError', code: 'EPERM', message: expect.stringMatching(/the batch \(EPERM\): changing nf_tables needs CAP_NET_ADMIN/) });
    expect(ns.exec(['nft', 'list', 'ruleset']).trim()).toBe('');
  });

  const cases: { spec: QueueRuleSpec; nft: string }[] = [
    { spec: { hook: 'output', protocol: 'udp', dport: 53 }, nft: 'meta l4proto udp udp dport 53' },
    { spec: { hook: 'output', protocol: 'tcp', sport: [1000, 2000] }, nft: 'meta l4proto tcp tcp sport 1000-2000' },
    { spec: { hook: 'output', daddr: '192.0.2.1' }, nft: 'ip daddr 192.0.2.1' },
    { spec: { hook: 'output', saddr: '2001:db8::1' }, nft: 'ip6 saddr 2001:db8::1' },
    { spec: { hook: 'output', mark: 5 }, nft: 'meta mark 5' },
    { spec: { hook: 'output', mark: { value: 0x10, mask: 0xf0 } }, nft: 'meta mark and 0xf0 == 0x10' },
    { spec: { hook: 'output', protocol: 'udp', dport: 53, oif: 'lo' }, nft: 'meta l4proto udp udp dport 53 oifname "lo"' },
    // last: the dump lists the output chain's rules first
    { spec: { hook: 'forward', iif: 'veth0', oif: 'eth1' }, nft: 'iifname "veth0" oifname "eth1"' },
  ];

  it('our expressions for a rule as data are what nft --debug=netlink sends for the same words, and the kernel dump of nft\'s rule decodes to them', async () => {
    ns.exec(['nft', 'add', 'table', 'inet', 'nftsock_oracle']);
    ns.exec(['nft', 'add', 'chain', 'inet', 'nftsock_oracle', 'c_out', '{ type filter hook output priority 0; }']);
    ns.exec(['nft', 'add', 'chain', 'inet', 'nftsock_oracle', 'c_fwd', '{ type filter hook forward priority 0; }']);
    for (const c of cases) {
      const chain = c.spec.hook === 'forward' ? 'c_fwd' : 'c_out';
      const out = ns.exec(['nft', '--debug=netlink', 'add', 'rule', 'inet', 'nftsock_oracle', chain, ...c.nft.split(' '), 'counter', 'accept']);
      const [printed] = nftDebugRules(out);
      const ours = [...matchExpressions(checkRuleSpec(c.spec)), { type: 'counter' as const, packets: 0n, bytes: 0n }, { type: 'immediate' as const, dreg: 0, verdict: { code: C.NF_ACCEPT } }];
      expect(ours.map(describeExpr), c.nft).toEqual(printed);
    }
    const rs = await listRuleset({ netns: netns() });
    const rules = rs.rules.filter((r) => r.table === 'nftsock_oracle');
    expect(rules).toHaveLength(cases.length);
    rules.forEach((r, i) => {
      const ours = [...matchExpressions(checkRuleSpec(cases[i]!.spec)), { type: 'counter', packets: 0n, bytes: 0n }, { type: 'immediate', dreg: 0, verdict: { code: C.NF_ACCEPT } }];
      expect(r.expressions, cases[i]!.nft).toEqual(ours);
    });
    ns.exec(['nft', 'delete', 'table', 'inet', 'nftsock_oracle']);
  });

  it('the native queue expression: what nft --debug=netlink prints for `queue num 2-3 bypass,fanout` is what we send (the kernel may refuse it)', () => {
    ns.exec(['nft', 'add', 'table', 'inet', 'nftsock_q']);
    ns.exec(['nft', 'add', 'chain', 'inet', 'nftsock_q', 'out', '{ type filter hook output priority 0; }']);
    const r = ns.run(['nft', '--debug=netlink', 'add', 'rule', 'inet', 'nftsock_q', 'out', 'queue', 'num', '2-3', 'bypass,fanout']);
    const [printed] = nftDebugRules(r.stdout);
    expect([describeExpr(nativeQueueExpr({ first: 2, total: 2, bypass: true, cpuFanout: true }))]).toEqual(printed);
    ns.exec(['nft', 'delete', 'table', 'inet', 'nftsock_q']);
  });
});
