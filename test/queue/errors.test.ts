/**
 * One error tree: NetfilterQueueError → NetlinkError (socket, kernel, decode) and
 * QueueError (callback, verdict state, timeouts, overflow at maxInFlight, replay mismatch);
 * the CLI's under the root too.
 */
import { describe, it, expect } from 'vitest';
import * as main from '../../src/index.js';
import { NetlinkSocketError, NetlinkKernelError, NetlinkDecodeError, NetlinkError, NetfilterQueueError } from '../../src/netlink/errors.js';
import { QueueError } from '../../src/nfqueue/errors.js';
import { PacketDecodeError } from '../../src/nfqueue/packet.js';
import { CallbackError, PacketError, QueueKernelError, QueueOverflowError, QueueTimeoutError, VerdictStateError, VerdictTimeoutError } from '../../src/queue/errors.js';
import { ReplayMismatchError } from '../../src/pcap/replay-types.js';
import { UsageError } from '../../src/cli/args.js';
import { UnsupportedCaptureError } from '../../src/cli/replay.js';
import { MessageWriter } from '../../src/netlink/writer.js';
import { encodePacketMessage } from '../../src/nfqueue/packet-encoder.js';
import { openOnTestKernel, settle } from '../support/queue-harness.js';

/** The chain of class names from `C` up to Error. */
function lineage(C: abstract new (...args: never[]) => unknown): string[] {
  const out: string[] = [];
  for (let p = C; p !== Error && p !== Function.prototype; p = Object.getPrototypeOf(p) as typeof C) out.push(p.name);
  return out;
}

describe('the error tree', () => {
  it('netlink errors: socket, kernel, decode', () => {
    expect(lineage(NetlinkSocketError)).toEqual(['NetlinkSocketError', 'NetlinkError', 'NetfilterQueueError']);
    expect(lineage(QueueKernelError)).toEqual(['QueueKernelError', 'NetlinkKernelError', 'NetlinkError', 'NetfilterQueueError']);
    expect(lineage(PacketDecodeError)).toEqual(['PacketDecodeError', 'NetlinkDecodeError', 'NetlinkError', 'NetfilterQueueError']);
  });

  it("a queue's own errors are not netlink errors", () => {
    for (const C of [CallbackError, VerdictStateError, VerdictTimeoutError]) expect(lineage(C)).toEqual([C.name, 'PacketError', 'QueueError', 'NetfilterQueueError']);
    for (const C of [QueueTimeoutError, QueueOverflowError, ReplayMismatchError]) expect(lineage(C)).toEqual([C.name, 'QueueError', 'NetfilterQueueError']);
    expect(new CallbackError('x', 0, 1, undefined)).not.toBeInstanceOf(NetlinkError);
    expect(new PacketError('x', 0, 1)).toBeInstanceOf(QueueError);
  });

  it("the CLI's errors are under the root, with a code", () => {
    expect(new UsageError('x')).toMatchObject({ code: 'ERR_USAGE', name: 'UsageError' });
    expect(new UsageError('x')).toBeInstanceOf(NetfilterQueueError);
    expect(new UnsupportedCaptureError('x')).toMatchObject({ code: 'ERR_UNSUPPORTED_CAPTURE' });
    expect(new UnsupportedCaptureError('x')).toBeInstanceOf(NetfilterQueueError);
  });

  it('the main entry gives the classes a consumer catches', () => {
    expect(main.QueueError).toBe(QueueError);
    expect(main.QueueOverflowError).toBe(QueueOverflowError);
    expect(main.NetlinkError).toBe(NetlinkError);
    expect(new NetlinkKernelError(16, 'x').code).toBe('EBUSY');
    expect(new NetlinkDecodeError('x', 0)).toBeInstanceOf(main.NetfilterQueueError);
  });
});

describe('maxInFlight', () => {
  it('is reported once as a QueueOverflowError naming the limit, and the extra packet gets the default verdict', async () => {
    const h = await openOnTestKernel(() => new Promise<never>(() => {}), { maxInFlight: 2 });
    const w = new MessageWriter();
    for (let id = 1; id <= 4; id++) encodePacketMessage(w, { queue: 0, id, family: 2, hwProtocol: 0x0800, hook: 3 });
    h.kernel.inject(w.finishCopy());
    await settle();
    expect(h.errors).toHaveLength(1);
    const e = h.errors[0]!;
    expect(e).toBeInstanceOf(QueueOverflowError);
    expect(e).toBeInstanceOf(QueueError);
    expect(e).toMatchObject({ code: 'ERR_QUEUE_OVERFLOW', maxInFlight: 2 });
    expect(e.message).toMatch(/^2 packets are waiting for their callbacks \(maxInFlight\): further packets get the default verdict 'accept'/);
    expect(h.kernel.verdicts.map((v) => v.id)).toEqual([3, 4]);
    await h.queue.close();
  });
});
