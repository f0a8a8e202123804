// nfq-dump processes started in a test namespace, killed after each test.
import { afterEach } from 'vitest';
import type { Child, Netns } from '../../support/netns.js';
import { CLI } from '../../support/cli.js';

/**
 * Returns a starter of nfq-dump in `ns()` (no status line, no idle hint) that waits until
 * `queue` is bound; every process it started is SIGKILLed after each test.
 */
export function nfqDumpStarter(ns: () => Netns): (args: readonly string[], queue: number) => Promise<Child> {
  const running: Child[] = [];
  afterEach(async () => {
    for (const c of running.splice(0)) {
      c.kill('SIGKILL');
      await c.exited;
    }
  });
  return async (args, queue) => {
    const c = ns().spawn([process.execPath, CLI, '--no-status', ...args], { env: { NFQ_DUMP_IDLE_HINT_MS: '0' } });
    running.push(c);
    await ns()
      .waitForQueueBound(queue, 10_000)
      .catch((e: Error) => {
        throw new Error(`${e.message}\n${c.transcript()}`);
      });
    return c;
  };
}
