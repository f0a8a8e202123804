// openQueuePool's argument checks: bad options are refused with a TypeError/RangeError
// before any thread starts; a handler module without a default export is refused by the
// worker before it binds anything (no privileges needed).
import { describe, expect, it } from 'vitest';
import { fileURLToPath } from 'node:url';
import { openQueuePool, type QueuePoolOptions } from '../../dist/index.js';
import { parsePoolQueues } from '../../dist/pool/pool.js';

const ACCEPT = fileURLToPath(new URL('./handlers/accept.mjs', import.meta.url));
const NO_DEFAULT = new URL('./handlers/no-default.mjs', import.meta.url);

describe('openQueuePool options', () => {
  it('queues: a number, a list, or a range A:B; distinct, in 0..65535', () => {
    expect(parsePoolQueues(3)).toEqual([3]);
    expect(parsePoolQueues([5, 1, 3])).toEqual([1, 3, 5]);
    expect(parsePoolQueues('0:3')).toEqual([0, 1, 2, 3]);
    expect(parsePoolQueues('8-9')).toEqual([8, 9]);
    expect(() => parsePoolQueues('3:0')).toThrow(RangeError);
    expect(() => parsePoolQueues([1, 1])).toThrow(/distinct/);
    expect(() => parsePoolQueues([])).toThrow(RangeError);
    expect(() => parsePoolQueues([70000])).toThrow(RangeError);
    expect(() => parsePoolQueues('all')).toThrow(TypeError);
    expect(() => parsePoolQueues(undefined)).toThrow(TypeError);
  });

  it('refuses bad options before starting a thread', async () => {
    const base = { queues: '0:1', handler: ACCEPT };
    const bad: [Record<string, unknown>, RegExp][] = [
      [{ ...base, handler: undefined }, /option handler/],
      [{ ...base, handler: 'https://example.com/h.mjs' }, /file: or data: URL/],
      [{ ...base, workers: 3 }, /must not exceed the number of queues/],
      [{ ...base, workers: 0 }, /positive integer/],
      [{ ...base, transport: {} }, /transport cannot be given to a pool/],
      [{ ...base, record: '/tmp/x.pcap' }, /record cannot be given to a pool/],
      [{ ...base, defaultVerdict: () => 'accept' }, /cannot be passed to a worker thread/],
      [{ ...base, restart: 5 }, /option restart/],
    ];
    for (const [o, re] of bad) await expect(openQueuePool(o as unknown as QueuePoolOptions), re.source).rejects.toThrow(re);
  });

  it('a handler module without a default export: the pool does not open, and says why', async () => {
    let err = new Error('opened');
    try {
      await (await openQueuePool({ queues: [0, 1], handler: NO_DEFAULT })).close();
    } catch (e) {
      err = e as Error;
    }
    expect(err.name).toBe('TypeError');
    expect(err.message).toMatch(/must have a default export that is the packet callback/);
  });
});
