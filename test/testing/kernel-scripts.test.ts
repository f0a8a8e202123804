/**
 * TestKernel as a transport for openQueue() in tests of error paths: config requests refused
 * with a scripted errno or never answered, raw (malformed) datagrams injected, socket errors
 * reported, and the log of what the queue sent: datagrams, config requests, verdicts.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { constants } from 'node:os';
import { openQueue, QueueKernelError, QueueTimeoutError, type Queue, type QueueOptions } from '../../src/index.js';
import { NetlinkDecodeError, NetlinkSocketError } from '../../src/netlink/index.js';
import { PacketDecodeError } from '../../src/nfqueue/index.js';
import { TestKernel, TestKitError, udpPacket, type ConfigRequest } from '../../src/testing/index.js';
import { attr, be32, concat, nfgenmsg, nlmsg, readLe16, readLe32 } from '../support/bytes.js';
import { outputPacket } from '../support/kernel-packet.js';

const { EPERM, EOPNOTSUPP, ENOENT } = constants.errno;
const NLM_F_REQUEST_ACK = 0x05;

const opened: Queue[] = [];
afterEach(async () => {
  for (const q of opened.splice(0)) if (!q.isClosed) await q.close();
});

/** Opens queue 0 with an accepting callback over `kernel`, collecting what it reports. */
async function open(kernel: TestKernel, options: QueueOptions = {}, errors: Error[] = []): Promise<{ queue: Queue; errors: Error[] }> {
  const queue = await openQueue(0, () => 'accept', { ...options, transport: kernel, onError: (e) => errors.push(e) });
  opened.push(queue);
  return { queue, errors };
}

const settle = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('scripted answers to config requests', () => {
  it('an errno reaches openQueue as a QueueKernelError naming it; the kernel applies nothing', async () => {
    const seen: ConfigRequest[] = [];
    const kernel = new TestKernel({ answer: (r) => (seen.push(r), r.kind === 'bind' ? EPERM : undefined) });
    const err = await open(kernel).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueKernelError);
    expect(err).toMatchObject({ code: 'EPERM', errno: EPERM, step: 'bind', queue: 0 });
    expect((err as Error).message).toMatch(/EPERM/);
    expect(seen.map((r) => r.kind)).toEqual(['bind']);
    expect(kernel.queues.has(0)).toBe(false);
    expect(kernel.isClosed).toBe(true);
  });

  it('a later step refused: the steps before it are applied as the kernel would', async () => {
    const kernel = new TestKernel({ answer: (r) => (r.kind === 'flags' ? EOPNOTSUPP : undefined) });
    const err = await open(kernel, { flags: { failOpen: true } }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'EOPNOTSUPP', step: 'flags' });
    expect(kernel.configs.map((r) => r.kind)).toEqual(['bind', 'params', 'flags']);
    expect(kernel.configs[2]!.config).toMatchObject({ flags: 1, mask: 1 });
  });

  it("'no-answer' leaves the request unanswered: openQueue times out with QueueTimeoutError", async () => {
    const kernel = new TestKernel({ answer: (r) => (r.kind === 'params' ? 'no-answer' : undefined) });
    const err = await open(kernel, { requestTimeout: 30 }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueTimeoutError);
    expect((err as Error).message).toMatch(/params on queue 0: no answer from the kernel in 30 ms/);
    expect(kernel.isClosed).toBe(true);
  });

  it('an answer that is no errno is the script\'s mistake: a TestKitError (send() throws it), not a refusal; openQueue rejects with it at once', async () => {
    const kernel = new TestKernel({ answer: () => -1 });
    const errors: Error[] = [];
    const err = await open(kernel, { requestTimeout: 60_000 }, errors).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TestKitError);
    expect((err as Error).message).toMatch(/answer\(\) must return an errno.*got -1/);
    expect(errors).toEqual([]);
    expect(() => new TestKernel({ answer: 'EPERM' as never })).toThrow(TypeError);
  });

  it('sync: the answers arrive from inside send()', async () => {
    const kernel = new TestKernel({ sync: true });
    const got: Uint8Array[] = [];
    kernel.start({ datagram: (d) => got.push(d), error: (e) => { throw e; } });
    kernel.send(nlmsg({ type: 0x0302, flags: NLM_F_REQUEST_ACK, seq: 9 }, nfgenmsg(0, 0), attr(1, [1, 0, 0, 0])));
    expect(got).toHaveLength(1); // no await in between
    expect(readLe16(got[0]!, 4)).toBe(2); // NLMSG_ERROR
    expect(readLe32(got[0]!, 16)).toBe(0); // an ack
    expect(readLe32(got[0]!, 8)).toBe(9);
    expect(kernel.queues.has(0)).toBe(true);
  });
});

describe('injected datagrams and socket errors', () => {
  it('a malformed datagram is a typed decode error, and the queue goes on', async () => {
    const kernel = new TestKernel();
    const { queue, errors } = await open(kernel);
    kernel.inject(Uint8Array.of(1, 2, 3)); // shorter than a netlink header
    kernel.inject(nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(3, be32(1)))); // a packet without PACKET_HDR
    expect(errors).toHaveLength(2);
    for (const e of errors) expect(e).toBeInstanceOf(NetlinkDecodeError);
    expect(errors[1]).toBeInstanceOf(PacketDecodeError);
    expect(queue.stats().decodeErrors).toBe(2);
    expect(kernel.verdicts).toEqual([]);
    const { outcome } = kernel.enqueue({ queue: 0, family: 2, hwProtocol: 0x0800, hook: 1, payload: udpPacket() });
    expect(await outcome).toMatchObject({ ok: true, verdict: { verdict: { verdict: 'accept' } } });
  });

  it('a packet injected is waiting in the kernel: its verdict is taken; one for nothing waiting is refused ENOENT', async () => {
    const kernel = new TestKernel();
    const { queue, errors } = await open(kernel);
    // PACKET_HDR readable, a MARK attribute too short: the queue gives the default verdict
    kernel.inject(concat(outputPacket(41, new Uint8Array(20)), nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, be32(42), 8, 0, 3), attr(3, [1, 2]))));
    expect(kernel.verdicts.map((v) => [v.id, v.errno])).toEqual([
      [41, 0],
      [42, 0],
    ]);
    expect(errors.map((e) => e.name)).toEqual(['PacketDecodeError']);
    queue.batchVerdict(0, 100, 'drop'); // both were answered: nothing left waiting
    await settle();
    expect(kernel.verdicts.map((v) => [v.id, v.errno])).toEqual([
      [41, 0],
      [42, 0],
      [100, ENOENT],
    ]);
    expect(errors[1]).toMatchObject({ name: 'QueueKernelError', code: 'ENOENT', step: 'batch-verdict', packetId: 100 });
  });

  it('fail() reports a socket error to the queue', async () => {
    const kernel = new TestKernel();
    const { queue, errors } = await open(kernel);
    const overruns: Error[] = [];
    queue.on('overrun', (e: Error) => overruns.push(e));
    kernel.fail(new NetlinkSocketError('receive buffer full', { errno: constants.errno.ENOBUFS }));
    kernel.fail(new NetlinkSocketError('bad descriptor', { errno: constants.errno.EBADF }));
    expect(overruns.map((e) => (e as NetlinkSocketError).code)).toEqual(['ENOBUFS']);
    expect(errors.map((e) => (e as NetlinkSocketError).code)).toEqual(['EBADF']);
    expect(queue.stats()).toMatchObject({ overruns: 1, socketErrors: 1 });
  });
});

describe('the log of what the queue sent', () => {
  it('copies of the datagrams, the config requests and the verdicts, tied together', async () => {
    const kernel = new TestKernel(0x1234); // the port id alone, as before options existed
    const { queue } = await open(kernel, { maxLen: 64 });
    expect(kernel.portId).toBe(0x1234);
    expect(kernel.configs.map((r) => [r.kind, r.queue, r.flags])).toEqual([
      ['bind', 0, NLM_F_REQUEST_ACK],
      ['params', 0, NLM_F_REQUEST_ACK],
      ['maxlen', 0, NLM_F_REQUEST_ACK],
    ]);
    expect(kernel.configs[1]!.config).toMatchObject({ copyMode: 2, copyRange: 0xffff });
    expect(kernel.configs[2]!.config.maxLen).toBe(64);
    expect(kernel.sent).toHaveLength(3);
    kernel.configs.forEach((r, i) => {
      expect(readLe32(r.bytes, 8)).toBe(r.seq);
      expect(readLe32(r.bytes, 12)).toBe(0x1234);
      expect(r.bytes.buffer).toBe(kernel.sent[i]!.buffer); // a view into the kept copy
    });
    const { outcome } = kernel.enqueue({ queue: 0, family: 2, hwProtocol: 0x0800, hook: 1, payload: udpPacket() });
    await outcome;
    queue.batchVerdict(0, 1, 'drop'); // nothing left waiting: ENOENT
    await settle();
    expect(kernel.sent).toHaveLength(5);
    expect(kernel.verdicts.map((v) => [v.batch, v.id, v.verdict.verdict, v.datagram, v.errno, v.pid])).toEqual([
      [false, 1, 'accept', 3, 0, 0x1234],
      [true, 1, 'drop', 4, ENOENT, 0x1234],
    ]);
    expect(readLe32(kernel.sent[3]!, 8)).toBe(kernel.verdicts[0]!.seq);
    expect(new Set([...kernel.configs, ...kernel.verdicts].map((m) => m.seq)).size).toBe(5);
  });

  it('keeps what was sent even when the sender reuses its buffer', () => {
    const kernel = new TestKernel();
    kernel.start({ datagram: () => undefined, error: () => undefined });
    const buf = nlmsg({ type: 0x0302, flags: NLM_F_REQUEST_ACK, seq: 1 }, nfgenmsg(0, 0), attr(1, [1, 0, 0, 0]));
    kernel.send(buf);
    buf.fill(0);
    expect(readLe32(kernel.sent[0]!, 8)).toBe(1);
    expect(kernel.configs[0]!.kind).toBe('bind');
    expect(readLe16(kernel.configs[0]!.bytes, 4)).toBe(0x0302);
  });
});
