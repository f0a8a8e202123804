/**
 * The rules that send packets to a queue, as the diagnosis reports them, and those of
 * iptables-legacy (its own kernel tables, not nf_tables: only `iptables-legacy-save` lists
 * them). The nf_tables side, iptables-nft's rules included, is read through the library's
 * own dumps (nftables.ts).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants as fsConstants } from 'node:fs';
import { delimiter, join } from 'node:path';

/** A rule whose verdict queues packets. */
export interface QueueingRule {
  /** Where it was found: the nf_tables ruleset (iptables-nft's rules included), or iptables-legacy's tables. */
  source: 'nftables' | 'iptables-legacy';
  /** The family as nft names it: ip, ip6, inet, arp, bridge, netdev. */
  family: string;
  table: string;
  chain: string;
  /** The queues it sends to: first..last (one queue: first = last). */
  first: number;
  last: number;
  /** True when packets pass (accepted) while no program listens; false: they are dropped. */
  bypass: boolean;
  /** The nft `queue` expression, or the xtables `NFQUEUE` target (iptables, iptables-nft). */
  via: 'queue' | 'NFQUEUE';
  /** The rule's nf_tables handle. */
  handle?: number;
  /** The netlink port id owning the table (a managed rule's table dies with that socket). */
  tableOwner?: number;
  /** The process with that socket, when /proc shows it. */
  tableOwnerProcess?: { pid: number; command?: string };
  /** The rule as a person recognises it: iptables-save's line, or an nft-like account. */
  text: string;
}

/**
 * The NFQUEUE rules in iptables-save output. `--queue-num N` or `--queue-balance A:B`; no
 * number means queue 0 (the target's default).
 */
export function parseIptablesSaveRules(saveOutput: string, family: 'ip' | 'ip6'): QueueingRule[] {
  const rules: QueueingRule[] = [];
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
    const chain = /^-A (\S+)/.exec(line)![1]!;
    rules.push({ source: 'iptables-legacy', family, table, chain, first, last, bypass: /\s--queue-bypass(\s|$)/.test(target), via: 'NFQUEUE', text: `${family === 'ip6' ? 'ip6tables' : 'iptables'} -t ${table} ${line}` });
  }
  return rules;
}

/** Whether `cmd` is an executable on PATH. */
export function onPath(cmd: string): boolean {
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

function run(argv: readonly string[]): Promise<{ ok: boolean; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(argv[0]!, argv.slice(1), { timeout: 5000, maxBuffer: 16 << 20, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ ok: err === null, stdout, stderr }));
  });
}

/** What one source of rules gave: the rules, or why it could not be read. */
export interface RuleSourceResult {
  rules: QueueingRule[];
  /** Commands or dumps that answered. */
  sources: string[];
  /** Why a source could not be read. */
  problems: string[];
}

/**
 * iptables-legacy's NFQUEUE rules, through `iptables-legacy-save` / `ip6tables-legacy-save`
 * (in the namespace at `netnsPath`, through nsenter), run only for the families whose legacy
 * tables exist (`legacyTables`, from /proc/net/ip_tables_names and ip6_tables_names): most
 * machines have none, and then nothing is run. Unknown tables (undefined): both are tried
 * where installed. Never throws.
 */
export async function listLegacyQueueRules(legacyTables: { ip: string[]; ip6: string[] } | undefined, netnsPath?: string): Promise<RuleSourceResult> {
  const out: RuleSourceResult = { rules: [], sources: [], problems: [] };
  for (const [family, cmd] of [
    ['ip', 'iptables-legacy-save'],
    ['ip6', 'ip6tables-legacy-save'],
  ] as const) {
    const tables = legacyTables?.[family];
    if (tables?.length === 0 || (tables === undefined && !onPath(cmd))) continue;
    const which = `iptables-legacy has ${family === 'ip' ? 'IPv4' : 'IPv6'} tables (${(tables ?? ['?']).join(', ')})`;
    if (!onPath(cmd)) {
      out.problems.push(`${cmd}: ${which} but ${cmd} is not installed, so their NFQUEUE rules cannot be listed`);
      continue;
    }
    if (netnsPath !== undefined && !onPath('nsenter')) {
      out.problems.push(`${cmd}: ${which} but nsenter (util-linux) is not installed, so the legacy rules of another namespace cannot be listed`);
      continue;
    }
    const r = await run(netnsPath === undefined ? [cmd] : ['nsenter', `--net=${netnsPath}`, cmd]);
    if (!r.ok) {
      out.problems.push(`${cmd}: ${r.stderr.trim().split('\n')[0] || 'failed'}`);
      continue;
    }
    out.sources.push(cmd);
    out.rules.push(...parseIptablesSaveRules(r.stdout, family));
  }
  return out;
}

/** The table names in /proc/net/ip_tables_names (one per line); none when the text is undefined. */
export function parseTableNames(text: string | undefined): string[] {
  return (text ?? '').split('\n').map((l) => l.trim()).filter((l) => l !== '');
}

/** `3`, `0-3`: the queues of a rule. */
export function ruleQueues(r: Pick<QueueingRule, 'first' | 'last'>): string {
  return r.first === r.last ? `${r.first}` : `${r.first}-${r.last}`;
}
