/**
 * The nf_tables socket's answers, without a kernel: a fake transport answers a batch the way
 * nfnetlink does (an ack per message, errors after processing, a refusal of BATCH_BEGIN for
 * a missing subsystem or capability), and the errors name the message, the errno, the
 * kernel's extended-ack text and the kernel feature that is missing.
 */
import { describe, expect, it } from 'vitest';
import { MessageCursor } from '../../src/netlink/message.js';
import type { Transport, TransportHandlers } from '../../src/netlink/transport.js';
import * as C from '../../src/nftables/constants.js';
import { NftablesKernelError } from '../../src/nftables/errors.js';
import { NftSocket } from '../../src/nftables-runtime/nft-socket.js';

/** An NLMSG_ERROR answering the message with `seq` and `type` (capped), optionally with ext-ack text and offset. */
function nlError(seq: number, type: number, errno: number, text?: string, offset?: number): Uint8Array {
  const msg = text === undefined ? new Uint8Array(0) : new TextEncoder().encode(`${text}\0`);
  const tlvs: Uint8Array[] = [];
  if (text !== undefined) {
    const t = new Uint8Array((4 + msg.length + 3) & ~3);
    new DataView(t.buffer).setUint16(0, 4 + msg.length, true);
    new DataView(t.buffer).setUint16(2, 1, true); // NLMSGERR_ATTR_MSG
    t.set(msg, 4);
    tlvs.push(t);
  }
  if (offset !== undefined) {
    const t = new Uint8Array(8);
    const v = new DataView(t.buffer);
    v.setUint16(0, 8, true);
    v.setUint16(2, 2, true); // NLMSGERR_ATTR_OFFS
    v.setUint32(4, offset, true);
    tlvs.push(t);
  }
  const tlvLen = tlvs.reduce((a, t) => a + t.length, 0);
  const b = new Uint8Array(16 + 4 + 16 + tlvLen);
  const v = new DataView(b.buffer);
  v.setUint32(0, b.length, true);
  v.setUint16(4, 2, true);
  v.setUint16(6, 0x100 | (tlvLen > 0 ? 0x200 : 0), true);
  v.setUint32(8, seq, true);
  v.setInt32(16, -errno, true);
  v.setUint32(20, 36, true);
  v.setUint16(24, type, true);
  v.setUint32(28, seq, true);
  let at = 36;
  for (const t of tlvs) {
    b.set(t, at);
    at += t.length;
  }
  return b;
}

/** A transport that answers each sent batch with `answer(messages)`. */
class BatchKernel implements Transport {
  readonly kind = 'fake-nft';
  readonly portId = 4242;
  private h: TransportHandlers | undefined;
  constructor(private readonly answer: (msgs: { type: number; seq: number; flags: number }[]) => Uint8Array[]) {}
  start(h: TransportHandlers): void {
    this.h = h;
  }
  send(d: Uint8Array): void {
    const c = new MessageCursor().reset(d.slice());
    const msgs: { type: number; seq: number; flags: number }[] = [];
    while (c.next()) msgs.push({ type: c.type, seq: c.seq, flags: c.flags });
    const replies = this.answer(msgs);
    queueMicrotask(() => replies.forEach((r) => this.h?.datagram(r)));
  }
  close(): void {}
}

const table = { family: C.NFPROTO_INET, name: 'nfqueue_1_q0', flags: C.NFT_TABLE_F_OWNER };
const ops = [
  { op: 'newtable' as const, table },
  { op: 'newchain' as const, chain: { family: C.NFPROTO_INET, table: table.name, name: 'input', hook: { hooknum: 1, priority: 0 }, type: 'filter', policy: 1 } },
  { op: 'newrule' as const, rule: { family: C.NFPROTO_INET, table: table.name, chain: 'input', expressions: [{ type: 'queue' as const, num: 0, total: 1, flags: 1 }] } },
];

async function refusal(answer: ConstructorParameters<typeof BatchKernel>[0]): Promise<NftablesKernelError> {
  const s = new NftSocket(new BatchKernel(answer), { requestTimeout: 1000 });
  try {
    const e = await s.batch(ops).then(() => undefined, (x: unknown) => x);
    expect(e).toBeInstanceOf(NftablesKernelError);
    return e as NftablesKernelError;
  } finally {
    s.close();
  }
}

describe('nf_tables socket errors', () => {
  it('every message asks for an ack; a batch whose acks are all 0 resolves', async () => {
    let seen: { type: number; flags: number }[] = [];
    const s = new NftSocket(new BatchKernel((m) => {
      seen = m;
      return m.filter((x) => (x.flags & 4) !== 0).map((x) => nlError(x.seq, x.type, 0));
    }));
    await s.batch(ops);
    s.close();
    expect(seen.map((m) => m.type)).toEqual([0x10, 0x0a00, 0x0a03, 0x0a06, 0x11]);
    expect(seen.slice(1, 4).every((m) => (m.flags & 4) !== 0)).toBe(true);
  });

  it('the failing message is named, with the errno, the extended-ack text, and what the ext-ack offset points at', async () => {
    // Offset 60: NLMSG header and nfgenmsg (20), NFTA_RULE_TABLE (20), NFTA_RULE_CHAIN (12),
    // the NFTA_RULE_EXPRESSIONS and NFTA_LIST_ELEM headers (8): the first expression's name.
    const e = await refusal((m) => m.slice(1, 4).map((x) => (x.type === 0x0a06 ? nlError(x.seq, x.type, 2, 'Expression type not found', 60) : nlError(x.seq, x.type, 0))));
    expect(e.operation).toBe('NEWRULE inet nfqueue_1_q0/input');
    expect(e.code).toBe('ENOENT');
    expect(e.extAckMessage).toBe('Expression type not found');
    expect(e.extAckOffset).toBe(60);
    expect(e.message).toBe('nf_tables refused NEWRULE inet nfqueue_1_q0/input (ENOENT: Expression type not found): this kernel has no `queue` expression (expression 1 of the rule; CONFIG_NFT_QUEUE)');
    const chain = await refusal((m) => m.slice(1, 4).map((x) => nlError(x.seq, x.type, x.type === 0x0a06 ? 2 : 0, undefined, x.type === 0x0a06 ? 40 : undefined)));
    expect(chain.message).toMatch(/no chain input in table inet nfqueue_1_q0/);
  });

  it('a kernel without owned tables (before 5.12) refuses NEWTABLE with EOPNOTSUPP: the error says so', async () => {
    const e = await refusal((m) => m.slice(1, 4).map((x) => nlError(x.seq, x.type, x.type === 0x0a00 ? 95 : 0)));
    expect(e.message).toMatch(/NEWTABLE inet nfqueue_1_q0.*EOPNOTSUPP.*NFT_TABLE_F_OWNER, Linux 5\.12/);
  });

  it('a kernel without nf_tables, or a process without CAP_NET_ADMIN, refuses BATCH_BEGIN alone: the batch fails at once', async () => {
    const none = await refusal((m) => [nlError(m[0]!.seq, 0x10, 95)]);
    expect(none.message).toMatch(/the batch.*EOPNOTSUPP.*CONFIG_NF_TABLES/);
    const eperm = await refusal((m) => [nlError(m[0]!.seq, 0x10, 1)]);
    expect(eperm.message).toMatch(/CAP_NET_ADMIN/);
  });
});
