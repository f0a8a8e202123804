/**
 * nfq-dump's command line: parsing, validation and the --help text. Usage mistakes throw a
 * UsageError (exit code 2) whose message says what to type instead.
 */
import { parseArgs } from 'node:util';
import { NetfilterQueueError, RuleError, type QueueRuleSpec } from '../index.js';
import { nfqueueConstants } from '../nfqueue/index.js';
import { checkRuleSpecs, type HookName } from '../nftables-runtime/index.js';
import { FilterSyntaxError, parseFilter, rulesAt, type FilterRule } from './filter.js';

const { NFPROTO_ARP, NFPROTO_BRIDGE, NFPROTO_IPV4, NFPROTO_IPV6, NFPROTO_NETDEV } = nfqueueConstants;

/** A mistake on the command line: exit code 2. */
export class UsageError extends NetfilterQueueError {
  override name = 'UsageError';
  constructor(message: string) {
    super(message, { code: 'ERR_USAGE' });
  }
}

/** Families a queue can carry, by the names iptables/nft users know. */
export const FAMILIES: Readonly<Record<string, number>> = {
  inet: NFPROTO_IPV4,
  ipv4: NFPROTO_IPV4,
  ip: NFPROTO_IPV4,
  '4': NFPROTO_IPV4,
  inet6: NFPROTO_IPV6,
  ipv6: NFPROTO_IPV6,
  ip6: NFPROTO_IPV6,
  '6': NFPROTO_IPV6,
  arp: NFPROTO_ARP,
  netdev: NFPROTO_NETDEV,
  bridge: NFPROTO_BRIDGE,
};

/** What nfq-dump was asked to do. */
export interface CliOptions {
  help: boolean;
  version: boolean;
  /** Queue numbers to bind (or, with --replay, to show). */
  queues: number[];
  /** True when --queue was given (replay: filter by queue only then). */
  queueGiven: boolean;
  verdict: 'accept' | 'drop';
  mark: number | undefined;
  count: number | undefined;
  json: boolean;
  hex: boolean;
  verbose: boolean;
  write: string | undefined;
  record: string | undefined;
  replay: string | undefined;
  copyRange: number | undefined;
  meta: boolean;
  maxLen: number | undefined;
  failOpen: boolean;
  gso: boolean;
  uidGid: boolean;
  /** NFPROTO_* number to show, or undefined for every family. */
  family: number | undefined;
  familyName: string | undefined;
  bufferSize: number | undefined;
  status: boolean;
  /** --netns as given (a name or a path), and the path it names. */
  netns: string | undefined;
  netnsPath: string | undefined;
  /** --metrics ADDR:PORT: serve Prometheus metrics there. */
  metrics: { host: string; port: number } | undefined;
  /** The filter expression after the options, parsed; undefined without one (an iptables/nft rule of the user's selects the packets). */
  filter: FilterRule[] | undefined;
  /** The filter's words as given, joined by spaces. */
  filterText: string | undefined;
  /** --hook: the hooks the filter's rule is installed at (default: output). */
  hooks: Hook[];
  /** --priority: the managed chain's priority (default: the library's). */
  priority: number | undefined;
  /** --check: report the rules and holders of the queues, then exit. */
  check: boolean;
  /** The filter at its hooks: openQueue's `rule` option (checked). */
  rule: QueueRuleSpec[] | undefined;
}

/** Netfilter hooks a filter's rule can be installed at. */
export const HOOKS: readonly HookName[] = ['prerouting', 'input', 'forward', 'output', 'postrouting'];
/** One of HOOKS. */
export type Hook = HookName;
/** The hook of a filter without --hook: the packets this machine sends. */
export const DEFAULT_HOOK: Hook = 'output';

export const HELP = `Usage: nfq-dump [options] [filter]
       nfq-dump --check [-q N]
Dump packets that netfilter queued, and give each one a verdict. Like tcpdump, for a queue,
as root (or with CAP_NET_ADMIN).

With a filter (nft's words: udp dport 53, tcp dport 443 and ip daddr 10.0.0.0/8), nfq-dump
installs its own nf_tables rule for the queue and the kernel removes it when nfq-dump exits,
even on a crash: no iptables needed. Without one, your own rule (iptables -j NFQUEUE, or nft)
sends the packets: run nfq-dump in that rule's network namespace.

  Filter (after the options)
      tcp|udp [sport|dport PORT]   a port, a range 1000-2000, or a set { 53, 5353 }
                                   (also udplite, sctp; meta l4proto icmp|icmpv6|N)
      ip|ip6 [saddr|daddr CIDR]    10.0.0.0/8, ::1, 2001:db8::/32
      iifname NAME, oifname NAME   the input or output interface (eth* for a prefix)
      meta mark N                  the packet mark; meta mark & MASK == VALUE
      and (or nothing), or, ( )    e.g. udp dport 53 or tcp dport 53
      --hook H             where the rule sees packets: output (default: what this machine
                           sends), input (what it receives), forward, prerouting,
                           postrouting; several as input,output
      --priority N         the rule's chain priority (default: the library's); a
                           negative one as --priority=-10
      --check              list the rules that queue to -q N (every queue without -q):
                           nf_tables (nft, iptables-nft) and iptables-legacy, whether each
                           has bypass, and which process holds the queue; then exit
                           (1 when a queue has no rule)

  Queue and verdict
  -q, --queue N            queue number(s) to bind: 0 (default), 0-3, 0,2,5-7
      --verdict V          accept (default) or drop, for every packet
      --mark N             set this packet mark (decimal or 0x hex) with the accept verdict
  -c, --count N            exit after N packets
      --family F           show only packets of family F: inet, inet6, arp, bridge, netdev;
                           packets of other families are accepted without being shown
      --netns NAME         serve the queue of network namespace NAME (/run/netns/NAME, as
                           ip netns add makes) or of a path such as /proc/PID/ns/net;
                           nfq-dump itself stays where it is (needs CAP_SYS_ADMIN)

  Output
      (default)            one line per packet: time, queue, packet id, hook, interfaces,
                           mark, the decoded IP packet, and the verdict given
      --json               one JSON object per packet per line
  -x, --hex                hex and ASCII dump of the packet after each line
                           (with --json: a "payload" field in hex)
  -v, --verbose            more detail: IP ttl/id, hardware address, priority, skb info
  -w, --write FILE         also write the packets to a pcap file (LINKTYPE_RAW) that
                           Wireshark and tshark open; '-' writes the pcap to stdout
      --record FILE        record the netlink conversation (LINKTYPE_NETLINK pcap), a
                           fixture that -r can decode later
  -r, --replay FILE        decode a recorded conversation instead of opening a queue (no
                           privileges needed); shows the verdicts recorded in it. Also reads
                           pcaps of raw IP or Ethernet packets. -q filters queues.
      --no-status          no live status line on stderr (it only shows on a terminal)
      --metrics ADDR:PORT  serve the queue's counters in the Prometheus text format at
                           http://ADDR:PORT/metrics, e.g. 127.0.0.1:9101 or [::1]:9101

  Queue settings
  -s, --copy-range N       copy at most N bytes of each packet (default 65535: all)
      --meta               copy metadata only, no packet bytes
      --maxlen N           at most N packets waiting in the kernel (the kernel's default: 1024)
      --fail-open          accept packets instead of dropping them when the queue is full
      --gso                receive GSO packets whole instead of segmented
      --uid-gid            report the uid and gid of the sending socket
  -B, --buffer-size N      socket receive buffer in bytes (suffix K or M, e.g. 8M)

  -h, --help               this help
      --version            the version

On Ctrl-C (SIGINT), SIGTERM or after --count, every packet still waiting gets its verdict,
the queue is unbound and a summary goes to stderr.
Exit codes: 0 done, 1 runtime failure (no privileges, queue busy, I/O error), 2 usage error.

Examples (as root):
  nfq-dump -c 5 udp dport 9999 &            # a rule of its own, gone when it exits
  echo hello > /dev/udp/127.0.0.1/9999

  iptables -I OUTPUT -p udp --dport 9999 -j NFQUEUE --queue-num 0 --queue-bypass
  nfq-dump -q 0                             # your rule (nft: ... queue num 0 bypass)
  nfq-dump --check -q 0                     # which rules feed queue 0, who holds it
`;

const OPTIONS = {
  queue: { type: 'string', short: 'q' },
  verdict: { type: 'string' },
  mark: { type: 'string' },
  count: { type: 'string', short: 'c' },
  json: { type: 'boolean' },
  hex: { type: 'boolean', short: 'x' },
  verbose: { type: 'boolean', short: 'v' },
  write: { type: 'string', short: 'w' },
  record: { type: 'string' },
  replay: { type: 'string', short: 'r' },
  'copy-range': { type: 'string', short: 's' },
  meta: { type: 'boolean' },
  maxlen: { type: 'string' },
  'fail-open': { type: 'boolean' },
  gso: { type: 'boolean' },
  'uid-gid': { type: 'boolean' },
  family: { type: 'string' },
  netns: { type: 'string' },
  'buffer-size': { type: 'string', short: 'B' },
  'no-status': { type: 'boolean' },
  metrics: { type: 'string' },
  hook: { type: 'string' },
  priority: { type: 'string' },
  check: { type: 'boolean' },
  help: { type: 'boolean', short: 'h' },
  version: { type: 'boolean' },
} as const;

/** Parses an unsigned integer in decimal or 0x hex, within [min, max]. */
export function parseUint(name: string, text: string, min: number, max: number): number {
  const t = text.trim();
  if (!/^(0x[0-9a-f]+|\d+)$/i.test(t)) throw new UsageError(`${name} must be a number, got '${text}'`);
  const n = Number(t);
  if (!Number.isSafeInteger(n) || n < min || n > max) throw new UsageError(`${name} must be between ${min} and ${max}, got ${text}`);
  return n;
}

/** Parses a queue list: `0`, `0-3`, `0,2,5-7`. Sorted, without duplicates. */
export function parseQueueList(text: string): number[] {
  const out = new Set<number>();
  for (const part of text.split(',')) {
    const p = part.trim();
    const m = /^(\d+)\s*-\s*(\d+)$/.exec(p);
    if (m !== null) {
      const a = parseUint('--queue', m[1]!, 0, 65535);
      const b = parseUint('--queue', m[2]!, 0, 65535);
      if (b < a) throw new UsageError(`--queue range ${p} runs backwards: write ${b}-${a}`);
      if (b - a >= 1024) throw new UsageError(`--queue range ${p} is too large (at most 1024 queues)`);
      for (let q = a; q <= b; q++) out.add(q);
    } else {
      if (!/^\d+$/.test(p)) throw new UsageError(`--queue takes a number, a range or a list such as 0, 0-3 or 0,2,5-7; got '${text}'`);
      out.add(parseUint('--queue', p, 0, 65535));
    }
  }
  return [...out].sort((x, y) => x - y);
}

/** Parses --metrics ADDR:PORT (IPv6 in brackets). An address is required: nothing is bound by default. */
export function parseListenAddress(text: string): { host: string; port: number } {
  const m = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s[\]]+)):(\d+)$/.exec(text.trim());
  if (m === null) throw new UsageError(`--metrics takes ADDR:PORT such as 127.0.0.1:9101 or [::1]:9101; got '${text}'`);
  return { host: m[1] ?? m[2]!, port: parseUint('--metrics port', m[3]!, 0, 65535) };
}

/** Parses a byte size with an optional K/M/G suffix (powers of 1024). */
export function parseSize(name: string, text: string): number {
  const m = /^(\d+)\s*([kmg])?i?b?$/i.exec(text.trim());
  if (m === null) throw new UsageError(`${name} must be a size in bytes such as 262144, 256K or 8M; got '${text}'`);
  const mult = { k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[(m[2] ?? '').toLowerCase() as 'k' | 'm' | 'g'] ?? 1;
  const n = Number(m[1]) * mult;
  if (n < 1 || n > 0x7fffffff) throw new UsageError(`${name} must be between 1 byte and 2G, got ${text}`);
  return n;
}

/** Turns node:util parseArgs' errors into messages that say what to do. */
function explainParseError(e: unknown, argv: readonly string[]): UsageError {
  const err = e as { code?: string; message?: string };
  const msg = err.message ?? String(e);
  const ambiguous = /^Option '([^']+)' argument is ambiguous/.exec(msg);
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE' && ambiguous !== null) {
    // `-q -1`: the value starts with a dash, so the parser cannot tell it from an option.
    const name = ambiguous[1]!;
    const value = argv[argv.indexOf(name) + 1] ?? '';
    const long = /--[\w-]+=-XYZ/.exec(msg)?.[0].replace('=-XYZ', '') ?? name;
    return new UsageError(`option ${name} got '${value}', which reads as an option: ${name === '-q' || long === '--queue' ? 'a queue number is 0..65535, e.g. -q 1 or -q 0-3' : `write ${long}=${value} if you mean it as the value`}`);
  }
  if (err.code === 'ERR_PARSE_ARGS_UNKNOWN_OPTION') {
    const m = /Unknown option '([^']+)'/.exec(msg);
    return new UsageError(`unknown option ${m?.[1] ?? ''}`.trim());
  }
  if (err.code === 'ERR_PARSE_ARGS_INVALID_OPTION_VALUE') {
    const m = /Option '([^']+)'/.exec(msg);
    const name = m?.[1] ?? 'option';
    if (/argument missing/.test(msg)) return new UsageError(`option ${name} needs a value`);
    if (/does not take an argument/.test(msg)) return new UsageError(`option ${name} does not take a value`);
    return new UsageError(msg);
  }
  return new UsageError(msg);
}

/** Parses argv (without node and the script). Throws UsageError. */
export function parseCli(argv: readonly string[]): CliOptions {
  const parse = () => parseArgs({ args: [...argv], options: OPTIONS, strict: true, allowPositionals: true });
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse();
  } catch (e) {
    throw explainParseError(e, argv);
  }
  const v = parsed.values;
  const o: CliOptions = {
    help: v.help === true,
    version: v.version === true,
    queues: [0],
    queueGiven: v.queue !== undefined,
    verdict: 'accept',
    mark: undefined,
    count: undefined,
    json: v.json === true,
    hex: v.hex === true,
    verbose: v.verbose === true,
    write: v.write,
    record: v.record,
    replay: v.replay,
    copyRange: undefined,
    meta: v.meta === true,
    maxLen: undefined,
    failOpen: v['fail-open'] === true,
    gso: v.gso === true,
    uidGid: v['uid-gid'] === true,
    family: undefined,
    familyName: undefined,
    bufferSize: undefined,
    status: v['no-status'] !== true,
    netns: v.netns,
    netnsPath: undefined,
    metrics: undefined,
    filter: undefined,
    filterText: undefined,
    hooks: [DEFAULT_HOOK],
    priority: undefined,
    check: v.check === true,
    rule: undefined,
  };
  if (o.help || o.version) return o;
  if (parsed.positionals.length > 0) {
    o.filterText = parsed.positionals.join(' ');
    try {
      o.filter = parseFilter(parsed.positionals);
    } catch (e) {
      if (e instanceof FilterSyntaxError) throw new UsageError(`bad filter: ${e.message}\n  ${e.pointer().split('\n').join('\n  ')}`);
      throw e;
    }
  }
  if (v.hook !== undefined) o.hooks = parseHooks(v.hook);
  if (v.priority !== undefined) {
    const p = v.priority.trim();
    if (!/^-?\d+$/.test(p) || Math.abs(Number(p)) > 0x7fffffff) throw new UsageError(`--priority must be a whole number (negative runs earlier), got '${v.priority}'`);
    o.priority = Number(p);
  }
  if (o.filter !== undefined) {
    o.rule = rulesAt(o.filter, o.hooks, o.priority);
    try {
      checkRuleSpecs(o.rule);
    } catch (e) {
      // The library's own check, before anything is bound: iifname at output, and the like.
      if (e instanceof RuleError) throw new UsageError(`the filter cannot be installed as written: ${e.message.replace(/^rule(\[\d+\])?\./, '')}${/iif|oif/.test(e.field) ? ' (choose the hook with --hook)' : ''}`);
      throw e;
    }
  }
  if (o.filter === undefined && (v.hook !== undefined || v.priority !== undefined)) {
    throw new UsageError(`${v.hook !== undefined ? '--hook' : '--priority'} places nfq-dump's own rule, which needs a filter such as 'udp dport 53' after the options`);
  }
  if (o.check) {
    const others = Object.keys(v).filter((k) => !['check', 'queue', 'netns', 'json', 'no-status', 'verbose'].includes(k));
    if (others.length > 0 || o.filter !== undefined) throw new UsageError(`--check reads the rules and exits: it takes only -q, --netns and --json${others.length > 0 ? ` (not --${others[0]})` : ' (not a filter)'}`);
  }
  if (v.queue !== undefined) o.queues = parseQueueList(v.queue);
  if (v.verdict !== undefined) {
    const vd = v.verdict.toLowerCase();
    if (vd !== 'accept' && vd !== 'drop') throw new UsageError(`--verdict must be accept or drop, got '${v.verdict}'`);
    o.verdict = vd;
  }
  if (v.mark !== undefined) {
    o.mark = parseUint('--mark', v.mark, 0, 0xffffffff);
    if (o.verdict === 'drop') throw new UsageError('--mark goes with --verdict accept: a dropped packet keeps no mark');
  }
  if (v.count !== undefined) o.count = parseUint('--count', v.count, 1, Number.MAX_SAFE_INTEGER);
  if (v['copy-range'] !== undefined) o.copyRange = parseUint('--copy-range', v['copy-range'], 0, 65535);
  if (v.maxlen !== undefined) o.maxLen = parseUint('--maxlen', v.maxlen, 1, 0xffffffff);
  if (v['buffer-size'] !== undefined) o.bufferSize = parseSize('--buffer-size', v['buffer-size']);
  if (v.metrics !== undefined) o.metrics = parseListenAddress(v.metrics);
  if (v.family !== undefined) {
    const f = v.family.toLowerCase();
    const num = FAMILIES[f];
    if (num === undefined) throw new UsageError(`--family must be one of inet, inet6, arp, bridge, netdev; got '${v.family}'`);
    o.family = num;
    o.familyName = familyName(num);
  }
  if (o.netns !== undefined) {
    if (o.netns === '' || o.netns === '.' || o.netns === '..') throw new UsageError('--netns needs a namespace name (see ip netns list) or a path such as /proc/PID/ns/net');
    o.netnsPath = o.netns.includes('/') ? o.netns : `/run/netns/${o.netns}`;
  }
  if (o.meta && o.copyRange !== undefined) throw new UsageError('--meta copies no packet bytes: it cannot be combined with --copy-range');
  for (const [flag, value] of [
    ['--write', o.write],
    ['--record', o.record],
    ['--replay', o.replay],
  ] as const) {
    if (value === '') throw new UsageError(`${flag} needs a file name`);
  }
  if (o.record !== undefined && o.record === '-') throw new UsageError('--record needs a file name (not stdout)');
  if (o.record !== undefined && o.write !== undefined && o.record === o.write) throw new UsageError('--record and --write must name different files');
  if (o.replay !== undefined) {
    const live: [string, boolean][] = [
      ['--verdict', v.verdict !== undefined],
      ['--mark', v.mark !== undefined],
      ['--record', o.record !== undefined],
      ['--copy-range', o.copyRange !== undefined],
      ['--meta', o.meta],
      ['--maxlen', o.maxLen !== undefined],
      ['--fail-open', o.failOpen],
      ['--gso', o.gso],
      ['--uid-gid', o.uidGid],
      ['--buffer-size', o.bufferSize !== undefined],
      ['--netns', o.netns !== undefined],
      ['--metrics', o.metrics !== undefined],
      ['a filter', o.filter !== undefined],
      ['--check', o.check],
    ];
    const bad = live.filter(([, given]) => given).map(([n]) => n);
    if (bad.length > 0) {
      throw new UsageError(`${bad.join(', ')} ${bad.length === 1 ? 'applies' : 'apply'} to a live queue, not to --replay (a replay shows the verdicts that were recorded)`);
    }
  }
  return o;
}

/** Parses --hook: one hook or a comma list (`input,output`), without duplicates. */
export function parseHooks(text: string): Hook[] {
  const out: Hook[] = [];
  for (const part of text.split(',')) {
    const h = part.trim().toLowerCase();
    if (!(HOOKS as readonly string[]).includes(h)) throw new UsageError(`--hook must be ${HOOKS.join(', ')} (or several, as input,output); got '${part.trim()}'`);
    if (!out.includes(h as Hook)) out.push(h as Hook);
  }
  return out;
}

/** The name nfq-dump uses for an NFPROTO_* family number. */
export function familyName(family: number): string {
  switch (family) {
    case 2:
      return 'inet';
    case 10:
      return 'inet6';
    case 3:
      return 'arp';
    case 5:
      return 'netdev';
    case 7:
      return 'bridge';
    case 1:
      return 'inet-any';
    case 0:
      return 'unspec';
    default:
      return `family-${family}`;
  }
}
