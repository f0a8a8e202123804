/**
 * The options of openQueue() (declared once, here) and their checks: every bad argument is
 * refused with a TypeError or RangeError naming it, before anything is sent.
 */
import type { Transport } from '../netlink/transport.js';
import { validateNetnsTarget, type NetnsTarget } from '../netlink/netns.js';
import type { Packet } from '../nfqueue/packet.js';
import { normalizeVerdict, type VerdictInput } from '../nfqueue/verdict.js';
import { copyModeValue, type CopyMode, type QueueFlags } from '../nfqueue/config.js';
import { checkRuleSpecs, type CheckedRule, type QueueRuleSpec, type QueueTarget } from '../nftables/rule-spec.js';
import { checkFlowMarks, type FlowMarks } from '../nftables/managed-plan.js';
import { RuleError } from '../nftables/errors.js';

export type { QueueFlags } from '../nfqueue/config.js';

/** What the packet callback may return. */
export type CallbackResult = VerdictInput | PromiseLike<VerdictInput>;

/** The packet callback: inspect the packet, answer a verdict (or a Promise of one). */
export type PacketCallback = (packet: Packet) => CallbackResult;

/** Options of openQueue(). */
export interface QueueOptions {
  /** 'packet' (default) copies packet bytes, 'meta' only metadata, 'none' drops everything. */
  copyMode?: CopyMode;
  /** Bytes of each packet to copy in 'packet' mode (default 65535: the whole packet). */
  copyRange?: number;
  /** Maximum packets waiting for a verdict in the kernel (QUEUE_MAXLEN). */
  maxLen?: number;
  /** Queue flags to set (FLAGS with MASK). */
  flags?: QueueFlags;
  /** Verdict for packets whose callback throws, rejects or answers garbage, and on close (default 'accept'). */
  defaultVerdict?: VerdictInput;
  /** Called with every non-fatal error; without it, errors go to the 'error' event, else a warning. */
  onError?: (err: Error) => void;
  /** Closing the queue when this signal aborts. */
  signal?: AbortSignal;
  /** The netlink transport; default: a NETLINK_NETFILTER socket from the `netlink` package. */
  transport?: Transport | (() => Transport);
  /**
   * Serve the queue of another network namespace: a path (`/run/netns/NAME`,
   * `/proc/PID/ns/net`) or an open fd of one. The socket is created there (needs
   * CAP_SYS_ADMIN and the native transport); the process stays in its own namespace, and
   * stats() and the overrun watch read that namespace's /proc table.
   */
  netns?: NetnsTarget;
  /** SO_RCVBUF for the socket, in bytes. Larger absorbs bursts (ENOBUFS otherwise). */
  receiveBufferSize?: number;
  /** How long to wait for the kernel's ack of each setup step, in ms (default 5000). */
  requestTimeout?: number;
  /** Keep the process alive while the queue is open (default true). */
  keepAlive?: boolean;
  /**
   * Milliseconds a packet may wait for its async callback; then it gets the default
   * verdict and a VerdictTimeoutError is reported. Default: no limit.
   */
  verdictTimeout?: number;
  /**
   * Most packets whose async callbacks are still running; packets beyond it get the
   * default verdict at once, without calling the callback (counted in `overflowed`).
   * Default: no limit.
   */
  maxInFlight?: number;
  /**
   * Iteration only (openQueue without a callback): most packets handed out by `for await`
   * and not yet answered (default 256), a strict bound. Packets beyond it that came in a
   * datagram already read wait inside the library until there is room; once those and the
   * handed-out ones reach the bound the socket is not read, so further packets wait in the
   * kernel's queue (with the `netlink`-package transport, which cannot pause, they wait in
   * memory instead).
   */
  maxOutstanding?: number;
  /**
   * Iteration only: milliseconds after which a packet handed out by `for await` and still
   * unanswered is reported, once per queue: the 'unanswered' event, or without a listener
   * a process warning (code NFQUEUE_UNANSWERED). Default 10000; 0 turns it off.
   */
  unansweredWarning?: number;
  /**
   * Record the whole netlink conversation (every datagram sent and received, with its
   * direction and time) to this pcap file (LINKTYPE_NETLINK; tshark decodes it), e.g. to
   * make a fixture that `replay()` plays back in tests. Wraps `transport` when one is given.
   */
  record?: string;
  /**
   * A rule the queue installs for itself: `{ hook: 'input', protocol: 'udp', dport: 53 }`
   * (see QueueRuleSpec), or several. It lives in an nf_tables table owned by the process
   * (`nfqueue_<pid>_q<num>`): removed at close(), and by the kernel should the process die.
   * Packets go to the queue number (or the range of `num`) with bypass.
   */
  rule?: QueueRuleSpec | readonly QueueRuleSpec[];
  /** How the managed rule is installed (only with `rule`). */
  ruleOptions?: RuleOptions;
  /**
   * Flow verdicts (only with `rule`): answers such as `acceptFlow()` / `{ verdict: 'drop',
   * flow: true }` decide for the rest of the connection, which the kernel then accepts or
   * drops without queueing. `true` reserves two mark bits (0x40000000 accept, 0x80000000
   * drop) in the packet and connection marks; `{ accept, drop }` picks others.
   */
  flow?: boolean | FlowMarks;
  /** @internal flow bits of a rule installed by someone else (the pool's main thread). */
  managedFlow?: FlowMarks;
}

/** How a managed rule is installed. */
export interface RuleOptions {
  /** Accept packets when nobody listens on the queue (default true). */
  bypass?: boolean;
  /** With a range of queues: spread by CPU instead of by flow hash (default false). */
  cpuFanout?: boolean;
  /** `'queue'`: the native queue expression; `'compat'`: xt NFQUEUE via nft_compat; `'auto'` (default): the native one where the kernel has it. */
  backend?: 'auto' | 'queue' | 'compat';
}

/** A checked managed rule: the rules, where they send, the flow bits. */
export interface ManagedRuleRequest {
  rules: CheckedRule[];
  target: QueueTarget;
  flow: FlowMarks | undefined;
  backend: 'auto' | 'queue' | 'compat';
}

/**
 * Checks the `rule`, `ruleOptions` and `flow` options for queues `nums` (which must form one
 * contiguous range); undefined without `rule`. Throws RuleError naming the bad field.
 */
export function checkManagedRule(nums: readonly number[], o: Pick<QueueOptions, 'rule' | 'ruleOptions' | 'flow'>): ManagedRuleRequest | undefined {
  const flow = checkFlowMarks(o.flow, 'flow');
  if (o.rule === undefined) {
    if (flow !== undefined) throw new RuleError('flow', 'flow verdicts need a managed rule: give the option rule too');
    if (o.ruleOptions !== undefined) throw new RuleError('ruleOptions', 'applies to a managed rule: give the option rule too');
    return undefined;
  }
  const rules = checkRuleSpecs(o.rule, 'rule');
  const ro = (o.ruleOptions ?? {}) as Record<string, unknown>;
  if (ro === null || typeof ro !== 'object') throw new RuleError('ruleOptions', 'must be an object');
  for (const k of Object.keys(ro)) if (!['bypass', 'cpuFanout', 'backend'].includes(k)) throw new RuleError(`ruleOptions.${k}`, 'is not a rule option: use bypass, cpuFanout, backend');
  for (const k of ['bypass', 'cpuFanout'] as const) if (ro[k] !== undefined && typeof ro[k] !== 'boolean') throw new RuleError(`ruleOptions.${k}`, `must be a boolean, got ${typeof ro[k]}`);
  const backend = ro.backend ?? 'auto';
  if (backend !== 'auto' && backend !== 'queue' && backend !== 'compat') throw new RuleError('ruleOptions.backend', `must be 'auto', 'queue' or 'compat', got ${JSON.stringify(backend)}`);
  const sorted = [...nums].sort((a, b) => a - b);
  if (sorted.some((n, i) => n !== sorted[0]! + i)) throw new RuleError('rule', `a managed rule sends to one contiguous range of queues, got ${nums.join(', ')}`);
  const target: QueueTarget = { first: sorted[0]!, total: sorted.length, bypass: ro.bypass !== false };
  if (ro.cpuFanout === true) target.cpuFanout = true;
  return { rules, target, flow, backend };
}

/**
 * openQueue's second argument is the callback, or (to iterate with for await) the options.
 * A third argument means the second was meant as the callback.
 */
export function splitOpenArguments(callbackOrOptions: PacketCallback | QueueOptions | undefined, maybeOptions: QueueOptions | undefined): { callback: PacketCallback | undefined; options: QueueOptions } {
  if (typeof callbackOrOptions === 'function') return { callback: callbackOrOptions, options: maybeOptions === undefined ? {} : maybeOptions };
  if (maybeOptions !== undefined) throw new TypeError('openQueue(num, callback, options): callback must be a function (or leave it out to iterate with for await)');
  return { callback: undefined, options: callbackOrOptions === undefined ? {} : (callbackOrOptions as QueueOptions) };
}

/** Checks a queue number (u16); throws a RangeError naming it. */
export function checkQueueNumber(n: unknown, name = 'queue number'): number {
  if (typeof n === 'string' && /^\d+$/.test(n.trim())) {
    throw new TypeError(`${name} must be a number, got the string ${JSON.stringify(n)}: pass ${Number(n)} (e.g. Number(process.argv[2]))`);
  }
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0 || n > 0xffff) {
    throw new RangeError(`${name} must be an integer in 0..65535, got ${typeof n === 'string' ? `the string ${JSON.stringify(n)}` : String(n)}`);
  }
  return n;
}

const FLAG_OPTION_NAMES: readonly string[] = ['failOpen', 'conntrack', 'gso', 'uidGid', 'secctx'];

/** Checks openQueue's arguments and returns the queue numbers; throws TypeError/RangeError naming the bad one. */
export function checkOpenArguments(num: number | readonly number[], callback: unknown, o: QueueOptions): number[] {
  const nums = Array.isArray(num) ? [...(num as readonly number[])] : [num as number];
  if (nums.length === 0) throw new RangeError('at least one queue number is needed');
  nums.forEach((n) => checkQueueNumber(n));
  if (new Set(nums).size !== nums.length) throw new RangeError(`queue numbers must be distinct, got ${nums.join(', ')}`);
  if (callback !== undefined && typeof callback !== 'function') throw new TypeError('openQueue(num, callback, options): callback must be a function (or leave it out to iterate with for await)');
  if (o === null || typeof o !== 'object') throw new TypeError('openQueue options must be an object');
  if (o.copyMode !== undefined) copyModeValue(o.copyMode);
  const u32 = (name: string, v: unknown, min = 0): void => {
    if (v !== undefined && (typeof v !== 'number' || !Number.isInteger(v) || v < min || v > 0xffffffff)) {
      throw new RangeError(`option ${name} must be an integer in ${min}..4294967295, got ${String(v)}`);
    }
  };
  u32('copyRange', o.copyRange);
  if (o.copyRange !== undefined && o.copyRange > 0xffff) throw new RangeError(`option copyRange must be at most 65535, got ${o.copyRange}`);
  u32('maxLen', o.maxLen, 1);
  u32('receiveBufferSize', o.receiveBufferSize, 1);
  u32('requestTimeout', o.requestTimeout, 1);
  u32('verdictTimeout', o.verdictTimeout, 1);
  u32('maxInFlight', o.maxInFlight, 1);
  u32('maxOutstanding', o.maxOutstanding, 1);
  if (o.maxOutstanding !== undefined && callback !== undefined) throw new TypeError('option maxOutstanding bounds for await iteration: open the queue without a callback to use it');
  u32('unansweredWarning', o.unansweredWarning);
  if (o.unansweredWarning !== undefined && callback !== undefined) throw new TypeError('option unansweredWarning watches for await iteration: open the queue without a callback to use it');
  if (o.flags !== undefined && (o.flags === null || typeof o.flags !== 'object')) throw new TypeError('option flags must be an object such as { failOpen: true }');
  for (const [k, v] of Object.entries(o.flags ?? {})) {
    if (!FLAG_OPTION_NAMES.includes(k)) throw new TypeError(`option flags.${k} is not a queue flag: use ${FLAG_OPTION_NAMES.join(', ')}`);
    if (v !== undefined && typeof v !== 'boolean') throw new TypeError(`option flags.${k} must be a boolean, got ${typeof v}`);
  }
  if (o.keepAlive !== undefined && typeof o.keepAlive !== 'boolean') throw new TypeError(`option keepAlive must be a boolean, got ${typeof o.keepAlive}`);
  const t = o.transport as unknown;
  if (t !== undefined && typeof t !== 'function' && (t === null || typeof t !== 'object' || typeof (t as Transport).send !== 'function' || typeof (t as Transport).start !== 'function')) {
    throw new TypeError('option transport must be a Transport (an object with start() and send()) or a function returning one');
  }
  if (o.netns !== undefined) {
    validateNetnsTarget(o.netns);
    if (t !== undefined) throw new TypeError('options netns and transport exclude each other: open the transport in the namespace instead (openNativeTransport(12, { netns }))');
  }
  if (o.defaultVerdict !== undefined) normalizeVerdict(o.defaultVerdict);
  if (o.onError !== undefined && typeof o.onError !== 'function') throw new TypeError('option onError must be a function');
  if (o.signal !== undefined && !(o.signal instanceof AbortSignal)) throw new TypeError('option signal must be an AbortSignal');
  if (o.record !== undefined && (typeof o.record !== 'string' || o.record === '')) {
    throw new TypeError(`option record must be a file path, got ${JSON.stringify(o.record)}`);
  }
  return nums;
}
