// nfq-dump's filter parser: nft's words into managed-rule data, errors that point at the
// problem, and fuzzing (random text and random word soups only ever give rules or a
// FilterSyntaxError; rendered rules parse back to themselves). No privileges.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FilterSyntaxError, MAX_FILTER_RULES, parseFilter, rulesAt, type FilterRule } from '../../src/cli/filter.js';
import { checkRuleSpecs } from '../../src/nftables-runtime/index.js';
import { NetfilterQueueError } from '../../src/index.js';

/** The error parseFilter throws for `text`, with the word its position points at. */
function failure(text: string): { error: FilterSyntaxError; at: string } {
  try {
    parseFilter(text);
  } catch (e) {
    expect(e).toBeInstanceOf(FilterSyntaxError);
    const error = e as FilterSyntaxError;
    return { error, at: text.slice(error.position).split(' ')[0]! };
  }
  throw new Error(`parseFilter(${JSON.stringify(text)}) did not fail`);
}

describe('parseFilter', () => {
  it('reads the issue examples', () => {
    expect(parseFilter(['udp', 'dport', '53'])).toEqual([{ protocol: 'udp', dport: 53 }]);
    expect(parseFilter('tcp dport 443 and ip daddr 10.0.0.0/8')).toEqual([{ protocol: 'tcp', dport: 443, family: 'ip', daddr: '10.0.0.0/8' }]);
  });

  it('reads every field nft names', () => {
    expect(parseFilter('tcp sport 1000-2000 ip6 saddr 2001:db8::/32 iifname eth0 oifname "veth-a.1" meta mark 0x2a')).toEqual([
      { protocol: 'tcp', sport: [1000, 2000], family: 'ip6', saddr: '2001:db8::/32', iif: 'eth0', oif: 'veth-a.1', mark: 42 },
    ]);
    expect(parseFilter('meta mark & 0xff00 == 0x100')).toEqual([{ mark: { value: 0x100, mask: 0xff00 } }]);
    expect(parseFilter('meta l4proto udp meta nfproto ipv6 meta iifname lo')).toEqual([{ protocol: 'udp', family: 'ip6', iif: 'lo' }]);
    expect(parseFilter('udp dport == 53')).toEqual([{ protocol: 'udp', dport: 53 }]);
    expect(parseFilter('udp dport 7-7')).toEqual([{ protocol: 'udp', dport: 7 }]);
    expect(parseFilter('ip')).toEqual([{ family: 'ip' }]);
    expect(parseFilter('meta l4proto { icmp, icmpv6, 47 }')).toEqual([{ protocol: 'icmp' }, { protocol: 'icmpv6' }, { protocol: 47 }]);
    expect(parseFilter('sctp dport 9 iifname veth*')).toEqual([{ protocol: 'sctp', dport: 9, iif: 'veth*' }]);
  });

  it('expands or, sets and parentheses into one rule per alternative', () => {
    expect(parseFilter('udp dport 53 or tcp dport 53')).toEqual([
      { protocol: 'udp', dport: 53 },
      { protocol: 'tcp', dport: 53 },
    ]);
    expect(parseFilter('udp dport { 53, 5353 } and ip daddr { 10.0.0.0/8, 192.168.0.0/16 }')).toHaveLength(4);
    expect(parseFilter('(udp or tcp) and ip daddr 1.2.3.4')).toEqual([
      { protocol: 'udp', family: 'ip', daddr: '1.2.3.4' },
      { protocol: 'tcp', family: 'ip', daddr: '1.2.3.4' },
    ]);
    // Saying the same alternative twice gives it once.
    expect(parseFilter('udp or udp dport {1,2} or udp')).toEqual([{ protocol: 'udp' }, { protocol: 'udp', dport: 1 }, { protocol: 'udp', dport: 2 }]);
  });

  it('points at the word that is wrong', () => {
    const cases: [string, string, RegExp][] = [
      ['tcp port 80', 'port', /sport and dport/],
      ['udp dport 70000', '70000', /out of range/],
      ['udp dport 2000-1000', '2000-1000', /backwards: write 1000-2000/],
      ['ip daddr 10.0.0.1/8', '10.0.0.1/8', /did you mean 10\.0\.0\.0\/8/],
      ['ip6 daddr fe80::1/64', 'fe80::1/64', /did you mean fe80::\/64/],
      ['ip daddr ::1', '::1', /IPv6 address: write ip6/],
      ['ip6 saddr 10.0.0.1', '10.0.0.1', /IPv4 address: write ip /],
      ['ip saddr 10.0.0.0/33', '33', /prefix length must be 0-32/],
      ['udp and tcp', 'tcp', /already udp/],
      ['ip saddr 1.1.1.1 ip6 daddr ::1', 'ip6', /already ip/],
      ['udp dport 53 udp dport 54', '54', /given twice/],
      ['meta mark & 0xff == 0x100', '0x100', /outside mask/],
      ['meta mark 0x100000000', '0x100000000', /32 bits/],
      ['meta cgroup 3', 'cgroup', /unknown meta key/],
      ['host 10.0.0.1', 'host', /ip saddr and ip daddr/],
      ['not udp', 'not', /cannot negate/],
      ['udp dport != 53', '!=', /cannot negate/],
      ['icmp', 'icmp', /write meta l4proto icmp/],
      ['meta l4proto 300', '300', /out of range/],
      ['meta l4proto gre', 'gre', /expected a protocol \(tcp, udp/],
      ['bogus', 'bogus', /unknown match 'bogus'/],
      ['udp dport { }', '}', /empty set/],
      ['udp dport { 53 5353 }', '5353', /',' or '}'/],
      ['udp dport { 53,', '', /the filter ends/],
      ['(udp or tcp', '', /to close the '\(' at character 1/],
      ['udp )', ')', /without a matching/],
      ['and udp', 'and', /needs a match before it/],
      ['udp dport 53 or', '', /the filter ends/],
      ['iifname averyveryverylongname', 'averyveryverylongname', /not an interface name/],
      ['iifname e*th', 'e*th', /not an interface name/],
      ['iifname "eth0', '"eth0', /no closing "/],
      ['udp dport = 5', '=', /unexpected '='/],
      ['ip daddr 1.2.3.4 extra', 'extra', /unknown match 'extra'/],
    ];
    for (const [text, word, message] of cases) {
      const { error, at } = failure(text);
      expect(at, text).toBe(word);
      expect(error.message, text).toMatch(message);
      expect(error.message, text).toContain(`(at character ${error.position + 1})`);
      expect(error).toBeInstanceOf(NetfilterQueueError);
      expect(error.code).toBe('ERR_FILTER_SYNTAX');
      expect(error.filter).toBe(text);
    }
  });

  it('points into words given separately as into the joined text, and draws a caret', () => {
    const { error } = failure(['udp', 'dport', '53', 'and', 'ip', 'daddr', '300.0.0.1'].join(' '));
    const error2 = (() => {
      try {
        parseFilter(['udp', 'dport', '53', 'and', 'ip', 'daddr', '300.0.0.1']);
      } catch (e) {
        return e as FilterSyntaxError;
      }
      throw new Error('no error');
    })();
    expect(error2.position).toBe(error.position);
    expect(error2.pointer()).toBe('udp dport 53 and ip daddr 300.0.0.1\n                          ^');
  });

  it('places every alternative at every hook, with the priority', () => {
    expect(rulesAt(parseFilter('udp or tcp'), ['input', 'output'], 10)).toEqual([
      { protocol: 'udp', hook: 'input', priority: 10 },
      { protocol: 'tcp', hook: 'input', priority: 10 },
      { protocol: 'udp', hook: 'output', priority: 10 },
      { protocol: 'tcp', hook: 'output', priority: 10 },
    ]);
    expect(rulesAt([{}], ['output'])).toEqual([{ hook: 'output' }]);
  });

  it('refuses an empty filter and one that expands too far', () => {
    expect(failure('').error.message).toMatch(/empty/);
    expect(failure('   ').error.position).toBe(0);
    const set = `{ ${Array.from({ length: 9 }, (_, i) => i + 1).join(', ')} }`;
    const { error } = failure(`udp dport ${set} udp sport ${set}`);
    expect(error.message).toMatch(new RegExp(`more than ${MAX_FILTER_RULES} rules`));
  });
});

// ---- fuzzing --------------------------------------------------------------------------

const WORDS = ['tcp', 'udp', 'ip', 'ip6', 'sport', 'dport', 'saddr', 'daddr', 'iifname', 'oifname', 'meta', 'mark', 'l4proto', 'nfproto', 'ipv4', 'ipv6', 'and', 'or', 'not', '{', '}', ',', '(', ')', '&', '==', '!=', '53', '1000-2000', '0x10', '10.0.0.0/8', '::1', 'fe80::/10', 'eth0', '"lo"', 'port', '65536', '-', '/', '"'];

function expectOnlyRulesOrSyntaxErrors(text: string): void {
  let rules: FilterRule[];
  try {
    rules = parseFilter(text);
  } catch (e) {
    if (!(e instanceof FilterSyntaxError)) throw e;
    expect(e.position).toBeGreaterThanOrEqual(0);
    expect(e.position).toBeLessThanOrEqual(text.length);
    return;
  }
  expect(rules.length).toBeGreaterThan(0);
  expect(rules.length).toBeLessThanOrEqual(MAX_FILTER_RULES);
}

const port = fc.integer({ min: 0, max: 65535 });
const ports = fc.oneof(port, fc.tuple(port, port).map(([a, b]) => [Math.min(a, b), Math.max(a, b)] as [number, number]).filter(([a, b]) => a !== b));
const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([a, p]) => {
  const n = a.split('.').reduce((x, o) => (x << 8) | Number(o), 0) >>> 0;
  const net = p === 0 ? 0 : (n & (0xffffffff << (32 - p))) >>> 0;
  return `${[24, 16, 8, 0].map((s) => (net >>> s) & 0xff).join('.')}/${p}`;
});
const ifname = fc.stringMatching(/^[a-z][a-z0-9.-]{0,14}$/).filter((s) => !['and', 'or', 'not', 'tcp', 'udp', 'ip', 'ip6', 'meta'].includes(s));

/** A rule and nft words that say it. */
const ruleText: fc.Arbitrary<{ rule: FilterRule; text: string }> = fc
  .record(
    {
      protocol: fc.constantFrom('tcp' as const, 'udp' as const),
      sport: ports,
      dport: ports,
      saddr: v4,
      daddr: v4,
      iif: ifname,
      oif: ifname,
      mark: fc.oneof(fc.nat({ max: 0xffffffff }), fc.tuple(fc.nat({ max: 0xffffffff }), fc.nat({ max: 0xffffffff })).map(([v, m]) => ({ value: (v & m) >>> 0, mask: m }))),
    },
    { requiredKeys: [] },
  )
  .filter((r) => Object.keys(r).length > 0)
  .map((r) => {
    const rule: FilterRule = { ...r };
    const parts: string[] = [];
    const portText = (p: FilterRule['sport']): string => (typeof p === 'number' ? `${p}` : `${p![0]}-${p![1]}`);
    if (r.sport !== undefined || r.dport !== undefined) rule.protocol ??= 'udp';
    if (r.sport !== undefined) parts.push(`${rule.protocol} sport ${portText(r.sport)}`);
    if (r.dport !== undefined) parts.push(`${rule.protocol} dport ${portText(r.dport)}`);
    if (parts.length === 0 && rule.protocol !== undefined) parts.push(String(rule.protocol));
    if (r.saddr !== undefined || r.daddr !== undefined) rule.family = 'ip';
    if (r.saddr !== undefined) parts.push(`ip saddr ${r.saddr}`);
    if (r.daddr !== undefined) parts.push(`ip daddr ${r.daddr}`);
    if (r.iif !== undefined) parts.push(`iifname ${r.iif}`);
    if (r.oif !== undefined) parts.push(`meta oifname "${r.oif}"`);
    if (typeof r.mark === 'number') parts.push(`meta mark 0x${r.mark.toString(16)}`);
    else if (r.mark !== undefined) parts.push(`meta mark & ${r.mark.mask} == ${r.mark.value}`);
    return { rule, text: parts.join(' and ') };
  });

describe('parseFilter fuzz', () => {
  it('random text gives rules or a FilterSyntaxError with a position inside it', () => {
    fc.assert(fc.property(fc.string({ maxLength: 80 }), expectOnlyRulesOrSyntaxErrors), { numRuns: 3000 });
  });

  it('random soups of its own words give rules or a FilterSyntaxError', () => {
    fc.assert(
      fc.property(fc.array(fc.constantFrom(...WORDS), { maxLength: 14 }), (words) => expectOnlyRulesOrSyntaxErrors(words.join(' '))),
      { numRuns: 5000 },
    );
  });

  it('a rendered rule parses back to itself, alone and as one alternative of an or', () => {
    fc.assert(
      fc.property(ruleText, ruleText, (a, b) => {
        expect(parseFilter(a.text)).toEqual([a.rule]);
        // What the parser accepts, the library's own rule check accepts (forward has both interfaces).
        expect(() => checkRuleSpecs(rulesAt(parseFilter(a.text), ['forward'], -5))).not.toThrow();
        const both = parseFilter(`${a.text} or ( ${b.text} )`);
        expect(both).toContainEqual(a.rule);
        expect(both).toContainEqual(b.rule);
      }),
      { numRuns: 1000 },
    );
  });
});
