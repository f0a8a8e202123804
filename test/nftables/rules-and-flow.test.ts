/**
 * Without privileges: a queue rule as data is checked field by field (RuleError naming the
 * field, before anything is sent); a managed rule needs one contiguous range of queues; the
 * plan of a managed ruleset has the owner flag, a comment, and the flow chains when asked;
 * and a flow verdict is sent as ACCEPT with the packet's own mark bits kept and only the
 * flow bits replaced (a property test, and through a Queue over the fake transport).
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import * as C from '../../src/nftables/constants.js';
import { RuleError } from '../../src/nftables/errors.js';
import { checkRuleSpec, parsePrefix } from '../../src/nftables/rule-spec.js';
import { checkFlowMarks, flowVerdictMark, planManagedRules, DEFAULT_FLOW_MARKS } from '../../src/nftables/managed-plan.js';
import { describeExpr } from '../../src/nftables/describe.js';
import { checkManagedRule } from '../../src/queue/queue-options.js';
import { acceptFlow, dropFlow } from '../../src/nfqueue/verdict.js';
import { encodeKernelPacket } from '../support/kernel-packet.js';
import { openOnTestKernel, settle } from '../support/queue-harness.js';
import type { QueuedPacket } from '../../src/queue/queued-packet.js';

function ruleError(f: () => unknown): RuleError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(RuleError);
    return e as RuleError;
  }
  throw new Error('no RuleError');
}

describe('queue rules as data', () => {
  it('each bad field is a RuleError naming it', () => {
    const cases: [unknown, string][] = [
      [{}, 'rule.hook'],
      [{ hook: 'in' }, 'rule.hook'],
      [{ hook: 'input', family: 'bridge' }, 'rule.family'],
      [{ hook: 'input', protocol: 'quic' }, 'rule.protocol'],
      [{ hook: 'input', protocol: 256 }, 'rule.protocol'],
      [{ hook: 'input', dport: 53 }, 'rule.dport'],
      [{ hook: 'input', protocol: 'icmp', sport: 1 }, 'rule.sport'],
      [{ hook: 'input', protocol: 'tcp', dport: 70000 }, 'rule.dport'],
      [{ hook: 'input', protocol: 'tcp', dport: [5, 1] }, 'rule.dport'],
      [{ hook: 'input', protocol: 'tcp', dport: [1, 2, 3] }, 'rule.dport'],
      [{ hook: 'input', saddr: '10.0.0.1/8' }, 'rule.saddr'],
      [{ hook: 'input', saddr: '10.0.0.0/33' }, 'rule.saddr'],
      [{ hook: 'input', daddr: 'fd00::1/64' }, 'rule.daddr'],
      [{ hook: 'input', daddr: 'example.com' }, 'rule.daddr'],
      [{ hook: 'input', saddr: 'fe80::1%eth0' }, 'rule.saddr'],
      [{ hook: 'input', saddr: '10.0.0.0/8', daddr: '::1' }, 'rule.daddr'],
      [{ hook: 'input', family: 'ip6', saddr: '10.0.0.0/8' }, 'rule.saddr'],
      [{ hook: 'input', protocol: 'icmp', daddr: '::1' }, 'rule.protocol'],
      [{ hook: 'output', iif: 'lo' }, 'rule.iif'],
      [{ hook: 'prerouting', oif: 'lo' }, 'rule.oif'],
      [{ hook: 'forward', iif: 'a-very-long-interface-name' }, 'rule.iif'],
      [{ hook: 'forward', oif: 'eth 0' }, 'rule.oif'],
      [{ hook: 'input', mark: -1 }, 'rule.mark'],
      [{ hook: 'input', mark: { value: 3, mask: 1 } }, 'rule.mark.value'],
      [{ hook: 'input', mark: { value: 1, mask: 1, x: 1 } }, 'rule.mark.x'],
      [{ hook: 'input', priority: 1.5 }, 'rule.priority'],
      [{ hook: 'input', port: 53 }, 'rule.port'],
      ['input', 'rule'],
    ];
    for (const [spec, field] of cases) expect(ruleError(() => checkRuleSpec(spec)).field, JSON.stringify(spec)).toBe(field);
  });

  it('addresses and prefixes parse as the kernel compares them', () => {
    expect(parsePrefix('x', '10.1.0.0/16')).toEqual({ version: 4, network: Uint8Array.of(10, 1, 0, 0), mask: Uint8Array.of(255, 255, 0, 0), prefixLength: 16 });
    expect(parsePrefix('x', '10.1.2.0/23').mask).toEqual(Uint8Array.of(255, 255, 254, 0));
    expect(() => parsePrefix('x', '10.1.3.0/23')).toThrow(RuleError); // .3 has a host bit of /23
    const v6 = parsePrefix('x', '2001:db8::ffff:1.2.3.4');
    expect(Buffer.from(v6.network).toString('hex')).toBe('20010db8000000000000ffff01020304');
    expect(parsePrefix('x', '::/0').mask).toEqual(new Uint8Array(16));
  });

  it('a managed rule needs one contiguous range of queues, and flow verdicts need a rule', () => {
    expect(checkManagedRule([3, 1, 2], { rule: { hook: 'input' } })?.target).toEqual({ first: 1, total: 3, bypass: true });
    expect(ruleError(() => checkManagedRule([1, 3], { rule: { hook: 'input' } })).field).toBe('rule');
    expect(ruleError(() => checkManagedRule([1], { flow: true })).field).toBe('flow');
    expect(ruleError(() => checkManagedRule([1], { rule: { hook: 'input' }, ruleOptions: { backend: 'nft' as never } })).field).toBe('ruleOptions.backend');
    expect(checkManagedRule([1], { rule: { hook: 'input' }, ruleOptions: { bypass: false } })?.target.bypass).toBe(false);
    expect(ruleError(() => checkFlowMarks({ accept: 3, drop: 2 })).field).toBe('flow.drop');
    expect(ruleError(() => checkFlowMarks({ accept: 0 })).field).toBe('flow.accept');
    expect(checkFlowMarks(true)).toEqual(DEFAULT_FLOW_MARKS);
  });

  it('the plan: an owned, commented table; the flow rules first in the queue chain; the flow chain one priority later', () => {
    const rules = [checkRuleSpec({ hook: 'input', protocol: 'udp', dport: 53, priority: -10 })];
    const plan = planManagedRules({ rules, target: { first: 0, total: 1, bypass: true }, backend: 'compat', tableName: 't', comment: 'hi', flow: DEFAULT_FLOW_MARKS });
    const [table, chain, head1, head2, queue, flowChain, copyAccept, copyDrop] = plan.operations;
    expect(table).toMatchObject({ op: 'newtable', table: { name: 't', flags: C.NFT_TABLE_F_OWNER, userdata: Uint8Array.of(0, 3, 104, 105, 0) } });
    expect(chain).toMatchObject({ op: 'newchain', chain: { name: 'input_m10', hook: { hooknum: C.NF_INET_LOCAL_IN, priority: -10 } } });
    const text = (o: typeof head1) => (o?.op === 'newrule' ? o.rule.expressions.map(describeExpr) : []);
    expect(text(head1)).toEqual(['[ ct load mark => reg 1 ]', '[ bitwise reg 1 = ( reg 1 & 0xc0000000 ) ^ 0x00000000 ]', '[ cmp eq reg 1 0x40000000 ]', '[ immediate reg 0 accept ]']);
    expect(text(head2).at(-1)).toBe('[ immediate reg 0 drop ]');
    expect(text(queue).at(-1)).toBe('[ target name NFQUEUE rev 3 ]');
    expect(flowChain).toMatchObject({ op: 'newchain', chain: { name: 'flow_input', hook: { hooknum: C.NF_INET_LOCAL_IN, priority: -9 } } });
    expect(text(copyAccept)).toEqual([
      '[ meta load mark => reg 1 ]',
      '[ bitwise reg 1 = ( reg 1 & 0xc0000000 ) ^ 0x00000000 ]',
      '[ cmp eq reg 1 0x40000000 ]',
      '[ ct load mark => reg 1 ]',
      '[ bitwise reg 1 = ( reg 1 & 0x3fffffff ) ^ 0x40000000 ]',
      '[ ct set mark with reg 1 ]',
      '[ meta load mark => reg 1 ]',
      '[ bitwise reg 1 = ( reg 1 & 0x3fffffff ) ^ 0x00000000 ]',
      '[ meta set mark with reg 1 ]',
    ]);
    expect(text(copyDrop).at(-1)).toBe('[ immediate reg 0 drop ]');
    expect(plan.operations).toHaveLength(8);
  });
});

describe('flow verdicts', () => {
  it('only the flow bits change: every other bit of the mark is kept', () => {
    const bits = fc.tuple(fc.nat({ max: 31 }), fc.nat({ max: 31 })).filter(([a, b]) => a !== b);
    fc.assert(
      fc.property(fc.nat({ max: 0xffffffff }), bits, fc.boolean(), (mark, [a, d], acc) => {
        const flow = { accept: (1 << a) >>> 0, drop: (1 << d) >>> 0 };
        const all = (flow.accept | flow.drop) >>> 0;
        const out = flowVerdictMark(mark, flow, acc ? 'accept' : 'drop');
        expect((out & ~all) >>> 0).toBe((mark & ~all) >>> 0);
        expect((out & all) >>> 0).toBe(acc ? flow.accept : flow.drop);
      }),
      { numRuns: 2000 },
    );
  });

  it('a Queue sends a flow verdict as ACCEPT with the packet\'s mark (or the verdict\'s) and the flow bits', async () => {
    const flow = { accept: 0x40000000, drop: 0x80000000 };
    const answers = [() => acceptFlow(), () => dropFlow(), () => Promise.resolve(acceptFlow({ mark: 0x5 })), () => Promise.resolve(dropFlow())];
    let n = 0;
    const h = await openOnTestKernel(() => answers[n++]!(), { managedFlow: flow });
    const marks = [0x12, 0xc0000003, 0x99, 0x40000007];
    marks.forEach((mark, i) => h.kernel.inject(encodeKernelPacket({ queue: 0, family: 2, id: i + 1, hwProtocol: 0x800, hook: 3, mark, payload: new Uint8Array(20) })));
    await settle();
    expect(h.kernel.verdicts.map((v) => [v.id, v.word, v.verdict.mark])).toEqual([
      [1, 1, 0x40000012],
      [2, 1, 0x80000003],
      [3, 1, 0x40000005],
      [4, 1, 0x80000007],
    ]);
    await h.queue.close();
  });

  it('packet.acceptFlow() / dropFlow() under for await', async () => {
    const flow = { accept: 0x1, drop: 0x2 };
    const { TestKernel } = await import('../../src/testing/index.js');
    const { openQueue } = await import('../../src/open-queue.js');
    const kernel = new TestKernel({ portId: 77 });
    const q = await openQueue(0, { transport: kernel, managedFlow: flow });
    kernel.inject(encodeKernelPacket({ queue: 0, family: 2, id: 1, hwProtocol: 0x800, hook: 3, mark: 0xf0, payload: new Uint8Array(20) }));
    kernel.inject(encodeKernelPacket({ queue: 0, family: 2, id: 2, hwProtocol: 0x800, hook: 3, payload: new Uint8Array(20) }));
    let i = 0;
    for await (const p of q as AsyncIterable<QueuedPacket>) {
      if (i++ === 0) p.acceptFlow();
      else {
        p.dropFlow();
        break;
      }
    }
    await settle();
    expect(kernel.verdicts.map((v) => [v.id, v.word, v.verdict.mark])).toEqual([
      [1, 1, 0xf1],
      [2, 1, 0x2],
    ]);
  });

  it('without flow verdicts a flow answer is refused: the callback\'s with a CallbackError (the default verdict is sent), setVerdict\'s with a RuleError', async () => {
    const h = await openOnTestKernel(() => acceptFlow());
    h.kernel.inject(encodeKernelPacket({ queue: 0, family: 2, id: 1, hwProtocol: 0x800, hook: 3, payload: new Uint8Array(20) }));
    await settle();
    expect(h.kernel.verdicts.map((v) => [v.id, v.word, v.verdict.mark])).toEqual([[1, 1, undefined]]);
    expect((h.errors[0] as Error & { cause?: unknown }).cause).toBeInstanceOf(RuleError);
    await h.queue.close();
    const h2 = await openOnTestKernel(() => new Promise(() => {}));
    h2.kernel.inject(encodeKernelPacket({ queue: 0, family: 2, id: 5, hwProtocol: 0x800, hook: 3, payload: new Uint8Array(20) }));
    await settle();
    expect(() => h2.queue.setVerdict(0, 5, dropFlow())).toThrow(RuleError);
    expect(() => h2.queue.setVerdict(0, 5, { verdict: 'repeat', flow: true })).toThrow(RangeError);
    await h2.queue.close();
  });
});
