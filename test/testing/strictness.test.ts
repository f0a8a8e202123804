// The test kit is as strict as the kernel it stands in for, checked with messages built
// byte by byte here (not by the library's encoders): verdicts for packets nobody waits for
// are answered ENOENT, STOLEN and unknown verdict codes are refused, and the metadata and
// packet defaults a rule would give (forward hook, TTL 64) are what the kernel gives.
import { describe, expect, it } from 'vitest';
import type { Packet } from '../../src/index.js';
import { NetlinkDecodeError } from '../../src/netlink/index.js';
import { decodeVerdictMessage } from '../../src/nfqueue/index.js';
import { TestKernel, createTestQueue, tcpPacket, udpPacket } from '../../src/testing/index.js';
import { attr, be16, be32, nest, nfgenmsg, nlmsg, readLe16, readLe32, splitMessages, type ByteSource } from '../support/bytes.js';

const NFQ_CONFIG = (3 << 8) | 2;
const NFQ_VERDICT = (3 << 8) | 1;
const NFQ_VERDICT_BATCH = (3 << 8) | 3;
const NLMSG_ERROR = 2;
const NLM_F_REQUEST = 1;
const NLM_F_ACK = 4;
const ENOENT = 2;
const EINVAL = 22;

/** A verdict message as the kernel reads it: NFQA_VERDICT_HDR {be32 verdict, be32 id} plus extras. */
const verdictMsg = (queue: number, id: number, word: number, seq: number, ...extra: ByteSource[]): Uint8Array =>
  nlmsg({ type: NFQ_VERDICT, flags: NLM_F_REQUEST, seq }, nfgenmsg(2, queue), attr(2, be32(word), be32(id)), ...extra);

/** A TestKernel with queue 0 bound in PACKET copy mode, and the replies it sends. */
function boundKernel(): { kernel: TestKernel; replies: { seq: number; errno: number }[] } {
  const kernel = new TestKernel();
  const replies: { seq: number; errno: number }[] = [];
  kernel.start({
    datagram: (d) => {
      for (const m of splitMessages(d)) {
        if (readLe16(m, 4) === NLMSG_ERROR) replies.push({ seq: readLe32(m, 8), errno: -(readLe32(m, 16) | 0) | 0 });
      }
    },
    error: () => undefined,
  });
  // BIND (cmd 1, pf 0) then PARAMS {be32 range 0xffff, u8 mode 2 = PACKET}.
  kernel.send(nlmsg({ type: NFQ_CONFIG, flags: NLM_F_REQUEST | NLM_F_ACK, seq: 1 }, nfgenmsg(0, 0), attr(1, [1, 0], be16(0))));
  kernel.send(nlmsg({ type: NFQ_CONFIG, flags: NLM_F_REQUEST | NLM_F_ACK, seq: 2 }, nfgenmsg(0, 0), attr(2, be32(0xffff), [2])));
  return { kernel, replies };
}

const flush = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

describe('the test kernel answers as the kernel does', () => {
  it('a verdict for an id nobody waits for: ENOENT; for the waiting one: no reply, the packet settles', async () => {
    const { kernel, replies } = boundKernel();
    await flush();
    expect(replies).toEqual([{ seq: 1, errno: 0 }, { seq: 2, errno: 0 }]);
    const { id, outcome } = kernel.enqueue({ queue: 0, family: 2, hwProtocol: 0x0800, hook: 3, payload: udpPacket() });
    expect(id).toBe(1);
    kernel.send(verdictMsg(0, 99, 1, 10)); // unknown id
    kernel.send(verdictMsg(7, 1, 1, 11)); // a queue nobody bound
    kernel.send(verdictMsg(0, id, 1, 12)); // the real one: accepted silently
    kernel.send(verdictMsg(0, id, 1, 13)); // twice: no longer waiting
    await flush();
    expect(replies.slice(2)).toEqual([{ seq: 10, errno: ENOENT }, { seq: 11, errno: ENOENT }, { seq: 13, errno: ENOENT }]);
    const settled = await outcome;
    expect(settled.ok && settled.verdict.verdict.verdict).toBe('accept');
    // A batch up to an id below every waiting packet answers none: ENOENT too.
    const second = kernel.enqueue({ queue: 0, family: 2, hwProtocol: 0x0800, hook: 3, payload: udpPacket() });
    kernel.send(nlmsg({ type: NFQ_VERDICT_BATCH, flags: NLM_F_REQUEST, seq: 14 }, nfgenmsg(2, 0), attr(2, be32(0), be32(1))));
    kernel.send(nlmsg({ type: NFQ_VERDICT_BATCH, flags: NLM_F_REQUEST, seq: 15 }, nfgenmsg(2, 0), attr(2, be32(0), be32(second.id))));
    await flush();
    expect(replies.slice(5)).toEqual([{ seq: 14, errno: ENOENT }]);
    const dropped = await second.outcome;
    expect(dropped.ok && dropped.verdict.verdict.verdict).toBe('drop');
  });

  it('STOLEN and unknown verdict codes are refused (EINVAL), and the packet keeps waiting', async () => {
    const { kernel, replies } = boundKernel();
    const { id } = kernel.enqueue({ queue: 0, family: 2, hwProtocol: 0x0800, hook: 3, payload: udpPacket() });
    kernel.send(verdictMsg(0, id, 2, 20)); // NF_STOLEN
    kernel.send(verdictMsg(0, id, 6, 21)); // past NF_STOP
    await flush();
    expect(replies.slice(2)).toEqual([{ seq: 20, errno: EINVAL }, { seq: 21, errno: EINVAL }]);
    expect(kernel.waitingCount).toBe(1);
  });
});

describe('decodeVerdictMessage on bytes laid out by hand', () => {
  it('reads each verdict code, the id, the queue and the options', () => {
    const names = ['drop', 'accept', undefined, 'queue', 'repeat', 'stop'] as const;
    names.forEach((name, code) => {
      const msg = verdictMsg(513, 0x01020304, code, 1);
      if (name === undefined) {
        expect(() => decodeVerdictMessage(msg)).toThrow(NetlinkDecodeError);
        return;
      }
      const d = decodeVerdictMessage(msg);
      expect(d).toMatchObject({ batch: false, queue: 513, id: 0x01020304, word: code });
      expect(d.verdict.verdict).toBe(name);
    });
    // Requeue to queue 7 with bypass: (7 << 16) | 0x8000 | NF_QUEUE.
    expect(decodeVerdictMessage(verdictMsg(0, 1, (7 << 16) | 0x8000 | 3, 1)).verdict).toEqual({ verdict: 'queue', queue: 7, bypass: true });
    // MARK (3), PRIORITY (21), CT (11) { CTA_MARK (8) }.
    const rich = decodeVerdictMessage(verdictMsg(0, 1, 1, 1, attr(3, be32(0x2a)), attr(21, be32(6)), nest(11, attr(8, be32(0x99)))));
    expect(rich.verdict).toEqual({ verdict: 'accept', mark: 0x2a, priority: 6, connmark: 0x99 });
    expect(() => decodeVerdictMessage(verdictMsg(0, 1, 0xff, 1))).toThrow(/verdict code 255/);
    expect(() => decodeVerdictMessage(nlmsg({ type: NFQ_VERDICT }, nfgenmsg(2, 0), attr(3, be32(1))))).toThrow(/no NFQA_VERDICT_HDR/);
  });
});

describe('the test kit gives what a rule and the kernel would', () => {
  it('at forward, both devices (loopback by default) and the input side hardware address', async () => {
    const seen: Packet[] = [];
    await using kit = await createTestQueue((p) => {
      seen.push(p);
      return 'accept';
    });
    await kit.send(udpPacket(), { hook: 'forward' });
    await kit.send(udpPacket(), { hook: 'prerouting' });
    await kit.send(udpPacket(), { hook: 'postrouting' });
    expect(seen.map((p) => [p.hook, p.indev, p.outdev, p.hwaddr?.length])).toEqual([
      [2, 1, 1, 6],
      [0, 1, undefined, 6],
      [4, undefined, 1, undefined],
    ]);
  });

  it('packets carry TTL / hop limit 64 unless told otherwise', () => {
    expect(udpPacket()[8]).toBe(64);
    expect(tcpPacket()[8]).toBe(64);
    expect(udpPacket({ dst: '::1' })[7]).toBe(64);
    expect(udpPacket({ ttl: 3 })[8]).toBe(3);
    expect(tcpPacket({ dst: '::1', ttl: 200 })[7]).toBe(200);
  });
});
