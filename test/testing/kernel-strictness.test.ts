/**
 * The test kit's kernel is as strict as the real one: a verdict for a packet that is not
 * waiting is refused with ENOENT, a verdict code the kernel refuses (NF_STOLEN) with EINVAL,
 * and only what was refused (or asked for) is answered.
 */
import { describe, it, expect } from 'vitest';
import { constants } from 'node:os';
import { TestKernel } from '../../src/testing/test-kernel.js';
import { MessageWriter } from '../../src/netlink/writer.js';
import { parseErrorMessage, parseMessages } from '../../src/netlink/message.js';
import { encodeConfigCommand, encodeConfigParams } from '../../src/nfqueue/config.js';
import { encodeVerdict } from '../../src/nfqueue/verdict.js';
import { attr, nfgenmsg, nlmsg } from '../support/bytes.js';

/** A kernel with queue 0 bound in packet mode, and the errnos it answered. */
async function bound(): Promise<{ kernel: TestKernel; answers: () => Promise<number[]> }> {
  const kernel = new TestKernel();
  const got: Uint8Array[] = [];
  kernel.start({ datagram: (d) => got.push(d.slice()), error: (e) => { throw e; } });
  const w = new MessageWriter();
  encodeConfigCommand(w, 0, 1, 0, { seq: 1 });
  encodeConfigParams(w, 0, 2, 0xffff, { seq: 2 });
  kernel.send(w.finish());
  const answers = async (): Promise<number[]> => {
    await Promise.resolve();
    const out = got.flatMap((d) => parseMessages(d).filter((m) => m.header.type === 2).map((m) => parseErrorMessage(m).errno));
    got.length = 0;
    return out;
  };
  expect(await answers()).toEqual([]); // success without NLM_F_ACK: no answer
  return { kernel, answers };
}

describe('TestKernel strictness', () => {
  it('refuses a verdict for a packet that is not waiting with ENOENT', async () => {
    const { kernel, answers } = await bound();
    const w = new MessageWriter();
    encodeVerdict(w, 0, 7, { verdict: 'accept' }, { seq: 3 }); // nothing queued yet
    kernel.send(w.finish());
    expect(await answers()).toEqual([constants.errno.ENOENT]);
    const { id, outcome } = kernel.enqueue({ queue: 0, family: 2, hwProtocol: 0x0800, hook: 3, payload: new Uint8Array(20) });
    w.reset();
    encodeVerdict(w, 0, id + 1, { verdict: 'accept' }, { seq: 4 }); // a packet is queued, not this one
    kernel.send(w.finish());
    expect(await answers()).toEqual([constants.errno.ENOENT]);
    w.reset();
    encodeVerdict(w, 0, id, { verdict: 'drop' }, { seq: 5 });
    kernel.send(w.finish());
    expect(await answers()).toEqual([]);
    expect((await outcome).ok).toBe(true);
  });

  it('refuses NF_STOLEN (verdict 2) with EINVAL, as the kernel does', async () => {
    const { kernel, answers } = await bound();
    const { id } = kernel.enqueue({ queue: 0, family: 2, hwProtocol: 0x0800, hook: 3, payload: new Uint8Array(20) });
    // struct nfqnl_msg_verdict_hdr { be32 verdict = NF_STOLEN; be32 id; }
    const stolen = nlmsg({ type: 0x0301, flags: 1, seq: 5 }, nfgenmsg(0, 0), attr(2, [0, 0, 0, 2, 0, 0, 0, id]));
    kernel.send(stolen);
    expect(await answers()).toEqual([constants.errno.EINVAL]);
    expect(kernel.waitingCount).toBe(1);
  });
});
