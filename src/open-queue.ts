/**
 * openQueue(): the library's front door, above the nfqueue and pcap layers. It checks the
 * arguments, picks the transport (the given one, or the default socket), wraps it with the
 * pcap recorder when `record` is set, starts the Queue and ties it to `signal`. With `rule`,
 * it installs the queue's own nf_tables rule once the queue is bound (removed at close()).
 */
import type { Transport } from './netlink/transport.js';
import { checkManagedRule, checkOpenArguments, splitOpenArguments, type ManagedRuleRequest, type PacketCallback, type QueueOptions } from './queue/queue-options.js';
import { installManagedRules, type ManagedRulesOptions } from './nftables-runtime/managed-rules.js';
import type { Queue } from './queue/queue.js';
import { openDefaultQueueTransport, startQueue } from './queue/setup.js';
import { recordTransport } from './pcap/record-transport.js';

export type { QueueOptions } from './queue/queue-options.js';

/**
 * The transport `options` ask for: the given one (or its factory's), else the default
 * socket; recorded when `record` is set. `socket` is the one under the recorder, which the
 * Queue asks what it is (live, its /proc/net).
 */
function chooseTransport(options: QueueOptions): { transport: Transport; socket: Transport } {
  const given = options.transport;
  const inner = given === undefined ? openDefaultQueueTransport(options) : typeof given === 'function' ? given() : given;
  if (options.record === undefined) return { transport: inner, socket: inner };
  try {
    return { transport: recordTransport(inner, options.record), socket: inner };
  } catch (e) {
    inner.close();
    throw e;
  }
}

/**
 * Installs the queue's managed rule after the bind (so no packet meets the rule before a
 * listener); on a failure the queue is closed again and the error thrown.
 */
async function installRule(queue: Queue, m: ManagedRuleRequest, options: QueueOptions): Promise<void> {
  try {
    queue.attachRule(await installManagedRules(managedRulesOptions(m, options)));
  } catch (e) {
    await queue.close();
    throw e;
  }
}

/** What installManagedRules() needs for a checked `rule` option (openQueue's or the pool's). */
export function managedRulesOptions(m: ManagedRuleRequest, options: Pick<QueueOptions, 'netns' | 'requestTimeout'>): ManagedRulesOptions {
  const o: ManagedRulesOptions = { rules: m.rules, target: m.target, backend: m.backend };
  if (m.flow !== undefined) o.flow = m.flow;
  if (options.netns !== undefined) o.netns = options.netns;
  if (options.requestTimeout !== undefined) o.requestTimeout = options.requestTimeout;
  return o;
}

/**
 * Opens a netlink socket, binds queue `num` (or each of several), sets the copy mode
 * (default: whole packets) and the optional max length and flags, waiting for the kernel's
 * ack at each step. Resolves to the running Queue; rejects with a QueueKernelError that
 * says what went wrong (EPERM, EBUSY, EOPNOTSUPP…) or a TypeError/RangeError for bad
 * arguments, before anything is sent. With `record`, the conversation is written to a pcap.
 */
export function openQueue(num: number | readonly number[], callback: PacketCallback, options?: QueueOptions): Promise<Queue>;
/**
 * Opens queue `num` without a callback: iterate it with `for await (const packet of queue)`
 * and answer each packet with packet.accept() / drop() / verdict(v) or setVerdict().
 */
export function openQueue(num: number | readonly number[], options?: QueueOptions): Promise<Queue>;
export function openQueue(num: number | readonly number[], callbackOrOptions?: PacketCallback | QueueOptions, maybeOptions?: QueueOptions): Promise<Queue> {
  return withMissingAwaitHint(open(num, callbackOrOptions, maybeOptions));
}

const MISSING_AWAIT = 'openQueue() returns a Promise of the Queue: await it first (const queue = await openQueue(...)), then iterate or use the queue';

/**
 * In plain JavaScript nothing catches a missing `await` before the Promise is used as the
 * Queue: `for await (const p of openQueue(1))` would only say "is not async iterable". The
 * Promise gets the Queue's most used members, each throwing a TypeError that says so.
 */
function withMissingAwaitHint(p: Promise<Queue>): Promise<Queue> {
  const hint = (): never => {
    throw new TypeError(MISSING_AWAIT);
  };
  for (const key of [Symbol.asyncIterator, 'close', 'stats', 'setVerdict', 'batchVerdict', 'on', 'once'] as const) {
    Object.defineProperty(p, key, { value: hint, enumerable: false, configurable: true });
  }
  return p;
}

async function open(num: number | readonly number[], callbackOrOptions?: PacketCallback | QueueOptions, maybeOptions?: QueueOptions): Promise<Queue> {
  const { callback, options } = splitOpenArguments(callbackOrOptions, maybeOptions);
  const nums = checkOpenArguments(num, callback, options);
  const managed = checkManagedRule(nums, options);
  // As Node's own APIs do: an AbortError (a DOMException), with the signal's reason as cause.
  if (options.signal?.aborted === true) throw new DOMException('openQueue: the signal was already aborted', { name: 'AbortError', cause: options.signal.reason });
  const queueOptions = managed?.flow === undefined ? options : { ...options, managedFlow: managed.flow };
  const { transport, socket } = chooseTransport(options);
  const queue = await startQueue(nums, callback, transport, queueOptions, socket);
  if (managed !== undefined) await installRule(queue, managed, options);
  const signal = options.signal;
  if (signal !== undefined) {
    const onAbort = (): void => {
      void queue.close();
    };
    if (signal.aborted) onAbort();
    else {
      signal.addEventListener('abort', onAbort, { once: true });
      queue.once('close', () => signal.removeEventListener('abort', onAbort));
    }
  }
  return queue;
}
