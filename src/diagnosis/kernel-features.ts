/**
 * What the running kernel can do for queues, learned by asking it once. nfnetlink_queue: a
 * throwaway socket binds an unused queue, tries each queue flag on it (an ack means
 * supported, EOPNOTSUPP means not) and unbinds. nf_tables: a throwaway owned table, with a
 * rule of the native queue expression and one of the compat NFQUEUE target in a chain no
 * packet meets (probeQueueRuleSupport). The answers are cached per network namespace.
 */
import { release } from 'node:os';
import { NetlinkConn, type Encoder, type ExtAck } from '../netlink/conn.js';
import type { NetnsTarget } from '../netlink/netns.js';
import type { Transport } from '../netlink/transport.js';
import * as C from '../nfqueue/constants.js';
import { encodeConfigCommand, encodeConfigFlags, type QueueFlags } from '../nfqueue/config.js';
import { QueueKernelError, QueueTimeoutError, type QueueStep } from '../queue/errors.js';
import { openDefaultQueueTransport, retryWhileModuleLoads } from '../queue/setup.js';
import { probeQueueRuleSupport } from '../nftables-runtime/managed-rules.js';

/** The queue flags by name, as QueueOptions.flags spells them. */
export type QueueFlagName = keyof QueueFlags;

/** What the kernel supports, as far as queues are concerned. */
export interface KernelFeatures {
  /** The kernel release the answers came from (`uname -r`). */
  release: string;
  /** Each queue flag: true when the kernel accepted it on a queue. */
  flags: Record<QueueFlagName, boolean>;
  /**
   * Conntrack glue: the CONNTRACK flag works, so packets carry NFQA_CT / NFQA_CT_INFO and
   * a verdict's `connmark` is applied. Needs CONFIG_NETFILTER_NETLINK_GLUE_CT and the
   * nf_conntrack_netlink module (the kernel loads it on first use).
   */
  conntrack: boolean;
  /**
   * The nftables `queue` expression (CONFIG_NFT_QUEUE: the `nft ... queue` statement, and
   * the managed rule's native backend). Undefined when nf_tables could not be asked.
   */
  queueExpression?: boolean;
  /** The xtables NFQUEUE target inside nf_tables (nft_compat: iptables-nft, the managed rule's fallback). */
  compatQueueTarget?: boolean;
  /** nf_tables tables owned by their socket (NFT_TABLE_F_OWNER, Linux 5.12+): what managed rules need. */
  ownerTables?: boolean;
}

/** Options of kernelFeatures(). */
export interface KernelFeaturesOptions {
  /** Probe another network namespace (a path such as /run/netns/NAME, or an open fd). */
  netns?: NetnsTarget;
  /** Probe again instead of answering from the cache. */
  refresh?: boolean;
  /** Probe over this transport (closed afterwards); answers are then not cached. */
  transport?: Transport;
}

const FLAG_BITS: ReadonlyArray<readonly [QueueFlagName, number]> = [
  ['failOpen', C.NFQA_CFG_F_FAIL_OPEN],
  ['conntrack', C.NFQA_CFG_F_CONNTRACK],
  ['gso', C.NFQA_CFG_F_GSO],
  ['uidGid', C.NFQA_CFG_F_UID_GID],
  ['secctx', C.NFQA_CFG_F_SECCTX],
];

/** The queue numbers tried for the throwaway bind, from the top: rules rarely name them. */
const PROBE_QUEUES = [65535, 65534, 65533, 65532, 65531, 65530, 65529, 65528];
const REQUEST_TIMEOUT_MS = 5000;

const cache = new Map<string, Promise<KernelFeatures>>();

/**
 * Asks the kernel what its queues can do (once per namespace; later calls answer from the
 * cache). Needs CAP_NET_ADMIN, like opening a queue; rejects with a QueueKernelError when
 * the kernel refuses the probe itself. The probe briefly binds an unused queue number
 * (65535 or just below); packets a rule sends there meanwhile are dropped.
 */
export function kernelFeatures(options: KernelFeaturesOptions = {}): Promise<KernelFeatures> {
  if (options.transport !== undefined) return probe(options.transport, undefined);
  // An fd may name another namespace next time: only paths are cached.
  const key = typeof options.netns === 'number' ? undefined : (options.netns ?? '');
  if (key === undefined) return probe(openDefaultQueueTransport({ netns: options.netns!, copyMode: 'meta' }), options.netns);
  let answer = options.refresh === true ? undefined : cache.get(key);
  if (answer === undefined) {
    const opened = options.netns === undefined ? {} : { netns: options.netns };
    answer = probe(openDefaultQueueTransport({ ...opened, copyMode: 'meta' }), options.netns ?? null);
    cache.set(key, answer);
    // A failed probe (no privileges yet, say) is not remembered.
    answer.catch(() => cache.delete(key));
  }
  return answer;
}

/**
 * Probes the queue flags over `transport`, then nf_tables in `netns` (null: this process's
 * namespace; undefined: not at all, for a transport given by the caller).
 */
async function probe(transport: Transport, netns: NetnsTarget | null | undefined): Promise<KernelFeatures> {
  const features = await probeQueueFlags(transport);
  if (netns === undefined) return features;
  try {
    const nft = await probeQueueRuleSupport(netns === null ? {} : { netns });
    features.ownerTables = nft.ownedTables;
    if (nft.ownedTables) {
      features.queueExpression = nft.queue;
      features.compatQueueTarget = nft.compat;
    }
  } catch {
    // No nf_tables (or no right to ask it): those fields stay undefined.
  }
  return features;
}

async function probeQueueFlags(transport: Transport): Promise<KernelFeatures> {
  const conn = new NetlinkConn(transport, {
    message: () => {},
    unmatchedError: () => {},
    decodeError: () => {},
    socketError: () => {},
    sendError: () => {},
    end: () => {},
  });
  const request = <A, B, C>(step: QueueStep, queue: number, flags: number, encode: Encoder<A, B, C>, a: A, b: B, c: C): Promise<void> =>
    conn.request(encode, a, b, c, {
      timeout: REQUEST_TIMEOUT_MS,
      timedOut: () => new QueueTimeoutError(`kernelFeatures: ${step} on queue ${queue}: no answer from the kernel in ${REQUEST_TIMEOUT_MS} ms`),
      refused: (errno: number, extAck: ExtAck | undefined, seq: number) => {
        const ctx: ConstructorParameters<typeof QueueKernelError>[1] = { step, queue, flags, request: { type: C.NFQ_TYPE_CONFIG, seq } };
        if (extAck !== undefined) ctx.extAck = extAck;
        return new QueueKernelError(errno, ctx);
      },
    });
  try {
    conn.start();
    const queue = await bindFreeQueue(request);
    const flags = {} as Record<QueueFlagName, boolean>;
    for (const [name, bit] of FLAG_BITS) {
      try {
        await retryWhileModuleLoads(() => request('flags', queue, bit, encodeConfigFlags, queue, bit, bit));
        flags[name] = true;
      } catch (e) {
        if (!(e instanceof QueueKernelError) || !['EOPNOTSUPP', 'ENOTSUPP', 'ENOTSUP'].includes(e.code)) throw e;
        flags[name] = false;
      }
    }
    await request('unbind', queue, 0, encodeConfigCommand, queue, C.NFQNL_CFG_CMD_UNBIND, C.NFPROTO_UNSPEC);
    return { release: release(), flags, conntrack: flags.conntrack };
  } finally {
    conn.abort();
  }
}

/** Binds the first of PROBE_QUEUES no other socket holds; returns its number. */
type ProbeRequest = <A, B, C>(step: QueueStep, queue: number, flags: number, encode: Encoder<A, B, C>, a: A, b: B, c: C) => Promise<void>;

async function bindFreeQueue(request: ProbeRequest): Promise<number> {
  let last: unknown;
  for (const q of PROBE_QUEUES) {
    try {
      await request('bind', q, 0, encodeConfigCommand, q, C.NFQNL_CFG_CMD_BIND, C.NFPROTO_UNSPEC);
      return q;
    } catch (e) {
      // EPERM is also what a queue held by another socket answers; EBUSY by this one.
      if (!(e instanceof QueueKernelError) || (e.code !== 'EBUSY' && e.code !== 'EPERM')) throw e;
      last = e;
    }
  }
  throw last;
}
