/** The pool's argument checks: its queue list, the handler module, what a worker's queues get. */
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { QueueOptions } from '../queue/queue-options.js';
import type { QueuePoolOptions } from './pool-types.js';

/** Parses the `queues` option into a sorted list of distinct queue numbers. */
export function parsePoolQueues(q: unknown): number[] {
  const check = (n: unknown): number => {
    if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) throw new RangeError(`pool queue numbers must be integers in 0..65535, got ${String(n)}`);
    return n;
  };
  let list: number[];
  if (typeof q === 'number') list = [check(q)];
  else if (Array.isArray(q)) list = q.map(check);
  else if (typeof q === 'string') {
    const m = /^\s*(\d+)\s*[:-]\s*(\d+)\s*$/.exec(q);
    if (m === null) throw new TypeError(`option queues as a string must be a range such as '0:3', got '${q}'`);
    const a = check(Number(m[1]));
    const b = check(Number(m[2]));
    if (b < a) throw new RangeError(`option queues: the range ${q} runs backwards`);
    list = Array.from({ length: b - a + 1 }, (_, i) => a + i);
  } else throw new TypeError('option queues must be a queue number, a list of them, or a range such as "0:3"');
  if (list.length === 0) throw new RangeError('option queues names no queue');
  if (new Set(list).size !== list.length) throw new RangeError(`option queues must be distinct, got ${list.join(', ')}`);
  return list.sort((x, y) => x - y);
}

/** The handler module's URL as a string: URLs and URL strings as they are, paths made absolute. */
export function handlerHref(h: unknown): string {
  if (h instanceof URL) return h.href;
  if (typeof h !== 'string' || h === '') throw new TypeError('option handler must be the URL (or absolute path) of a module whose default export is the packet callback');
  if (/^(file|data):/.test(h)) return h;
  if (/^[a-z][a-z0-9+.-]*:/i.test(h)) throw new TypeError(`option handler must be a file: or data: URL or a path, got ${h}`);
  return pathToFileURL(isAbsolute(h) ? h : resolve(h)).href;
}

/** Queue options a worker gets: everything but what cannot cross a thread (checked here). */
export function workerQueueOptions(o: QueuePoolOptions): QueueOptions {
  const rest: Record<string, unknown> = { ...o };
  for (const k of ['queues', 'workers', 'handler', 'onError', 'signal', 'restart']) delete rest[k];
  if ('transport' in rest) throw new TypeError('option transport cannot be given to a pool: each worker opens its own socket');
  if ('record' in rest) throw new TypeError('option record cannot be given to a pool: record one queue with openQueue() instead');
  for (const [k, v] of Object.entries(rest)) {
    if (typeof v === 'function') throw new TypeError(`option ${k} is a function, which cannot be passed to a worker thread`);
  }
  return rest as QueueOptions;
}
