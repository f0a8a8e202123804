/**
 * The one way the kernel tests start a consumer: test/support/consumers/consumer.mjs (one
 * queue, the built library, dist/) or consumers/pool-consumer.mjs (openQueuePool), run inside
 * a test namespace with a JSON config, read through their JSON lines.
 */
import { fileURLToPath } from 'node:url';
import { TIME_SCALE, type Child, type Netns, type QueueProcRow } from './netns.js';
import type { QueueStats } from '../../src/index.js';

export const CONSUMER_SCRIPT = fileURLToPath(new URL('./consumers/consumer.mjs', import.meta.url));
export const POOL_CONSUMER_SCRIPT = fileURLToPath(new URL('./consumers/pool-consumer.mjs', import.meta.url));

/** The consumer's config (see consumers/consumer.mjs for what each field does). */
export interface ConsumerConfig {
  queues?: number | number[];
  iterate?: boolean | 'batches';
  policy?: 'accept' | 'verdict' | 'oddeven' | 'mark' | 'repeat-mark' | 'throw-every' | 'reject-every' | 'hold' | 'slow' | 'async' | 'double' | 'batch' | 'rewrite';
  verdict?: unknown;
  mark?: number;
  every?: number;
  slowUs?: number;
  batch?: { count?: number; verdict?: string; mark?: number; priority?: number };
  rewrite?: { find: string; replace: string; fix?: boolean };
  rewriteByQueue?: Record<string, { find: string; replace: string; fix?: boolean }>;
  /** Passed to openQueue. */
  options?: Record<string, unknown>;
  report?: boolean;
  overrunEvents?: boolean;
  blockUntil?: string;
  holdFirstMs?: number;
  native?: boolean;
  keep?: number;
  dropTo?: { uid: number; gid: number };
}

/** What the consumer prints: the library's own QueueStats, as JSON. */
export type Stats = QueueStats;

export interface ConsumerLine {
  ready?: boolean;
  portId?: number;
  transport?: string;
  uid?: number;
  openError?: { name: string; code?: string; step?: string; message: string };
  error?: { name: string; code?: string; message: string; packetId?: number };
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

export interface SpawnConsumerOptions {
  /** Environment variables (e.g. NFQUEUE_TRANSPORT). */
  env?: Record<string, string>;
  /** Runs the consumer under this command (e.g. setpriv with fewer capabilities). */
  prefix?: string[];
  cwd?: string;
  /** startConsumer: resolve with the child even when it could not open (its openError line). */
  mayFail?: boolean;
}

/** Starts the consumer without waiting for it. */
export function spawnConsumer(ns: Netns, config: ConsumerConfig, o: SpawnConsumerOptions = {}): Child {
  return ns.spawn([...(o.prefix ?? []), process.execPath, CONSUMER_SCRIPT, JSON.stringify(config)], { ...(o.env ? { env: o.env } : {}), ...(o.cwd ? { cwd: o.cwd } : {}) });
}

/** Waits for the consumer's first line: ready, or the error that kept it from opening. */
export function consumerOpened(c: Child, timeoutMs = 15_000): Promise<ConsumerLine> {
  return c.waitForJson<ConsumerLine>((j) => j.ready === true || j.openError !== undefined, timeoutMs);
}

/**
 * Starts the consumer and resolves once it is open and each of its queues is bound with copy
 * mode PACKET; throws when it could not open (unless `mayFail`).
 */
export async function startConsumer(ns: Netns, config: ConsumerConfig, o: SpawnConsumerOptions = {}): Promise<Child> {
  const c = spawnConsumer(ns, config, o);
  const first = await consumerOpened(c);
  if (first.openError && o.mayFail) return c;
  if (first.openError) throw new Error(`consumer failed to open queue ${JSON.stringify(config.queues ?? 0)}: ${first.openError.message}\n${c.transcript()}`);
  for (const q of [config.queues ?? 0].flat()) await ns.waitForQueueBound(q, 10_000, { copyMode: 2 });
  return c;
}

/** Asks the running consumer for its stats. */
export async function consumerStats(c: Child): Promise<ConsumerLine & { stats: Stats }> {
  const before = c.json<ConsumerLine>().filter((j) => j.stats && !j.closed).length;
  c.write('stats\n');
  let seen = 0;
  return c.waitForJson<ConsumerLine & { stats: Stats }>((j) => j.stats !== undefined && !j.closed && ++seen > before, 10_000);
}

/**
 * The consumer's JSON lines, once every line it printed before this call has arrived: its
 * answer to "stats" comes after them. (A packet counted by the kernel may be ahead of the
 * line its callback printed: that travels through a pipe.)
 */
export async function consumerLines<T = ConsumerLine>(c: Child): Promise<T[]> {
  await consumerStats(c);
  return c.json<T>();
}

/** SIGTERM (or SIGINT), then the closing line; the consumer must exit 0. */
export async function stopConsumer<T extends ConsumerLine = ConsumerLine>(c: Child, signal: NodeJS.Signals = 'SIGTERM'): Promise<T & { stats: Stats }> {
  c.kill(signal);
  const line = await c.waitForJson<T & { stats: Stats }>((j) => j.closed === true || j.fatal !== undefined, 20_000);
  const exit = await c.waitForExit(10_000);
  if (line.fatal) throw new Error(`consumer died: ${JSON.stringify(line.fatal)}\n${c.transcript()}`);
  if (exit.code !== 0) throw new Error(`consumer exited with ${JSON.stringify(exit)}\n${c.transcript()}`);
  return line;
}

/** No unhandled rejection, no uncaught exception in the consumer's output. */
export function fatalLines(c: Child): ConsumerLine[] {
  return c.json<ConsumerLine>().filter((j) => j.fatal !== undefined);
}

/** The pool consumer's config: openQueuePool's options, `handler` a module path. */
export interface PoolConsumerConfig {
  queues: number | number[] | string;
  workers?: number;
  handler: string;
  restart?: unknown;
  options?: Record<string, unknown>;
}

/** Starts the pool consumer and resolves once the pool is open; throws when it could not open. */
export async function startPoolConsumer(ns: Netns, config: PoolConsumerConfig): Promise<Child> {
  const c = ns.spawn([process.execPath, POOL_CONSUMER_SCRIPT, JSON.stringify(config)]);
  const first = await c.waitForJson<{ ready?: boolean; openError?: unknown }>((j) => j.ready === true || j.openError !== undefined, 30_000);
  if (first.openError !== undefined) throw new Error(`pool did not open: ${JSON.stringify(first.openError)}\n${c.transcript()}`);
  return c;
}

/** Polls the queue's /proc row until `ok` accepts it; returns the last row seen. */
export async function waitRow(ns: Netns, queue: number, ok: (r: QueueProcRow | undefined) => boolean, timeoutMs = 15_000): Promise<QueueProcRow | undefined> {
  const deadline = Date.now() + timeoutMs * TIME_SCALE;
  let row = ns.queueRow(queue);
  while (!ok(row) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    row = ns.queueRow(queue);
  }
  return row;
}
