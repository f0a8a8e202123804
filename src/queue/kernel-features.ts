/**
 * What the running kernel's nfnetlink_queue can do, learned by asking it once: a throwaway
 * socket binds an unused queue, tries each queue flag on it (an ack means supported,
 * EOPNOTSUPP means not) and unbinds. The answers are cached per network namespace.
 */
import { release } from 'node:os';
import { NetlinkConn } from '../netlink/conn.js';
import type { NetnsTarget } from '../netlink/netns.js';
import type { Transport } from '../netlink/transport.js';
import * as C from '../nfqueue/constants.js';
import { encodeConfigCommand, encodeConfigFlags, type QueueFlags } from '../nfqueue/config.js';
import { QueueKernelError, QueueTimeoutError, type QueueStep } from './errors.js';
import { openDefaultQueueTransport, retryWhileModuleLoads } from './setup.js';

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
  /** The nftables `queue` expression (CONFIG_NFT_QUEUE); filled by the nftables layer, undefined until it probes. */
  queueExpression?: boolean;
  /** nf_tables tables owned by their socket (NFT_TABLE_F_OWNER); filled by the nftables layer, undefined until it probes. */
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
  if (options.transport !== undefined) return probe(options.transport);
  // An fd may name another namespace next time: only paths are cached.
  const key = typeof options.netns === 'number' ? undefined : (options.netns ?? '');
  if (key === undefined) return probe(openDefaultQueueTransport({ netns: options.netns!, copyMode: 'meta' }));
  let answer = options.refresh === true ? undefined : cache.get(key);
  if (answer === undefined) {
    const opened = options.netns === undefined ? {} : { netns: options.netns };
    answer = probe(openDefaultQueueTransport({ ...opened, copyMode: 'meta' }));
    cache.set(key, answer);
    // A failed probe (no privileges yet, say) is not remembered.
    answer.catch(() => cache.delete(key));
  }
  return answer;
}

async function probe(transport: Transport): Promise<KernelFeatures> {
  const conn = new NetlinkConn(transport, {
    message: () => {},
    unmatchedError: () => {},
    decodeError: () => {},
    socketError: () => {},
    sendError: () => {},
    end: () => {},
  });
  const pid = transport.portId;
  const request = (step: QueueStep, queue: number, flags: number, write: Parameters<NetlinkConn['request']>[0]): Promise<void> =>
    conn.request(write, {
      timeout: REQUEST_TIMEOUT_MS,
      timedOut: () => new QueueTimeoutError(`kernelFeatures: ${step} on queue ${queue}: no answer from the kernel in ${REQUEST_TIMEOUT_MS} ms`),
      refused: (errno, extAck, seq) => {
        const ctx: ConstructorParameters<typeof QueueKernelError>[1] = { step, queue, flags, request: { type: C.NFQ_TYPE_CONFIG, seq } };
        if (extAck !== undefined) ctx.extAck = extAck;
        return new QueueKernelError(errno, ctx);
      },
    });
  try {
    conn.start();
    const queue = await bindFreeQueue(request, pid);
    const flags = {} as Record<QueueFlagName, boolean>;
    for (const [name, bit] of FLAG_BITS) {
      try {
        await retryWhileModuleLoads(() => request('flags', queue, bit, (w, seq) => encodeConfigFlags(w, queue, bit, bit, { seq, pid, ack: true })));
        flags[name] = true;
      } catch (e) {
        if (!(e instanceof QueueKernelError) || !['EOPNOTSUPP', 'ENOTSUPP', 'ENOTSUP'].includes(e.code)) throw e;
        flags[name] = false;
      }
    }
    await request('unbind', queue, 0, (w, seq) => encodeConfigCommand(w, queue, C.NFQNL_CFG_CMD_UNBIND, C.NFPROTO_UNSPEC, { seq, pid, ack: true }));
    return { release: release(), flags, conntrack: flags.conntrack };
  } finally {
    conn.abort();
  }
}

/** Binds the first of PROBE_QUEUES no other socket holds; returns its number. */
async function bindFreeQueue(request: (step: QueueStep, queue: number, flags: number, write: Parameters<NetlinkConn['request']>[0]) => Promise<void>, pid: number): Promise<number> {
  let last: unknown;
  for (const q of PROBE_QUEUES) {
    try {
      await request('bind', q, 0, (w, seq) => encodeConfigCommand(w, q, C.NFQNL_CFG_CMD_BIND, C.NFPROTO_UNSPEC, { seq, pid, ack: true }));
      return q;
    } catch (e) {
      // EPERM is also what a queue held by another socket answers; EBUSY by this one.
      if (!(e instanceof QueueKernelError) || (e.code !== 'EBUSY' && e.code !== 'EPERM')) throw e;
      last = e;
    }
  }
  throw last;
}
