/**
 * A queue rule described as data (`{ hook: 'input', protocol: 'udp', dport: 53 }`), its
 * checks, and its translation into nf_tables expressions. Every field is checked before
 * anything is sent; a bad one is a RuleError naming it. Pure: no I/O.
 *
 * The match expressions are the ones nft itself generates for the same words (`meta l4proto
 * udp udp dport 53` → meta l4proto, cmp, payload @ transport + 2, cmp), except that address
 * prefixes are always loaded whole and masked with bitwise (nft shortens byte-aligned ones).
 */
import { isIP } from 'node:net';
import * as C from './constants.js';
import { RuleError } from './errors.js';
import type { Expr } from './expressions.js';

/** Hook names, as nft spells them. */
export type HookName = 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
/** Table families a queue rule may live in. */
export type RuleFamily = 'inet' | 'ip' | 'ip6';
/** Layer 4 protocols by name (or give the number). */
export type ProtocolName = 'tcp' | 'udp' | 'udplite' | 'sctp' | 'icmp' | 'icmpv6';

/** A port, or an inclusive range `[low, high]`. */
export type PortMatch = number | readonly [number, number];

/** A packet mark to match: a value, or `{ value, mask }` (only the mask's bits are compared). */
export type MarkMatch = number | { value: number; mask: number };

/** One queue rule, as data. Fields left out match everything. */
export interface QueueRuleSpec {
  /** The hook: `'input'`, `'output'`, `'forward'`, `'prerouting'`, `'postrouting'`. Required. */
  hook: HookName;
  /** Table family (default `'inet'`: IPv4 and IPv6). */
  family?: RuleFamily;
  /** Layer 4 protocol, by name or number. Needed for ports. */
  protocol?: ProtocolName | number;
  /** Source port or range (tcp, udp, udplite, sctp). */
  sport?: PortMatch;
  /** Destination port or range (tcp, udp, udplite, sctp). */
  dport?: PortMatch;
  /** Source address or CIDR block, e.g. `'10.0.0.0/8'`, `'fd00::/64'`; no bits set past the prefix. */
  saddr?: string;
  /** Destination address or CIDR block. */
  daddr?: string;
  /** Input interface name (`'eth0'`; a trailing `*` matches a prefix). Not at output or postrouting. */
  iif?: string;
  /** Output interface name. Not at prerouting or input. */
  oif?: string;
  /** Packet mark to match. */
  mark?: MarkMatch;
  /** Chain priority (default 0; lower runs earlier). Between -2147483000 and 2147483000. */
  priority?: number;
}

/** Hook numbers by name. */
export const HOOKS: Readonly<Record<HookName, number>> = {
  prerouting: C.NF_INET_PRE_ROUTING,
  input: C.NF_INET_LOCAL_IN,
  forward: C.NF_INET_FORWARD,
  output: C.NF_INET_LOCAL_OUT,
  postrouting: C.NF_INET_POST_ROUTING,
};

/** NFPROTO_* numbers by family name. */
export const FAMILIES: Readonly<Record<RuleFamily, number>> = { inet: C.NFPROTO_INET, ip: C.NFPROTO_IPV4, ip6: C.NFPROTO_IPV6 };

/** IPPROTO_* numbers by name. */
export const PROTOCOLS: Readonly<Record<ProtocolName, number>> = {
  tcp: C.IPPROTO_TCP,
  udp: C.IPPROTO_UDP,
  udplite: C.IPPROTO_UDPLITE,
  sctp: C.IPPROTO_SCTP,
  icmp: C.IPPROTO_ICMP,
  icmpv6: C.IPPROTO_ICMPV6,
};

const PORT_PROTOCOLS = new Set([C.IPPROTO_TCP, C.IPPROTO_UDP, C.IPPROTO_UDPLITE, C.IPPROTO_SCTP]);
const FIELDS = new Set(['hook', 'family', 'protocol', 'sport', 'dport', 'saddr', 'daddr', 'iif', 'oif', 'mark', 'priority']);
/** Largest chain priority accepted (nft's own bound for named priorities plus offsets is looser; this keeps clear of overflow). */
const MAX_PRIORITY = 2147483000;
const IFNAMSIZ = 16;

/** An address prefix: the family (4 or 6), the network bytes and the mask bytes. */
export interface AddressPrefix {
  version: 4 | 6;
  network: Uint8Array;
  mask: Uint8Array;
  prefixLength: number;
}

/** A checked rule: the spec's fields as numbers and bytes, ready to be turned into expressions. */
export interface CheckedRule {
  hook: number;
  hookName: HookName;
  family: number;
  familyName: RuleFamily;
  priority: number;
  protocol?: number;
  sport?: readonly [number, number];
  dport?: readonly [number, number];
  saddr?: AddressPrefix;
  daddr?: AddressPrefix;
  iif?: string;
  oif?: string;
  mark?: { value: number; mask: number };
}

function ipv4Bytes(s: string): Uint8Array {
  return Uint8Array.from(s.split('.').map(Number));
}

function ipv6Bytes(s: string): Uint8Array {
  let text = s;
  // An embedded IPv4 tail (::ffff:1.2.3.4) becomes two hextets.
  const v4 = /(\d+\.\d+\.\d+\.\d+)$/.exec(text);
  if (v4 !== null) {
    const b = ipv4Bytes(v4[1]!);
    text = `${text.slice(0, v4.index)}${((b[0]! << 8) | b[1]!).toString(16)}:${((b[2]! << 8) | b[3]!).toString(16)}`;
  }
  const [head, tail] = text.includes('::') ? text.split('::') as [string, string] : [text, undefined];
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = tail === undefined ? h : [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = new Uint8Array(16);
  groups.forEach((g, i) => {
    const n = parseInt(g, 16);
    out[i * 2] = n >> 8;
    out[i * 2 + 1] = n & 0xff;
  });
  return out;
}

/** Parses `'10.0.0.0/8'`, `'192.0.2.1'`, `'fd00::/64'`; throws RuleError (`field`) when malformed or when bits are set past the prefix. */
export function parsePrefix(field: string, value: unknown): AddressPrefix {
  if (typeof value !== 'string') throw new RuleError(field, `must be an address or CIDR string, got ${typeof value}`);
  const slash = value.indexOf('/');
  const addr = slash < 0 ? value : value.slice(0, slash);
  const version = addr.includes('%') ? 0 : isIP(addr); // a zone (fe80::1%eth0) is not part of a packet's address
  if (version !== 4 && version !== 6) throw new RuleError(field, `${JSON.stringify(value)} is not an IPv4 or IPv6 address`);
  const bits = version === 4 ? 32 : 128;
  let prefixLength = bits;
  if (slash >= 0) {
    const p = value.slice(slash + 1);
    if (!/^\d{1,3}$/.test(p) || Number(p) > bits) throw new RuleError(field, `prefix length in ${JSON.stringify(value)} must be 0..${bits}`);
    prefixLength = Number(p);
  }
  const network = version === 4 ? ipv4Bytes(addr) : ipv6Bytes(addr);
  const mask = new Uint8Array(network.length);
  for (let i = 0; i < mask.length; i++) mask[i] = prefixLength >= (i + 1) * 8 ? 0xff : prefixLength <= i * 8 ? 0 : (0xff << (8 - (prefixLength - i * 8))) & 0xff;
  for (let i = 0; i < network.length; i++) {
    if ((network[i]! & ~mask[i]!) !== 0) throw new RuleError(field, `${JSON.stringify(value)} has host bits set past its /${prefixLength} prefix`);
  }
  return { version, network, mask, prefixLength };
}

function checkPort(field: string, v: unknown): readonly [number, number] {
  const one = (x: unknown, what: string): number => {
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 0 || x > 0xffff) throw new RuleError(field, `${what} must be an integer in 0..65535, got ${String(x)}`);
    return x;
  };
  if (Array.isArray(v)) {
    if (v.length !== 2) throw new RuleError(field, `a port range is [low, high], got ${v.length} elements`);
    const lo = one(v[0], 'the range start');
    const hi = one(v[1], 'the range end');
    if (lo > hi) throw new RuleError(field, `range start ${lo} is above its end ${hi}`);
    return [lo, hi];
  }
  const p = one(v, 'a port');
  return [p, p];
}

function checkIfname(field: string, v: unknown): string {
  if (typeof v !== 'string' || v === '') throw new RuleError(field, `must be an interface name, got ${JSON.stringify(v)}`);
  const name = v.endsWith('*') ? v.slice(0, -1) : v;
  if (name.length >= IFNAMSIZ || Buffer.byteLength(name) >= IFNAMSIZ) throw new RuleError(field, `${JSON.stringify(v)} is longer than 15 bytes`);
  if (/[\0/\s*]/.test(name)) throw new RuleError(field, `${JSON.stringify(v)} is not a valid interface name`);
  return v;
}

function checkU32(field: string, v: unknown): number {
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0 || v > 0xffffffff) throw new RuleError(field, `must be an integer in 0..4294967295, got ${String(v)}`);
  return v;
}

/** Checks one rule spec; `field` is its path for messages (`'rule'`, `'rule[1]'`). */
export function checkRuleSpec(spec: unknown, field = 'rule'): CheckedRule {
  if (spec === null || typeof spec !== 'object' || Array.isArray(spec)) throw new RuleError(field, 'must be an object such as { hook: \'input\', protocol: \'udp\', dport: 53 }');
  const s = spec as Record<string, unknown>;
  for (const k of Object.keys(s)) {
    if (!FIELDS.has(k)) throw new RuleError(`${field}.${k}`, `is not a rule field: use ${[...FIELDS].join(', ')}`);
  }
  if (s.hook === undefined) throw new RuleError(`${field}.hook`, `is required: one of ${Object.keys(HOOKS).join(', ')}`);
  if (typeof s.hook !== 'string' || !(s.hook in HOOKS)) throw new RuleError(`${field}.hook`, `must be one of ${Object.keys(HOOKS).join(', ')}, got ${JSON.stringify(s.hook)}`);
  const hookName = s.hook as HookName;
  const familyName = (s.family ?? 'inet') as RuleFamily;
  if (typeof familyName !== 'string' || !(familyName in FAMILIES)) throw new RuleError(`${field}.family`, `must be one of ${Object.keys(FAMILIES).join(', ')}, got ${JSON.stringify(s.family)}`);
  const out: CheckedRule = { hook: HOOKS[hookName], hookName, family: FAMILIES[familyName], familyName, priority: 0 };
  if (s.priority !== undefined) {
    if (typeof s.priority !== 'number' || !Number.isInteger(s.priority) || Math.abs(s.priority) > MAX_PRIORITY) throw new RuleError(`${field}.priority`, `must be an integer in -${MAX_PRIORITY}..${MAX_PRIORITY}, got ${String(s.priority)}`);
    out.priority = s.priority;
  }
  if (s.protocol !== undefined) {
    if (typeof s.protocol === 'string') {
      if (!(s.protocol in PROTOCOLS)) throw new RuleError(`${field}.protocol`, `must be one of ${Object.keys(PROTOCOLS).join(', ')} or a number 0..255, got ${JSON.stringify(s.protocol)}`);
      out.protocol = PROTOCOLS[s.protocol as ProtocolName];
    } else if (typeof s.protocol === 'number' && Number.isInteger(s.protocol) && s.protocol >= 0 && s.protocol <= 255) out.protocol = s.protocol;
    else throw new RuleError(`${field}.protocol`, `must be a protocol name or a number 0..255, got ${String(s.protocol)}`);
  }
  for (const k of ['sport', 'dport'] as const) {
    if (s[k] === undefined) continue;
    if (out.protocol === undefined || !PORT_PROTOCOLS.has(out.protocol)) throw new RuleError(`${field}.${k}`, 'ports need protocol tcp, udp, udplite or sctp');
    out[k] = checkPort(`${field}.${k}`, s[k]);
  }
  for (const k of ['saddr', 'daddr'] as const) {
    if (s[k] === undefined) continue;
    const p = parsePrefix(`${field}.${k}`, s[k]);
    if ((familyName === 'ip' && p.version !== 4) || (familyName === 'ip6' && p.version !== 6)) throw new RuleError(`${field}.${k}`, `an IPv${p.version} address cannot match in family ${familyName}`);
    out[k] = p;
  }
  if (out.saddr !== undefined && out.daddr !== undefined && out.saddr.version !== out.daddr.version) throw new RuleError(`${field}.daddr`, 'saddr and daddr must both be IPv4 or both IPv6');
  const addrVersion = out.saddr?.version ?? out.daddr?.version;
  if (addrVersion !== undefined && out.protocol !== undefined) {
    if ((out.protocol === C.IPPROTO_ICMP && addrVersion === 6) || (out.protocol === C.IPPROTO_ICMPV6 && addrVersion === 4)) throw new RuleError(`${field}.protocol`, `${out.protocol === C.IPPROTO_ICMP ? 'icmp' : 'icmpv6'} never travels over IPv${addrVersion}`);
  }
  if (s.iif !== undefined) {
    if (hookName === 'output' || hookName === 'postrouting') throw new RuleError(`${field}.iif`, `there is no input interface at hook ${hookName}`);
    out.iif = checkIfname(`${field}.iif`, s.iif);
  }
  if (s.oif !== undefined) {
    if (hookName === 'prerouting' || hookName === 'input') throw new RuleError(`${field}.oif`, `there is no output interface at hook ${hookName}`);
    out.oif = checkIfname(`${field}.oif`, s.oif);
  }
  if (s.mark !== undefined) {
    if (typeof s.mark === 'number') out.mark = { value: checkU32(`${field}.mark`, s.mark), mask: 0xffffffff };
    else if (s.mark !== null && typeof s.mark === 'object' && !Array.isArray(s.mark)) {
      const m = s.mark as Record<string, unknown>;
      for (const k of Object.keys(m)) if (k !== 'value' && k !== 'mask') throw new RuleError(`${field}.mark.${k}`, 'is not a mark field: use value and mask');
      const value = checkU32(`${field}.mark.value`, m.value);
      const mask = checkU32(`${field}.mark.mask`, m.mask);
      if (((value & ~mask) >>> 0) !== 0) throw new RuleError(`${field}.mark.value`, `0x${value.toString(16)} has bits outside its mask 0x${mask.toString(16)}`);
      out.mark = { value, mask };
    } else throw new RuleError(`${field}.mark`, 'must be a number or { value, mask }');
  }
  return out;
}

/** Checks a rule spec or an array of them (at least one). */
export function checkRuleSpecs(specs: unknown, field = 'rule'): CheckedRule[] {
  if (Array.isArray(specs)) {
    if (specs.length === 0) throw new RuleError(field, 'an array of rules needs at least one');
    return specs.map((s, i) => checkRuleSpec(s, `${field}[${i}]`));
  }
  return [checkRuleSpec(specs, field)];
}

const REG = C.NFT_REG_1;

function be16(n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff);
}

/** Host-order u32 bytes: how meta and ct keys hold marks and states in a register. */
export function hostU32(n: number): Uint8Array {
  const b = new Uint8Array(4);
  new DataView(b.buffer).setUint32(0, n >>> 0, true);
  return b;
}

function cmpEq(data: Uint8Array): Expr {
  return { type: 'cmp', sreg: REG, op: C.NFT_CMP_EQ, data };
}

function portExprs(offset: number, [lo, hi]: readonly [number, number]): Expr[] {
  const load: Expr = { type: 'payload', dreg: REG, base: C.NFT_PAYLOAD_TRANSPORT_HEADER, offset, len: 2 };
  if (lo === hi) return [load, cmpEq(be16(lo))];
  // As nft writes a range: two comparisons (cmp compares big-endian bytes, so order holds).
  return [load, { type: 'cmp', sreg: REG, op: C.NFT_CMP_GTE, data: be16(lo) }, { type: 'cmp', sreg: REG, op: C.NFT_CMP_LTE, data: be16(hi) }];
}

function addressExprs(p: AddressPrefix, source: boolean): Expr[] {
  const len = p.network.length;
  const offset = p.version === 4 ? (source ? 12 : 16) : source ? 8 : 24;
  const out: Expr[] = [{ type: 'payload', dreg: REG, base: C.NFT_PAYLOAD_NETWORK_HEADER, offset, len }];
  if (p.prefixLength < len * 8) out.push({ type: 'bitwise', sreg: REG, dreg: REG, op: 0, len, mask: p.mask, xor: new Uint8Array(len) });
  out.push(cmpEq(p.network));
  return out;
}

function ifnameExprs(key: number, name: string): Expr[] {
  const prefix = name.endsWith('*');
  const text = new TextEncoder().encode(prefix ? name.slice(0, -1) : name);
  // An exact name is compared with its NUL padding to IFNAMSIZ; a prefix only over its bytes.
  const data = prefix ? text : new Uint8Array(IFNAMSIZ);
  if (!prefix) data.set(text);
  return [{ type: 'meta', key, dreg: REG }, cmpEq(data)];
}

/** The match expressions of a checked rule, in nft's order (protocol, ports, family, addresses, interfaces, mark). */
export function matchExpressions(r: CheckedRule): Expr[] {
  const out: Expr[] = [];
  if (r.protocol !== undefined) out.push({ type: 'meta', key: C.NFT_META_L4PROTO, dreg: REG }, cmpEq(Uint8Array.of(r.protocol)));
  if (r.sport !== undefined) out.push(...portExprs(0, r.sport));
  if (r.dport !== undefined) out.push(...portExprs(2, r.dport));
  const version = r.saddr?.version ?? r.daddr?.version;
  if (version !== undefined && r.family === C.NFPROTO_INET) {
    out.push({ type: 'meta', key: C.NFT_META_NFPROTO, dreg: REG }, cmpEq(Uint8Array.of(version === 4 ? C.NFPROTO_IPV4 : C.NFPROTO_IPV6)));
  }
  if (r.saddr !== undefined) out.push(...addressExprs(r.saddr, true));
  if (r.daddr !== undefined) out.push(...addressExprs(r.daddr, false));
  if (r.iif !== undefined) out.push(...ifnameExprs(C.NFT_META_IIFNAME, r.iif));
  if (r.oif !== undefined) out.push(...ifnameExprs(C.NFT_META_OIFNAME, r.oif));
  if (r.mark !== undefined) {
    out.push({ type: 'meta', key: C.NFT_META_MARK, dreg: REG });
    if (r.mark.mask !== 0xffffffff) out.push({ type: 'bitwise', sreg: REG, dreg: REG, op: 0, len: 4, mask: hostU32(r.mark.mask), xor: hostU32(0) });
    out.push(cmpEq(hostU32(r.mark.value)));
  }
  return out;
}

/** Where packets go: queue `first` alone, or spread over `first .. first + total - 1`. */
export interface QueueTarget {
  first: number;
  total: number;
  /** Accept when no program listens (default true for managed rules). */
  bypass: boolean;
  /** Spread by CPU rather than by flow hash. */
  cpuFanout?: boolean;
}

/** The native queue statement (`queue num N[-M] [bypass] [fanout]`). */
export function nativeQueueExpr(t: QueueTarget): Expr {
  const flags = (t.bypass ? C.NFT_QUEUE_FLAG_BYPASS : 0) | (t.cpuFanout === true ? C.NFT_QUEUE_FLAG_CPU_FANOUT : 0);
  return { type: 'queue', num: t.first, total: t.total, flags };
}

/** The xtables NFQUEUE target, revision 3, as iptables-nft writes it: struct xt_NFQ_info_v3 in host order, padded to 8 bytes. */
export function compatQueueExpr(t: QueueTarget): Expr {
  const info = new Uint8Array(8);
  const v = new DataView(info.buffer);
  v.setUint16(0, t.first, true);
  v.setUint16(2, t.total, true);
  v.setUint16(4, (t.bypass ? C.NFQ_FLAG_BYPASS : 0) | (t.cpuFanout === true ? C.NFQ_FLAG_CPU_FANOUT : 0), true);
  return { type: 'target', name: 'NFQUEUE', rev: 3, info };
}

/** What an NFQUEUE target's info says (revisions 0..3), or undefined when it is not one. */
export function decodeNfqueueTarget(e: Expr): QueueTarget | undefined {
  if (e.type !== 'target' || e.name !== 'NFQUEUE') return undefined;
  const v = new DataView(e.info.buffer, e.info.byteOffset, e.info.byteLength);
  if (e.info.byteLength < 2) return undefined;
  const first = v.getUint16(0, true);
  const total = e.rev >= 1 && e.info.byteLength >= 4 ? v.getUint16(2, true) || 1 : 1;
  const flags = e.rev >= 2 && e.info.byteLength >= 6 ? v.getUint16(4, true) : 0;
  return { first, total, bypass: (flags & C.NFQ_FLAG_BYPASS) !== 0, cpuFanout: e.rev >= 3 && (flags & C.NFQ_FLAG_CPU_FANOUT) !== 0 };
}

/** What a native queue expression says, or undefined when it is not one (or takes its number from a register). */
export function decodeQueueExpr(e: Expr): QueueTarget | undefined {
  if (e.type !== 'queue' || e.num === undefined) return undefined;
  const flags = e.flags ?? 0;
  return { first: e.num, total: e.total ?? 1, bypass: (flags & C.NFT_QUEUE_FLAG_BYPASS) !== 0, cpuFanout: (flags & C.NFT_QUEUE_FLAG_CPU_FANOUT) !== 0 };
}

/** The queue a rule sends to, native or compat, or undefined. */
export function ruleQueueTarget(expressions: readonly Expr[]): (QueueTarget & { backend: 'queue' | 'compat' }) | undefined {
  for (const e of expressions) {
    const native = decodeQueueExpr(e);
    if (native !== undefined) return { ...native, backend: 'queue' };
    const compat = decodeNfqueueTarget(e);
    if (compat !== undefined) return { ...compat, backend: 'compat' };
  }
  return undefined;
}
