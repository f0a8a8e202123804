/**
 * nfq-dump's filter expression (`nfq-dump udp dport 53`, `tcp dport 443 and ip daddr
 * 10.0.0.0/8`): nft's match words, written after the options as tcpdump takes its filter,
 * parsed into the data rules of openQueue's `rule` option. Pure; every mistake is a
 * FilterSyntaxError that points at the word where it was found.
 *
 * Grammar (case-sensitive, as nft):
 *   filter := term ('or' term)*
 *   term   := factor (['and'] factor)*          -- juxtaposition is `and`, as in nft
 *   factor := match | '(' filter ')'
 *   match  := ('tcp'|'udp'|'udplite'|'sctp') [('sport'|'dport') ports]
 *           | 'ip' ['saddr'|'daddr' cidr4] | 'ip6' ['saddr'|'daddr' cidr6]
 *           | ['meta'] ('iifname'|'oifname') name
 *           | 'meta' 'mark' (value | '&' mask '==' value)
 *           | 'meta' 'l4proto' (name | number) | 'meta' 'nfproto' ('ipv4'|'ipv6')
 *   ports  := port | port '-' port | '{' ports (',' ports)* '}'
 * A set `{ a, b }` (ports, addresses or names) means a or b. One managed rule is a
 * conjunction, so `or` and sets expand into several rules (at most MAX_FILTER_RULES).
 */
import { isIPv4, isIPv6 } from 'node:net';
import { NetfilterQueueError, RuleError, type QueueRuleSpec } from '../index.js';
import { parsePrefix, PROTOCOLS, type HookName, type PortMatch, type ProtocolName } from '../nftables-runtime/index.js';

/** One rule of a filter: openQueue's `rule` data without the hook and priority (which come from --hook and --priority). */
export type FilterRule = Omit<QueueRuleSpec, 'hook' | 'priority'>;

/** Protocols whose ports a rule can match (nft: `udp dport 53`, `sctp sport 9`). */
const PORT_PROTOCOLS = ['tcp', 'udp', 'udplite', 'sctp'] as const;

/** How many rules one filter may expand into (through `or` and sets). */
export const MAX_FILTER_RULES = 64;

/** A filter that cannot be parsed; `position` is the 0-based character offset of the problem in `filter`. */
export class FilterSyntaxError extends NetfilterQueueError {
  override name = 'FilterSyntaxError';
  /** Character offset in `filter` where the problem starts. */
  readonly position: number;
  /** The filter text as parsed (words joined by single spaces). */
  readonly filter: string;
  constructor(message: string, filter: string, position: number) {
    super(`${message} (at character ${position + 1})`, { code: 'ERR_FILTER_SYNTAX' });
    this.filter = filter;
    this.position = position;
  }

  /** The filter with a caret under the problem, for a terminal: two lines. */
  pointer(): string {
    return `${this.filter}\n${' '.repeat(this.position)}^`;
  }
}

interface Token {
  text: string;
  at: number;
  /** A double-quoted string: never a keyword. */
  quoted: boolean;
}

const PUNCT = new Set(['{', '}', ',', '(', ')', '&']);

function tokenize(src: string): Token[] {
  const out: Token[] = [];
  let i = 0;
  while (i < src.length) {
    const c = src[i]!;
    if (c === ' ' || c === '\t' || c === '\n') {
      i++;
      continue;
    }
    if (PUNCT.has(c)) {
      out.push({ text: c, at: i, quoted: false });
      i++;
      continue;
    }
    if (c === '=' || c === '!') {
      const two = src.slice(i, i + 2);
      if (two === '==' || two === '!=') {
        out.push({ text: two, at: i, quoted: false });
        i += 2;
        continue;
      }
      throw new FilterSyntaxError(`unexpected '${c}'`, src, i);
    }
    if (c === '"') {
      const end = src.indexOf('"', i + 1);
      if (end < 0) throw new FilterSyntaxError('a quoted name has no closing "', src, i);
      out.push({ text: src.slice(i + 1, end), at: i, quoted: true });
      i = end + 1;
      continue;
    }
    let j = i;
    while (j < src.length && !/[\s{},()&="!]/.test(src[j]!)) j++;
    out.push({ text: src.slice(i, j), at: i, quoted: false });
    i = j;
  }
  return out;
}

/** A parsed match: one field of a rule, with where it was written. */
interface Match {
  field: keyof FilterRule;
  value: FilterRule[keyof FilterRule];
  at: number;
}

/** Disjunctive normal form: a list of alternatives, each a list of matches that must all hold. */
type Dnf = Match[][];

/** Words tcpdump users type, and what nft says instead. */
const TCPDUMP_WORDS: Readonly<Record<string, string>> = {
  port: "nft's words are sport and dport (e.g. udp dport 53); for either direction write udp sport 53 or udp dport 53",
  host: "nft's words are ip saddr and ip daddr (e.g. ip daddr 10.0.0.1)",
  src: "nft's word is saddr (ip saddr 10.0.0.1) or sport (udp sport 53)",
  dst: "nft's word is daddr (ip daddr 10.0.0.1) or dport (udp dport 53)",
  net: "write ip daddr 10.0.0.0/8 or ip saddr 10.0.0.0/8",
  not: 'a managed rule cannot negate a match: leave it out, or write the rule by hand (README: rules by hand)',
  '!=': 'a managed rule cannot negate a match: leave it out, or write the rule by hand (README: rules by hand)',
  '&&': "write 'and'",
  '||': "write 'or'",
  icmp: 'write meta l4proto icmp (nft matches icmp fields, which a managed rule does not)',
  icmpv6: 'write meta l4proto icmpv6 (nft matches icmpv6 fields, which a managed rule does not)',
  th: "write tcp or udp before sport/dport (e.g. udp dport 53)",
};

class Parser {
  private i = 0;
  constructor(
    private readonly src: string,
    private readonly tokens: readonly Token[],
  ) {}

  fail(message: string, at: number = this.peek()?.at ?? this.src.length): never {
    throw new FilterSyntaxError(message, this.src, at);
  }

  peek(): Token | undefined {
    return this.tokens[this.i];
  }

  /** The next token, or an error naming what was expected. */
  next(expected: string): Token {
    const t = this.tokens[this.i];
    if (t === undefined) this.fail(`expected ${expected}, but the filter ends`);
    this.i++;
    return t;
  }

  isWord(t: Token | undefined, ...words: string[]): boolean {
    return t !== undefined && !t.quoted && words.includes(t.text);
  }

  parseFilter(): Dnf {
    const dnf = this.parseOr();
    const t = this.peek();
    if (t !== undefined) this.fail(t.text === ')' ? "')' without a matching '('" : `unexpected '${t.text}'`);
    return dnf;
  }

  parseOr(): Dnf {
    const out = [...this.parseAnd()];
    while (this.isWord(this.peek(), 'or')) {
      this.i++;
      out.push(...this.parseAnd());
      this.limit(out.length);
    }
    return out;
  }

  parseAnd(): Dnf {
    let acc = this.parseFactor();
    for (;;) {
      const t = this.peek();
      if (t === undefined || this.isWord(t, 'or') || t.text === ')') return acc;
      if (this.isWord(t, 'and')) {
        this.i++;
        if (this.peek() === undefined) this.fail("expected a match after 'and', but the filter ends");
      }
      const rhs = this.parseFactor();
      this.limit(acc.length * rhs.length, t.at);
      acc = acc.flatMap((a) => rhs.map((b) => [...a, ...b]));
    }
  }

  limit(n: number, at?: number): void {
    if (n > MAX_FILTER_RULES) this.fail(`the filter expands into more than ${MAX_FILTER_RULES} rules (each 'or' and each set element is one more rule)`, at);
  }

  parseFactor(): Dnf {
    const t = this.peek();
    if (t === undefined) this.fail('expected a match such as udp dport 53, but the filter ends');
    if (t.text === '(' && !t.quoted) {
      this.i++;
      const inner = this.parseOr();
      const close = this.peek();
      if (close === undefined || close.text !== ')') this.fail(`expected ')' to close the '(' at character ${t.at + 1}`);
      this.i++;
      return inner;
    }
    return this.parseMatch();
  }

  /** One match (or a set of them: several alternatives, each one match). */
  parseMatch(): Dnf {
    const t = this.next('a match');
    if (t.quoted) this.fail(`expected a match such as udp dport 53, got the name "${t.text}"`, t.at);
    switch (t.text) {
      case 'tcp':
      case 'udp':
      case 'udplite':
      case 'sctp': {
        const protocol = t.text;
        const proto: Match = { field: 'protocol', value: protocol, at: t.at };
        const w = this.peek();
        if (w === undefined || !this.isWord(w, 'sport', 'dport')) {
          if (w !== undefined && TCPDUMP_WORDS[w.text] !== undefined && !w.quoted && w.text !== 'not') this.fail(`'${w.text}' is not a ${protocol} field: ${TCPDUMP_WORDS[w.text]}`, w.at);
          return [[proto]];
        }
        this.i++;
        return this.parseSet(`a port after '${w.text}'`, (v) => this.port(v)).map((m) => [proto, { field: w.text as 'sport' | 'dport', value: m.value, at: m.at }]);
      }
      case 'ip':
      case 'ip6': {
        const family = t.text;
        const fam: Match = { field: 'family', value: family, at: t.at };
        const w = this.peek();
        if (w === undefined || !this.isWord(w, 'saddr', 'daddr')) {
          if (w !== undefined && !w.quoted && /^[a-z]+$/.test(w.text) && !['and', 'or', ...PORT_PROTOCOLS, 'ip', 'ip6', 'meta', 'iifname', 'oifname'].includes(w.text)) {
            this.fail(`'${w.text}' is not an ${family} field a managed rule matches: use saddr or daddr`, w.at);
          }
          return [[fam]];
        }
        this.i++;
        return this.parseSet(`an ${family === 'ip' ? 'IPv4' : 'IPv6'} address after '${w.text}'`, (v) => this.cidr(v, family)).map((m) => [fam, { field: w.text as 'saddr' | 'daddr', value: m.value, at: m.at }]);
      }
      case 'iifname':
      case 'oifname':
        return this.parseSet(`an interface name after '${t.text}'`, (v) => this.ifname(v)).map((m) => [{ field: t.text === 'iifname' ? 'iif' : 'oif', value: m.value, at: m.at }]);
      case 'meta':
        return this.parseMeta();
      case 'and':
      case 'or':
        return this.fail(`'${t.text}' needs a match before it`, t.at);
      default: {
        const hint = TCPDUMP_WORDS[t.text];
        if (hint !== undefined) this.fail(`'${t.text}' is not supported: ${hint}`, t.at);
        return this.fail(`unknown match '${t.text}': expected tcp, udp, udplite, sctp, ip, ip6, iifname, oifname or meta`, t.at);
      }
    }
  }

  parseMeta(): Dnf {
    const key = this.next("a meta key (mark, iifname, oifname, l4proto, nfproto) after 'meta'");
    switch (key.text) {
      case 'iifname':
      case 'oifname':
        return this.parseSet(`an interface name after 'meta ${key.text}'`, (v) => this.ifname(v)).map((m) => [{ field: key.text === 'iifname' ? 'iif' : 'oif', value: m.value, at: m.at }]);
      case 'l4proto':
        return this.parseSet("a protocol after 'meta l4proto'", (v) => this.protocol(v)).map((m) => [{ field: 'protocol', value: m.value, at: m.at }]);
      case 'nfproto':
        return this.parseSet("ipv4 or ipv6 after 'meta nfproto'", (v) => {
          if (v.text !== 'ipv4' && v.text !== 'ipv6') this.fail(`meta nfproto takes ipv4 or ipv6, got '${v.text}'`, v.at);
          return v.text === 'ipv4' ? 'ip' : 'ip6';
        }).map((m) => [{ field: 'family', value: m.value, at: m.at }]);
      case 'mark':
        return this.parseMark();
      default:
        return this.fail(`unknown meta key '${key.text}': expected mark, iifname, oifname, l4proto or nfproto`, key.at);
    }
  }

  /** `meta mark 0x10` or `meta mark & 0xff == 0x10` (nft's masked comparison). */
  parseMark(): Dnf {
    const t = this.peek();
    if (t !== undefined && t.text === '&' && !t.quoted) {
      this.i++;
      const maskTok = this.next("a mask after 'meta mark &'");
      const mask = this.u32(maskTok, 'mark mask');
      const eq = this.next("'==' after the mark mask");
      if (eq.text !== '==') this.fail(`expected '==' after the mark mask, got '${eq.text}'`, eq.at);
      const valueTok = this.next("a mark value after '=='");
      const value = this.u32(valueTok, 'mark value');
      if ((value & ~mask) >>> 0 !== 0) this.fail(`mark value 0x${value.toString(16)} has bits outside mask 0x${mask.toString(16)}: it can never match`, valueTok.at);
      return [[{ field: 'mark', value: { value, mask }, at: maskTok.at }]];
    }
    return this.parseSet("a mark value after 'meta mark'", (v) => this.u32(v, 'mark')).map((m) => [{ field: 'mark', value: m.value, at: m.at }]);
  }

  /** One value, or a set `{ a, b, c }` of them: one alternative each. */
  parseSet<T>(expected: string, value: (t: Token) => T): { value: T; at: number }[] {
    const t = this.next(expected);
    if (t.text === '!=' && !t.quoted) this.fail(`'!=' is not supported: ${TCPDUMP_WORDS['!=']}`, t.at);
    if (t.text === '==' && !t.quoted) return this.parseSet(expected, value);
    if (t.text !== '{' || t.quoted) {
      if (!t.quoted && (PUNCT.has(t.text) || ['and', 'or'].includes(t.text))) this.fail(`expected ${expected}, got '${t.text}'`, t.at);
      return [{ value: value(t), at: t.at }];
    }
    const out: { value: T; at: number }[] = [];
    for (;;) {
      const e = this.next(`an element of the set opened at character ${t.at + 1}`);
      if (!e.quoted && PUNCT.has(e.text)) this.fail(e.text === '}' && out.length === 0 ? 'an empty set matches nothing' : `expected ${expected}, got '${e.text}'`, e.at);
      out.push({ value: value(e), at: e.at });
      this.limit(out.length, e.at);
      const sep = this.next(`',' or '}' to close the set opened at character ${t.at + 1}`);
      if (sep.text === '}' && !sep.quoted) return out;
      if (sep.text !== ',' || sep.quoted) this.fail(`expected ',' or '}' in the set, got '${sep.text}'`, sep.at);
    }
  }

  port(t: Token): PortMatch {
    const m = /^(\d+)(?:-(\d+))?$/.exec(t.text);
    if (m === null || t.quoted) return this.fail(`expected a port (0-65535) or a range such as 1000-2000, got '${t.text}'`, t.at);
    const a = Number(m[1]);
    if (a > 65535) this.fail(`port ${m[1]} is out of range (0-65535)`, t.at);
    if (m[2] === undefined) return a;
    const b = Number(m[2]);
    if (b > 65535) this.fail(`port ${m[2]} is out of range (0-65535)`, t.at + m[1]!.length + 1);
    if (b < a) this.fail(`port range ${t.text} runs backwards: write ${b}-${a}`, t.at);
    return a === b ? a : [a, b];
  }

  u32(t: Token, what: string): number {
    if (t.quoted || !/^(0x[0-9a-f]+|\d+)$/i.test(t.text)) this.fail(`expected a ${what} (decimal or 0x hex), got '${t.text}'`, t.at);
    const n = Number(t.text);
    if (!Number.isSafeInteger(n) || n > 0xffffffff) this.fail(`${what} ${t.text} does not fit in 32 bits`, t.at);
    return n;
  }

  ifname(t: Token): string {
    // The kernel's rule for device names (dev_valid_name): 1-15 bytes, no '/', ':' or space;
    // nft's trailing '*' matches every name with that prefix.
    const name = t.text.endsWith('*') ? t.text.slice(0, -1) : t.text;
    if (t.text === '' || Buffer.byteLength(name) > 15 || /[/:\s*]/.test(name) || name === '.' || name === '..') {
      this.fail(`'${t.text}' is not an interface name (1-15 characters, no '/', ':' or spaces; a trailing * matches a prefix)`, t.at);
    }
    return t.text;
  }

  /** A protocol name nft knows (tcp, udp, udplite, sctp, icmp, icmpv6) or a number 0-255. */
  protocol(t: Token): ProtocolName | number {
    if (!t.quoted && /^\d+$/.test(t.text)) {
      const n = Number(t.text);
      if (n > 255) this.fail(`protocol number ${t.text} is out of range (0-255)`, t.at);
      return n;
    }
    if (t.quoted || !Object.hasOwn(PROTOCOLS, t.text)) this.fail(`expected a protocol (${Object.keys(PROTOCOLS).join(', ')}) or a number 0-255, got '${t.text}'`, t.at);
    return t.text as ProtocolName;
  }

  cidr(t: Token, family: 'ip' | 'ip6'): string {
    const slash = t.text.indexOf('/');
    const addr = slash < 0 ? t.text : t.text.slice(0, slash);
    const v4 = family === 'ip';
    if (t.quoted || !(v4 ? isIPv4(addr) : isIPv6(addr))) {
      const other = v4 ? isIPv6(addr) : isIPv4(addr);
      this.fail(other ? `'${addr}' is an ${v4 ? 'IPv6' : 'IPv4'} address: write ${v4 ? 'ip6' : 'ip'} saddr or daddr` : `expected an ${v4 ? 'IPv4' : 'IPv6'} address or CIDR, got '${t.text}'`, t.at);
    }
    if (slash < 0) return t.text;
    const bits = v4 ? 32 : 128;
    const p = t.text.slice(slash + 1);
    const prefixAt = t.at + slash + 1;
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) this.fail(`prefix length must be 0-${bits}, got '${p}'`, prefixAt);
    try {
      parsePrefix('address', t.text);
    } catch (e) {
      if (!(e instanceof RuleError)) throw e;
      this.fail(`${t.text} has address bits past its /${p} prefix: did you mean ${networkOf(parsePrefix('address', addr).network, Number(p), v4)}/${p}?`, t.at);
    }
    return t.text;
  }
}

/** The network of an address under a prefix, as text (`10.0.0.0`, `fe80::`). */
function networkOf(bytes: Uint8Array, prefix: number, v4: boolean): string {
  const net = [...bytes].map((b, i) => b & ~(0xff >> Math.max(0, Math.min(8, prefix - i * 8))) & 0xff);
  if (v4) return net.join('.');
  const words: string[] = [];
  for (let i = 0; i < 16; i += 2) words.push(((net[i]! << 8) | net[i + 1]!).toString(16));
  return words.join(':').replace(/(^|:)0(:0)+(:|$)/, '::');
}

const FIELD_WORDS: Readonly<Record<keyof FilterRule, string>> = {
  family: 'the address family (ip or ip6)',
  protocol: 'the protocol',
  sport: 'sport',
  dport: 'dport',
  saddr: 'saddr',
  daddr: 'daddr',
  iif: 'iifname',
  oif: 'oifname',
  mark: 'meta mark',
};

function sameValue(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** Folds one alternative's matches into one rule; a field given twice with different values is an error. */
function toRule(src: string, matches: readonly Match[]): FilterRule {
  const rule: Record<string, unknown> = {};
  for (const m of matches) {
    const prev = rule[m.field];
    if (prev === undefined) rule[m.field] = m.value;
    else if (!sameValue(prev, m.value)) {
      const conflict = m.field === 'family' || m.field === 'protocol';
      throw new FilterSyntaxError(
        conflict
          ? `${FIELD_WORDS[m.field]} is already ${String(prev)}: a packet cannot be both (write 'or' between alternatives)`
          : `${FIELD_WORDS[m.field]} is given twice in one alternative: a managed rule matches it once (write 'or', or a set { a, b })`,
        src,
        m.at,
      );
    }
  }
  return rule as FilterRule;
}

/**
 * Parses a filter given as command-line words (`['udp', 'dport', '53']`) or as one string.
 * Returns one rule per alternative (`or`, sets), never an empty list; positions in errors are
 * offsets into the words joined by single spaces. Throws FilterSyntaxError.
 */
export function parseFilter(words: string | readonly string[]): FilterRule[] {
  const src = typeof words === 'string' ? words : words.join(' ');
  const tokens = tokenize(src);
  if (tokens.length === 0) throw new FilterSyntaxError('the filter is empty', src, 0);
  const dnf = new Parser(src, tokens).parseFilter();
  const rules = dnf.map((alt) => toRule(src, alt));
  // `udp or udp` and sets with repeated elements say one thing twice: keep it once.
  const seen = new Set<string>();
  return rules.filter((r) => {
    const key = JSON.stringify(r, Object.keys(r).sort());
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/**
 * The filter's rules placed at each of `hooks` (one rule per alternative and hook), with
 * `priority` when given: the data for openQueue's `rule` option.
 */
export function rulesAt(filter: readonly FilterRule[], hooks: readonly HookName[], priority?: number): QueueRuleSpec[] {
  return hooks.flatMap((hook) => filter.map((r) => (priority === undefined ? { ...r, hook } : { ...r, hook, priority })));
}
