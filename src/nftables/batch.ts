/**
 * The changes a batch can carry, described as data, and how each is written: every message
 * asks for an ack (NLM_F_ACK), so the kernel answers each one and a refusal names it.
 */
import { AttributeDecoder } from '../netlink/attributes.js';
import { NLM_F_ACK, NLMSG_HDRLEN } from '../netlink/constants.js';
import { MessageWriter } from '../netlink/writer.js';
import * as C from './constants.js';
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, encodeDelTable, encodeNewChain, encodeNewRule, encodeNewTable, type NftChain, type NftRule, type NftTable } from './messages.js';

/** One change in a batch. */
export type BatchOperation =
  | { op: 'newtable'; table: NftTable; exclusive?: boolean }
  | { op: 'deltable'; family: number; name: string }
  | { op: 'newchain'; chain: NftChain }
  | { op: 'newrule'; rule: NftRule };

const FAMILY_NAMES: Record<number, string> = { [C.NFPROTO_INET]: 'inet', [C.NFPROTO_IPV4]: 'ip', [C.NFPROTO_IPV6]: 'ip6', [C.NFPROTO_ARP]: 'arp', [C.NFPROTO_BRIDGE]: 'bridge', [C.NFPROTO_NETDEV]: 'netdev' };

/** nft's name of an NFPROTO_* family (`1` → `'inet'`). */
export function familyName(family: number): string {
  return FAMILY_NAMES[family] ?? `family${family}`;
}

/** What a batch operation does, for error messages (`'NEWRULE inet t/c'`). */
export function describeOperation(o: BatchOperation): string {
  switch (o.op) {
    case 'newtable': return `NEWTABLE ${familyName(o.table.family)} ${o.table.name}`;
    case 'deltable': return `DELTABLE ${familyName(o.family)} ${o.name}`;
    case 'newchain': return `NEWCHAIN ${familyName(o.chain.family)} ${o.chain.table}/${o.chain.name}`;
    case 'newrule': return `NEWRULE ${familyName(o.rule.family)} ${o.rule.table}/${o.rule.chain}`;
  }
}

/** Writes one batch operation as its message, with sequence number `seq` and NLM_F_ACK. */
export function writeOperation(w: MessageWriter, o: BatchOperation, seq: number): void {
  switch (o.op) {
    case 'newtable':
      encodeNewTable(w, o.table, { seq, flags: NLM_F_ACK | NLM_F_CREATE | (o.exclusive === false ? 0 : NLM_F_EXCL) });
      return;
    case 'deltable':
      encodeDelTable(w, o.family, o.name, { seq, flags: NLM_F_ACK });
      return;
    case 'newchain':
      encodeNewChain(w, o.chain, { seq, flags: NLM_F_ACK | NLM_F_CREATE });
      return;
    case 'newrule':
      encodeNewRule(w, o.rule, { seq, flags: NLM_F_ACK | NLM_F_CREATE | NLM_F_APPEND });
      return;
  }
}

const ATTRIBUTE_NAMES: Record<BatchOperation['op'], Record<number, string>> = {
  newtable: { [C.NFTA_TABLE_NAME]: 'NFTA_TABLE_NAME', [C.NFTA_TABLE_FLAGS]: 'NFTA_TABLE_FLAGS', [C.NFTA_TABLE_USERDATA]: 'NFTA_TABLE_USERDATA' },
  deltable: { [C.NFTA_TABLE_NAME]: 'NFTA_TABLE_NAME' },
  newchain: { [C.NFTA_CHAIN_TABLE]: 'NFTA_CHAIN_TABLE', [C.NFTA_CHAIN_NAME]: 'NFTA_CHAIN_NAME', [C.NFTA_CHAIN_HOOK]: 'NFTA_CHAIN_HOOK', [C.NFTA_CHAIN_POLICY]: 'NFTA_CHAIN_POLICY', [C.NFTA_CHAIN_TYPE]: 'NFTA_CHAIN_TYPE', [C.NFTA_CHAIN_FLAGS]: 'NFTA_CHAIN_FLAGS' },
  newrule: { [C.NFTA_RULE_TABLE]: 'NFTA_RULE_TABLE', [C.NFTA_RULE_CHAIN]: 'NFTA_RULE_CHAIN', [C.NFTA_RULE_EXPRESSIONS]: 'NFTA_RULE_EXPRESSIONS', [C.NFTA_RULE_COMPAT]: 'NFTA_RULE_COMPAT', [C.NFTA_RULE_USERDATA]: 'NFTA_RULE_USERDATA' },
};

/** The attribute a kernel error's extended-ack offset points at, in an operation's message. */
export interface OffendingAttribute {
  /** Its name, e.g. `'NFTA_RULE_CHAIN'`. */
  attribute: string;
  /** For an offset inside a rule's expressions: which one (0-based) and its name. */
  expression?: { index: number; name: string };
}

/**
 * Names the attribute at `offset` (bytes from the start of the message, as the kernel's
 * NLMSGERR_ATTR_OFFS counts) in the message `o` is sent as; undefined when none is there.
 */
export function attributeAtOffset(o: BatchOperation, offset: number): OffendingAttribute | undefined {
  const w = new MessageWriter(256);
  writeOperation(w, o, 0);
  const bytes = w.finish();
  const ad = new AttributeDecoder(bytes, NLMSG_HDRLEN + 4, bytes.length);
  while (ad.next()) {
    const start = ad.valueOffset - 4;
    if (offset < start || offset >= ad.valueOffset + ad.valueLength) continue;
    const attribute = ATTRIBUTE_NAMES[o.op][ad.type] ?? `attribute ${ad.type}`;
    if (o.op !== 'newrule' || ad.type !== C.NFTA_RULE_EXPRESSIONS) return { attribute };
    const list = ad.nestedDecoder();
    for (let i = 0; list.next(); i++) {
      if (offset >= list.valueOffset - 4 && offset < list.valueOffset + list.valueLength) {
        const e = o.rule.expressions[i];
        return { attribute, expression: { index: i, name: e === undefined ? '?' : e.type === 'other' ? e.name : e.type } };
      }
    }
    return { attribute };
  }
  return undefined;
}
