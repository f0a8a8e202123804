/**
 * nfq-dump's output: the tcpdump-like text line, the JSON object, and the hex dump of one
 * queued packet. Pure functions over a DumpRecord, shared by the live and replay paths.
 */
import type { Packet } from '../index.js';
import { hookName } from '../nfqueue/index.js';
import { IPPROTO_UDP, formatHwaddr, parseIpPacket, type IpPacketInfo } from '../packet/index.js';
import { familyName } from './args.js';

/** The verdict shown with a packet. */
export interface ShownVerdict {
  verdict: string;
  mark?: number;
  /** Requeue target, for 'queue'. */
  queue?: number;
  /** Why the kernel refused it, when it did (replay). */
  error?: string;
}

/** Everything shown about one packet. Fields from the kernel are absent when it sent none. */
export interface DumpRecord {
  queue?: number;
  id?: number;
  family?: number;
  hook?: number;
  hwProtocol?: number;
  mark?: number;
  indev?: number;
  outdev?: number;
  physindev?: number;
  physoutdev?: number;
  hwaddr?: Uint8Array;
  uid?: number;
  gid?: number;
  priority?: number;
  skbInfo?: number;
  ctInfo?: number;
  cgroupClassid?: number;
  secctx?: string;
  vlan?: { proto: number; tci: number };
  /** When the packet was seen: the kernel's timestamp, else when it was received or captured. */
  time: { sec: number; usec: number };
  timeSource: 'kernel' | 'received' | 'capture';
  /** Length of the packet in the kernel (NFQA_CAP_LEN when truncated, else the bytes copied). */
  wireLength?: number;
  /** The packet bytes copied (from the network header on); absent in metadata-only mode. */
  payload?: Uint8Array;
  /** The decoded IP packet, when the bytes are one. */
  ip?: IpPacketInfo;
  /** The verdict given (live), the verdict recorded (replay: null when none was), or absent. */
  verdict?: ShownVerdict | null;
}

/** Maps an interface index to a name, or undefined when unknown. */
export type NameOf = (index: number) => string | undefined;

/** Builds the record of a decoded queue packet. `received` is used when the kernel gave no timestamp. */
export function recordFromPacket(p: Packet, received: { sec: number; usec: number }, receivedSource: 'received' | 'capture' = 'received'): DumpRecord {
  const r: DumpRecord = {
    queue: p.queue,
    id: p.id,
    family: p.family,
    hook: p.hook,
    hwProtocol: p.hwProtocol,
    mark: p.mark ?? 0,
    time: p.timestamp ?? received,
    timeSource: p.timestamp !== undefined ? 'kernel' : receivedSource,
  };
  if (p.indev !== undefined) r.indev = p.indev;
  if (p.outdev !== undefined) r.outdev = p.outdev;
  if (p.physindev !== undefined) r.physindev = p.physindev;
  if (p.physoutdev !== undefined) r.physoutdev = p.physoutdev;
  if (p.hwaddr !== undefined) r.hwaddr = p.hwaddr;
  if (p.uid !== undefined) r.uid = p.uid;
  if (p.gid !== undefined) r.gid = p.gid;
  if (p.priority !== undefined) r.priority = p.priority;
  if (p.skbInfo !== undefined) r.skbInfo = p.skbInfo;
  if (p.ctInfo !== undefined) r.ctInfo = p.ctInfo;
  if (p.cgroupClassid !== undefined) r.cgroupClassid = p.cgroupClassid;
  if (p.secctx !== undefined) r.secctx = p.secctx;
  if (p.vlan !== undefined) r.vlan = p.vlan;
  const len = p.capLen ?? p.payload?.byteLength;
  if (len !== undefined) r.wireLength = len;
  if (p.payload !== undefined) {
    r.payload = p.payload;
    if (p.payload.byteLength > 0) {
      const ip = parseIpPacket(p.payload, len);
      if (ip !== undefined) r.ip = ip;
    }
  }
  return r;
}

// ------------------------------------------------------------------ text

function pad2(n: number): string {
  return n < 10 ? `0${n}` : String(n);
}

/** Local time of day as tcpdump prints it: HH:MM:SS.uuuuuu. */
export function timeOfDay(t: { sec: number; usec: number }): string {
  const d = new Date(t.sec * 1000);
  return `${pad2(d.getHours())}:${pad2(d.getMinutes())}:${pad2(d.getSeconds())}.${String(Math.min(999999, Math.max(0, Math.floor(t.usec)))).padStart(6, '0')}`;
}

function hex(n: number): string {
  return `0x${(n >>> 0).toString(16)}`;
}

function ifName(index: number, nameOf: NameOf): string {
  return nameOf(index) ?? `if${index}`;
}

const SKB_BITS: [number, string][] = [
  [1, 'csum-not-ready'],
  [2, 'gso'],
  [4, 'csum-not-verified'],
];

/** NFQA_SKB_INFO bits as words. */
export function skbInfoText(bits: number): string {
  const words = SKB_BITS.filter(([b]) => (bits & b) !== 0).map(([, w]) => w);
  const rest = bits & ~7;
  if (rest !== 0) words.push(hex(rest));
  return words.length === 0 ? 'none' : words.join(',');
}

function endpoint(addr: string, port: number | undefined): string {
  return port === undefined ? addr : `${addr}.${port}`;
}

function icmpText(ip: IpPacketInfo): string {
  const icmp = ip.icmp!;
  const len = Math.max(0, ip.length - ip.transportOffset);
  const code = icmp.code !== 0 ? ` (code ${icmp.code})` : '';
  if (icmp.version === 4) {
    if (icmp.id !== undefined) return `ICMP ${icmp.typeName}, id ${icmp.id}, seq ${icmp.seq ?? 0}, length ${len}`;
    if (icmp.type === 3 && icmp.inner !== undefined) {
      const inner = icmp.inner;
      switch (icmp.code) {
        case 0:
          return `ICMP net ${inner.dst} unreachable, length ${len}`;
        case 1:
          return `ICMP host ${inner.dst} unreachable, length ${len}`;
        case 2:
          return `ICMP ${inner.dst} protocol ${inner.protocol} unreachable, length ${len}`;
        case 3:
          return `ICMP ${inner.dst} ${inner.protocolName} port ${inner.dport ?? '?'} unreachable, length ${len}`;
        default:
          break;
      }
    }
    return `ICMP ${icmp.typeName}${code}, length ${len}`;
  }
  if (icmp.id !== undefined) return `ICMP6, ${icmp.typeName}, id ${icmp.id}, seq ${icmp.seq ?? 0}, length ${len}`;
  if (icmp.type === 1 && icmp.inner !== undefined) {
    const inner = icmp.inner;
    const why = ['unreachable route', 'unreachable prohibited', 'unreachable beyond scope', 'unreachable address', 'unreachable port'][icmp.code] ?? `unreachable code ${icmp.code}`;
    const what = icmp.code === 4 ? `${inner.dst} ${inner.protocolName} port ${inner.dport ?? '?'}` : inner.dst;
    return `ICMP6, destination unreachable, ${why}, ${what}, length ${len}`;
  }
  return `ICMP6, ${icmp.typeName}${code}, length ${len}`;
}

/** The tcpdump-like description of an IP packet: `IP 10.0.0.1.5353 > 10.0.0.2.53: UDP, length 33`. */
export function describeIp(ip: IpPacketInfo, verbose = false): string {
  let s = ip.version === 4 ? 'IP' : 'IP6';
  if (verbose) {
    const bits: string[] = [];
    if (ip.version === 4) {
      bits.push(`tos ${hex(ip.tos)}`, `ttl ${ip.ttl}`, `id ${ip.ipId ?? 0}`);
      if (ip.dontFragment === true) bits.push('flags [DF]');
    } else {
      if (ip.flowLabel !== undefined && ip.flowLabel !== 0) bits.push(`flowlabel ${hex(ip.flowLabel)}`);
      bits.push(`hlim ${ip.ttl}`);
    }
    bits.push(`proto ${ip.protocolName} (${ip.protocol})`, `length ${ip.length}`);
    s += ` (${bits.join(', ')})`;
  }
  s += ` ${endpoint(ip.src, ip.sport)} > ${endpoint(ip.dst, ip.dport)}: `;
  if (ip.fragment !== undefined && ip.fragment.offset > 0) {
    return `${s}${ip.protocolName} fragment (offset ${ip.fragment.offset}${ip.fragment.more ? ', more' : ''}), length ${ip.payloadLength}`;
  }
  const frag = ip.fragment?.more === true ? ' (first fragment)' : '';
  if (ip.tcp !== undefined) {
    const t = ip.tcp;
    let d = `Flags [${t.flagsText}], seq ${t.seq}`;
    if (t.payloadLength > 0) d += `:${(t.seq + t.payloadLength) >>> 0}`;
    if ((t.flags & 0x10) !== 0) d += `, ack ${t.ack}`;
    d += `, win ${t.window}`;
    if ((t.flags & 0x20) !== 0) d += `, urg ${t.urgent}`;
    return `${s}${d}, length ${t.payloadLength}${frag}`;
  }
  if (ip.udp !== undefined) return `${s}${ip.protocol === IPPROTO_UDP ? 'UDP' : 'UDP-Lite'}, length ${ip.udp.payloadLength}${frag}`;
  if (ip.icmp !== undefined) return `${s}${icmpText(ip)}${frag}`;
  const trunc = ip.truncated ? ` [|${ip.protocolName}]` : '';
  if (ip.sport !== undefined) return `${s}${ip.protocolName}, length ${ip.payloadLength}${trunc}${frag}`;
  return `${s}${ip.protocolName} (${ip.protocol}), length ${ip.payloadLength}${trunc}${frag}`;
}

function verdictText(v: ShownVerdict | null): string {
  if (v === null) return 'no verdict recorded';
  let s = v.verdict === 'queue' ? `requeue to ${v.queue ?? '?'}` : v.verdict;
  if (v.mark !== undefined) s += `, mark ${hex(v.mark)}`;
  if (v.error !== undefined) s += ` (refused: ${v.error})`;
  return s;
}

/** Options of the text and JSON formatters. */
export interface FormatOptions {
  verbose?: boolean;
  /** Interface index → name. */
  nameOf: NameOf;
}

/** The one-line, tcpdump-like description of a packet (no newline). */
export function formatLine(r: DumpRecord, o: FormatOptions): string {
  const parts: string[] = [timeOfDay(r.time)];
  if (r.queue !== undefined) parts.push(`q${r.queue}`);
  if (r.id !== undefined) parts.push(`id ${r.id}`);
  if (r.hook !== undefined) parts.push(hookName(r.hook, r.family));
  if (r.indev !== undefined) parts.push(`in ${ifName(r.indev, o.nameOf)}`);
  if (r.physindev !== undefined) parts.push(`physin ${ifName(r.physindev, o.nameOf)}`);
  if (r.outdev !== undefined) parts.push(`out ${ifName(r.outdev, o.nameOf)}`);
  if (r.physoutdev !== undefined) parts.push(`physout ${ifName(r.physoutdev, o.nameOf)}`);
  if (r.mark !== undefined) parts.push(`mark ${hex(r.mark)}`);
  if (r.uid !== undefined) parts.push(`uid ${r.uid}`);
  if (r.gid !== undefined) parts.push(`gid ${r.gid}`);
  if (o.verbose === true) {
    const hw = formatHwaddr(r.hwaddr);
    if (hw !== undefined && hw !== '') parts.push(`hwaddr ${hw}`);
    if (r.vlan !== undefined) parts.push(`vlan ${r.vlan.tci & 0xfff}`);
    if (r.priority !== undefined) parts.push(`prio ${r.priority}`);
    if (r.skbInfo !== undefined) parts.push(`skb ${skbInfoText(r.skbInfo)}`);
    if (r.ctInfo !== undefined) parts.push(`ctinfo ${r.ctInfo}`);
    if (r.cgroupClassid !== undefined) parts.push(`classid ${hex(r.cgroupClassid)}`);
    if (r.secctx !== undefined) parts.push(`secctx ${r.secctx}`);
  }
  if (r.family !== undefined && r.family !== 2 && r.family !== 10) parts.push(familyName(r.family));
  let pkt: string;
  if (r.ip !== undefined) pkt = describeIp(r.ip, o.verbose === true);
  else if (r.payload === undefined || r.payload.byteLength === 0) pkt = r.wireLength !== undefined && r.wireLength > 0 ? `length ${r.wireLength} (no packet bytes copied)` : '(no packet bytes copied)';
  else pkt = `hwproto ${hex(r.hwProtocol ?? 0)}, length ${r.wireLength ?? r.payload.byteLength}`;
  parts.push(pkt);
  let line = parts.join(' ');
  if (r.payload !== undefined && r.wireLength !== undefined && r.payload.byteLength > 0 && r.payload.byteLength < r.wireLength) {
    line += ` [copied ${r.payload.byteLength} of ${r.wireLength} bytes]`;
  }
  if (r.verdict !== undefined) line += ` -> ${verdictText(r.verdict)}`;
  return line;
}

// ------------------------------------------------------------------ JSON

/** Seconds since the epoch with microseconds, as the nearest double to the decimal text. */
export function epochSeconds(t: { sec: number; usec: number }): number {
  return Number(`${t.sec}.${String(Math.floor(t.usec)).padStart(6, '0')}`);
}

const HEX_DIGITS = '0123456789abcdef';

/** Bytes as a lower-case hex string. */
export function toHex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.byteLength; i++) s += HEX_DIGITS[b[i]! >> 4]! + HEX_DIGITS[b[i]! & 15]!;
  return s;
}

/** The JSON object of a packet (see README, "nfq-dump --json"). */
export function recordJson(r: DumpRecord, o: FormatOptions & { hex?: boolean }): Record<string, unknown> {
  const dev = (i: number | undefined): string | number | null => (i === undefined ? null : (o.nameOf(i) ?? i));
  const ip = r.ip;
  const j: Record<string, unknown> = {
    queue: r.queue ?? null,
    id: r.id ?? null,
    family: r.family === undefined ? null : familyName(r.family),
    hook: r.hook === undefined ? null : hookName(r.hook, r.family).toLowerCase(),
    hwProtocol: r.hwProtocol ?? null,
    mark: r.mark ?? null,
    indev: dev(r.indev),
    outdev: dev(r.outdev),
  };
  if (r.physindev !== undefined) j['physindev'] = dev(r.physindev);
  if (r.physoutdev !== undefined) j['physoutdev'] = dev(r.physoutdev);
  j['uid'] = r.uid ?? null;
  j['gid'] = r.gid ?? null;
  j['timestamp'] = epochSeconds(r.time);
  j['timestampSource'] = r.timeSource;
  j['capLen'] = r.wireLength ?? null;
  j['payloadLength'] = r.payload?.byteLength ?? 0;
  j['truncated'] = r.payload !== undefined && r.wireLength !== undefined && r.payload.byteLength < r.wireLength;
  j['src'] = ip?.src ?? null;
  j['dst'] = ip?.dst ?? null;
  j['proto'] = ip?.protocol ?? null;
  j['protoName'] = ip?.protocolName ?? null;
  j['sport'] = ip?.sport ?? null;
  j['dport'] = ip?.dport ?? null;
  if (ip !== undefined) {
    j['ipVersion'] = ip.version;
    j['ipLength'] = ip.length;
    j['ttl'] = ip.ttl;
    j['length'] = ip.payloadLength;
    if (ip.fragment !== undefined) j['fragment'] = ip.fragment;
    if (ip.tcp !== undefined) {
      const t = ip.tcp;
      j['tcp'] = { flags: t.flagsText, seq: t.seq, ack: t.ack, window: t.window, headerLength: t.headerLength };
    }
    if (ip.icmp !== undefined) {
      const c = ip.icmp;
      const icmp: Record<string, unknown> = { type: c.type, code: c.code, name: c.typeName };
      if (c.id !== undefined) icmp['id'] = c.id;
      if (c.seq !== undefined) icmp['seq'] = c.seq;
      if (c.inner !== undefined) {
        icmp['inner'] = { src: c.inner.src, dst: c.inner.dst, proto: c.inner.protocol, sport: c.inner.sport ?? null, dport: c.inner.dport ?? null };
      }
      j['icmp'] = icmp;
    }
  }
  const hw = formatHwaddr(r.hwaddr);
  if (hw !== undefined) j['hwaddr'] = hw;
  if (r.priority !== undefined) j['priority'] = r.priority;
  if (r.skbInfo !== undefined) j['skbInfo'] = r.skbInfo;
  if (r.ctInfo !== undefined) j['ctInfo'] = r.ctInfo;
  if (r.cgroupClassid !== undefined) j['cgroupClassid'] = r.cgroupClassid;
  if (r.secctx !== undefined) j['secctx'] = r.secctx;
  if (r.vlan !== undefined) j['vlan'] = r.vlan;
  if (r.verdict !== undefined) {
    j['verdict'] = r.verdict === null ? null : r.verdict.verdict;
    j['verdictMark'] = r.verdict?.mark ?? null;
    if (r.verdict?.queue !== undefined) j['verdictQueue'] = r.verdict.queue;
    if (r.verdict?.error !== undefined) j['verdictError'] = r.verdict.error;
  }
  if (o.hex === true) j['payload'] = r.payload === undefined ? null : toHex(r.payload);
  return j;
}

/** One JSON line (no newline). */
export function formatJson(r: DumpRecord, o: FormatOptions & { hex?: boolean }): string {
  return JSON.stringify(recordJson(r, o));
}

// ------------------------------------------------------------------ hex dump

/** tcpdump -X style: offset, 16 bytes as 8 groups of 4 hex digits, then ASCII. Lines end with '\n'. */
export function hexDump(b: Uint8Array): string {
  let out = '';
  for (let off = 0; off < b.byteLength; off += 16) {
    let h = '';
    let a = '';
    for (let i = 0; i < 16; i++) {
      if (i % 2 === 0) h += ' ';
      const k = off + i;
      if (k < b.byteLength) {
        const c = b[k]!;
        h += HEX_DIGITS[c >> 4]! + HEX_DIGITS[c & 15]!;
        a += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '.';
      } else h += '  ';
    }
    out += `\t0x${off.toString(16).padStart(4, '0')}: ${h}  ${a}\n`;
  }
  return out;
}
