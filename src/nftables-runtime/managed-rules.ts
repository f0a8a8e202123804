/**
 * Managed queue rules: the ruleset planned by `planManagedRules()` installed in one batch on
 * an nf_tables socket of its own, in a table flagged owner, so it lives exactly as long as
 * that socket (close, crash, `kill -9`: the kernel deletes it). The queue expression is the
 * native one where the kernel has it (CONFIG_NFT_QUEUE), else the xtables NFQUEUE target
 * through nft_compat, as iptables-nft writes it; which one worked is kept in `backend`.
 */
import type { NetnsTarget } from '../netlink/netns.js';
import { NftablesKernelError } from '../nftables/errors.js';
import { planManagedRules, planRemoval, type FlowMarks, type ManagedPlan, type ManagedRuleInfo, type QueueBackend } from '../nftables/managed-plan.js';
import type { CheckedRule, QueueTarget } from '../nftables/rule-spec.js';
import { familyName, type BatchOperation } from '../nftables/batch.js';
import { NFPROTO_INET, NFT_TABLE_F_OWNER } from '../nftables/constants.js';
import type { Expr } from '../nftables/expressions.js';
import { compatQueueExpr, nativeQueueExpr } from '../nftables/rule-spec.js';
import { openNftSocket, type NftSocket } from './nft-socket.js';

/** Which backend to use: try the native queue expression first and fall back (`'auto'`, the default), or only one. */
export type BackendChoice = QueueBackend | 'auto';

/** Options of installManagedRules(). */
export interface ManagedRulesOptions {
  rules: readonly CheckedRule[];
  target: QueueTarget;
  flow?: FlowMarks;
  backend?: BackendChoice;
  /** Install in another network namespace (as the queue's `netns` option). */
  netns?: NetnsTarget;
  requestTimeout?: number;
  /** Table name (default `nfqueue_<pid>_q<first>[_<last>]`). */
  tableName?: string;
  /** The socket to install on (default: a new one; it is closed by remove()/close()). */
  socket?: NftSocket;
}

/** The default table name of a managed queue: whose (pid) and which queues. */
export function defaultTableName(target: QueueTarget, pid = process.pid): string {
  return target.total > 1 ? `nfqueue_${pid}_q${target.first}_${target.first + target.total - 1}` : `nfqueue_${pid}_q${target.first}`;
}

/**
 * Set once the kernel refused the native queue expression: later 'auto' installs go straight
 * to compat (each refusal costs the kernel a module-load attempt). The kernel is the same
 * in every namespace, so one flag per process is right.
 */
let nativeQueueMissing = false;

function isMissingExpression(e: unknown): boolean {
  return e instanceof NftablesKernelError && (e.errno === 2 || e.errno === 95) && e.operation.startsWith('NEWRULE');
}

/** An installed managed ruleset; remove() deletes it, close() lets the kernel do so. */
export class ManagedRules {
  private removed = false;

  constructor(
    private readonly socket: NftSocket,
    private readonly plan: ManagedPlan,
    readonly backend: QueueBackend,
    private readonly target: QueueTarget,
    readonly flow: FlowMarks | undefined,
  ) {}

  /** What stats() shows. */
  info(): ManagedRuleInfo {
    return {
      tables: this.plan.tables.map((t) => `${familyName(t.family)} ${t.name}`),
      backend: this.backend,
      queues: { first: this.target.first, total: this.target.total, bypass: this.target.bypass },
      flow: this.flow === undefined ? undefined : { ...this.flow },
      ownerPortId: this.socket.portId,
    };
  }

  /** Deletes the tables (one batch), then closes the socket. Idempotent. */
  async remove(): Promise<void> {
    if (this.removed) return;
    this.removed = true;
    try {
      await this.socket.batch(planRemoval(this.plan));
    } finally {
      // Closing the owning socket deletes the tables anyway, should the batch have failed.
      this.socket.close();
    }
  }

  /** Closes the owning socket at once: the kernel deletes the tables. */
  close(): void {
    this.removed = true;
    this.socket.close();
  }
}

/**
 * Installs the ruleset for `rules` in one batch and resolves to its handle. With backend
 * `'auto'` the native queue expression is tried first; a kernel without it (ENOENT) gets the
 * compat target instead. Rejects with an NftablesKernelError (the extended-ack text and a
 * hint naming the missing kernel feature) when the kernel refuses; nothing is left behind.
 */
export async function installManagedRules(o: ManagedRulesOptions): Promise<ManagedRules> {
  const socket = o.socket ?? openNftSocket({ ...(o.netns === undefined ? {} : { netns: o.netns }), ...(o.requestTimeout === undefined ? {} : { requestTimeout: o.requestTimeout }) });
  socket.setKeepAlive(false);
  const tableName = o.tableName ?? defaultTableName(o.target);
  const last = o.target.first + o.target.total - 1;
  const comment = `netfilter-queue: pid ${process.pid} (${process.title}), queue ${o.target.total > 1 ? `${o.target.first}-${last}` : o.target.first}`;
  const attempt = async (backend: QueueBackend): Promise<ManagedRules> => {
    const plan = planManagedRules({ rules: o.rules, target: o.target, backend, tableName, comment, ...(o.flow === undefined ? {} : { flow: o.flow }) });
    await socket.batch(plan.operations);
    return new ManagedRules(socket, plan, backend, o.target, o.flow);
  };
  try {
    const choice = o.backend ?? 'auto';
    if (choice !== 'auto') return await attempt(choice);
    if (nativeQueueMissing) return await attempt('compat');
    try {
      return await attempt('queue');
    } catch (e) {
      if (!isMissingExpression(e)) throw e;
      nativeQueueMissing = true;
      return await attempt('compat');
    }
  } catch (e) {
    socket.close();
    throw e;
  }
}

/** What this kernel offers a managed rule. */
export interface QueueRuleSupport {
  /** nf_tables with owned tables (NFT_TABLE_F_OWNER, Linux 5.12+). */
  ownedTables: boolean;
  /** The native queue expression (CONFIG_NFT_QUEUE). */
  queue: boolean;
  /** The xtables NFQUEUE target through nft_compat (CONFIG_NFT_COMPAT). */
  compat: boolean;
}

/**
 * Asks the kernel what a managed rule can use: a throwaway owned table, then one rule per
 * queue expression in a chain without a hook (no packet ever meets it), each batch
 * all-or-nothing; the table is deleted, and goes with the socket anyway.
 */
export async function probeQueueRuleSupport(options: Pick<ManagedRulesOptions, 'netns' | 'requestTimeout'> = {}): Promise<QueueRuleSupport> {
  const socket = openNftSocket(options);
  socket.setKeepAlive(false);
  const family = NFPROTO_INET;
  const table = `nfqueue_probe_${process.pid}`;
  const accepted = async (expressions: Expr[] | undefined): Promise<boolean> => {
    const ops: BatchOperation[] = [
      { op: 'newtable', table: { family, name: table, flags: NFT_TABLE_F_OWNER } },
      { op: 'newchain', chain: { family, table, name: 'probe' } },
    ];
    if (expressions !== undefined) ops.push({ op: 'newrule', rule: { family, table, chain: 'probe', expressions } });
    try {
      await socket.batch(ops);
    } catch {
      return false;
    }
    await socket.batch([{ op: 'deltable', family, name: table }]);
    return true;
  };
  try {
    const target = { first: 0, total: 1, bypass: true };
    const ownedTables = await accepted(undefined);
    if (!ownedTables) return { ownedTables, queue: false, compat: false };
    return { ownedTables, queue: await accepted([nativeQueueExpr(target)]), compat: await accepted([compatQueueExpr(target)]) };
  } finally {
    socket.close();
  }
}
