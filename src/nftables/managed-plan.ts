/**
 * The ruleset a managed queue installs, as batch operations: one table per family, flagged
 * owner (the kernel deletes it when the installing socket closes), named and commented so
 * that `nft list ruleset` tells whose it is; a base chain per hook and priority holding the
 * queue rules; and, for flow verdicts, the rules that act on a connection's mark.
 *
 * Flow verdicts: the verdict of a queued packet carries a packet mark with the `accept` or
 * `drop` flow bits. The packet is accepted by the queue and resumes at the next priority of
 * the same hook, where our `flow` chain copies those bits into the connection mark (and
 * clears them from the packet mark, or drops the packet for `drop`). Later packets of that
 * connection meet the flow rules at the head of the queue chain, which accept or drop them
 * without queueing. Only the flow bits are ever changed, in both marks.
 */
import * as C from './constants.js';
import type { BatchOperation } from './batch.js';
import { RuleError } from './errors.js';
import type { Expr } from './expressions.js';
import type { NftChain } from './messages.js';
import { compatQueueExpr, hostU32, matchExpressions, nativeQueueExpr, type CheckedRule, type HookName, type QueueTarget } from './rule-spec.js';

/** The mark bits flow verdicts use: `accept` and `drop`, disjoint and non-zero. */
export interface FlowMarks {
  accept: number;
  drop: number;
}

/** The default flow bits: the two highest bits of the mark. */
export const DEFAULT_FLOW_MARKS: Readonly<FlowMarks> = { accept: 0x40000000, drop: 0x80000000 };

/** Which queue expression a managed rule uses: the native one, or xt NFQUEUE through nft_compat. */
export type QueueBackend = 'queue' | 'compat';

/** What a managed rule reports in a queue's `stats()`. */
export interface ManagedRuleInfo {
  /** The tables, as nft names them (`'inet nfqueue_1234_q0'`). */
  tables: string[];
  /** `'queue'`: the native queue expression; `'compat'`: xt NFQUEUE through nft_compat. */
  backend: QueueBackend;
  /** The queues the rule sends to. */
  queues: { first: number; total: number; bypass: boolean };
  /** The flow verdict bits, when flow verdicts are on. */
  flow: FlowMarks | undefined;
  /** The port id of the nf_tables socket that owns the tables. */
  ownerPortId: number;
}

/** Checks a `flow` option (true: the default bits); throws RuleError naming the field. */
export function checkFlowMarks(v: unknown, field = 'flow'): FlowMarks | undefined {
  if (v === undefined || v === false) return undefined;
  if (v === true) return { ...DEFAULT_FLOW_MARKS };
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new RuleError(field, 'must be true or { accept, drop } (mark bits)');
  const o = v as Record<string, unknown>;
  for (const k of Object.keys(o)) if (k !== 'accept' && k !== 'drop') throw new RuleError(`${field}.${k}`, 'is not a flow field: use accept and drop');
  const bits = (k: 'accept' | 'drop'): number => {
    const x = o[k] ?? DEFAULT_FLOW_MARKS[k];
    if (typeof x !== 'number' || !Number.isInteger(x) || x <= 0 || x > 0xffffffff) throw new RuleError(`${field}.${k}`, `must be non-zero mark bits (an integer in 1..4294967295), got ${String(x)}`);
    return x;
  };
  const accept = bits('accept');
  const drop = bits('drop');
  if (((accept & drop) >>> 0) !== 0) throw new RuleError(`${field}.drop`, `0x${drop.toString(16)} shares bits with accept 0x${accept.toString(16)}`);
  return { accept, drop };
}

/** The packet mark a flow verdict sets: `mark` with the flow bits replaced by `which`'s. */
export function flowVerdictMark(mark: number, flow: FlowMarks, which: 'accept' | 'drop'): number {
  return ((mark & ~(flow.accept | flow.drop)) | flow[which]) >>> 0;
}

/** What to install for a managed queue. */
export interface ManagedPlanInput {
  /** The checked rules (at least one). */
  rules: readonly CheckedRule[];
  /** Where matching packets go. */
  target: QueueTarget;
  backend: QueueBackend;
  /** The table name (the same in each family). */
  tableName: string;
  /** A comment stored with the table (NFTA_TABLE_USERDATA), shown by `nft list ruleset`. */
  comment?: string;
  /** Flow verdict bits, when flow verdicts are on. */
  flow?: FlowMarks;
}

/** The planned ruleset: the tables (family and name) and the operations of one batch. */
export interface ManagedPlan {
  tables: { family: number; name: string }[];
  operations: BatchOperation[];
}

/** nft's table comment in NFTA_TABLE_USERDATA: a TLV (type NFTNL_UDATA_TABLE_COMMENT = 0, u8 length, NUL-terminated text). */
export function tableComment(text: string): Uint8Array {
  const bytes = new TextEncoder().encode(text);
  const n = Math.min(bytes.length, 250);
  const out = new Uint8Array(n + 3);
  out[0] = 0;
  out[1] = n + 1;
  out.set(bytes.subarray(0, n), 2);
  return out;
}

/** A chain name for a hook and priority (`output`, `input_m150`, `forward_10`). */
export function queueChainName(hook: HookName, priority: number): string {
  return priority === 0 ? hook : `${hook}_${priority < 0 ? 'm' : ''}${Math.abs(priority)}`;
}

const REG = C.NFT_REG_1;

function markMasked(key: 'meta' | 'ct', mask: number): Expr[] {
  return [
    { type: key, key: key === 'meta' ? C.NFT_META_MARK : C.NFT_CT_MARK, dreg: REG },
    { type: 'bitwise', sreg: REG, dreg: REG, op: 0, len: 4, mask: hostU32(mask), xor: hostU32(0) },
  ];
}

/** `ct mark and FLOW == bits → verdict`: the head of a queue chain. */
function flowHeadRule(flow: FlowMarks, which: 'accept' | 'drop'): Expr[] {
  return [
    ...markMasked('ct', flow.accept | flow.drop),
    { type: 'cmp', sreg: REG, op: C.NFT_CMP_EQ, data: hostU32(flow[which]) },
    { type: 'immediate', dreg: 0, verdict: { code: which === 'accept' ? C.NF_ACCEPT : C.NF_DROP } },
  ];
}

/** `meta mark and FLOW == bits → ct mark set (ct mark and ~FLOW) | bits`, then clear the bits (accept) or drop. */
function flowCopyRule(flow: FlowMarks, which: 'accept' | 'drop'): Expr[] {
  const all = (flow.accept | flow.drop) >>> 0;
  const keep = ~all >>> 0;
  const out: Expr[] = [
    ...markMasked('meta', all),
    { type: 'cmp', sreg: REG, op: C.NFT_CMP_EQ, data: hostU32(flow[which]) },
    { type: 'ct', key: C.NFT_CT_MARK, dreg: REG },
    { type: 'bitwise', sreg: REG, dreg: REG, op: 0, len: 4, mask: hostU32(keep), xor: hostU32(flow[which]) },
    { type: 'ct', key: C.NFT_CT_MARK, sreg: REG },
  ];
  if (which === 'drop') out.push({ type: 'immediate', dreg: 0, verdict: { code: C.NF_DROP } });
  else out.push(...markMasked('meta', keep), { type: 'meta', key: C.NFT_META_MARK, sreg: REG });
  return out;
}

/** Plans the batch that installs a managed queue's ruleset. */
export function planManagedRules(p: ManagedPlanInput): ManagedPlan {
  const queue = p.backend === 'queue' ? nativeQueueExpr(p.target) : compatQueueExpr(p.target);
  const families = [...new Set(p.rules.map((r) => r.family))];
  const operations: BatchOperation[] = [];
  const tables: ManagedPlan['tables'] = [];
  for (const family of families) {
    const table = p.tableName;
    tables.push({ family, name: table });
    operations.push({ op: 'newtable', table: { family, name: table, flags: C.NFT_TABLE_F_OWNER, ...(p.comment === undefined ? {} : { userdata: tableComment(p.comment) }) } });
    const rules = p.rules.filter((r) => r.family === family);
    const chains = new Map<string, { rule: CheckedRule; members: CheckedRule[] }>();
    for (const r of rules) {
      const name = queueChainName(r.hookName, r.priority);
      const c = chains.get(name);
      if (c === undefined) chains.set(name, { rule: r, members: [r] });
      else c.members.push(r);
    }
    const base = (name: string, hooknum: number, priority: number): NftChain => ({ family, table, name, hook: { hooknum, priority }, type: 'filter', policy: C.NF_ACCEPT });
    for (const [name, { rule, members }] of chains) {
      operations.push({ op: 'newchain', chain: base(name, rule.hook, rule.priority) });
      if (p.flow !== undefined) {
        for (const which of ['accept', 'drop'] as const) operations.push({ op: 'newrule', rule: { family, table, chain: name, expressions: flowHeadRule(p.flow, which) } });
      }
      for (const m of members) {
        operations.push({ op: 'newrule', rule: { family, table, chain: name, expressions: [...matchExpressions(m), { type: 'counter', packets: 0n, bytes: 0n }, queue] } });
      }
    }
    if (p.flow !== undefined) {
      // One flow chain per hook, right after the last queue chain of that hook: a packet the
      // queue accepted resumes there.
      const hooks = new Map<HookName, CheckedRule>();
      for (const r of rules) {
        const h = hooks.get(r.hookName);
        if (h === undefined || r.priority > h.priority) hooks.set(r.hookName, r);
      }
      for (const [hookName, r] of hooks) {
        const name = `flow_${hookName}`;
        operations.push({ op: 'newchain', chain: base(name, r.hook, r.priority + 1) });
        for (const which of ['accept', 'drop'] as const) operations.push({ op: 'newrule', rule: { family, table, chain: name, expressions: flowCopyRule(p.flow, which) } });
      }
    }
  }
  return { tables, operations };
}

/** The operations that delete a plan's tables (with their chains and rules). */
export function planRemoval(plan: Pick<ManagedPlan, 'tables'>): BatchOperation[] {
  return plan.tables.map((t) => ({ op: 'deltable' as const, family: t.family, name: t.name }));
}
