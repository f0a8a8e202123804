// `promtool check metrics` (Debian's prometheus package): an independent parser and linter
// for the Prometheus text format. Missing promtool is an error, never a skip.
import { spawnSync } from 'node:child_process';

/** Runs promtool on the text; returns its exit status and complaints. */
export function promtoolCheck(text: string): { status: number | null; output: string } {
  const r = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
  if (r.error !== undefined) throw new Error(`promtool is needed to check the metrics (apt-get install prometheus): ${r.error.message}`);
  return { status: r.status, output: `${r.stdout}${r.stderr}` };
}

/**
 * Parses OpenMetrics text with the Python prometheus_client's strict OpenMetrics parser
 * (Debian's python3-prometheus-client); returns the families and their sample counts, or
 * the parser's complaint.
 */
export function openMetricsCheck(text: string): { ok: boolean; families?: Record<string, { type: string; samples: number }>; error?: string } {
  const script = [
    'import sys, json',
    'from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse',
    'try:',
    '    fams = {f.name: {"type": f.type, "samples": len(f.samples)} for f in parse(sys.stdin.read())}',
    '    print(json.dumps({"ok": True, "families": fams}))',
    'except Exception as e:',
    '    print(json.dumps({"ok": False, "error": repr(e)}))',
  ].join('\n');
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: text, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`the OpenMetrics check needs python3 with prometheus_client (apt-get install python3-prometheus-client): ${r.stderr}`);
  return JSON.parse(r.stdout) as { ok: boolean; error?: string };
}
