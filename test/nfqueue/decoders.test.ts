/**
 * The decoders against bytes that our encoders did not make: messages built by
 * libnetfilter_queue + libmnl (test/nfqueue/oracle/nfq-messages.c, compiled here), and
 * messages written by hand from the kernel's structs. A constant the encoder and decoder
 * share (a verdict code, an attribute type, CTA_MARK) cannot be wrong unnoticed here.
 */
import { describe, it, expect, beforeAll } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeVerdictMessage } from '../../src/nfqueue/verdict-decoder.js';
import { decodeConfigMessage } from '../../src/nfqueue/config.js';
import { decodePacket, PacketDecodeError } from '../../src/nfqueue/packet.js';
import { describeMessage } from '../../src/nfqueue/describe.js';
import { attr, hex, nest, nfgenmsg, nlmsg } from '../support/bytes.js';

const ORACLE = fileURLToPath(new URL('./oracle/nfq-messages.c', import.meta.url));

/** The oracle's messages by name. */
let made: Map<string, Uint8Array>;

beforeAll(() => {
  const dir = mkdtempSync(join(tmpdir(), 'nfq-oracle-'));
  try {
    const exe = join(dir, 'nfq-messages');
    try {
      execFileSync('cc', ['-o', exe, ORACLE, '-lnetfilter_queue', '-lmnl'], { stdio: 'pipe' });
    } catch (e) {
      throw new Error(`building the libnetfilter_queue oracle needs a C compiler, libnetfilter-queue-dev and libmnl-dev: ${String((e as { stderr?: unknown }).stderr ?? e)}`);
    }
    const out = execFileSync(exe, { encoding: 'utf8' });
    made = new Map(out.trim().split('\n').map((l) => {
      const [name, h] = l.split(' ');
      return [name!, hex(h!)];
    }));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const oracle = (name: string): Uint8Array => {
  const m = made.get(name);
  if (m === undefined) throw new Error(`the oracle printed no ${name}`);
  return m;
};

describe('decodeVerdictMessage reads what libnetfilter_queue writes', () => {
  it('a verdict with a mark', () => {
    expect(decodeVerdictMessage(oracle('accept-mark'))).toEqual({ batch: false, queue: 5, id: 0x01020304, word: 1, verdict: { verdict: 'accept', mark: 0x2a } });
  });

  it('a requeue with bypass (NF_QUEUE_NR(7) | NF_VERDICT_FLAG_QUEUE_BYPASS)', () => {
    expect(decodeVerdictMessage(oracle('requeue-bypass'))).toEqual({ batch: false, queue: 1, id: 9, word: 0x00078003, verdict: { verdict: 'queue', queue: 7, bypass: true } });
  });

  it('a drop with a replacement payload', () => {
    const d = decodeVerdictMessage(oracle('drop-payload'));
    expect(d.verdict.verdict).toBe('drop');
    expect(d.id).toBe(3);
    expect(Array.from(d.verdict.payload!)).toEqual([0x45, 0x00, 0x00, 0x05, 0xab]);
  });

  it('a repeat with a connection mark (CTA_MARK in NFQA_CT)', () => {
    expect(decodeVerdictMessage(oracle('repeat-connmark'))).toMatchObject({ id: 4, verdict: { verdict: 'repeat', connmark: 0xbeef } });
  });

  it('a batch verdict (NFQNL_MSG_VERDICT_BATCH) with a mark', () => {
    expect(decodeVerdictMessage(oracle('batch-stop-mark'))).toEqual({ batch: true, queue: 2, id: 64, word: 5, verdict: { verdict: 'stop', mark: 0x11223344 } });
  });

  it('refuses NF_STOLEN, which the kernel refuses too', () => {
    expect(() => decodeVerdictMessage(oracle('stolen'))).toThrow(/verdict code 2/);
    expect(describeMessage(oracle('stolen'))).toBe('VERDICT queue 0 (malformed: verdict code 2 is not one a queue may answer (at byte 0))');
  });
});

describe('decodeConfigMessage reads what libnetfilter_queue writes', () => {
  it('BIND with its protocol family', () => {
    expect(decodeConfigMessage(oracle('bind'))).toEqual({ queue: 3, command: 1, pf: 2 });
  });

  it('PARAMS: copy mode and range (5 packed bytes)', () => {
    expect(decodeConfigMessage(oracle('params'))).toEqual({ queue: 3, copyMode: 2, copyRange: 0xfffe });
  });

  it('QUEUE_MAXLEN, FLAGS and MASK', () => {
    expect(decodeConfigMessage(oracle('maxlen-flags'))).toEqual({ queue: 3, maxLen: 1000, flags: 0x5, mask: 0xd });
  });

  it('the describer names them', () => {
    expect(describeMessage(oracle('bind'))).toBe('CONFIG queue 3 BIND');
    expect(describeMessage(oracle('maxlen-flags'))).toBe('CONFIG queue 3 MAXLEN 1000 FLAGS 0x5 MASK 0xd');
    expect(describeMessage(oracle('batch-stop-mark'))).toBe('VERDICT_BATCH queue 2 up to packet 64 STOP mark 0x11223344');
  });
});

describe('by hand, from the kernel headers', () => {
  // nlmsghdr { u32 len; u16 type = NFNL_SUBSYS_QUEUE << 8 | NFQNL_MSG_CONFIG; u16 flags; u32 seq; u32 pid }
  const config = (...attrs: Uint8Array[]): Uint8Array => nlmsg({ type: 0x0302, flags: 1, seq: 1, pid: 0 }, nfgenmsg(0, 9), ...attrs);

  it('a CMD shorter than struct nfqnl_msg_config_cmd (4 bytes) is refused, as the kernel policy does', () => {
    expect(() => decodeConfigMessage(config(attr(1, [1, 0])))).toThrow(/NFQA_CFG_CMD holds 2 bytes, needs 4/);
    expect(() => decodeConfigMessage(config(attr(2, [0, 0, 0xff, 0xff])))).toThrow(/NFQA_CFG_PARAMS holds 4 bytes, needs 5/);
  });

  it('UNBIND (cmd 2) on queue 9', () => {
    expect(decodeConfigMessage(config(attr(1, [2, 0, 0, 10])))).toEqual({ queue: 9, command: 2, pf: 10 });
  });

  it('a packet whose MARK is cut short still names its id (PACKET_HDR after it)', () => {
    // struct nfqnl_msg_packet_hdr { be32 packet_id; be16 hw_protocol; u8 hook; }
    const m = nlmsg({ type: 0x0300, flags: 0, seq: 0, pid: 0 }, nfgenmsg(2, 4), attr(3, [0, 1]), attr(1, [0, 0, 0x30, 0x39, 0x08, 0x00, 3]));
    let err: unknown;
    try {
      decodePacket(m, 0, m.byteLength);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PacketDecodeError);
    expect(err).toMatchObject({ queue: 4, id: 12345 });
    expect(describeMessage(m)).toMatch(/^PACKET queue 4 packet 12345 \(malformed: packet attribute 3 holds 2 bytes, needs 4 \(at byte 20\)\)$/);
    const sound = nlmsg({ type: 0x0300 }, nfgenmsg(2, 4), attr(1, [0, 0, 0, 7, 0x08, 0x00, 1]));
    expect(describeMessage(sound)).toBe('PACKET queue 4 packet 7');
  });

  it('packet.conntrack() decodes NFQA_CT (ctnetlink: CTA_TUPLE_ORIG > CTA_TUPLE_IP > CTA_IP_V4_SRC/DST, CTA_MARK, CTA_STATUS)', () => {
    const tupleIp = nest(1, attr(1, [10, 0, 0, 1]), attr(2, [10, 0, 0, 2]));
    const tupleProto = nest(2, attr(1, [17]), attr(2, [0x30, 0x39]), attr(3, [0, 53]));
    const ct = nest(11, nest(1, tupleIp, tupleProto), attr(8, [0, 0, 0, 0x2a]), attr(3, [0, 0, 0, 0x08]));
    const m = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, [0, 0, 0, 1, 0x08, 0x00, 3]), ct);
    const p = decodePacket(m, 0, m.byteLength);
    expect(p.conntrack()).toEqual({ orig: { src: '10.0.0.1', dst: '10.0.0.2', proto: 17, srcPort: 12345, dstPort: 53 }, mark: 0x2a, status: 8 });
    const none = nlmsg({ type: 0x0300 }, nfgenmsg(2, 0), attr(1, [0, 0, 0, 1, 0x08, 0x00, 3]));
    expect(decodePacket(none, 0, none.byteLength).conntrack()).toBeUndefined();
  });
});
