import { afterEach, describe, expect, it, vi } from 'vitest';
import { openQueue } from '../../src/open-queue.js';
import type { Queue } from '../../src/queue/queue.js';
import { CallbackError, QueueKernelError, QueueTimeoutError, VerdictStateError } from '../../src/queue/errors.js';
import { NetlinkDecodeError, NetlinkSocketError } from '../../src/netlink/errors.js';
import type { Packet } from '../../src/nfqueue/packet.js';
import { accept, drop, requeue } from '../../src/nfqueue/verdict.js';
import { attr, be32, concat, hex, le32, nfgenmsg, nlmsg, nlmsgError, readBe32, readLe16, readLe32, splitAttrs, splitMessages, toHex } from '../support/bytes.js';
import { outputPacket } from '../support/kernel-packet.js';
import { TestKernel } from '../../src/testing/index.js';
import { FAKE_PORT_ID, openOnTestKernel, settle } from '../support/queue-harness.js';

const open: Queue[] = [];
afterEach(async () => {
  for (const q of open.splice(0)) if (!q.isClosed) await q.close();
});
async function harness(...args: Parameters<typeof openOnTestKernel>): ReturnType<typeof openOnTestKernel> {
  const h = await openOnTestKernel(...args);
  open.push(h.queue);
  return h;
}

const PAYLOAD = hex('45 00 00 1c 00 01 00 00 40 11 00 00 7f 00 00 01 7f 00 00 01 30 39 13 88 00 08 00 00');

describe('openQueue over the test kit\'s kernel', () => {
  it('binds, then sets PARAMS at once, each request with its own seq, our port id and NLM_F_ACK', async () => {
    const starts = vi.spyOn(TestKernel.prototype, 'start');
    const { kernel, queue } = await harness(() => 'accept');
    expect(starts).toHaveBeenCalledTimes(1);
    starts.mockRestore();
    expect(kernel.configs.map((c) => c.kind)).toEqual(['bind', 'params']);
    const [bind, params] = kernel.configs;
    expect(bind!.seq).not.toBe(params!.seq);
    expect(bind!.flags).toBe(0x05);
    expect(readLe32(bind!.bytes, 12)).toBe(FAKE_PORT_ID);
    expect(toHex(bind!.bytes.subarray(16))).toBe('00 00 00 00 08 00 01 00 01 00 00 00');
    expect(toHex(params!.bytes.subarray(16))).toBe('00 00 00 00 09 00 02 00 00 00 ff ff 02 00 00 00');
    expect(queue.portId).toBe(FAKE_PORT_ID);
    expect(queue.queues).toEqual([0]);
  });

  it('sends QUEUE_MAXLEN and FLAGS with MASK for each of several queues', async () => {
    const { kernel } = await harness(() => 'accept', { maxLen: 1024, copyMode: 'meta', copyRange: 0, flags: { failOpen: true, gso: false } }, {}, [1, 2]);
    expect(kernel.configs.map((c) => [c.kind, c.queue])).toEqual([
      ['bind', 1], ['params', 1], ['maxlen', 1], ['flags', 1],
      ['bind', 2], ['params', 2], ['maxlen', 2], ['flags', 2],
    ]);
    expect(toHex(kernel.configs[1]!.bytes.subarray(20))).toBe('09 00 02 00 00 00 00 00 01 00 00 00');
    expect(toHex(kernel.configs[2]!.bytes.subarray(20))).toBe('08 00 03 00 00 00 04 00');
    // flags FAIL_OPEN set, mask FAIL_OPEN | GSO
    expect(toHex(kernel.configs[3]!.bytes.subarray(20))).toBe('08 00 05 00 00 00 00 01 08 00 04 00 00 00 00 05');
    expect(new Set(kernel.configs.map((c) => c.seq)).size).toBe(8);
  });

  it('rejects with QueueKernelError EBUSY when BIND is answered with errno 16', async () => {
    const kernel = new TestKernel({ portId: FAKE_PORT_ID, answer: (c) => (c.kind === 'bind' ? 16 : undefined) });
    const err = await openQueue(0, () => 'accept', { transport: kernel }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueKernelError);
    const k = err as QueueKernelError;
    expect(k.code).toBe('EBUSY');
    expect(k.errno).toBe(16);
    expect(k.step).toBe('bind');
    expect(k.queue).toBe(0);
    expect(k.message).toMatch(/already bound/);
    expect(kernel.isClosed).toBe(true);
    expect(kernel.configs.map((c) => c.kind)).toEqual(['bind']);
  });

  it('rejects with step flags / EOPNOTSUPP when the kernel refuses CONNTRACK', async () => {
    const kernel = new TestKernel({ portId: FAKE_PORT_ID, answer: (c) => (c.kind === 'flags' ? 95 : undefined) });
    const err = await openQueue(3, () => 'accept', { transport: kernel, flags: { conntrack: true } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueKernelError);
    const k = err as QueueKernelError;
    expect(k.step).toBe('flags');
    expect(k.code).toBe('EOPNOTSUPP');
    expect(k.errno).toBe(95);
    expect(k.queue).toBe(3);
    expect(k.message).toMatch(/conntrack/i);
    expect(kernel.isClosed).toBe(true);
  });

  it('carries the extended-ack message of a refused config step', async () => {
    const kernel = new TestKernel({ portId: FAKE_PORT_ID, answer: (c) => (c.kind === 'flags' ? 'no-answer' : undefined) });
    const p = openQueue(0, () => 'accept', { transport: kernel, flags: { gso: true } }).catch((e: unknown) => e);
    await vi.waitFor(() => expect(kernel.configs.map((c) => c.kind)).toContain('flags'));
    const req = kernel.configs.find((c) => c.kind === 'flags')!.bytes;
    kernel.inject(nlmsgError(22, req, { capped: true, ackTlvs: concat(attr(1, new TextEncoder().encode('bad flags'), 0), attr(2, le32(20))) }));
    const k = (await p) as QueueKernelError;
    expect(k).toBeInstanceOf(QueueKernelError);
    expect(k.code).toBe('EINVAL');
    expect(k.extAckMessage).toBe('bad flags');
    expect(k.extAckOffset).toBe(20);
    expect(k.message).toContain('bad flags');
  });

  it('works with a transport that answers from inside send() (each request sent once)', async () => {
    const kernel = new TestKernel({ portId: FAKE_PORT_ID, sync: true });
    const q = await openQueue(0, () => 'accept', { transport: kernel, maxLen: 10 });
    open.push(q);
    expect(kernel.configs.map((c) => c.kind)).toEqual(['bind', 'params', 'maxlen']);
    expect(kernel.sent).toHaveLength(3);
    await q.close();
    expect(kernel.configs.map((c) => c.kind)).toEqual(['bind', 'params', 'maxlen', 'unbind']);
  });

  it('rejects with QueueTimeoutError when the kernel never answers', async () => {
    const kernel = new TestKernel({ portId: FAKE_PORT_ID, answer: () => 'no-answer' });
    const err = await openQueue(0, () => 'accept', { transport: kernel, requestTimeout: 20 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueTimeoutError);
    expect(kernel.isClosed).toBe(true);
  });

  const badArgs: [string, () => Promise<unknown>, ErrorConstructor][] = [
    ['queue -1', () => openQueue(-1, () => 'accept', { transport: new TestKernel() }), RangeError],
    ['queue 65536', () => openQueue(65536, () => 'accept', { transport: new TestKernel() }), RangeError],
    ['queue 1.5', () => openQueue(1.5, () => 'accept', { transport: new TestKernel() }), RangeError],
    ["queue 'x'", () => openQueue('x' as never, () => 'accept', { transport: new TestKernel() }), RangeError],
    ['no queue numbers', () => openQueue([], () => 'accept', { transport: new TestKernel() }), RangeError],
    ['duplicate queue numbers', () => openQueue([1, 1], () => 'accept', { transport: new TestKernel() }), RangeError],
    ['callback not a function', () => openQueue(0, 'accept' as never, { transport: new TestKernel() }), TypeError],
    ['copyRange 70000', () => openQueue(0, () => 'accept', { transport: new TestKernel(), copyRange: 70000 }), RangeError],
    ['maxLen 0', () => openQueue(0, () => 'accept', { transport: new TestKernel(), maxLen: 0 }), RangeError],
    ['copyMode all', () => openQueue(0, () => 'accept', { transport: new TestKernel(), copyMode: 'all' as never }), RangeError],
    ['defaultVerdict bogus', () => openQueue(0, () => 'accept', { transport: new TestKernel(), defaultVerdict: 'bogus' as never }), RangeError],
    ['onError not a function', () => openQueue(0, () => 'accept', { transport: new TestKernel(), onError: 5 as never }), TypeError],
  ];
  it.each(badArgs)('refuses %s before sending anything', async (_name, call, type) => {
    const sends = vi.spyOn(TestKernel.prototype, 'send');
    const starts = vi.spyOn(TestKernel.prototype, 'start');
    try {
      const err = await call().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(type);
      expect(sends).not.toHaveBeenCalled();
      expect(starts).not.toHaveBeenCalled();
    } finally {
      sends.mockRestore();
      starts.mockRestore();
    }
  });

  it('names the bad argument', async () => {
    await expect(openQueue(70000, () => 'accept', { transport: new TestKernel() })).rejects.toThrow(/queue number .*70000/);
    await expect(openQueue(0, () => 'accept', { transport: new TestKernel(), copyRange: 70000 })).rejects.toThrow(/copyRange/);
    await expect(openQueue(0, () => 'accept', { transport: new TestKernel(), maxLen: 0 })).rejects.toThrow(/maxLen/);
  });
});

describe('Queue receive path', () => {
  it('hands a decoded packet to the callback and sends its verdict', async () => {
    const seen: Packet[] = [];
    const { kernel, queue, errors } = await harness((p) => {
      seen.push(p);
      return accept({ mark: 7 });
    });
    const before = kernel.sent.length;
    kernel.inject(outputPacket(42, PAYLOAD, { outdev: 1 }));
    expect(seen).toHaveLength(1);
    expect(seen[0]!.id).toBe(42);
    expect(seen[0]!.outdev).toBe(1);
    expect(toHex(seen[0]!.payload!)).toBe(toHex(PAYLOAD));
    expect(kernel.sent.length).toBe(before + 1);
    const v = kernel.verdicts;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ batch: false, queue: 0, id: 42, word: 1, verdict: { mark: 7 }, pid: FAKE_PORT_ID, errno: 0 });
    expect(kernel.configs.map((c) => c.seq)).not.toContain(v[0]!.seq);
    const s = queue.stats();
    expect(s.received).toBe(1);
    expect(s.verdicts.accept).toBe(1);
    expect(s.decodeErrors).toBe(0);
    expect(errors).toEqual([]);
  });

  it('sends the verdicts of one datagram as ONE datagram, each message with its own seq', async () => {
    const { kernel } = await harness((p) => (p.id % 2 === 0 ? 'accept' : drop()));
    const before = kernel.sent.length;
    kernel.inject(concat(outputPacket(10, PAYLOAD), outputPacket(11, PAYLOAD), outputPacket(12, PAYLOAD)));
    expect(kernel.sent.length).toBe(before + 1);
    const d = kernel.sent[kernel.sent.length - 1]!;
    expect(splitMessages(d)).toHaveLength(3);
    const v = kernel.verdicts;
    expect(v.map((x) => [x.id, x.word, x.datagram])).toEqual([
      [10, 1, before],
      [11, 0, before],
      [12, 1, before],
    ]);
    expect(new Set(v.map((x) => x.seq)).size).toBe(3);
    expect(new Set([...v.map((x) => x.seq), ...kernel.configs.map((c) => c.seq)]).size).toBe(3 + kernel.configs.length);
  });

  it('gives the default verdict when the callback throws, and reports a CallbackError', async () => {
    const boom = new Error('boom');
    const { kernel, errors, queue } = await harness(
      () => {
        throw boom;
      },
      { defaultVerdict: 'drop' },
    );
    kernel.inject(outputPacket(5, PAYLOAD, { queue: 0 }));
    expect(kernel.verdicts.map((v) => [v.id, v.word])).toEqual([[5, 0]]);
    expect(errors).toHaveLength(1);
    const e = errors[0] as CallbackError;
    expect(e).toBeInstanceOf(CallbackError);
    expect(e.packetId).toBe(5);
    expect(e.queue).toBe(0);
    expect(e.cause).toBe(boom);
    expect(e.message).toMatch(/threw.*boom/);
    expect(queue.stats().callbackErrors).toBe(1);
  });

  it('sends the verdict of a Promise after it resolves', async () => {
    let resolve!: (v: ReturnType<typeof drop>) => void;
    const { kernel, queue } = await harness(() => new Promise((r) => (resolve = r)));
    kernel.inject(outputPacket(9, PAYLOAD));
    await settle();
    expect(kernel.verdicts).toEqual([]);
    expect(queue.stats().pending).toBe(1);
    resolve(drop());
    await settle();
    expect(kernel.verdicts.map((v) => [v.id, v.word])).toEqual([[9, 0]]);
    expect(queue.stats().pending).toBe(0);
    expect(queue.stats().verdicts.drop).toBe(1);
  });

  it('gives the default verdict when the Promise rejects', async () => {
    const { kernel, errors } = await harness(() => Promise.reject(new Error('nope')), { defaultVerdict: requeue(4, { bypass: true }) });
    kernel.inject(outputPacket(3, PAYLOAD));
    await settle();
    expect(kernel.verdicts.map((v) => [v.id, v.word])).toEqual([[3, (4 << 16) | 0x8000 | 3]]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CallbackError);
    expect(errors[0]!.message).toMatch(/rejected.*nope/);
  });

  it.each([
    ['an unknown name', 'stolen', RangeError],
    ['a mark out of range', { verdict: 'accept', mark: 2 ** 32 }, RangeError],
    ['a number', 1, TypeError],
    ['undefined', undefined, TypeError],
  ] as const)('gives the default verdict for %s and reports a CallbackError', async (_n, answer, cause) => {
    const { kernel, errors } = await harness(() => answer as never);
    kernel.inject(outputPacket(8, PAYLOAD));
    expect(kernel.verdicts.map((v) => [v.id, v.word, v.verdict.mark])).toEqual([[8, 1, undefined]]);
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CallbackError);
    expect((errors[0] as CallbackError).cause).toBeInstanceOf(cause);
  });

  it('reports a kernel error answering a verdict as QueueKernelError step verdict with the packet id', async () => {
    const { kernel, errors, queue } = await harness(() => 'accept');
    kernel.inject(outputPacket(77, PAYLOAD));
    kernel.inject(outputPacket(78, PAYLOAD));
    const sent = splitMessages(kernel.sent[kernel.sent.length - 2]!)[0]!; // the verdict for 77
    expect(readBe32(splitAttrs(sent)[0]!.value, 4)).toBe(77);
    kernel.inject(nlmsgError(2, sent));
    expect(errors).toHaveLength(1);
    const k = errors[0] as QueueKernelError;
    expect(k).toBeInstanceOf(QueueKernelError);
    expect(k.step).toBe('verdict');
    expect(k.packetId).toBe(77);
    expect(k.code).toBe('ENOENT');
    expect(k.errno).toBe(2);
    expect(k.request).toEqual({ type: 0x0301, seq: readLe32(sent, 8) });
    expect(k.message).toMatch(/packet 77.*ENOENT/);
    expect(queue.stats().verdictErrors).toBe(1);
    // an ack nobody waits for is ignored
    kernel.inject(nlmsgError(0, sent));
    expect(errors).toHaveLength(1);
  });

  it('sends a batch verdict that settles pending packets, and ties its error to the batch', async () => {
    const late: ((v: 'accept') => void)[] = [];
    const { kernel, errors, queue } = await harness(() => new Promise((r) => late.push(r)));
    kernel.inject(concat(outputPacket(1, PAYLOAD), outputPacket(2, PAYLOAD), outputPacket(3, PAYLOAD)));
    await settle();
    expect(queue.stats().pending).toBe(3);
    const before = kernel.sent.length;
    queue.batchVerdict(0, 2, { verdict: 'drop', mark: 3 });
    expect(kernel.sent.length).toBe(before + 1);
    expect(queue.stats().pending).toBe(1);
    const v = kernel.verdicts;
    expect(v).toHaveLength(1);
    expect(v[0]).toMatchObject({ batch: true, queue: 0, id: 2, word: 0, verdict: { mark: 3 }, errno: 0 });
    // the callbacks of packets 1 and 2 answer late: ignored; packet 3's answer is sent
    late.forEach((r) => r('accept'));
    await settle();
    expect(kernel.verdicts.map((x) => [x.batch, x.id])).toEqual([
      [true, 2],
      [false, 3],
    ]);
    kernel.inject(nlmsgError(22, splitMessages(kernel.sent[before]!)[0]!));
    const k = errors[0] as QueueKernelError;
    expect(k).toBeInstanceOf(QueueKernelError);
    expect(k.step).toBe('batch-verdict');
    expect(k.packetId).toBe(2);
    expect(k.code).toBe('EINVAL');
    expect(() => queue.batchVerdict(0, -1, 'accept')).toThrow(RangeError);
  });

  it('setVerdict answers a pending packet once; the callback answer is then ignored', async () => {
    let resolve!: (v: 'accept') => void;
    const { kernel, queue } = await harness(() => new Promise((r) => (resolve = r)));
    kernel.inject(outputPacket(21, PAYLOAD));
    await settle();
    queue.setVerdict(0, 21, drop());
    expect(() => queue.setVerdict(0, 21, 'accept')).toThrow(VerdictStateError);
    expect(() => queue.setVerdict(0, 999, 'accept')).toThrow(VerdictStateError);
    resolve('accept');
    await settle();
    expect(kernel.verdicts.map((v) => [v.id, v.word])).toEqual([[21, 0]]);
  });

  it('counts and reports decode errors, skips what it cannot read, and keeps going', async () => {
    const { kernel, errors, queue } = await harness(() => 'accept');
    kernel.inject(hex('01 02 03')); // too short for a header
    kernel.inject(nlmsg({ type: 0x0300, len: 200 }, nfgenmsg(2, 0))); // length past the datagram
    kernel.inject(nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(3, be32(1)))); // no PACKET_HDR
    kernel.inject(nlmsg({ type: 0x0123 })); // a type we do not expect
    kernel.inject(nlmsg({ type: 2 }, [0, 0, 0, 0])); // NLMSG_ERROR too short
    kernel.inject(concat(nlmsg({ type: 1 }), nlmsg({ type: 3 }))); // NOOP and DONE are fine
    expect(queue.stats().decodeErrors).toBe(5);
    expect(errors).toHaveLength(5);
    for (const e of errors) expect(e).toBeInstanceOf(NetlinkDecodeError);
    expect(kernel.verdicts).toEqual([]);
    kernel.inject(outputPacket(100, PAYLOAD));
    expect(kernel.verdicts.map((v) => v.id)).toEqual([100]);
  });

  it('still gives a verdict to a malformed packet whose PACKET_HDR is readable', async () => {
    const called = vi.fn(() => 'drop' as const);
    const { kernel, errors, queue } = await harness(called);
    // PACKET_HDR fine, then a MARK attribute with a 2-byte value
    kernel.inject(nlmsg({ type: 0x0300 }, nfgenmsg(2, 7), attr(1, be32(55), 8, 0, 3), attr(3, [1, 2])));
    expect(called).not.toHaveBeenCalled();
    expect(kernel.verdicts.map((v) => [v.queue, v.id, v.word])).toEqual([[7, 55, 1]]);
    expect(errors[0]).toBeInstanceOf(NetlinkDecodeError);
    expect(errors[0]!.name).toBe('PacketDecodeError');
    expect(queue.stats().decodeErrors).toBe(1);
  });

  it('a message after a malformed one in the same datagram is still handled', async () => {
    const { kernel, errors } = await harness(() => 'accept');
    kernel.inject(concat(nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(3, be32(1))), outputPacket(12, PAYLOAD)));
    expect(kernel.verdicts.map((v) => v.id)).toEqual([12]);
    expect(errors).toHaveLength(1);
  });

  it('reports ENOBUFS overruns and NLMSG_OVERRUN without stopping', async () => {
    const { kernel, errors, queue } = await harness(() => 'accept');
    const overruns: Error[] = [];
    queue.on('overrun', (e: Error) => overruns.push(e));
    kernel.fail(new NetlinkSocketError('recv failed', { errno: 105, syscall: 'recvmsg' }));
    kernel.inject(nlmsg({ type: 4 }));
    expect(overruns).toHaveLength(2);
    expect((overruns[0] as NetlinkSocketError).code).toBe('ENOBUFS');
    expect(queue.stats().overruns).toBe(2);
    kernel.fail(new NetlinkSocketError('other', { errno: 9 }));
    expect(queue.stats().socketErrors).toBe(1);
    expect(errors.map((e) => (e as NetlinkSocketError).code)).toEqual(['EBADF']);
    kernel.inject(outputPacket(1, PAYLOAD));
    expect(kernel.verdicts).toHaveLength(1);
  });

  it('close() gives pending async packets the default verdict, sends UNBIND and closes the transport', async () => {
    let resolveLate!: (v: 'accept') => void;
    const { kernel, queue } = await harness(() => new Promise((r) => (resolveLate = r)), { defaultVerdict: 'drop' });
    kernel.inject(concat(outputPacket(31, PAYLOAD), outputPacket(32, PAYLOAD)));
    await settle();
    expect(queue.stats().pending).toBe(2);
    let closedEvent = false;
    queue.on('close', () => (closedEvent = true));
    await queue.close();
    expect(kernel.verdicts.map((v) => [v.id, v.word])).toEqual([
      [31, 0],
      [32, 0],
    ]);
    const unbind = kernel.configs.filter((c) => c.kind === 'unbind');
    expect(unbind.map((c) => c.queue)).toEqual([0]);
    expect(toHex(unbind[0]!.bytes.subarray(16))).toBe('00 00 00 00 08 00 01 00 02 00 00 00');
    expect(kernel.isClosed).toBe(true);
    expect(queue.isClosed).toBe(true);
    expect(closedEvent).toBe(true);
    expect(queue.stats().pending).toBe(0);
    const count = kernel.sent.length;
    resolveLate('accept');
    await settle();
    expect(kernel.sent.length).toBe(count);
    // close is idempotent
    await queue.close();
  });

  it('handles a packet delivered from inside send() once, with nothing sent twice', async () => {
    const { kernel } = await harness((p) => (p.id === 1 ? 'accept' : drop()));
    const send = kernel.send.bind(kernel);
    let nested = false;
    vi.spyOn(kernel, 'send').mockImplementation((d: Uint8Array) => {
      send(d);
      if (!nested) {
        nested = true;
        kernel.inject(outputPacket(2, PAYLOAD)); // the next packet arrives while the first verdict is being sent
      }
    });
    kernel.inject(outputPacket(1, PAYLOAD));
    expect(kernel.verdicts.map((v) => [v.id, v.word])).toEqual([
      [1, 1],
      [2, 0],
    ]);
  });

  it('reports a send failure as a socket error', async () => {
    const { kernel, errors, queue } = await harness(() => 'accept');
    const spy = vi.spyOn(kernel, 'send').mockImplementation(() => {
      throw new Error('EAGAIN');
    });
    kernel.inject(outputPacket(1, PAYLOAD));
    spy.mockRestore();
    expect(queue.stats().socketErrors).toBe(1);
    expect(errors[0]).toBeInstanceOf(NetlinkSocketError);
  });

  it('sends a verdict payload and mark', async () => {
    const { kernel } = await harness((p) => accept({ payload: p.payload!.slice(0, 20), mark: 1 }));
    kernel.inject(outputPacket(1, PAYLOAD));
    const [v] = kernel.verdicts;
    expect(toHex(v!.verdict.payload!)).toBe(toHex(PAYLOAD.subarray(0, 20)));
    expect(v!.verdict.mark).toBe(1);
    expect(readLe16(kernel.sent[kernel.sent.length - 1]!, 4)).toBe(0x0301);
  });
});
