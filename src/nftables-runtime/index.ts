/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/nftables`: nf_tables in TypeScript. The pure codecs (`src/nftables/`:
 * expressions, tables, chains, rules, batches, dumps, queue rules as data) and the socket
 * that speaks them: batches, dumps, the whole ruleset in one call, and the managed rules
 * openQueue's `rule` option installs. The kernel's numbers are in `nftablesConstants`.
 */
export * as nftablesConstants from '../nftables/constants.js';
export { RuleError, NftablesKernelError } from '../nftables/errors.js';
export { encodeExpr, decodeExpr, decodeExprList, type Expr, type Verdict as NftVerdict, type MetaExpr, type PayloadExpr, type CmpExpr, type RangeExpr, type BitwiseExpr, type CtExpr, type ImmediateExpr, type CounterExpr, type QueueExpr, type XtExpr, type OtherExpr } from '../nftables/expressions.js';
export { describeExpr } from '../nftables/describe.js';
export {
  encodeBatchBegin, encodeBatchEnd, encodeNewTable, encodeDelTable, encodeNewChain, encodeNewRule, encodeDumpRequest,
  decodeTable, decodeChain, decodeRule,
  type NftTable, type NftChain, type NftHook, type NftRule, type RequestHeader as NftRequestHeader,
} from '../nftables/messages.js';
export {
  HOOKS, FAMILIES, PROTOCOLS, checkRuleSpec, checkRuleSpecs, parsePrefix, matchExpressions, nativeQueueExpr, compatQueueExpr, decodeNfqueueTarget,
  type QueueRuleSpec, type HookName, type RuleFamily, type ProtocolName, type PortMatch, type MarkMatch, type CheckedRule, type AddressPrefix, type QueueTarget,
} from '../nftables/rule-spec.js';
export { findQueueRules, type Ruleset, type QueueRule } from '../nftables/queue-rules.js';
export { planManagedRules, type FlowMarks, type QueueBackend, type ManagedRuleInfo, type ManagedPlan, type ManagedPlanInput } from '../nftables/managed-plan.js';
export type { BatchOperation } from '../nftables/batch.js';
export { NftSocket, openNftSocket, listRuleset, type NftSocketOptions } from './nft-socket.js';
export { ManagedRules, installManagedRules, probeQueueRuleSupport, defaultTableName, type QueueRuleSupport, type ManagedRulesOptions, type BackendChoice } from './managed-rules.js';
