/**
 * nfq-dump's hint for a queue that receives nothing: the most common first-run mistake is a
 * queue number or a network namespace that does not match the rule. After a few quiet
 * seconds nfq-dump says so once, with the queue's row from /proc and the library's
 * diagnosis (the rules that feed the queue, here or in another namespace, and their bypass).
 */
import type { KernelQueueStats } from '../index.js';
import { ruleQueues, type QueueDiagnosis } from '../diagnosis/index.js';

const PROC_COLUMNS = ['queue', 'portid', 'waiting', 'copy mode', 'copy range', 'queue_dropped', 'user_dropped', 'last id'] as const;

/** A /proc row with its column names: `queue 3, portid 4242, waiting 0, …`. */
function describeRow(r: KernelQueueStats): string {
  const values = [r.queue, r.portId, r.waiting, r.copyMode, r.copyRange, r.queueDropped, r.userDropped, r.lastId];
  return values.map((v, i) => `${PROC_COLUMNS[i]} ${v}`).join(', ');
}

/** What nfq-dump knows when the hint is due. */
export interface IdleHintInput {
  /** Queues that received nothing. */
  queues: readonly number[];
  /** How long nfq-dump has listened, in ms. */
  idleMs: number;
  /** Our netlink port id. */
  portId: number;
  /** The library's diagnosis of those queues. */
  diagnosis: QueueDiagnosis;
  /** `--netns` as given, when the queue lives in another namespace. */
  netns?: string;
}

/** The hint's lines (the first without the program name). */
export function idleHint(h: IdleHintInput): string[] {
  const d = h.diagnosis;
  const where = h.netns === undefined ? 'this network namespace' : `network namespace ${h.netns}`;
  const secs = Math.round(h.idleMs / 100) / 10;
  const lines = [`no packet on ${h.queues.length === 1 ? `queue ${h.queues[0]}` : `queues ${h.queues.join(', ')}`} after ${secs} s. Where did they go?`];
  const read = d.sources.length > 0 ? d.sources.join(', ') : 'nothing could be read';
  for (const q of h.queues) {
    const report = d.queues.find((r) => r.queue === q);
    const row = report?.kernel;
    if (d.kernel === undefined) lines.push(`  /proc/net/netfilter/nfnetlink_queue is unreadable: cannot show queue ${q}'s row`);
    else if (row === undefined) lines.push(`  /proc/net/netfilter/nfnetlink_queue has no row for queue ${q} in ${where}`);
    else {
      const whose = row.portId === h.portId ? 'bound by this nfq-dump' : `bound by another socket, port ${row.portId}`;
      const ever = row.lastId === 0 ? '; last id 0: the kernel has queued nothing here since the bind' : '';
      lines.push(`  /proc/net/netfilter/nfnetlink_queue: ${describeRow(row)} (${whose}${ever})`);
    }
    const rules = report?.rules ?? [];
    if (rules.length === 0) {
      const others = d.rules.length > 0 ? `; NFQUEUE rules there go to queue ${[...new Set(d.rules.map(ruleQueues))].join(', ')}` : '; no rule there queues packets at all';
      // "NFQUEUE rule": the kernel's name for queueing, whether by nft's queue statement or the NFQUEUE target.
      lines.push(`  no NFQUEUE rule in ${where} sends packets to queue ${q} (${read}${others})`);
      for (const e of report?.elsewhere ?? []) lines.push(`  but in network namespace ${e.namespace.label}: ${e.rule.text}`);
      lines.push(`  check the queue number (-q), or the namespace of the rule (--netns NAME, or ip netns exec NAME nfq-dump), or give nfq-dump a filter (nfq-dump udp dport 53) to install a rule of its own`);
    } else {
      lines.push(`  NFQUEUE rules in ${where} for queue ${q}:`);
      for (const r of rules) {
        lines.push(`    ${r.text}`);
        if (!r.bypass) lines.push('      (no bypass: while nothing holds the queue, the kernel drops what this rule matches)');
      }
      lines.push(`  so no packet has matched them yet: is traffic flowing through that hook?`);
    }
  }
  for (const p of d.problems) lines.push(`  could not read ${p}`);
  return lines;
}
