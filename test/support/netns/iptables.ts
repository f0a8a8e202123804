// iptables listings with counters (`-L -v -x -n --line-numbers`), parsed.

// ------------------------------------------------------------------ iptables counters

export interface IptablesRule {
  /** 1-based position in the chain. */
  num: number;
  pkts: number;
  bytes: number;
  /** '' for a rule without target (a pure counting rule). */
  target: string;
  prot: string;
  opt: string;
  in: string;
  out: string;
  source: string;
  destination: string;
  /** Match/target details, e.g. "udp dpt:9 NFQUEUE num 3 bypass", comments as "/* tag *\/". */
  extra: string;
  line: string;
}

export interface IptablesChain {
  name: string;
  /** Built-in chains: policy and its counters. */
  policy?: { target: string; pkts: number; bytes: number };
  /** User chains: number of references. */
  references?: number;
  rules: IptablesRule[];
}

const OPT_RE = /^(--|-f|!f)$/;

/** Parse `iptables -L CHAIN -v -x -n --line-numbers` output (iptables-legacy 1.8 layout). */
export function parseIptablesList(text: string): IptablesChain[] {
  const chains: IptablesChain[] = [];
  let cur: IptablesChain | undefined;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const head = /^Chain (\S+) \((.*)\)/.exec(line);
    if (head) {
      cur = { name: head[1]!, rules: [] };
      const pol = /^policy (\S+) (\d+) packets, (\d+) bytes$/.exec(head[2]!);
      if (pol) cur.policy = { target: pol[1]!, pkts: Number(pol[2]), bytes: Number(pol[3]) };
      const refs = /^(\d+) references?$/.exec(head[2]!);
      if (refs) cur.references = Number(refs[1]);
      chains.push(cur);
      continue;
    }
    if (!cur || /^\s*num\s+pkts/.test(line) || /^\s*pkts\s+bytes/.test(line)) continue;
    const t = line.trim().split(/\s+/);
    if (!/^\d+$/.test(t[0] ?? '')) continue;
    // Columns: num pkts bytes [target] prot opt in out source destination extra...
    // The target column is blank for rules without -j, detectable from where "opt" sits.
    let i = 3;
    let target = '';
    if (OPT_RE.test(t[5] ?? '')) target = t[i++]!;
    else if (!OPT_RE.test(t[4] ?? '')) throw new Error(`cannot parse iptables rule line: ${line}`);
    const [prot, opt, inIf, outIf, source, destination] = t.slice(i, i + 6);
    if (destination === undefined) throw new Error(`cannot parse iptables rule line: ${line}`);
    cur.rules.push({
      num: Number(t[0]),
      pkts: Number(t[1]),
      bytes: Number(t[2]),
      target,
      prot: prot!,
      opt: opt!,
      in: inIf!,
      out: outIf!,
      source: source!,
      destination,
      extra: t.slice(i + 6).join(' '),
      line,
    });
  }
  return chains;
}
