/**
 * The verdicts in flight, remembered by sequence number so that a kernel error can be tied
 * to the packet it answers. A ring indexed by the low bits of the sequence number: verdict
 * errors come back within the same sendmsg, so 64k entries is ample. Typed arrays: nothing
 * is allocated per verdict.
 */
import type { ExtAck } from '../netlink/conn.js';
import * as C from '../nfqueue/constants.js';
import { QueueKernelError, type QueueErrorContext } from './errors.js';
const RING_BITS = 16;
const RING_SIZE = 1 << RING_BITS;
const RING_MASK = RING_SIZE - 1;

/** What a remembered request was. */
export const KIND_VERDICT = 1;
export const KIND_BATCH = 2;

/** A remembered verdict request. */
export interface RememberedVerdict {
  kind: typeof KIND_VERDICT | typeof KIND_BATCH;
  queue: number;
  /** Packet id (for a batch verdict: the highest id it covers). */
  id: number;
}

export class VerdictRing {
  /** The error for a kernel refusal of the verdict sent with `seq`, naming its packet; undefined when the ring does not know `seq`. */
  kernelError(errno: number, seq: number, extAck: ExtAck | undefined): QueueKernelError | undefined {
    const sent = this.find(seq);
    if (sent === undefined) return undefined;
    const batch = sent.kind === KIND_BATCH;
    const ctx: QueueErrorContext = {
      step: batch ? 'batch-verdict' : 'verdict',
      queue: sent.queue,
      packetId: sent.id,
      request: { type: batch ? C.NFQ_TYPE_VERDICT_BATCH : C.NFQ_TYPE_VERDICT, seq },
    };
    if (extAck !== undefined) ctx.extAck = extAck;
    return new QueueKernelError(errno, ctx);
  }

  private readonly seqs = new Uint32Array(RING_SIZE);
  private readonly ids = new Uint32Array(RING_SIZE);
  private readonly queues = new Uint16Array(RING_SIZE);
  private readonly kinds = new Uint8Array(RING_SIZE);

  /** Remembers that request `seq` was a verdict of `kind` for packet `id` of `queue`. */
  remember(seq: number, kind: number, queue: number, id: number): void {
    const slot = seq & RING_MASK;
    this.seqs[slot] = seq;
    this.kinds[slot] = kind;
    this.queues[slot] = queue;
    this.ids[slot] = id;
  }

  /** The verdict sent with `seq`, if it is still remembered. */
  find(seq: number): RememberedVerdict | undefined {
    const slot = seq & RING_MASK;
    const kind = this.kinds[slot] ?? 0;
    if (this.seqs[slot] !== seq || kind === 0) return undefined;
    return { kind: kind === KIND_BATCH ? KIND_BATCH : KIND_VERDICT, queue: this.queues[slot] ?? 0, id: this.ids[slot] ?? 0 };
  }
}
