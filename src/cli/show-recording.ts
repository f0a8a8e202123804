/** nfq-dump -r: prints the packets of a recording (or a raw capture) and what the recording says about them. */
import { PcapFormatError } from '../pcap/index.js';
import type { CliOptions } from './args.js';
import { explainFileError } from './errors.js';
import type { NameOf } from './format.js';
import { PROG, plural, queueList } from './output.js';
import { replayCapture, UnsupportedCaptureError } from './replay.js';
import { Sink } from './sink.js';

/** Runs nfq-dump -r; returns the exit code. */
export function runReplay(o: CliOptions): number {
  const path = o.replay!;
  const filter: { queues?: Set<number>; family?: number } = {};
  if (o.queueGiven) filter.queues = new Set(o.queues);
  if (o.family !== undefined) filter.family = o.family;
  let result: ReturnType<typeof replayCapture>;
  try {
    result = replayCapture(path, filter);
  } catch (e) {
    let msg: string;
    if (e instanceof PcapFormatError) msg = `${path} is not a pcap or pcapng file nfq-dump can read: ${e.message}`;
    else if (e instanceof UnsupportedCaptureError) msg = e.message;
    else if ((e as NodeJS.ErrnoException).code !== undefined) msg = explainFileError(e, path, 'read');
    else msg = `${path}: ${(e as Error).message}`;
    process.stderr.write(`${PROG}: ${msg}\n`);
    return 1;
  }
  // Interface indexes in a recording belong to the recording machine's namespace; only lo
  // (always index 1 in every namespace) can be named with confidence.
  const nameOf: NameOf = (i) => (i === 1 ? 'lo' : undefined);
  const sink = new Sink(o, nameOf, false);
  try {
    sink.openPcap();
  } catch (e) {
    process.stderr.write(`${PROG}: ${(e as Error).message}\n`);
    return 1;
  }
  let broken = false;
  process.stdout.on('error', () => {
    broken = true;
    sink.out.markBroken();
  });
  const { records, summary } = result;
  const shown = o.count !== undefined ? records.slice(0, o.count) : records;
  for (const r of shown) {
    sink.emit(r);
    if (sink.pcapError !== undefined) {
      sink.close();
      process.stderr.write(`${PROG}: ${sink.pcapError}\n`);
      return 1;
    }
  }
  sink.close();
  if (broken) return 0;
  const counts = new Map<string, number>();
  let none = 0;
  let isNetlink = false;
  for (const r of shown) {
    if (r.verdict === undefined) continue;
    isNetlink = true;
    if (r.verdict === null) none++;
    else {
      const k = r.verdict.verdict === 'queue' ? 'requeue' : r.verdict.verdict;
      counts.set(k, (counts.get(k) ?? 0) + 1);
    }
  }
  const lines = [`${plural(shown.length, 'packet')} from ${path}${summary.filtered > 0 ? ` (${summary.filtered} filtered out)` : ''}`];
  if (isNetlink) {
    const parts = [...counts].map(([k, n]) => `${n} ${k}`);
    if (none > 0) parts.push(`${none} without a recorded verdict`);
    lines.push(`verdicts recorded: ${parts.length > 0 ? parts.join(', ') : 'none'}`);
  }
  if (summary.queues.size > 0) lines.push(`${queueList([...summary.queues].sort((a, b) => a - b))} in the recording`);
  if (summary.packets === 0 && summary.records > 0 && summary.notIp === 0) {
    lines.push(`no queued packets in ${plural(summary.records, 'record')}${summary.otherProtocol > 0 ? ` (${summary.otherProtocol} of other netlink protocols)` : ''}`);
  }
  // -v lists every refusal; otherwise the first ten.
  const shownRefusals = o.verbose ? summary.refused : summary.refused.slice(0, 10);
  for (const r of shownRefusals) lines.push(`kernel refused ${r}`);
  if (summary.refused.length > shownRefusals.length) lines.push(`… and ${summary.refused.length - shownRefusals.length} more refusals (-v lists them all)`);
  if (summary.malformed > 0) lines.push(`${plural(summary.malformed, 'record')} could not be decoded, first: ${summary.firstProblem ?? '?'}`);
  process.stderr.write(lines.join('\n') + '\n');
  return 0;
}
