// Every error the library throws or reports is a NetfilterQueueError with a stable `code`;
// an already-aborted signal rejects with an AbortError, as Node's own APIs do.
import { describe, expect, it, vi } from 'vitest';
import { CallbackError, NetfilterQueueError, NetlinkError, QueueKernelError, QueueTimeoutError, VerdictStateError, VerdictTimeoutError, openQueue } from '../../src/index.js';
import { NetlinkDecodeError, NetlinkKernelError, NetlinkSocketError } from '../../src/netlink/index.js';
import { PcapFormatError, ReplayMismatchError } from '../../src/pcap/index.js';
import { ChecksumError, fixIpv4HeaderChecksum } from '../../src/packet/index.js';
import { readPcap } from '../../src/pcap/index.js';
import { decodePacket, PacketDecodeError } from '../../src/nfqueue/index.js';
import { MessageWriter } from '../../src/netlink/index.js';
import { TestKernel } from '../../src/testing/index.js';
import { openQueuePool, PoolWorkerError } from '../../src/index.js';
import { TestKitError } from '../../src/testing/index.js';

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (e) {
    return e;
  }
  throw new Error('nothing was thrown');
}

describe('one error root', () => {
  it('each error class is a NetfilterQueueError with its own code', () => {
    const cases: [Error, string, string][] = [
      [new NetlinkError('x'), 'NetlinkError', 'ERR_NETLINK'],
      [new NetlinkDecodeError('x', 0), 'NetlinkDecodeError', 'ERR_NETLINK_DECODE'],
      [new PacketDecodeError('x', 0), 'PacketDecodeError', 'ERR_PACKET_DECODE'],
      [new NetlinkKernelError(16, 'x'), 'NetlinkKernelError', 'EBUSY'],
      [new NetlinkSocketError('x', { errno: 105 }), 'NetlinkSocketError', 'ENOBUFS'],
      [new NetlinkSocketError('x'), 'NetlinkSocketError', 'ERR_NETLINK_SOCKET'],
      [new QueueKernelError(1, { step: 'bind', queue: 0 }), 'QueueKernelError', 'EPERM'],
      [new QueueTimeoutError('x'), 'QueueTimeoutError', 'ETIMEDOUT'],
      [new CallbackError('x', 0, 1, undefined), 'CallbackError', 'ERR_CALLBACK'],
      [new VerdictStateError('x', 0, 1), 'VerdictStateError', 'ERR_VERDICT_STATE'],
      [new VerdictTimeoutError('x', 0, 1), 'VerdictTimeoutError', 'ERR_VERDICT_TIMEOUT'],
      [new PcapFormatError('x', 0), 'PcapFormatError', 'ERR_PCAP_FORMAT'],
      [new ChecksumError('x'), 'ChecksumError', 'ERR_CHECKSUM'],
      [new PoolWorkerError('x', 0, [1]), 'PoolWorkerError', 'ERR_POOL_WORKER'],
      [new TestKitError('x'), 'TestKitError', 'ERR_TEST_KIT'],
      [new ReplayMismatchError({ kind: 'extra', index: 0, frame: undefined, expected: undefined, actual: undefined, offset: undefined, message: 'x' }), 'ReplayMismatchError', 'ERR_REPLAY_MISMATCH'],
    ];
    for (const [e, name, code] of cases) {
      expect(e).toBeInstanceOf(NetfilterQueueError);
      expect(e.name).toBe(name);
      expect((e as NetfilterQueueError).code).toBe(code);
    }
  });

  it('what the codecs throw on bad input is one too', () => {
    expect(thrown(() => readPcap(new Uint8Array(3)))).toBeInstanceOf(NetfilterQueueError);
    expect(thrown(() => decodePacket(new Uint8Array(8), 0, 8))).toBeInstanceOf(NetfilterQueueError);
    expect(thrown(() => fixIpv4HeaderChecksum(new Uint8Array(3)))).toBeInstanceOf(NetfilterQueueError);
    expect(thrown(() => new MessageWriter().end())).toMatchObject({ code: 'ERR_MESSAGE_WRITER' });
  });

  it('openQueue with an already-aborted signal rejects with an AbortError and sends nothing', async () => {
    const kernel = new TestKernel();
    const start = vi.spyOn(kernel, 'start');
    const ac = new AbortController();
    const reason = new Error('stop');
    ac.abort(reason);
    const e = await openQueue(0, () => 'accept', { transport: kernel, signal: ac.signal }).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(DOMException);
    expect((e as DOMException).name).toBe('AbortError');
    expect((e as Error).cause).toBe(reason);
    expect(start).not.toHaveBeenCalled();
    expect(kernel.sent).toEqual([]);
  });

  it('openQueuePool with an already-aborted signal rejects with an AbortError too', async () => {
    const ac = new AbortController();
    ac.abort();
    const e = await openQueuePool({ queues: [0], handler: new URL('file:///nonexistent.mjs'), signal: ac.signal }).catch((x: unknown) => x);
    expect((e as DOMException).name).toBe('AbortError');
  });
});
