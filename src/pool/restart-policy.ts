/**
 * When a dead pool worker is started again: the policy as pure functions of the restart
 * times, so the pool (pool.ts) only keeps the times and sets the timer.
 */
import type { PoolRestartOptions } from './pool-types.js';

/** The restart policy with every default filled in. */
export type RestartPolicy = Required<PoolRestartOptions>;

/** Restarts allowed per worker within the window, by default. */
export const DEFAULT_MAX_RESTARTS = 10;
/** The window of DEFAULT_MAX_RESTARTS, in ms. */
export const DEFAULT_RESTART_WINDOW_MS = 60_000;
/** The longest wait before a restart, in ms. */
export const DEFAULT_MAX_RESTART_DELAY_MS = 5000;
/** The wait before the second restart within the window; it doubles for each one after. */
export const FIRST_RESTART_BACKOFF_MS = 100;

/** The `restart` option checked and completed; false when restarts are off. */
export function resolveRestartPolicy(option: unknown): RestartPolicy | false {
  if (option === false) return false;
  if (option !== undefined && (option === null || typeof option !== 'object')) throw new TypeError('option restart must be false or an object such as { maxRestarts: 10 }');
  const o = (option ?? {}) as PoolRestartOptions;
  const field = (name: keyof PoolRestartOptions, fallback: number, integer: boolean): number => {
    const v = o[name];
    if (v === undefined) return fallback;
    if (typeof v !== 'number' || !(v >= 0) || !Number.isFinite(v) || (integer && !Number.isInteger(v))) {
      throw new RangeError(`option restart.${name} must be a${integer ? ' non-negative integer' : ' non-negative number of ms'}, got ${String(v)}`);
    }
    return v;
  };
  return {
    maxRestarts: field('maxRestarts', DEFAULT_MAX_RESTARTS, true),
    windowMs: field('windowMs', DEFAULT_RESTART_WINDOW_MS, false),
    maxDelayMs: field('maxDelayMs', DEFAULT_MAX_RESTART_DELAY_MS, false),
  };
}

/** What to do about a worker that died at `now`, given the times of its earlier restarts. */
export type RestartDecision =
  /** Start it again after `delayMs`; `recent` is the restart times to keep (this one included). */
  | { restart: true; delayMs: number; recent: number[] }
  /** Give up: it was restarted `maxRestarts` times within the window already. */
  | { restart: false; recent: number[] };

/**
 * The first restart within the window happens at once (its queues are unserved
 * meanwhile), the next after FIRST_RESTART_BACKOFF_MS, then doubling up to maxDelayMs.
 * Restarts older than the window are forgotten.
 */
export function decideRestart(recent: readonly number[], now: number, policy: RestartPolicy): RestartDecision {
  const kept = recent.filter((t) => now - t < policy.windowMs);
  if (kept.length >= policy.maxRestarts) return { restart: false, recent: kept };
  const n = kept.length;
  const delayMs = n === 0 ? 0 : Math.min(policy.maxDelayMs, FIRST_RESTART_BACKOFF_MS * 2 ** (n - 1));
  kept.push(now);
  return { restart: true, delayMs, recent: kept };
}
