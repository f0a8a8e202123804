/**
 * Our nf_tables messages byte for byte against libnftnl's (the library nft is built on): a
 * small C program (libnftnl/reference.c) is compiled at test time against libnftnl-dev and
 * prints NEWTABLE, NEWCHAIN, NEWRULE (every expression kind we send), DELTABLE and the batch
 * delimiters; we encode the same objects and compare. Skipped, saying why, only when gcc or
 * libnftnl-dev is missing.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { NLM_F_ACK } from '../../src/netlink/constants.js';
import { MessageWriter } from '../../src/netlink/writer.js';
import * as C from '../../src/nftables/constants.js';
import type { Expr } from '../../src/nftables/expressions.js';
import { NLM_F_APPEND, NLM_F_CREATE, NLM_F_EXCL, encodeBatchBegin, encodeBatchEnd, encodeDelTable, encodeNewChain, encodeNewRule, encodeNewTable } from '../../src/nftables/messages.js';
import { compatQueueExpr, hostU32 } from '../../src/nftables/rule-spec.js';

const SOURCE = fileURLToPath(new URL('./libnftnl/reference.c', import.meta.url));

function unavailable(): string | undefined {
  if (spawnSync('gcc', ['--version']).status !== 0) return 'gcc is not installed';
  if (!existsSync('/usr/include/libnftnl/rule.h')) return 'libnftnl-dev is not installed (apt-get install libnftnl-dev)';
  if (!existsSync('/usr/include/libmnl/libmnl.h')) return 'libmnl-dev is not installed (apt-get install libmnl-dev)';
  return undefined;
}
const skip = unavailable();
if (skip !== undefined) console.warn(`libnftnl byte comparison skipped: ${skip}`);

const dir = mkdtempSync(join(tmpdir(), 'nft-libnftnl-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** libnftnl's messages by name, as bytes. */
function reference(): Map<string, Uint8Array> {
  const exe = join(dir, 'reference');
  execFileSync('gcc', ['-Wall', '-Werror', '-o', exe, SOURCE, '-lnftnl', '-lmnl'], { stdio: 'pipe' });
  const out = execFileSync(exe, { encoding: 'utf8' });
  return new Map(out.trim().split('\n').map((l) => { const [n, hex] = l.split(' '); return [n!, Uint8Array.from(Buffer.from(hex!, 'hex'))]; }));
}

function ours(write: (w: MessageWriter) => void): Uint8Array {
  const w = new MessageWriter();
  write(w);
  return w.finishCopy();
}

const TABLE = 'nfqueue_42_q0';
const RULE_EXPRESSIONS: Expr[] = [
  { type: 'meta', key: C.NFT_META_L4PROTO, dreg: 1 },
  { type: 'cmp', sreg: 1, op: C.NFT_CMP_EQ, data: Uint8Array.of(17) },
  { type: 'payload', dreg: 1, base: C.NFT_PAYLOAD_TRANSPORT_HEADER, offset: 2, len: 2 },
  { type: 'range', sreg: 1, op: C.NFT_RANGE_EQ, from: Uint8Array.of(0x03, 0xe8), to: Uint8Array.of(0x07, 0xd0) },
  { type: 'bitwise', sreg: 1, dreg: 1, op: 0, len: 4, mask: hostU32(0xc0000000), xor: hostU32(0) },
  { type: 'ct', key: C.NFT_CT_STATE, dreg: 1 },
  { type: 'ct', key: C.NFT_CT_MARK, sreg: 1 },
  { type: 'meta', key: C.NFT_META_MARK, sreg: 1 },
  { type: 'counter', packets: 0n, bytes: 0n },
  { type: 'queue', num: 2, total: 2, flags: C.NFT_QUEUE_FLAG_BYPASS | C.NFT_QUEUE_FLAG_CPU_FANOUT },
  compatQueueExpr({ first: 2, total: 2, bypass: true }),
  { type: 'immediate', dreg: 0, verdict: { code: C.NF_ACCEPT } },
  { type: 'immediate', dreg: 0, verdict: { code: C.NFT_JUMP, chain: 'flow' } },
];

describe.skipIf(skip !== undefined)('nf_tables messages against libnftnl', () => {
  const ref = skip === undefined ? reference() : new Map<string, Uint8Array>();
  const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

  it('NEWTABLE with the owner flag', () => {
    expect(hex(ours((w) => encodeNewTable(w, { family: C.NFPROTO_INET, name: TABLE, flags: C.NFT_TABLE_F_OWNER }, { seq: 11, flags: NLM_F_CREATE | NLM_F_EXCL | NLM_F_ACK })))).toBe(hex(ref.get('newtable')));
  });

  it('NEWCHAIN: a base chain with hook, negative priority, type and policy', () => {
    const chain = { family: C.NFPROTO_INET, table: TABLE, name: 'queue', hook: { hooknum: C.NF_INET_LOCAL_OUT, priority: -5 }, policy: C.NF_ACCEPT, type: 'filter' };
    expect(hex(ours((w) => encodeNewChain(w, chain, { seq: 12, flags: NLM_F_CREATE | NLM_F_ACK })))).toBe(hex(ref.get('newchain')));
  });

  it('NEWRULE with meta, cmp, payload, range, bitwise, ct load and set, meta set, counter, queue, the NFQUEUE target and immediate verdicts', () => {
    const rule = { family: C.NFPROTO_INET, table: TABLE, chain: 'queue', expressions: RULE_EXPRESSIONS };
    expect(hex(ours((w) => encodeNewRule(w, rule, { seq: 13, flags: NLM_F_CREATE | NLM_F_APPEND | NLM_F_ACK })))).toBe(hex(ref.get('newrule')));
  });

  it('DELTABLE and the batch delimiters', () => {
    expect(hex(ours((w) => encodeDelTable(w, C.NFPROTO_INET, TABLE, { seq: 14, flags: NLM_F_ACK })))).toBe(hex(ref.get('deltable')));
    expect(hex(ours((w) => encodeBatchBegin(w, { seq: 10 })))).toBe(hex(ref.get('batchbegin')));
    expect(hex(ours((w) => encodeBatchEnd(w, { seq: 15 })))).toBe(hex(ref.get('batchend')));
  });
});
