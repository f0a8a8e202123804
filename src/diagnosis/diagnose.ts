/**
 * Why a queue receives nothing, from the kernel's own tables: the rules that send packets to
 * it (nf_tables, read through the library's dumps, iptables-nft's rules included; and
 * iptables-legacy's), the namespace they live in, whether they let packets pass while no
 * program listens (bypass), and which process holds the queue. nfq-dump's idle hint and
 * `--check` print this; a program calls it when its queue stays quiet.
 */
import { readFileSync } from 'node:fs';
import type { NetnsTarget } from '../netlink/netns.js';
import { parseKernelQueueStats, PROC_NFNETLINK_QUEUE, type KernelQueueStats } from '../queue/proc.js';
import { describeHolder, queueHolder, type QueueHolder } from './holder.js';
import { listNetworkNamespaces, namespaceInode, type NetworkNamespace } from './namespaces.js';
import { readNamespaceTables } from './nftables.js';
import { listLegacyQueueRules, ruleQueues, type QueueingRule } from './rules.js';

/** Options of diagnoseQueues(). */
export interface DiagnoseOptions {
  /** The network namespace of the queue (a path such as /run/netns/NAME, or an fd); default: this process's. */
  netns?: NetnsTarget;
  /** When no rule of that namespace sends to a queue, look in the machine's other namespaces (default true). */
  searchNamespaces?: boolean;
}

/** One fact worth telling about a queue. */
export interface QueueFinding {
  /**
   * `no-rule`: no rule of the namespace sends packets to the queue; `rule-in-other-namespace`:
   * one does, in another namespace; `no-bypass`: a rule drops its packets while nothing
   * listens; `not-bound`: rules send to the queue but no program holds it.
   */
  code: 'no-rule' | 'rule-in-other-namespace' | 'no-bypass' | 'not-bound';
  queue: number;
  /** A sentence for a person, saying what to do. */
  message: string;
  /** The rule concerned (`no-bypass`, `rule-in-other-namespace`). */
  rule?: QueueingRule;
  /** The other namespace (`rule-in-other-namespace`). */
  namespace?: NetworkNamespace;
}

/** What is known about one queue. */
export interface QueueReport {
  queue: number;
  /** The kernel's row (/proc/net/netfilter/nfnetlink_queue) when something holds the queue. */
  kernel?: KernelQueueStats;
  /** The process holding it, when bound. */
  holder?: QueueHolder;
  /** The rules of the namespace that send packets to it. */
  rules: QueueingRule[];
  /** Rules in other namespaces that send to it (searched only when there is none here). */
  elsewhere: { namespace: NetworkNamespace; rule: QueueingRule }[];
}

/** The diagnosis of one or more queues. */
export interface QueueDiagnosis {
  /** `this network namespace`, or the `netns` option as given. */
  namespace: string;
  queues: QueueReport[];
  /** Every queueing rule of the namespace, whatever its queue. */
  rules: QueueingRule[];
  /** The kernel's queue rows of the namespace; undefined when /proc could not be read. */
  kernel: KernelQueueStats[] | undefined;
  findings: QueueFinding[];
  /** What was read: `nf_tables dump`, `iptables-legacy-save`… */
  sources: string[];
  /** What could not be read, and why. */
  problems: string[];
}

function targets(r: QueueingRule, q: number): boolean {
  return q >= r.first && q <= r.last;
}

function bypassAdvice(r: QueueingRule): string {
  return r.source === 'iptables-legacy' || r.via === 'NFQUEUE' ? 'add --queue-bypass to the rule' : "add 'bypass' to the queue statement";
}

/**
 * Diagnoses queues (all bound or targeted ones when `queues` is left out; or a Queue's own).
 * Reads, never changes anything; needs CAP_NET_ADMIN for the nf_tables dump. Never throws
 * for an unreadable source: it is listed in `problems`.
 */
export async function diagnoseQueues(queues?: number | readonly number[] | { readonly queues: readonly number[] }, options: DiagnoseOptions = {}): Promise<QueueDiagnosis> {
  const namespace = options.netns === undefined ? 'this network namespace' : `network namespace ${String(options.netns)}`;
  const here = await readNamespaceTables(options.netns);
  const legacy = await listLegacyQueueRules(here.legacyTables, legacyPath(options.netns));
  const rules = [...legacy.rules, ...here.rules];
  const sources = [...legacy.sources, ...here.sources];
  const problems = [...legacy.problems, ...here.problems];
  let kernel: KernelQueueStats[] | undefined;
  if (here.procQueues !== undefined) kernel = parseKernelQueueStats(here.procQueues);
  else if (options.netns === undefined) {
    try {
      kernel = parseKernelQueueStats(readFileSync(PROC_NFNETLINK_QUEUE, 'utf8'));
    } catch (e) {
      problems.push(`${PROC_NFNETLINK_QUEUE}: ${(e as Error).message}`);
    }
  }
  let netlinkTable = here.procNetlink;
  if (netlinkTable === undefined && options.netns === undefined) {
    try {
      netlinkTable = readFileSync('/proc/net/netlink', 'utf8');
    } catch {
      // holders are named by port id only
    }
  }

  // A managed rule's table belongs to a socket: name its process too.
  for (const rule of rules) {
    if (rule.tableOwner === undefined) continue;
    const h = queueHolder(rule.tableOwner, netlinkTable);
    if (h.pid !== undefined) rule.tableOwnerProcess = h.command === undefined ? { pid: h.pid } : { pid: h.pid, command: h.command };
  }

  const numbers =
    queues === undefined
      ? [...new Set([...(kernel ?? []).map((r) => r.queue), ...rules.flatMap((r) => (r.last - r.first < 64 ? Array.from({ length: r.last - r.first + 1 }, (_, i) => r.first + i) : [r.first]))])].sort((a, b) => a - b)
      : typeof queues === 'number'
        ? [queues]
        : 'queues' in queues
          ? [...queues.queues]
          : [...queues];

  const reports: QueueReport[] = numbers.map((queue) => {
    const report: QueueReport = { queue, rules: rules.filter((r) => targets(r, queue)), elsewhere: [] };
    const row = kernel?.find((r) => r.queue === queue);
    if (row !== undefined) {
      report.kernel = row;
      report.holder = queueHolder(row.portId, netlinkTable);
    }
    return report;
  });

  const lonely = reports.filter((r) => r.rules.length === 0);
  if (lonely.length > 0 && options.searchNamespaces !== false) {
    const self = namespaceInode(options.netns);
    for (const ns of listNetworkNamespaces()) {
      if (ns.inode === self) continue;
      const there = await readNamespaceTables(ns.path, false);
      const thereLegacy = await listLegacyQueueRules(there.legacyTables, ns.path);
      for (const rule of [...there.rules, ...thereLegacy.rules]) {
        for (const r of lonely) if (targets(rule, r.queue)) r.elsewhere.push({ namespace: ns, rule });
      }
    }
  }

  const findings: QueueFinding[] = [];
  for (const r of reports) {
    const q = r.queue;
    if (r.rules.length === 0) {
      const others = rules.length > 0 ? `; its queueing rules send to queue ${[...new Set(rules.map(ruleQueues))].join(', ')}` : '';
      findings.push({ code: 'no-rule', queue: q, message: `no rule in ${namespace} sends packets to queue ${q}${others}` });
      const seen = new Set<number>();
      for (const e of r.elsewhere) {
        if (seen.has(e.namespace.inode)) continue;
        seen.add(e.namespace.inode);
        findings.push({
          code: 'rule-in-other-namespace',
          queue: q,
          namespace: e.namespace,
          rule: e.rule,
          message: `a rule in network namespace ${e.namespace.label} sends to queue ${q}: run the program there (ip netns exec NAME, or the netns option / --netns ${e.namespace.path})`,
        });
      }
    } else if (r.kernel === undefined) {
      const bypassing = r.rules.filter((x) => x.bypass).length;
      const fate = bypassing === r.rules.length ? 'accepted unseen (bypass)' : bypassing === 0 ? 'dropped' : 'dropped, but for those of the rules with bypass (accepted unseen)';
      findings.push({ code: 'not-bound', queue: q, message: `no program holds queue ${q}: the packets its rules match are ${fate}` });
    }
    for (const rule of r.rules) {
      if (!rule.bypass) {
        const which = `${rule.source === 'iptables-legacy' ? 'iptables-legacy' : 'nf_tables'} ${rule.family} ${rule.table} ${rule.chain}${rule.handle !== undefined ? ` handle ${rule.handle}` : ''}`;
        findings.push({ code: 'no-bypass', queue: q, rule, message: `the rule in ${which} sends to queue ${q} without bypass: whenever no program holds the queue (a crash, a restart) the kernel drops what it matches; ${bypassAdvice(rule)}` });
      }
    }
  }
  return { namespace, queues: reports, rules, kernel, findings, sources, problems };
}

/** The path nsenter needs for a namespace given as a path or an fd of this process. */
function legacyPath(netns: NetnsTarget | undefined): string | undefined {
  if (netns === undefined) return undefined;
  return typeof netns === 'number' ? `/proc/${process.pid}/fd/${netns}` : netns;
}

/** The diagnosis as lines of text: per queue, its holder and rules, then the findings. */
export function formatDiagnosis(d: QueueDiagnosis): string[] {
  const lines: string[] = [];
  for (const r of d.queues) {
    const held = r.holder !== undefined ? `held by ${describeHolder(r.holder)}` : d.kernel === undefined ? 'holder unknown (/proc unreadable)' : 'not held by any program';
    lines.push(`queue ${r.queue}: ${held}`);
    if (r.rules.length === 0) lines.push(`  no rule in ${d.namespace} sends packets here`);
    for (const rule of r.rules) {
      const owner = rule.tableOwnerProcess === undefined ? '' : ` (process ${rule.tableOwnerProcess.pid}${rule.tableOwnerProcess.command === undefined ? '' : `, ${rule.tableOwnerProcess.command}`})`;
      lines.push(`  ${rule.text}${owner}${rule.bypass ? '' : '   <- no bypass'}`);
    }
    for (const e of r.elsewhere) lines.push(`  in network namespace ${e.namespace.label}: ${e.rule.text}`);
  }
  for (const f of d.findings) lines.push(`${f.code}: ${f.message}`);
  for (const p of d.problems) lines.push(`could not read: ${p}`);
  return lines;
}
