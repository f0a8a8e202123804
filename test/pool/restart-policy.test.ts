// The pool's restart policy (src/pool/restart-policy.ts): backoff growth and its cap, the
// limit per window, the defaults, and a window that forgets. Plus the option's checks at
// openQueuePool. No threads, no privileges.
import { describe, expect, it } from 'vitest';
import { decideRestart, resolveRestartPolicy, type RestartPolicy } from '../../src/pool/restart-policy.js';
import { openQueuePool, type QueuePoolOptions } from '../../src/index.js';

/** Deaths at the given times, fed through the policy as the pool does: the decisions in order. */
function run(policy: RestartPolicy, deaths: number[]): (number | 'give up')[] {
  let recent: number[] = [];
  return deaths.map((now) => {
    const d = decideRestart(recent, now, policy);
    recent = d.recent;
    return d.restart ? d.delayMs : 'give up';
  });
}

describe('pool restart policy', () => {
  const defaults = resolveRestartPolicy(undefined) as RestartPolicy;

  it('defaults: 10 restarts per 60 s, waits of at most 5 s', () => {
    expect(defaults).toEqual({ maxRestarts: 10, windowMs: 60_000, maxDelayMs: 5000 });
    expect(resolveRestartPolicy({})).toEqual(defaults);
    expect(resolveRestartPolicy({ maxRestarts: 3 })).toEqual({ ...defaults, maxRestarts: 3 });
    expect(resolveRestartPolicy(false)).toBe(false);
  });

  it('the first restart at once, then 100 ms doubling, capped at maxDelayMs; the 11th death within the window is final', () => {
    const deaths = Array.from({ length: 12 }, (_, i) => 1000 + i * 10);
    expect(run(defaults, deaths)).toEqual([0, 100, 200, 400, 800, 1600, 3200, 5000, 5000, 5000, 'give up', 'give up']);
  });

  it('maxRestarts is exactly the number of restarts allowed', () => {
    expect(run({ ...defaults, maxRestarts: 1 }, [0, 1, 2])).toEqual([0, 'give up', 'give up']);
    expect(run({ ...defaults, maxRestarts: 3 }, [0, 1, 2, 3])).toEqual([0, 100, 200, 'give up']);
    expect(run({ ...defaults, maxRestarts: 0 }, [0])).toEqual(['give up']);
  });

  it('the window forgets: restarts older than windowMs no longer count, and the backoff starts over', () => {
    const p = { ...defaults, maxRestarts: 2, windowMs: 1000 };
    // Two restarts, then a death 1 ms before the first leaves the window (given up), then
    // one a window after the second: allowed again, at once.
    expect(run(p, [0, 500, 999, 1500])).toEqual([0, 100, 'give up', 0]);
    expect(run(p, [0, 500, 1000])).toEqual([0, 100, 100]); // at 1000 the restart at 0 is forgotten
    expect(run({ ...p, maxRestarts: 10 }, [0, 10, 20, 5000, 5010])).toEqual([0, 100, 200, 0, 100]);
  });

  it('refuses restart options that would restart forever or never', async () => {
    for (const bad of [{ maxRestarts: -1 }, { maxRestarts: 1.5 }, { maxRestarts: Number.NaN }, { windowMs: -5 }, { maxDelayMs: Number.POSITIVE_INFINITY }, { maxRestarts: '3' }]) {
      expect(() => resolveRestartPolicy(bad), JSON.stringify(bad)).toThrow(RangeError);
      await expect(openQueuePool({ queues: 0, handler: 'file:///nonexistent.mjs', restart: bad } as unknown as QueuePoolOptions)).rejects.toThrow(/option restart\./);
    }
    expect(() => resolveRestartPolicy(5)).toThrow(TypeError);
  });
});
