/**
 * The test kit runs a callback in the real Queue over the in-memory kernel: metadata as a
 * rule attaches it, the queue's copy mode and flags applied as the kernel applies them,
 * verdicts decoded, errors tied to their packets, captures replayed. No root needed.
 */
import { describe, it, expect } from 'vitest';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { tmpdir } from 'node:os';
import { fileURLToPath } from 'node:url';
import { PcapWriter, readPcapFile, LINKTYPE_RAW } from '../../src/pcap/index.js';
import { CallbackError, QueueKernelError, VerdictStateError, type Packet } from '../../src/index.js';
import { createTestQueue, udpPacket, tcpPacket, TestKitError } from '../../src/testing/index.js';
import { LINKTYPE_ETHERNET, LINKTYPE_LINUX_SLL } from '../../src/pcap/index.js';
import { hex } from '../support/bytes.js';

const fixtures = fileURLToPath(new URL('../../fixtures/', import.meta.url));

describe('createTestQueue', () => {
  it('hands the callback the packet with the metadata a rule attaches, and decodes its verdict', async () => {
    const seen: Packet[] = [];
    await using kit = await createTestQueue((p) => {
      seen.push(p);
      return p.mark === 1 ? 'drop' : { verdict: 'accept', mark: 0x10, priority: 3 };
    });
    const ip = udpPacket({ dst: '10.0.0.1', dstPort: 53, payload: 'q' });
    expect(await kit.send(ip, { hook: 'input', mark: 1, timestamp: new Date(1_700_000_000_250) })).toEqual({ verdict: 'drop', id: 1, batch: false });
    expect(await kit.send(ip, { hook: 'output' })).toEqual({ verdict: 'accept', mark: 0x10, priority: 3, id: 2, batch: false });
    const [a, b] = seen;
    expect(a).toMatchObject({ queue: 0, id: 1, family: 2, hwProtocol: 0x0800, hook: 1, mark: 1, indev: 1, outdev: undefined, timestamp: { sec: 1_700_000_000, usec: 250_000 } });
    expect(a!.hwaddr).toEqual(new Uint8Array(6));
    expect(a!.payload).toEqual(ip);
    expect(b).toMatchObject({ hook: 3, indev: undefined, outdev: 1, hwaddr: undefined, mark: undefined, timestamp: undefined });
    expect(kit.queue.stats()).toMatchObject({ received: 2, verdicts: { accept: 1, drop: 1 } });
  });

  it('returns a rewritten payload, requeue target and connmark', async () => {
    await using kit = await createTestQueue((p) => {
      if (p.hook === 0) return { verdict: 'queue', queue: 5, bypass: true };
      const out = Uint8Array.from(p.payload!);
      out[8] = 1; // TTL 1
      return { verdict: 'accept', payload: out, connmark: 7 };
    });
    const v = await kit.send(tcpPacket({ flags: 'SA' }), { hook: 'forward', indev: 2, outdev: 3, physindev: 4 });
    expect(v).toMatchObject({ verdict: 'accept', connmark: 7 });
    expect(v.payload?.[8]).toBe(1);
    expect(await kit.send(udpPacket(), { hook: 'prerouting' })).toMatchObject({ verdict: 'queue', queue: 5, bypass: true });
  });

  it('passes its kernel option to the in-memory kernel: a scripted refusal, a port id', async () => {
    const seen: string[] = [];
    const err = await createTestQueue(() => 'accept', { kernel: { answer: (r) => (seen.push(r.kind), r.kind === 'flags' ? 95 : undefined) }, flags: { gso: true } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(QueueKernelError);
    expect(err).toMatchObject({ step: 'flags', code: 'EOPNOTSUPP' });
    expect(seen).toContain('flags');
    await using kit = await createTestQueue(() => 'drop', { kernel: { portId: 4321 } });
    expect(kit.queue.portId).toBe(4321);
    expect((await kit.send(udpPacket())).verdict).toBe('drop');
    await expect(createTestQueue({ kernel: 5 as never })).rejects.toThrow(TypeError);
  });

  it('serves several queues and IPv6', async () => {
    await using kit = await createTestQueue((p) => (p.queue === 2 ? 'drop' : 'accept'), { queue: [1, 2] });
    expect((await kit.send(udpPacket({ dst: '::1' }), { queue: 2 })).verdict).toBe('drop');
    const v = await kit.send(udpPacket({ dst: '2001:db8::1' }));
    expect(v).toMatchObject({ verdict: 'accept', id: 1 });
    await expect(kit.send(udpPacket(), { queue: 3 })).rejects.toThrow(/queue 3 is not bound/);
  });

  it('applies the copy range as the kernel does: payload cut, CAP_LEN set; meta mode sends no payload', async () => {
    const seen: Packet[] = [];
    const big = udpPacket({ payload: new Uint8Array(1000) });
    {
      await using kit = await createTestQueue((p) => (seen.push(p), 'accept'), { copyRange: 100 });
      await kit.send(big);
      await kit.send(udpPacket({ payload: 'small' }));
      expect(kit.kernel.queues.get(0)).toMatchObject({ copyRange: 100 });
    }
    {
      await using kit = await createTestQueue((p) => (seen.push(p), 'accept'), { copyMode: 'meta' });
      await kit.send(big);
    }
    expect(seen[0]!.payload?.byteLength).toBe(100);
    expect(seen[0]!.capLen).toBe(big.byteLength);
    expect(seen[0]!.length).toBe(big.byteLength);
    expect(seen[1]!.capLen).toBeUndefined();
    expect(seen[2]!.payload).toBeUndefined();
    expect(seen[2]!.capLen).toBeUndefined();
    await expect(createTestQueue(() => 'accept', { copyMode: 'none' }).then((k) => k.send(big))).rejects.toThrow(/copy mode 'none'/);
  });

  it('sends uid and gid only to a queue with the uidGid flag, as the kernel does', async () => {
    {
      await using kit = await createTestQueue(() => 'accept');
      await expect(kit.send(udpPacket(), { uid: 1000 })).rejects.toThrow(TestKitError);
      await expect(kit.send(udpPacket(), { uid: 1000 })).rejects.toThrow(/uidGid: true/);
    }
    await using kit = await createTestQueue((p) => (p.uid === 0 ? 'accept' : 'drop'), { flags: { uidGid: true } });
    expect((await kit.send(udpPacket(), { hook: 'output', uid: 0, gid: 0 })).verdict).toBe('accept');
    expect((await kit.send(udpPacket(), { hook: 'output', uid: 1000, gid: 1000 })).verdict).toBe('drop');
    expect(kit.kernel.queues.get(0)?.flags).toBe(8);
  });

  it('gives a throwing or rejecting callback\'s packet the default verdict, with its error attached', async () => {
    await using kit = await createTestQueue(
      async (p) => {
        if (p.mark === 1) throw new Error('boom');
        if (p.mark === 2) return 'nonsense' as 'accept';
        return 'accept';
      },
      { defaultVerdict: 'drop' },
    );
    const v = await kit.send(udpPacket(), { mark: 1 });
    expect(v.verdict).toBe('drop');
    expect(v.error).toBeInstanceOf(CallbackError);
    expect(v.error?.message).toMatch(/boom/);
    expect((await kit.send(udpPacket(), { mark: 2 })).error).toBeInstanceOf(CallbackError);
    expect((await kit.send(udpPacket())).error).toBeUndefined();
    expect(kit.errors).toHaveLength(2);
  });

  it('resolves packets answered by setVerdict, batchVerdict, verdictTimeout and close()', async () => {
    const held: Packet[] = [];
    const kit = await createTestQueue((p) => new Promise(() => void held.push(p)), { verdictTimeout: 50 });
    const first = kit.send(udpPacket());
    const second = kit.send(udpPacket());
    const third = kit.send(udpPacket());
    kit.queue.setVerdict(held[0]!.queue, held[0]!.id, 'drop');
    expect(() => kit.queue.setVerdict(0, held[0]!.id, 'drop')).toThrow(VerdictStateError);
    expect(await first).toMatchObject({ verdict: 'drop', id: 1 });
    kit.queue.batchVerdict(0, 2, { verdict: 'accept', mark: 9 });
    expect(await second).toMatchObject({ verdict: 'accept', mark: 9, batch: true, id: 2 });
    const timedOut = await third;
    expect(timedOut).toMatchObject({ verdict: 'accept', id: 3 });
    expect(timedOut.error?.name).toBe('VerdictTimeoutError');
    const last = kit.send(udpPacket());
    await kit.close();
    expect(await last).toMatchObject({ verdict: 'accept', id: 4 });
    await expect(kit.send(udpPacket())).rejects.toThrow(/not bound|closed/);
  });

  it('refuses what is not an IP packet unless a family is given', async () => {
    await using kit = await createTestQueue((p) => (p.family === 7 ? 'drop' : 'accept'));
    await expect(kit.send(hex('00112233'))).rejects.toThrow(TestKitError);
    await expect(kit.send('x' as unknown as Uint8Array)).rejects.toThrow(TypeError);
    await expect(kit.send(udpPacket(), { hook: 'sideways' as 'input' })).rejects.toThrow(/hook must be/);
    expect((await kit.send(hex('00112233'), { family: 7, hwProtocol: 0x0806 })).verdict).toBe('drop');
  });
});

describe('sendCapture', () => {
  const tcp = tcpPacket({ dst: '10.0.0.2', dstPort: 22 });
  const udp = udpPacket({ dst: '10.0.0.3', dstPort: 53 });
  const firewall = (p: Packet) => (p.payload?.[9] === 6 ? 'drop' : 'accept');

  it('replays raw IP, Ethernet and cooked captures in order, with their time, address and direction', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfq-kit-'));
    try {
      const raw = new PcapWriter(LINKTYPE_RAW);
      const rawFile = join(dir, 'raw.pcap');
      writeFileSync(rawFile, Buffer.concat([raw.header(), raw.record(tcp, { sec: 1_700_000_000, nsec: 5_000 }), raw.record(udp, { sec: 1_700_000_001, nsec: 0 })]));
      const seen: Packet[] = [];
      await using kit = await createTestQueue((p) => (seen.push(p), firewall(p)));
      const vs = await kit.sendCapture(rawFile);
      expect(await kit.sendCapture(readPcapFile(rawFile))).toHaveLength(2);
      expect(vs.map((v) => [v.record, v.verdict, v.id])).toEqual([[0, 'drop', 1], [1, 'accept', 2]]);
      expect(seen[0]!.timestamp).toEqual({ sec: 1_700_000_000, usec: 5 });

      const eth = new PcapWriter(LINKTYPE_ETHERNET);
      const arp = Buffer.concat([hex('ffffffffffff 0200000000aa 0806'), new Uint8Array(28)]);
      const ethBytes = Buffer.concat([eth.header(), eth.record(arp, 1n), eth.record(Buffer.concat([hex('020000000001 0200000000bb 0800'), udp]), 2n)]);
      const ev = await kit.sendCapture(ethBytes, { mark: 4 });
      expect(ev).toMatchObject([{ record: 1, verdict: 'accept' }]);
      expect(seen[4]).toMatchObject({ hook: 1, mark: 4, indev: 1 });
      expect(Buffer.from(seen[4]!.hwaddr!).toString('hex')).toBe('0200000000bb');

      const sll = new PcapWriter(LINKTYPE_LINUX_SLL);
      const cooked = (type: string, ip: Uint8Array) => Buffer.concat([hex(`${type} 0304 0000 0000000000000000 0800`), ip]);
      const sv = await kit.sendCapture(Buffer.concat([sll.header(), sll.record(cooked('0004', udp)), sll.record(cooked('0000', tcp))]));
      expect(sv.map((v) => v.verdict)).toEqual(['accept', 'drop']);
      expect(seen.slice(5).map((p) => p.hook)).toEqual([3, 1]);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses a netlink recording with a TestKitError that names the link types it reads', async () => {
    await using kit = await createTestQueue(firewall);
    await expect(kit.sendCapture(join(fixtures, 'ipv4-udp-output.pcap'))).rejects.toThrow(/link type 253.*raw IP/);
    expect(kit.kernel.waitingCount).toBe(0);
  });
});
