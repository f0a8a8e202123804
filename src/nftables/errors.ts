/**
 * Errors of the nf_tables layer: a rule description that cannot be installed (RuleError,
 * raised before anything is sent), and a batch or dump the kernel refused
 * (NftablesKernelError, with the extended-ack text and the message it answers).
 */
import { NetfilterQueueError, NetlinkKernelError, errnoName, type RequestInfo } from '../netlink/errors.js';

/** A rule description with a bad field; nothing was installed. `field` names it (`'rule[1].dport'`). */
export class RuleError extends NetfilterQueueError {
  override name = 'RuleError';
  /** The path of the offending field, e.g. `'rule.saddr'` or `'rule[2].hook'`. */
  readonly field: string;
  constructor(field: string, message: string) {
    super(`${field}: ${message}`, { code: 'ERR_NFT_RULE' });
    this.field = field;
  }
}

/** What a kernel feature missing from this kernel is called, by the errno it answers with. */
export interface KernelFeatureHint {
  /** The errno the kernel answered. */
  errno: number;
  /** What to tell the user, e.g. "this kernel has no nf_tables (CONFIG_NF_TABLES)". */
  hint: string;
}

/** The kernel refused an nf_tables batch or dump; the whole batch was rolled back. */
export class NftablesKernelError extends NetlinkKernelError {
  override name = 'NftablesKernelError';
  /** What the failing message did, e.g. `'NEWRULE inet nfqueue_123_q0/queue'`. */
  readonly operation: string;
  constructor(errno: number, operation: string, request?: RequestInfo, extAck?: { message?: string; offset?: number }, hint?: string) {
    const text = extAck?.message !== undefined && extAck.message !== '' ? `: ${extAck.message}` : '';
    super(errno, `nf_tables refused ${operation} (${errnoName(errno)}${text})${hint === undefined ? '' : `: ${hint}`}`, request, extAck);
    this.operation = operation;
  }
}
