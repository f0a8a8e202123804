/**
 * nfq-dump's hint for a queue that receives nothing: the most common first-run mistake is a
 * queue number or a network namespace that does not match the iptables rule. After a few
 * quiet seconds nfq-dump says so once, with the queue's row from /proc and the NFQUEUE
 * rules of the namespace (from iptables-save), so the mismatch shows at once.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';
import type { KernelQueueStats } from '../index.js';

/** An iptables rule whose target is NFQUEUE. */
export interface NfqueueRule {
  /** 4 or 6. */
  family: 4 | 6;
  /** Table (`filter`, `mangle`, `raw`…). */
  table: string;
  /** The rule as iptables-save prints it (`-A OUTPUT ... -j NFQUEUE --queue-num 3`). */
  rule: string;
  /** Queues the rule sends to: [first, last] (one queue: first = last). */
  first: number;
  last: number;
}

/**
 * The NFQUEUE rules in iptables-save output. `--queue-num N` or `--queue-balance A:B`; no
 * number means queue 0 (the target's default).
 */
export function parseNfqueueRules(saveOutput: string, family: 4 | 6): NfqueueRule[] {
  const rules: NfqueueRule[] = [];
  let table = '';
  for (const raw of saveOutput.split('\n')) {
    const line = raw.trim();
    if (line.startsWith('*')) table = line.slice(1);
    if (!line.startsWith('-A ')) continue;
    // Quoted text (a comment) may mention anything: look for the target outside it.
    const bare = line.replace(/"(?:[^"\\]|\\.)*"/g, '""');
    const at = bare.search(/(^|\s)-j NFQUEUE(\s|$)/);
    if (at < 0) continue;
    const target = bare.slice(at);
    const balance = /--queue-balance (\d+):(\d+)/.exec(target);
    const num = /--queue-num (\d+)/.exec(target);
    const first = Number(balance?.[1] ?? num?.[1] ?? 0);
    const last = Number(balance?.[2] ?? num?.[1] ?? 0);
    rules.push({ family, table, rule: line, first, last });
  }
  return rules;
}

/** What the rule listing found: the rules, the commands that gave them, or why none could run. */
export interface RuleListing {
  rules: NfqueueRule[];
  /** Commands that listed rules. */
  sources: string[];
  /** Why the rules could not be listed (no command, no permission…), when none could. */
  problem?: string;
}

function onPath(cmd: string): boolean {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(delimiter)) {
    try {
      accessSync(join(dir, cmd), fsConstants.X_OK);
      return true;
    } catch {
      // not here
    }
  }
  return false;
}

function run(argv: string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5000, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ ok: err === null, stdout, stderr }));
  });
}

/**
 * Lists the NFQUEUE rules of this network namespace, or of `netnsPath` (through nsenter):
 * the legacy and the nft variants of iptables-save and ip6tables-save where installed,
 * else plain iptables-save. Never throws.
 */
export async function listNfqueueRules(netnsPath?: string): Promise<RuleListing> {
  const listing: RuleListing = { rules: [], sources: [] };
  const problems: string[] = [];
  if (netnsPath !== undefined && !onPath('nsenter')) return { ...listing, problem: 'nsenter (util-linux) is not installed, so the rules of that namespace cannot be listed' };
  const seen = new Set<string>();
  for (const [family, base] of [
    [4, 'iptables'],
    [6, 'ip6tables'],
  ] as const) {
    let cmds = [`${base}-legacy-save`, `${base}-nft-save`].filter(onPath);
    if (cmds.length === 0) cmds = [`${base}-save`].filter(onPath);
    for (const cmd of cmds) {
      const argv = netnsPath === undefined ? [cmd] : ['nsenter', `--net=${netnsPath}`, cmd];
      const r = await run(argv);
      if (!r.ok) {
        problems.push(`${cmd}: ${r.stderr.trim().split('\n')[0] || 'failed'}`);
        continue;
      }
      listing.sources.push(cmd);
      for (const rule of parseNfqueueRules(r.stdout, family)) {
        // iptables-nft-save also shows what the legacy tables hold when both exist: once each.
        const key = `${family} ${rule.table} ${rule.rule}`;
        if (seen.has(key)) continue;
        seen.add(key);
        listing.rules.push(rule);
      }
    }
  }
  if (listing.sources.length === 0) listing.problem = problems.length > 0 ? problems.join('; ') : 'no iptables-save command is installed';
  return listing;
}

const PROC_COLUMNS = ['queue', 'portid', 'waiting', 'copy mode', 'copy range', 'queue_dropped', 'user_dropped', 'last id'] as const;

/** A /proc row with its column names: `queue 3, portid 4242, waiting 0, …`. */
function describeRow(r: KernelQueueStats): string {
  const values = [r.queue, r.portId, r.waiting, r.copyMode, r.copyRange, r.queueDropped, r.userDropped, r.lastId];
  return values.map((v, i) => `${PROC_COLUMNS[i]} ${v}`).join(', ');
}

function queueNumbers(rules: readonly NfqueueRule[]): string {
  const sorted = [...rules].sort((a, b) => a.first - b.first || a.last - b.last);
  const parts = [...new Set(sorted.map((r) => (r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`)))];
  return parts.join(', ');
}

/** What nfq-dump knows when the hint is due. */
export interface IdleHintInput {
  /** Queues that received nothing. */
  queues: readonly number[];
  /** How long nfq-dump has listened, in ms. */
  idleMs: number;
  /** Our netlink port id. */
  portId: number;
  /** The kernel's rows (the namespace of the socket), or undefined when /proc is unreadable. */
  rows: readonly KernelQueueStats[] | undefined;
  rules: RuleListing;
  /** `--netns` as given, when the queue lives in another namespace. */
  netns?: string;
}

/** The hint's lines (the first without the program name). */
export function idleHint(h: IdleHintInput): string[] {
  const where = h.netns === undefined ? 'this network namespace' : `network namespace ${h.netns}`;
  const secs = Math.round(h.idleMs / 100) / 10;
  const lines = [`no packet on ${h.queues.length === 1 ? `queue ${h.queues[0]}` : `queues ${h.queues.join(', ')}`} after ${secs} s. Where did they go?`];
  for (const q of h.queues) {
    const row = h.rows?.find((r) => r.queue === q);
    if (h.rows === undefined) lines.push(`  /proc/net/netfilter/nfnetlink_queue is unreadable: cannot show queue ${q}'s row`);
    else if (row === undefined) lines.push(`  /proc/net/netfilter/nfnetlink_queue has no row for queue ${q} in ${where}`);
    else {
      const whose = row.portId === h.portId ? 'bound by this nfq-dump' : `bound by another socket, port ${row.portId}`;
      const ever = row.lastId === 0 ? '; last id 0: the kernel has queued nothing here since the bind' : '';
      lines.push(`  /proc/net/netfilter/nfnetlink_queue: ${describeRow(row)} (${whose}${ever})`);
    }
    const targeting = h.rules.rules.filter((r) => q >= r.first && q <= r.last);
    if (h.rules.sources.length === 0) {
      lines.push(`  cannot list the NFQUEUE rules of ${where}: ${h.rules.problem ?? 'unknown reason'}`);
    } else if (targeting.length === 0) {
      const others = h.rules.rules.length > 0 ? `; NFQUEUE rules there go to queue ${queueNumbers(h.rules.rules)}` : '; there is no NFQUEUE rule at all';
      lines.push(`  no NFQUEUE rule in ${where} sends packets to queue ${q} (${h.rules.sources.join(', ')}${others})`);
      lines.push(`  check the queue number (-q), or the namespace of the rule (--netns NAME, or ip netns exec NAME nfq-dump)`);
    } else {
      lines.push(`  NFQUEUE rules in ${where} for queue ${q}:`);
      for (const r of targeting) lines.push(`    ${r.family === 6 ? 'ip6tables' : 'iptables'} -t ${r.table} ${r.rule}`);
      lines.push(`  so no packet has matched them yet: is traffic flowing through that chain?`);
    }
  }
  return lines;
}
