// `promtool check metrics` (Debian's prometheus package): an independent parser and linter
// for the Prometheus text format. Missing promtool is an error, never a skip.
import { spawnSync } from 'node:child_process';

/** Runs promtool on the text; returns its exit status and complaints. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`promtool is needed to check the metrics (apt-get install prometheus): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}
