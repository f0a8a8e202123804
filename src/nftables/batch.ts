/**
 * The changes a batch can carry, described as data, and how each is written: every message
 * asks for an ack (NLM_F_ACK), so the kernel answers each one and a refusal names it.
 */
import { NLM_F_ACK } from '../netlink/constants.js';
import type { MessageWriter } from '../netlink/writer.js';
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
