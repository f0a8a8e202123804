/**
 * The nf_tables protocol, pure: constants, the expression codecs, the table/chain/rule and
 * batch messages, queue rules described as data and their expressions, the nft notation of
 * expressions, and questions asked of a dumped ruleset. No I/O (the socket is in
 * `src/nftables-runtime/`; both are exported at `netfilter-queue/nftables`).
 */
export * from './constants.js';
export { RuleError, NftablesKernelError } from './errors.js';
export { encodeExpr, decodeExpr, decodeExprList, type Expr, type Verdict, type MetaExpr, type PayloadExpr, type CmpExpr, type RangeExpr, type BitwiseExpr, type CtExpr, type ImmediateExpr, type CounterExpr, type QueueExpr, type XtExpr, type OtherExpr } from './expressions.js';
export {
  NLM_F_DUMP, NLM_F_REPLACE, NLM_F_EXCL, NLM_F_CREATE, NLM_F_APPEND, NFGENMSG_LEN,
  encodeBatchBegin, encodeBatchEnd, encodeNewTable, encodeDelTable, encodeNewChain, encodeNewRule, encodeDumpRequest, encodeGetGen,
  decodeTable, decodeChain, decodeRule, decodeGen, nftMessageAt,
  type NftTable, type NftChain, type NftHook, type NftRule, type RequestHeader, type NftMessageView,
} from './messages.js';
export {
  HOOKS, FAMILIES, PROTOCOLS, checkRuleSpec, checkRuleSpecs, parsePrefix, matchExpressions, nativeQueueExpr, compatQueueExpr, decodeNfqueueTarget, decodeQueueExpr, ruleQueueTarget, hostU32,
  type QueueRuleSpec, type HookName, type RuleFamily, type ProtocolName, type PortMatch, type MarkMatch, type CheckedRule, type AddressPrefix, type QueueTarget,
} from './rule-spec.js';
export { describeExpr, formatData, formatVerdict, metaKeyName, ctKeyName } from './describe.js';
export { findQueueRules, type Ruleset, type QueueRule } from './queue-rules.js';
export { familyName, describeOperation, writeOperation, attributeAtOffset, type BatchOperation, type OffendingAttribute } from './batch.js';
export { planManagedRules, planRemoval, checkFlowMarks, flowVerdictMark, tableComment, queueChainName, DEFAULT_FLOW_MARKS, type FlowMarks, type QueueBackend, type ManagedRuleInfo, type ManagedPlan, type ManagedPlanInput } from './managed-plan.js';
