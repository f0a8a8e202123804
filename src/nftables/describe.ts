/**
 * One line per expression in the notation `nft --debug=netlink` prints
 * (`[ meta load l4proto => reg 1 ]`, `[ cmp eq reg 1 0x00003500 ]`), so that what we send can
 * be compared with what nft sends for the same words, and a dumped rule can be read. Data
 * bytes are shown as nft shows them: 32-bit words read in host order, zero-padded.
 */
import * as C from './constants.js';
import type { Expr, Verdict } from './expressions.js';

const META_KEYS: Record<number, string> = {
  [C.NFT_META_LEN]: 'len', [C.NFT_META_PROTOCOL]: 'protocol', [C.NFT_META_PRIORITY]: 'priority', [C.NFT_META_MARK]: 'mark',
  [C.NFT_META_IIF]: 'iif', [C.NFT_META_OIF]: 'oif', [C.NFT_META_IIFNAME]: 'iifname', [C.NFT_META_OIFNAME]: 'oifname',
  8: 'iiftype', 9: 'oiftype', [C.NFT_META_SKUID]: 'skuid', [C.NFT_META_SKGID]: 'skgid', 12: 'nftrace', 13: 'rtclassid', 14: 'secmark',
  [C.NFT_META_NFPROTO]: 'nfproto', [C.NFT_META_L4PROTO]: 'l4proto',
};
const CT_KEYS: Record<number, string> = { [C.NFT_CT_STATE]: 'state', [C.NFT_CT_DIRECTION]: 'direction', [C.NFT_CT_STATUS]: 'status', [C.NFT_CT_MARK]: 'mark', 4: 'secmark', 5: 'expiration', 6: 'helper', 7: 'l3protocol', 8: 'src', 9: 'dst', 10: 'protocol', 11: 'proto_src', 12: 'proto_dst' };
const CMP_OPS = ['eq', 'neq', 'lt', 'lte', 'gt', 'gte'];
const BASES = ['link', 'network', 'transport', 'inner'];

/** The name of a meta key (`'l4proto'`), or `'unknown(N)'`. */
export function metaKeyName(key: number): string {
  return META_KEYS[key] ?? `unknown(${key})`;
}

/** The name of a ct key (`'mark'`), or `'unknown(N)'`. */
export function ctKeyName(key: number): string {
  return CT_KEYS[key] ?? `unknown(${key})`;
}

/** Data bytes as nft prints them: 32-bit host-order words, `0x%08x`, separated by spaces. */
export function formatData(data: Uint8Array): string {
  const words: string[] = [];
  for (let i = 0; i < data.length; i += 4) {
    let w = 0;
    for (let j = 3; j >= 0; j--) w = w * 256 + (data[i + j] ?? 0);
    words.push(`0x${w.toString(16).padStart(8, '0')}`);
  }
  return words.join(' ');
}

/** A verdict as nft prints it (`accept`, `drop`, `jump -> chain`). */
export function formatVerdict(v: Verdict): string {
  switch (v.code) {
    case C.NF_ACCEPT: return 'accept';
    case C.NF_DROP: return 'drop';
    case C.NF_QUEUE: return 'queue';
    case C.NFT_CONTINUE: return 'continue';
    case C.NFT_BREAK: return 'break';
    case C.NFT_JUMP: return `jump -> ${v.chain ?? '?'}`;
    case C.NFT_GOTO: return `goto -> ${v.chain ?? '?'}`;
    case C.NFT_RETURN: return 'return';
    default: return `verdict ${v.code}`;
  }
}

function queueRange(num: number, total: number | undefined): string {
  return total !== undefined && total > 1 ? `${num}-${num + total - 1}` : `${num}`;
}

/** One expression, in `nft --debug=netlink` notation (with the brackets). */
export function describeExpr(e: Expr): string {
  return `[ ${describeBody(e)} ]`;
}

function describeBody(e: Expr): string {
  switch (e.type) {
    case 'meta':
      return e.sreg !== undefined ? `meta set ${metaKeyName(e.key)} with reg ${e.sreg}` : `meta load ${metaKeyName(e.key)} => reg ${e.dreg ?? 0}`;
    case 'payload':
      if (e.sreg !== undefined) return `payload write reg ${e.sreg} => ${e.len}b @ ${BASES[e.base] ?? e.base} header + ${e.offset} csum_type ${e.csumType ?? 0} csum_off ${e.csumOffset ?? 0} csum_flags 0x${(e.csumFlags ?? 0).toString(16)}`;
      return `payload load ${e.len}b @ ${BASES[e.base] ?? e.base} header + ${e.offset} => reg ${e.dreg ?? 0}`;
    case 'cmp':
      return `cmp ${CMP_OPS[e.op] ?? e.op} reg ${e.sreg} ${formatData(e.data)}`;
    case 'range':
      return `range ${e.op === C.NFT_RANGE_NEQ ? 'neq' : 'eq'} reg ${e.sreg} ${formatData(e.from)} ${formatData(e.to)}`;
    case 'bitwise':
      if (e.op !== undefined && e.op !== 0) return `bitwise reg ${e.dreg} = ( reg ${e.sreg} ${e.op === 1 ? '<<' : '>>'} ${formatData(e.data ?? new Uint8Array(0))} )`;
      return `bitwise reg ${e.dreg} = ( reg ${e.sreg} & ${formatData(e.mask ?? new Uint8Array(0))} ) ^ ${formatData(e.xor ?? new Uint8Array(0))}`;
    case 'ct':
      return e.sreg !== undefined ? `ct set ${ctKeyName(e.key)} with reg ${e.sreg}` : `ct load ${ctKeyName(e.key)} => reg ${e.dreg ?? 0}${e.direction !== undefined ? `, dir ${e.direction === 0 ? 'original' : 'reply'}` : ''}`;
    case 'immediate':
      return e.verdict !== undefined ? `immediate reg ${e.dreg} ${formatVerdict(e.verdict)}` : `immediate reg ${e.dreg} ${formatData(e.data ?? new Uint8Array(0))}`;
    case 'counter':
      return `counter pkts ${e.packets} bytes ${e.bytes}`;
    case 'queue': {
      const flags = e.flags ?? 0;
      const num = e.sregQnum !== undefined ? `sreg_qnum ${e.sregQnum}` : `num ${queueRange(e.num ?? 0, e.total)}`;
      return `queue ${num}${flags & C.NFT_QUEUE_FLAG_BYPASS ? ' bypass' : ''}${flags & C.NFT_QUEUE_FLAG_CPU_FANOUT ? ' fanout' : ''}`;
    }
    case 'target':
    case 'match':
      return `${e.type} name ${e.name} rev ${e.rev}`;
    case 'other':
      return `${e.name}`;
  }
}
