/**
 * `nfq-dump --check [-q N]`: the library's diagnosis of the queues, printed for a person (or
 * as JSON), then exit: 0 when every queue asked for has a rule feeding it, 1 when one has none.
 */
import { diagnoseQueues, formatDiagnosis, type DiagnoseOptions } from '../diagnosis/index.js';
import type { CliOptions } from './args.js';

/** Runs --check; resolves to the exit code. */
export async function runCheck(o: CliOptions): Promise<number> {
  const options: DiagnoseOptions = {};
  if (o.netnsPath !== undefined) options.netns = o.netnsPath;
  const d = await diagnoseQueues(o.queueGiven ? o.queues : undefined, options);
  if (o.json) process.stdout.write(`${JSON.stringify(d)}\n`);
  else {
    const lines = formatDiagnosis(d);
    if (d.queues.length === 0) lines.unshift(`no queue is bound in ${d.namespace}, and no rule there queues packets`);
    lines.push(`read: ${d.sources.length > 0 ? d.sources.join(', ') : 'nothing'}`);
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  return d.queues.every((r) => r.rules.length > 0) && (o.queueGiven || d.queues.length > 0) ? 0 : 1;
}
