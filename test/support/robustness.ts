/**
 * Shared bits of the robustness kernel tests: the consumer child (consumers/robustness-consumer.mjs,
 * built library) and polling helpers (floods: netns/traffic.ts). Assertions are on
 * counts, counters and states, never on elapsed time.
 */
import { fileURLToPath } from 'node:url';
import type { Child, Netns, QueueProcRow } from './netns.js';
import type { QueueStats } from '../../src/index.js';

export const CONSUMER = fileURLToPath(new URL('./consumers/robustness-consumer.mjs', import.meta.url));

/** What the consumer prints: the library's own QueueStats, as JSON. */
export type Stats = QueueStats;

export interface ConsumerLine {
  ready?: boolean;
  portId?: number;
  uid?: number;
  openError?: { name: string; code?: string; step?: string; message: string };
  error?: { name: string; code?: string; message: string };
  overrun?: { name: string; code?: string; message: string };
  fatal?: { event: string; name?: string; message: string };
  closed?: boolean;
  stats?: Stats;
  callbacks?: number;
  errorsByName?: Record<string, number>;
  overrunEvents?: number;
  doubleRefused?: number;
  doubleOther?: number;
  rss?: { min: number; max: number; now: number };
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Starts the consumer; resolves once it is bound with copy mode PACKET. */
export async function startConsumer(ns: Netns, queue: number, policy: string, args: string[] = [], env?: Record<string, string>): Promise<Child> {
  const c = ns.spawnNode(CONSUMER, [String(queue), policy, ...args], env ? { env } : {});
  const first = await c.waitForJson<ConsumerLine>((j) => j.ready === true || j.openError !== undefined, 15_000);
  if (first.openError) throw new Error(`consumer failed to open queue ${queue}: ${first.openError.message}\n${c.transcript()}`);
  await ns.waitForQueueBound(queue, 10_000, { copyMode: 2 });
  return c;
}

/** Asks the running consumer for its stats. */
export async function consumerStats(c: Child): Promise<ConsumerLine & { stats: Stats }> {
  const before = c.json<ConsumerLine>().filter((j) => j.stats && !j.closed).length;
  c.write('stats\n');
  let seen = 0;
  return c.waitForJson<ConsumerLine & { stats: Stats }>((j) => j.stats !== undefined && !j.closed && ++seen > before, 10_000);
}

/** SIGTERM (or SIGINT), then the closing line; the consumer must exit 0. */
export async function stopConsumer(c: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<ConsumerLine & { stats: Stats }> {
  c.kill(signal);
  const line = await c.waitForJson<ConsumerLine & { stats: Stats }>((j) => j.closed === true || j.fatal !== undefined, 20_000);
  const exit = await c.waitForExit(10_000);
  if (line.fatal) throw new Error(`consumer died: ${JSON.stringify(line.fatal)}\n${c.transcript()}`);
  if (exit.code !== 0) throw new Error(`consumer exited with ${JSON.stringify(exit)}\n${c.transcript()}`);
  return line;
}

/** No unhandled rejection, no uncaught exception in the consumer's output. */
export function fatalLines(c: Child): ConsumerLine[] {
  return c.json<ConsumerLine>().filter((j) => j.fatal !== undefined);
}

/** Polls the queue's /proc row until `ok` accepts it; returns the last row seen. */
export async function waitRow(ns: Netns, queue: number, ok: (r: QueueProcRow | undefined) => boolean, tries = 300): Promise<QueueProcRow | undefined> {
  let row = ns.queueRow(queue);
  for (let i = 0; i < tries && !ok(row); i++) {
    await sleep(50);
    row = ns.queueRow(queue);
  }
  return row;
}
