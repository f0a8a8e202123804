/**
 * What a network namespace's kernel tables say: its nf_tables rules that queue packets
 * (through the library's own dumps: nft's rules and iptables-nft's alike), its queue table
 * and netlink socket table from /proc/net, and which iptables-legacy tables exist. For
 * another namespace, one socket is opened there and the /proc/net files are opened through
 * it (a process's own /proc/net shows only its own namespace).
 */
import { readFileSync } from 'node:fs';
import { openDefaultTransport } from '../netlink/default-transport.js';
import type { KernelSocket } from '../queue/kernel-socket.js';
import { NETLINK_NETFILTER } from '../netlink/constants.js';
import type { NetnsTarget } from '../netlink/netns.js';
import type { Transport } from '../netlink/transport.js';
import { NFNETLINK_QUEUE_PROC_NET } from '../queue/proc.js';
import { familyName } from '../nftables/batch.js';
import { findQueueRules, type QueueRule } from '../nftables/queue-rules.js';
import { listRuleset } from '../nftables-runtime/nft-socket.js';
import { parseTableNames, ruleQueues, type QueueingRule } from './rules.js';

/** The /proc/net files the diagnosis reads. */
const PROC_FILES = [NFNETLINK_QUEUE_PROC_NET, 'netlink', 'ip_tables_names', 'ip6_tables_names'] as const;

/** What was read from one namespace. */
export interface NamespaceTables {
  /** Its nf_tables rules that queue packets. */
  rules: QueueingRule[];
  sources: string[];
  problems: string[];
  /** /proc/net/netfilter/nfnetlink_queue, /proc/net/netlink: undefined when unreadable. */
  procQueues?: string;
  procNetlink?: string;
  /** iptables-legacy's tables, by family; undefined when the namespace could not be entered. */
  legacyTables?: { ip: string[]; ip6: string[] };
}

/** A dumped nf_tables rule that queues, as the diagnosis reports it. */
export function queueingRuleOf(q: QueueRule): QueueingRule {
  const family = familyName(q.rule.family);
  const t = q.target;
  const last = t.first + t.total - 1;
  const hook = q.chain?.hook !== undefined ? ` (${['prerouting', 'input', 'forward', 'output', 'postrouting'][q.chain.hook.hooknum] ?? `hook ${q.chain.hook.hooknum}`} hook)` : '';
  const via = t.backend === 'queue' ? 'queue' : 'NFQUEUE';
  const handle = q.rule.handle === undefined ? '' : ` handle ${q.rule.handle}`;
  const flags = [t.bypass ? 'bypass' : '', t.cpuFanout === true ? 'fanout' : ''].filter((f) => f !== '').join(' ');
  const how = t.backend === 'queue' ? `queue num ${ruleQueues({ first: t.first, last })}` : `NFQUEUE target, queue ${ruleQueues({ first: t.first, last })}`;
  const owner = q.owned ? `, in a table owned by netlink port ${q.ownerPortId ?? '?'} (a managed rule: it goes when that socket closes)` : '';
  const rule: QueueingRule = {
    source: 'nftables',
    family,
    table: q.rule.table,
    chain: q.rule.chain,
    first: t.first,
    last,
    bypass: t.bypass,
    via,
    text: `nft: ${family} ${q.rule.table} ${q.rule.chain}${handle}${hook}: ${how}${flags === '' ? '' : ` ${flags}`}${owner}`,
  };
  if (q.rule.handle !== undefined) rule.handle = Number(q.rule.handle);
  if (q.owned && q.ownerPortId !== undefined) rule.tableOwner = q.ownerPortId;
  return rule;
}

function readProc(transport: (Transport & KernelSocket) | undefined, name: string): string | undefined {
  try {
    return transport?.readProcNet !== undefined ? transport.readProcNet(name) : readFileSync(`/proc/net/${name}`, 'utf8');
  } catch {
    return undefined;
  }
}

/**
 * Reads a namespace's tables (this process's when `netns` is undefined). Never throws: what
 * cannot be read is named in `problems`. `withProc` false skips the /proc files (other
 * namespaces are searched only for their rules).
 */
export async function readNamespaceTables(netns?: NetnsTarget, withProc = true): Promise<NamespaceTables> {
  const out: NamespaceTables = { rules: [], sources: [], problems: [] };
  let transport: (Transport & KernelSocket) | undefined;
  try {
    if (netns !== undefined) transport = openDefaultTransport(NETLINK_NETFILTER, { netns, procNetFiles: PROC_FILES });
  } catch (e) {
    out.problems.push(`network namespace ${String(netns)}: ${(e as Error).message}`);
    return out;
  }
  // The /proc/net files first: the dump below closes the socket they were opened through.
  if (withProc) {
    const q = readProc(transport, NFNETLINK_QUEUE_PROC_NET);
    const n = readProc(transport, 'netlink');
    if (q !== undefined) out.procQueues = q;
    if (n !== undefined) out.procNetlink = n;
  }
  out.legacyTables = { ip: parseTableNames(readProc(transport, 'ip_tables_names')), ip6: parseTableNames(readProc(transport, 'ip6_tables_names')) };
  try {
    const ruleset = await listRuleset(transport === undefined ? {} : { transport });
    out.rules = findQueueRules(ruleset).map(queueingRuleOf);
    out.sources.push('nf_tables dump');
  } catch (e) {
    out.problems.push(`the nf_tables ruleset: ${(e as Error).message}`);
  }
  transport?.close();
  return out;
}
