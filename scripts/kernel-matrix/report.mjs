// Reading vitest's JSON reports into one outcome per (kernel, test file), and the table.

/**
 * The outcome of test file `absPath` in a vitest JSON report: PASS (every test passed or
 * skipped, at least one passed), SKIP (every test skipped; the reasons the tests recorded
 * in `meta.skipReason`), FAIL (a test failed, or the file did not load), ERROR (no report).
 */
export function fileOutcomes(report, absPath, problem) {
  if (report === undefined) return { status: 'ERROR', text: `ERROR: ${problem ?? 'no report'}`, failures: [] };
  const file = report.testResults.find((t) => t.name === absPath);
  if (file === undefined) return { status: 'ERROR', text: 'ERROR: not in the report', failures: [] };
  const tests = file.assertionResults;
  const count = (s) => tests.filter((t) => t.status === s).length;
  const passed = count('passed');
  const failed = count('failed');
  const skipped = tests.length - passed - failed;
  const reasons = [...new Set(tests.map((t) => t.meta?.skipReason).filter((r) => r !== undefined))];
  const failures = tests.filter((t) => t.status === 'failed').map((t) => `${t.fullName}: ${(t.failureMessages[0] ?? '').split('\n')[0]}`);
  if (failed > 0 || file.status === 'failed') {
    if (tests.length === 0) failures.push(`${file.message ?? 'the file failed to load'}`.split('\n')[0]);
    return { status: 'FAIL', text: `FAIL ${failed}/${tests.length}`, failures, reasons };
  }
  if (passed === 0) return { status: 'SKIP', text: `SKIP ${skipped}`, failures, reasons };
  return { status: 'PASS', text: skipped > 0 ? `PASS ${passed} (skip ${skipped})` : `PASS ${passed}`, failures, reasons };
}

/** The kernel × file table, then the failures and skip reasons below it. */
export function formatTable(columns, rows) {
  const header = ['test file', ...columns.map((c) => c.name)];
  const body = rows.map((r) => [r.file, ...r.cells.map((c) => c.text)]);
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => `| ${cells.map((c, i) => c.padEnd(widths[i])).join(' | ')} |`;
  const out = [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...body.map(line), ''];
  for (const c of columns) out.push(`${c.name}: ${c.label}${c.seconds === undefined ? '' : `, ${c.seconds} s`}${c.problem === undefined ? '' : ` — ${c.problem}`}`);
  for (const r of rows) {
    r.cells.forEach((c, i) => {
      for (const f of c.failures) out.push(`  FAIL ${columns[i].name} ${r.file}: ${f}`);
      for (const reason of c.reasons ?? []) out.push(`  skip ${columns[i].name} ${r.file}: ${reason}`);
    });
  }
  return out.join('\n');
}
