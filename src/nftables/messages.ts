/**
 * nf_tables messages: the batch delimiters, NEWTABLE/NEWCHAIN/NEWRULE/DELTABLE, the dump
 * requests GETTABLE/GETCHAIN/GETRULE, and decoders of the objects the dumps return. One
 * encoder and one decoder per object kind, exact inverses. Pure: they write into a
 * MessageWriter or read a message in place, and do no I/O.
 *
 * Every message starts with nfgenmsg: u8 family (NFPROTO_*), u8 version (0), be16 res_id
 * (0 in requests; the ruleset generation in the kernel's replies; the subsystem id,
 * NFNL_SUBSYS_NFTABLES, in BATCH_BEGIN and BATCH_END).
 */
import { AttributeDecoder } from '../netlink/attributes.js';
import { NLMSG_HDRLEN, NLM_F_ACK, NLM_F_APPEND, NLM_F_CREATE, NLM_F_DUMP, NLM_F_EXCL, NLM_F_REPLACE, NLM_F_REQUEST } from '../netlink/constants.js';
import { NetlinkDecodeError } from '../netlink/errors.js';
import type { MessageWriter } from '../netlink/writer.js';
import { NFGENMSG_LEN, NFNETLINK_V0 } from '../netfilter/constants.js';
import * as C from './constants.js';
import { decodeExprList, encodeExpr, type Expr } from './expressions.js';

/** The netlink flags a caller of these encoders sets (NLM_F_REPLACE… are those of NEW requests). */
export { NLM_F_DUMP, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND, NFGENMSG_LEN };

/** An nf_tables table. */
export interface NftTable {
  family: number;
  name: string;
  /** NFT_TABLE_F_* bits (DORMANT, OWNER). */
  flags?: number;
  /** Chains in the table (kernel replies only). */
  use?: number;
  handle?: bigint;
  userdata?: Uint8Array;
  /** The netlink port id that owns the table (kernel replies, owner flag set). */
  owner?: number;
}

/** A base chain's hook. */
export interface NftHook {
  /** NF_INET_* hook number. */
  hooknum: number;
  /** Priority: lower runs first (signed). */
  priority: number;
  /** The device of a netdev-family chain. */
  dev?: string;
}

/** An nf_tables chain; a base chain has a hook, a type and a policy. */
export interface NftChain {
  family: number;
  table: string;
  name: string;
  handle?: bigint;
  hook?: NftHook;
  /** NF_ACCEPT or NF_DROP, for base chains. */
  policy?: number;
  use?: number;
  /** `'filter'`, `'nat'`, `'route'`. */
  type?: string;
  counters?: { packets: bigint; bytes: bigint };
  flags?: number;
  userdata?: Uint8Array;
}

/** An nf_tables rule: its place and its expressions. */
export interface NftRule {
  family: number;
  table: string;
  chain: string;
  handle?: bigint;
  /** The handle of the rule to insert after. */
  position?: bigint;
  expressions: Expr[];
  /** iptables-nft's compat information (layer 4 protocol, inversion flag). */
  compat?: { proto: number; flags: number };
  userdata?: Uint8Array;
}

/** Header fields of one request: the sequence number and extra NLM_F_* flags. */
export interface RequestHeader {
  seq: number;
  /** NLM_F_* flags besides NLM_F_REQUEST (e.g. NLM_F_ACK | NLM_F_CREATE). */
  flags?: number;
  /** The sender's port id (0 lets the kernel fill it in). */
  pid?: number;
}

function begin(w: MessageWriter, msg: number, family: number, h: RequestHeader, resId = 0): void {
  w.begin({ type: C.nftMessageType(msg), flags: NLM_F_REQUEST | (h.flags ?? 0), seq: h.seq, pid: h.pid ?? 0 });
  w.rawU8(family).rawU8(NFNETLINK_V0).rawBe16(resId);
}

/** BATCH_BEGIN: the following messages form one all-or-nothing transaction. */
export function encodeBatchBegin(w: MessageWriter, h: RequestHeader): void {
  w.begin({ type: C.NFNL_MSG_BATCH_BEGIN, flags: NLM_F_REQUEST | (h.flags ?? 0), seq: h.seq, pid: h.pid ?? 0 });
  w.rawU8(C.NFPROTO_UNSPEC).rawU8(NFNETLINK_V0).rawBe16(C.NFNL_SUBSYS_NFTABLES);
  w.end();
}

/** BATCH_END: commit the transaction. */
export function encodeBatchEnd(w: MessageWriter, h: RequestHeader): void {
  w.begin({ type: C.NFNL_MSG_BATCH_END, flags: NLM_F_REQUEST | (h.flags ?? 0), seq: h.seq, pid: h.pid ?? 0 });
  w.rawU8(C.NFPROTO_UNSPEC).rawU8(NFNETLINK_V0).rawBe16(C.NFNL_SUBSYS_NFTABLES);
  w.end();
}

function writeTableAttrs(w: MessageWriter, t: NftTable): void {
  w.attrString(C.NFTA_TABLE_NAME, t.name);
  if (t.flags !== undefined) w.attrBe32(C.NFTA_TABLE_FLAGS, t.flags);
  if (t.use !== undefined) w.attrBe32(C.NFTA_TABLE_USE, t.use);
  if (t.handle !== undefined) w.attrBe64(C.NFTA_TABLE_HANDLE, t.handle);
  if (t.userdata !== undefined) w.attrBytes(C.NFTA_TABLE_USERDATA, t.userdata);
  if (t.owner !== undefined) w.attrBe32(C.NFTA_TABLE_OWNER, t.owner);
}

/** NEWTABLE (h.flags usually NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK in a batch). */
export function encodeNewTable(w: MessageWriter, t: NftTable, h: RequestHeader): void {
  begin(w, C.NFT_MSG_NEWTABLE, t.family, h);
  writeTableAttrs(w, t);
  w.end();
}

/** DELTABLE by name (with its chains and rules). */
export function encodeDelTable(w: MessageWriter, family: number, name: string, h: RequestHeader): void {
  begin(w, C.NFT_MSG_DELTABLE, family, h);
  w.attrString(C.NFTA_TABLE_NAME, name);
  w.end();
}

/** NEWCHAIN: a base chain when `hook` is given (then `type` and `policy` too). */
export function encodeNewChain(w: MessageWriter, c: NftChain, h: RequestHeader): void {
  begin(w, C.NFT_MSG_NEWCHAIN, c.family, h);
  w.attrString(C.NFTA_CHAIN_TABLE, c.table);
  w.attrString(C.NFTA_CHAIN_NAME, c.name);
  if (c.hook !== undefined) {
    w.beginNest(C.NFTA_CHAIN_HOOK);
    w.attrBe32(C.NFTA_HOOK_HOOKNUM, c.hook.hooknum);
    w.attrBe32(C.NFTA_HOOK_PRIORITY, c.hook.priority);
    if (c.hook.dev !== undefined) w.attrString(C.NFTA_HOOK_DEV, c.hook.dev);
    w.endNest();
  }
  if (c.policy !== undefined) w.attrBe32(C.NFTA_CHAIN_POLICY, c.policy);
  if (c.use !== undefined) w.attrBe32(C.NFTA_CHAIN_USE, c.use);
  if (c.counters !== undefined) {
    w.beginNest(C.NFTA_CHAIN_COUNTERS);
    w.attrBe64(C.NFTA_COUNTER_BYTES, c.counters.bytes);
    w.attrBe64(C.NFTA_COUNTER_PACKETS, c.counters.packets);
    w.endNest();
  }
  if (c.handle !== undefined) w.attrBe64(C.NFTA_CHAIN_HANDLE, c.handle);
  if (c.type !== undefined) w.attrString(C.NFTA_CHAIN_TYPE, c.type);
  if (c.flags !== undefined) w.attrBe32(C.NFTA_CHAIN_FLAGS, c.flags);
  if (c.userdata !== undefined) w.attrBytes(C.NFTA_CHAIN_USERDATA, c.userdata);
  w.end();
}

/** NEWRULE (h.flags usually NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK). */
export function encodeNewRule(w: MessageWriter, r: NftRule, h: RequestHeader): void {
  begin(w, C.NFT_MSG_NEWRULE, r.family, h);
  w.attrString(C.NFTA_RULE_TABLE, r.table);
  w.attrString(C.NFTA_RULE_CHAIN, r.chain);
  if (r.handle !== undefined) w.attrBe64(C.NFTA_RULE_HANDLE, r.handle);
  if (r.position !== undefined) w.attrBe64(C.NFTA_RULE_POSITION, r.position);
  if (r.userdata !== undefined) w.attrBytes(C.NFTA_RULE_USERDATA, r.userdata);
  w.beginNest(C.NFTA_RULE_EXPRESSIONS);
  for (const e of r.expressions) encodeExpr(w, e);
  w.endNest();
  if (r.compat !== undefined) {
    w.beginNest(C.NFTA_RULE_COMPAT);
    w.attrBe32(C.NFTA_RULE_COMPAT_PROTO, r.compat.proto);
    w.attrBe32(C.NFTA_RULE_COMPAT_FLAGS, r.compat.flags);
    w.endNest();
  }
  w.end();
}

/** A dump request for every object of kind `msg` (GETTABLE, GETCHAIN, GETRULE) in `family` (0: all). */
export function encodeDumpRequest(w: MessageWriter, msg: number, family: number, h: RequestHeader, table?: string): void {
  begin(w, msg, family, { ...h, flags: (h.flags ?? 0) | NLM_F_DUMP });
  // GETCHAIN and GETRULE dumps may be narrowed to one table (the attribute is 1 in both).
  if (table !== undefined) w.attrString(C.NFTA_RULE_TABLE, table);
  w.end();
}

/** GETGEN: the ruleset's generation id (answered by one NEWGEN message). */
export function encodeGetGen(w: MessageWriter, h: RequestHeader): void {
  begin(w, C.NFT_MSG_GETGEN, C.NFPROTO_UNSPEC, { ...h, flags: (h.flags ?? 0) | NLM_F_ACK });
  w.end();
}

/** Where an nf_tables message's attributes lie: the family from nfgenmsg and the attribute range. */
export interface NftMessageView {
  /** nf_tables message kind (NFT_MSG_*), from the low byte of the type. */
  msg: number;
  family: number;
  /** nfgenmsg res_id (the generation in replies). */
  resId: number;
  attrStart: number;
  attrEnd: number;
}

/** Reads the header and nfgenmsg of the nf_tables message at `offset` (`length` bytes). */
export function nftMessageAt(buffer: Uint8Array, offset: number, length: number): NftMessageView {
  if (length < NLMSG_HDRLEN + NFGENMSG_LEN || offset + length > buffer.byteLength) {
    throw new NetlinkDecodeError(`nf_tables message of ${length} bytes is shorter than its headers`, offset, true);
  }
  const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const type = view.getUint16(offset + 4, true);
  if (type >> 8 !== C.NFNL_SUBSYS_NFTABLES) throw new NetlinkDecodeError(`message type 0x${type.toString(16)} is not an nf_tables message`, offset);
  return {
    msg: type & 0xff,
    family: view.getUint8(offset + NLMSG_HDRLEN),
    resId: view.getUint16(offset + NLMSG_HDRLEN + 2, false),
    attrStart: offset + NLMSG_HDRLEN + NFGENMSG_LEN,
    attrEnd: offset + length,
  };
}

function expectKind(m: NftMessageView, want: number, what: string, offset: number): void {
  if (m.msg !== want) throw new NetlinkDecodeError(`nf_tables message kind ${m.msg} is not ${what}`, offset);
}

function missing(what: string, attr: string, offset: number): NetlinkDecodeError {
  return new NetlinkDecodeError(`${what} without ${attr}`, offset);
}

/** Decodes a NEWTABLE message (a dump reply, or a request) at `offset`. */
export function decodeTable(buffer: Uint8Array, offset: number, length: number): NftTable {
  const m = nftMessageAt(buffer, offset, length);
  expectKind(m, C.NFT_MSG_NEWTABLE, 'NEWTABLE', offset);
  const t: Partial<NftTable> = { family: m.family };
  const ad = new AttributeDecoder(buffer, m.attrStart, m.attrEnd);
  while (ad.next()) {
    switch (ad.type) {
      case C.NFTA_TABLE_NAME: t.name = ad.string(); break;
      case C.NFTA_TABLE_FLAGS: t.flags = ad.be32(); break;
      case C.NFTA_TABLE_USE: t.use = ad.be32(); break;
      case C.NFTA_TABLE_HANDLE: t.handle = ad.be64(); break;
      case C.NFTA_TABLE_USERDATA: t.userdata = ad.bytes().slice(); break;
      case C.NFTA_TABLE_OWNER: t.owner = ad.be32(); break;
      default: break; // NFTA_TABLE_PAD and attributes of newer kernels
    }
  }
  ad.throwIfError();
  if (t.name === undefined) throw missing('NEWTABLE', 'NFTA_TABLE_NAME', offset);
  return t as NftTable;
}

function decodeHook(ad: AttributeDecoder): NftHook {
  const h: Partial<NftHook> = {};
  const d = ad.nestedDecoder();
  while (d.next()) {
    if (d.type === C.NFTA_HOOK_HOOKNUM) h.hooknum = d.be32();
    else if (d.type === C.NFTA_HOOK_PRIORITY) h.priority = d.be32() | 0;
    else if (d.type === C.NFTA_HOOK_DEV) h.dev = d.string();
  }
  d.throwIfError();
  if (h.hooknum === undefined || h.priority === undefined) throw missing('NFTA_CHAIN_HOOK', 'its hook number and priority', ad.valueOffset);
  return h as NftHook;
}

function decodeCounters(ad: AttributeDecoder): { packets: bigint; bytes: bigint } {
  const c = { packets: 0n, bytes: 0n };
  const d = ad.nestedDecoder();
  while (d.next()) {
    if (d.type === C.NFTA_COUNTER_PACKETS) c.packets = d.be64();
    else if (d.type === C.NFTA_COUNTER_BYTES) c.bytes = d.be64();
  }
  d.throwIfError();
  return c;
}

/** Decodes a NEWCHAIN message at `offset`. */
export function decodeChain(buffer: Uint8Array, offset: number, length: number): NftChain {
  const m = nftMessageAt(buffer, offset, length);
  expectKind(m, C.NFT_MSG_NEWCHAIN, 'NEWCHAIN', offset);
  const c: Partial<NftChain> = { family: m.family };
  const ad = new AttributeDecoder(buffer, m.attrStart, m.attrEnd);
  while (ad.next()) {
    switch (ad.type) {
      case C.NFTA_CHAIN_TABLE: c.table = ad.string(); break;
      case C.NFTA_CHAIN_NAME: c.name = ad.string(); break;
      case C.NFTA_CHAIN_HANDLE: c.handle = ad.be64(); break;
      case C.NFTA_CHAIN_HOOK: c.hook = decodeHook(ad); break;
      case C.NFTA_CHAIN_POLICY: c.policy = ad.be32(); break;
      case C.NFTA_CHAIN_USE: c.use = ad.be32(); break;
      case C.NFTA_CHAIN_TYPE: c.type = ad.string(); break;
      case C.NFTA_CHAIN_COUNTERS: c.counters = decodeCounters(ad); break;
      case C.NFTA_CHAIN_FLAGS: c.flags = ad.be32(); break;
      case C.NFTA_CHAIN_USERDATA: c.userdata = ad.bytes().slice(); break;
      default: break;
    }
  }
  ad.throwIfError();
  if (c.table === undefined) throw missing('NEWCHAIN', 'NFTA_CHAIN_TABLE', offset);
  if (c.name === undefined) throw missing('NEWCHAIN', 'NFTA_CHAIN_NAME', offset);
  return c as NftChain;
}

/** Decodes a NEWRULE message at `offset`, its expressions included. */
export function decodeRule(buffer: Uint8Array, offset: number, length: number): NftRule {
  const m = nftMessageAt(buffer, offset, length);
  expectKind(m, C.NFT_MSG_NEWRULE, 'NEWRULE', offset);
  const r: Partial<NftRule> = { family: m.family };
  const ad = new AttributeDecoder(buffer, m.attrStart, m.attrEnd);
  while (ad.next()) {
    switch (ad.type) {
      case C.NFTA_RULE_TABLE: r.table = ad.string(); break;
      case C.NFTA_RULE_CHAIN: r.chain = ad.string(); break;
      case C.NFTA_RULE_HANDLE: r.handle = ad.be64(); break;
      case C.NFTA_RULE_POSITION: r.position = ad.be64(); break;
      case C.NFTA_RULE_USERDATA: r.userdata = ad.bytes().slice(); break;
      case C.NFTA_RULE_EXPRESSIONS: r.expressions = decodeExprList(buffer, ad.valueOffset, ad.valueOffset + ad.valueLength); break;
      case C.NFTA_RULE_COMPAT: {
        const compat = { proto: 0, flags: 0 };
        const d = ad.nestedDecoder();
        while (d.next()) {
          if (d.type === C.NFTA_RULE_COMPAT_PROTO) compat.proto = d.be32();
          else if (d.type === C.NFTA_RULE_COMPAT_FLAGS) compat.flags = d.be32();
        }
        d.throwIfError();
        r.compat = compat;
        break;
      }
      default: break;
    }
  }
  ad.throwIfError();
  if (r.table === undefined) throw missing('NEWRULE', 'NFTA_RULE_TABLE', offset);
  if (r.chain === undefined) throw missing('NEWRULE', 'NFTA_RULE_CHAIN', offset);
  r.expressions ??= [];
  return r as NftRule;
}

/** Decodes a NEWGEN message: the ruleset generation id. */
export function decodeGen(buffer: Uint8Array, offset: number, length: number): number {
  const m = nftMessageAt(buffer, offset, length);
  expectKind(m, C.NFT_MSG_NEWGEN, 'NEWGEN', offset);
  const ad = new AttributeDecoder(buffer, m.attrStart, m.attrEnd);
  let id: number | undefined;
  while (ad.next()) if (ad.type === C.NFTA_GEN_ID) id = ad.be32();
  ad.throwIfError();
  if (id === undefined) throw missing('NEWGEN', 'NFTA_GEN_ID', offset);
  return id;
}
