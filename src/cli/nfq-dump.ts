#!/usr/bin/env node
/**
 * nfq-dump: tcpdump for NFQUEUE. Binds one or more queues, prints every queued packet (text,
 * JSON lines, hex), optionally writes a pcap and records the netlink conversation, gives
 * each packet a verdict, and on exit unbinds and summarises (live.ts). `-r FILE` decodes a
 * recorded conversation instead (show-recording.ts); `--check` reports the rules that feed a
 * queue (check.ts). Uses only the package's public entries.
 */
import { readFileSync } from 'node:fs';
import { parseCli, HELP, UsageError, type CliOptions } from './args.js';
import { PROG } from './output.js';

function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name?: string; version?: string };
    return `${pkg.name ?? 'netfilter-queue'} ${pkg.version ?? '?'}`;
  } catch {
    return 'unknown';
  }
}

/**
 * Process warnings as nfq-dump messages. The library's notice that its faster native socket
 * is not built only matters with -v.
 */
function routeWarnings(verbose: boolean): void {
  process.removeAllListeners('warning');
  process.on('warning', (w: Error & { code?: string }) => {
    if (w.code === 'NFQUEUE_NATIVE_UNAVAILABLE') {
      if (verbose) process.stderr.write(`${PROG}: note: ${w.message}\n`);
      return;
    }
    // The library's option names in nfq-dump's terms.
    const message =
      w.code === 'NFQUEUE_MAXLEN_BOUNDED' ? w.message.replace('flags.failOpen', '--fail-open').replace('Raise receiveBufferSize, lower copyRange', 'Raise --buffer-size, lower --copy-range') : w.message;
    process.stderr.write(`${PROG}: warning: ${message}\n`);
  });
}

async function main(argv: string[]): Promise<number> {
  let o: CliOptions;
  try {
    o = parseCli(argv);
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${PROG}: ${e.message}\nTry '${PROG} --help' for the options.\n`);
      return 2;
    }
    throw e;
  }
  if (o.help) {
    process.stdout.write(HELP);
    return 0;
  }
  if (o.version) {
    process.stdout.write(`${PROG} (${version()})\n`);
    return 0;
  }
  routeWarnings(o.verbose);
  // Each mode loads only its own modules: a start costs ~2 ms per module, and `-r` needs
  // neither the live queue nor the diagnosis.
  if (o.replay !== undefined) return (await import('./show-recording.js')).runReplay(o);
  if (o.check) return (await import('./check.js')).runCheck(o);
  return (await import('./live.js')).runLive(o);
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
    // Everything is closed by now; do not let a stray handle keep the process alive.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (e: unknown) => {
    process.stderr.write(`${PROG}: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
