/**
 * Questions asked of a dumped ruleset: which rules send packets to a queue (the native
 * queue expression, or the xtables NFQUEUE target that iptables-nft writes), from which
 * table, chain and hook, and with or without bypass. Pure: it reads decoded objects.
 */
import type { NftChain, NftRule, NftTable } from './messages.js';
import { ruleQueueTarget, type QueueTarget } from './rule-spec.js';
import * as C from './constants.js';

/** The nf_tables ruleset of a namespace, as flat lists. */
export interface Ruleset {
  tables: NftTable[];
  chains: NftChain[];
  rules: NftRule[];
  /** The ruleset generation the lists were read at (undefined when everything was empty). */
  generation: number | undefined;
}

/** A rule that queues packets, with where it lives. */
export interface QueueRule {
  table: NftTable | undefined;
  chain: NftChain | undefined;
  rule: NftRule;
  /** The queues it sends to and how: `backend` is `'queue'` (native) or `'compat'` (xt NFQUEUE). */
  target: QueueTarget & { backend: 'queue' | 'compat' };
  /** True when the table is owned by a netlink socket (it disappears with that socket). */
  owned: boolean;
  /** The owning socket's port id, when owned. */
  ownerPortId: number | undefined;
}

/** Every rule that queues packets; with `queue`, only those whose queue range holds it. */
export function findQueueRules(ruleset: Pick<Ruleset, 'tables' | 'chains' | 'rules'>, queue?: number): QueueRule[] {
  const out: QueueRule[] = [];
  for (const rule of ruleset.rules) {
    const target = ruleQueueTarget(rule.expressions);
    if (target === undefined) continue;
    if (queue !== undefined && (queue < target.first || queue >= target.first + target.total)) continue;
    const table = ruleset.tables.find((t) => t.family === rule.family && t.name === rule.table);
    const chain = ruleset.chains.find((c) => c.family === rule.family && c.table === rule.table && c.name === rule.chain);
    const owned = ((table?.flags ?? 0) & C.NFT_TABLE_F_OWNER) !== 0;
    out.push({ table, chain, rule, target, owned, ownerPortId: owned ? table?.owner : undefined });
  }
  return out;
}
