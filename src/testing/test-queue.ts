/**
 * The test kit: runs the packet callback a program deploys through the real openQueue(),
 * Queue and codecs, over an in-memory kernel (TestKernel), without root or a kernel. A test
 * sends IP packets (or the packets of a capture) with the metadata a rule would attach and
 * gets each packet's verdict back decoded.
 */
import { readPcap, readPcapFile, type PcapCapture } from '../pcap/reader.js';
import { ipPacketOfRecord, IP_LINKTYPES, type CapturedIpPacket } from '../pcap/link-layer.js';
import { openQueue, type QueueOptions } from '../open-queue.js';
import type { PacketCallback, Queue } from '../queue/queue.js';
import { PacketError } from '../queue/errors.js';
import * as C from '../nfqueue/constants.js';
import { HOOKS, type HookName } from '../nftables/rule-spec.js';
import { ETH_P_IP, ETH_P_IPV6 } from '../packet/ethernet.js';
import type { PacketTimestamp, PacketVlan } from '../nfqueue/packet.js';
import type { PacketMessageFields } from '../nfqueue/packet-encoder.js';
import type { Verdict } from '../nfqueue/verdict.js';
import { TestKernel, type PacketOutcome, type TestKernelOptions } from './test-kernel.js';
import { TestKitError } from './errors.js';

/** Netfilter hooks by name (the managed rule's names). */
export type { HookName };

export { TestKitError } from './errors.js';

/** Options of createTestQueue(): openQueue()'s, without a transport. */
export interface TestQueueOptions extends Omit<QueueOptions, 'transport' | 'record' | 'receiveBufferSize'> {
  /** Queue number(s) to bind (default 0). */
  queue?: number | readonly number[];
  /** The in-memory kernel's options: `answer` scripts its answers to config requests, `sync`, `portId`. */
  kernel?: TestKernelOptions;
}

/**
 * The metadata a rule would attach to a packet. Absent fields are left out of the message,
 * except the devices and hardware address, which default to what loopback traffic carries
 * at the hook (pass `null` to leave one out).
 */
export interface TestPacketOptions {
  /** Queue to send to (default: the first bound). */
  queue?: number;
  /** Hook the rule sits in (default 'input'). */
  hook?: HookName | number;
  /** NFPROTO_* family (default from the IP version: 2 or 10). */
  family?: number;
  /** EtherType (default from the IP version). */
  hwProtocol?: number;
  mark?: number;
  /** Input ifindex (default 1, loopback, at prerouting, input and forward). */
  indev?: number | null;
  /** Output ifindex (default 1, loopback, at forward, output and postrouting). */
  outdev?: number | null;
  physindev?: number;
  physoutdev?: number;
  /** Source hardware address, bytes or "aa:bb:…" (default 6 zero bytes on input-side hooks, as on loopback). */
  hwaddr?: Uint8Array | string | null;
  /** Sender's uid/gid: the kernel sends them only with the queue flag `uidGid`. */
  uid?: number;
  gid?: number;
  /** Security context: the kernel sends it only with the queue flag `secctx`. */
  secctx?: string;
  /** Receive time: a Date, milliseconds since the epoch, or `{ sec, usec }`. */
  timestamp?: Date | number | PacketTimestamp;
  priority?: number;
  skbInfo?: number;
  cgroupClassid?: number;
  ctInfo?: number;
  /** Raw NFQA_CT nest contents. */
  ct?: Uint8Array;
  vlan?: PacketVlan;
  l2hdr?: Uint8Array;
  /** Length of the packet on the wire when `ip` is already cut short (CAP_LEN). */
  wireLength?: number;
}

/** A packet's verdict, decoded from what the queue sent. */
export interface TestVerdict extends Verdict {
  /** The packet's id. */
  id: number;
  /** True when a batch verdict (queue.batchVerdict) answered it. */
  batch: boolean;
  /** The error the queue reported for this packet (callback threw, rejected, timed out…). */
  error?: Error;
}

/** A capture packet's verdict. */
export interface CaptureVerdict extends TestVerdict {
  /** Index of the record in the capture. */
  record: number;
}

const key = (queue: number, id: number): number => queue * 0x100000000 + id;

function hookNumber(h: HookName | number | undefined): number {
  if (h === undefined) return C.NF_INET_LOCAL_IN;
  if (typeof h === 'number' && Number.isInteger(h) && h >= 0 && h <= 255) return h;
  const n = typeof h === 'string' && Object.hasOwn(HOOKS, h) ? HOOKS[h] : undefined;
  if (n === undefined) throw new TypeError(`hook must be one of ${Object.keys(HOOKS).join(', ')} or a hook number, got ${JSON.stringify(h)}`);
  return n;
}

function toTimestamp(t: Date | number | PacketTimestamp): PacketTimestamp {
  const ms = t instanceof Date ? t.getTime() : t;
  if (typeof ms === 'number') {
    if (!Number.isFinite(ms) || ms < 0) throw new RangeError(`timestamp must be a time after 1970, got ${String(t)}`);
    return { sec: Math.floor(ms / 1000), usec: Math.floor((ms % 1000) * 1000) };
  }
  return { sec: ms.sec, usec: ms.usec };
}

function toHwaddr(h: Uint8Array | string): Uint8Array {
  if (h instanceof Uint8Array) return h;
  const parts = h.split(':');
  if (parts.length < 1 || parts.length > 8 || parts.some((p) => !/^[0-9a-f]{1,2}$/i.test(p))) throw new TypeError(`hwaddr must be bytes or "aa:bb:cc:dd:ee:ff", got ${JSON.stringify(h)}`);
  return Uint8Array.from(parts, (p) => parseInt(p, 16));
}

/** A queue under test: the real Queue on an in-memory kernel. */
export class TestQueue implements AsyncDisposable {
  /** The Queue the callback runs in (stats(), setVerdict(), batchVerdict(), events). */
  readonly queue: Queue;
  /** The in-memory kernel: bound queues' state, every verdict received. */
  readonly kernel: TestKernel;
  /** Every error the queue reported, in order. */
  readonly errors: Error[] = [];
  private readonly packetErrors = new Map<number, Error>();

  /** @internal use createTestQueue() */
  constructor(queue: Queue, kernel: TestKernel) {
    this.queue = queue;
    this.kernel = kernel;
  }

  /** @internal records an error the queue reported. */
  noteError(err: Error): void {
    this.errors.push(err);
    if (err instanceof PacketError) this.packetErrors.set(key(err.queue, err.packetId), err);
  }

  /**
   * Queues one IP packet (bytes from the IP header on) with `options`' metadata; resolves
   * to its verdict once the queue answers it. Rejects when the packet cannot be queued (an
   * unbound queue, copy mode 'none', metadata the queue's flags do not allow), or when the
   * queue closes without answering it.
   */
  send(ip: Uint8Array, options: TestPacketOptions = {}): Promise<TestVerdict> {
    try {
      return this.settle(this.enqueue(ip, options, undefined));
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Queues every IP packet of a capture (a pcap or pcapng path, its bytes, or a read
   * capture): raw IP, Ethernet or Linux cooked, in file order, as one burst; resolves to
   * their verdicts in the same order. Records without an IP packet (ARP…) are skipped.
   * Each packet gets the record's time as its timestamp, its source hardware address, and
   * in a cooked capture the hook of its direction (outgoing: 'output'), unless `options`
   * says otherwise.
   */
  async sendCapture(capture: string | Uint8Array | PcapCapture, options: TestPacketOptions = {}): Promise<CaptureVerdict[]> {
    const cap = typeof capture === 'string' ? readPcapFile(capture) : capture instanceof Uint8Array ? readPcap(capture) : capture;
    const bad = cap.records.findIndex((rec) => !IP_LINKTYPES.includes(rec.linktype));
    if (bad >= 0) {
      throw new TestKitError(`capture record ${bad} has link type ${cap.records[bad]!.linktype}; the test kit reads raw IP (101, 228, 229), Ethernet (1) and Linux cooked (113, 276) captures`);
    }
    const pending: Promise<CaptureVerdict>[] = [];
    cap.records.forEach((rec, i) => {
      const p = ipPacketOfRecord(rec);
      if (p === undefined) return;
      const o: TestPacketOptions = { ...options };
      if (o.timestamp === undefined && rec.timestampNs > 0n) {
        o.timestamp = { sec: Number(rec.timestampNs / 1_000_000_000n), usec: Number((rec.timestampNs % 1_000_000_000n) / 1000n) };
      }
      if (o.hook === undefined && p.packetType === 'outgoing') o.hook = 'output';
      pending.push(this.settle(this.enqueue(p.ip, o, p)).then((v) => ({ ...v, record: i })));
    });
    return Promise.all(pending);
  }

  private enqueue(ip: Uint8Array, o: TestPacketOptions, captured: CapturedIpPacket | undefined): { queue: number; id: number; outcome: Promise<PacketOutcome> } {
    if (!(ip instanceof Uint8Array)) throw new TypeError('send(ip): ip must be a Uint8Array or Buffer holding an IP packet');
    const version = ip.byteLength > 0 ? ip[0]! >> 4 : 0;
    if (o.family === undefined && version !== 4 && version !== 6) throw new TestKitError(`send(ip): not an IPv4 or IPv6 packet (first nibble ${version}); pass family to send something else`);
    const queue = o.queue ?? this.queue.queues[0]!;
    const state = this.kernel.queues.get(queue);
    if (state === undefined) throw new TestKitError(`queue ${queue} is not bound by this test queue (bound: ${[...this.kernel.queues.keys()].join(', ') || 'none'})`);
    const hook = hookNumber(o.hook);
    const inSide = hook <= C.NF_INET_FORWARD;
    const outSide = hook >= C.NF_INET_FORWARD;
    for (const [field, flag, name] of [['uid', C.NFQA_CFG_F_UID_GID, 'uidGid'], ['gid', C.NFQA_CFG_F_UID_GID, 'uidGid'], ['secctx', C.NFQA_CFG_F_SECCTX, 'secctx']] as const) {
      if (o[field] !== undefined && (state.flags & flag) === 0) {
        throw new TestKitError(`the kernel sends ${field} only to a queue opened with flags: { ${name}: true }; queue ${queue} was not`);
      }
    }
    const f: Omit<PacketMessageFields, 'id'> = {
      queue,
      family: o.family ?? (version === 6 ? C.NFPROTO_IPV6 : C.NFPROTO_IPV4),
      hwProtocol: o.hwProtocol ?? captured?.hwProtocol ?? (version === 6 ? ETH_P_IPV6 : ETH_P_IP),
      hook,
      mark: o.mark,
      indev: o.indev === null ? undefined : (o.indev ?? (inSide ? (captured?.ifindex ?? 1) : undefined)),
      outdev: o.outdev === null ? undefined : (o.outdev ?? (outSide ? 1 : undefined)),
      physindev: o.physindev,
      physoutdev: o.physoutdev,
      hwaddr: o.hwaddr === null ? undefined : o.hwaddr !== undefined ? toHwaddr(o.hwaddr) : inSide ? (captured?.hwaddr ?? new Uint8Array(6)) : undefined,
      payload: ip,
      timestamp: o.timestamp === undefined ? undefined : toTimestamp(o.timestamp),
      uid: o.uid,
      gid: o.gid,
      secctx: o.secctx,
      priority: o.priority,
      skbInfo: o.skbInfo,
      cgroupClassid: o.cgroupClassid,
      ctInfo: o.ctInfo,
      ct: o.ct,
      vlan: o.vlan,
      l2hdr: o.l2hdr,
    };
    const wire = o.wireLength ?? captured?.wireLength;
    if (wire !== undefined && wire > ip.byteLength) f.capLen = wire;
    return { queue, ...this.kernel.enqueue(f) };
  }

  private async settle(p: { queue: number; id: number; outcome: Promise<PacketOutcome> }): Promise<TestVerdict> {
    const r = await p.outcome;
    if (!r.ok) throw new TestKitError(r.error.message);
    const v: TestVerdict = { ...r.verdict.verdict, id: p.id, batch: r.verdict.batch };
    const err = this.packetErrors.get(key(p.queue, p.id));
    if (err !== undefined) {
      this.packetErrors.delete(key(p.queue, p.id));
      v.error = err;
    }
    return v;
  }

  /** Closes the queue as a program would (pending packets get the default verdict). */
  close(): Promise<void> {
    return this.queue.close();
  }

  /** `await using kit = await createTestQueue(…)` closes it at the end of the scope. */
  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

/**
 * Opens a queue under test: `callback` is the function the program deploys, run by the real
 * Queue over an in-memory kernel. `options` are openQueue()'s (copyMode, copyRange, flags,
 * defaultVerdict, verdictTimeout…), applied as the kernel would apply them.
 */
export async function createTestQueue(callback: PacketCallback, options?: TestQueueOptions): Promise<TestQueue>;
/** Opens a queue under test without a callback: iterate `kit.queue` with for await, as the program does. */
export async function createTestQueue(options?: TestQueueOptions): Promise<TestQueue>;
export async function createTestQueue(callbackOrOptions?: PacketCallback | TestQueueOptions, maybeOptions?: TestQueueOptions): Promise<TestQueue> {
  const callback = typeof callbackOrOptions === 'function' ? callbackOrOptions : undefined;
  const options = (typeof callbackOrOptions === 'function' ? maybeOptions : (callbackOrOptions ?? maybeOptions)) ?? {};
  if (options === null || typeof options !== 'object') throw new TypeError('createTestQueue options must be an object');
  const { queue: nums = 0, onError, kernel: kernelOptions, ...rest } = options;
  if (kernelOptions !== undefined && (kernelOptions === null || typeof kernelOptions !== 'object')) throw new TypeError('createTestQueue option kernel must be an object of TestKernel options');
  const kernel = new TestKernel(kernelOptions ?? {});
  let kit: TestQueue | undefined;
  const early: Error[] = [];
  const o: QueueOptions = {
    ...rest,
    transport: kernel,
    onError: (err) => {
      if (kit === undefined) early.push(err);
      else kit.noteError(err);
      onError?.(err);
    },
  };
  const queue = await (callback === undefined ? openQueue(nums, o) : openQueue(nums, callback, o));
  kit = new TestQueue(queue, kernel);
  for (const e of early) kit.noteError(e);
  return kit;
}
