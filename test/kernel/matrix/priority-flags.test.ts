// On every kernel of the matrix (and this one): NFQA_PRIORITY both ways (the sender's
// SO_PRIORITY on the packet, a verdict's priority seen by a later nft `meta priority`
// rule), and what the kernel refuses reported as a typed error: a queue flag it does not
// know (EOPNOTSUPP), and what kernelFeatures() learns of the flags it does know.
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { accept, openQueue, QueueKernelError } from '../../../src/index.js';
import { kernelFeatures } from '../../../src/diagnosis/index.js';
import { encodeConfigFlags } from '../../../src/nfqueue/index.js';
import { createNetns, runCommand, type Netns } from '../../support/netns.js';

const SEND = fileURLToPath(new URL('./udp-send.py', import.meta.url));

let ns: Netns;
beforeAll(() => {
  ns = createNetns('nfqpri');
});
afterAll(async () => {
  await ns?.destroy();
});

function nft(script: string): void {
  const r = runCommand(ns.wrap(['nft', '-f', '-']), { input: script });
  if (r.status !== 0) throw new Error(`nft failed: ${r.stderr}`);
}

/** Packets counted by the nft rule of table inet nfqpri, chain post, that mentions `what`. */
function counter(what: string): number {
  const out = ns.exec(['nft', 'list', 'chain', 'inet', 'nfqpri', 'post']);
  const m = new RegExp(`${what} counter packets (\\d+)`).exec(out);
  if (m === null) throw new Error(`no counter for ${what} in:\n${out}`);
  return Number(m[1]);
}

describe('NFQA_PRIORITY and refused flags', { timeout: 180_000 }, () => {
  it("the sender's SO_PRIORITY arrives as packet.priority; a verdict's priority is what a later rule sees", async () => {
    ns.iptables('-t', 'mangle', '-A', 'OUTPUT', '-p', 'udp', '--dport', '9301', '-j', 'NFQUEUE', '--queue-num', '1');
    // An ACCEPT verdict resumes at the next hook: count by priority in POSTROUTING.
    nft('table inet nfqpri {\n chain post {\n type filter hook postrouting priority 0;\n udp dport 9301 meta priority 1:3 counter\n udp dport 9301 meta priority 0:5 counter\n }\n}\n');
    const seen: (number | undefined)[] = [];
    const q = await openQueue(1, (p) => {
      seen.push(p.priority);
      // The first packet leaves with priority 1:3 (0x10003), the second keeps the sender's.
      return seen.length === 1 ? accept({ priority: 0x10003 }) : 'accept';
    }, { netns: `/run/netns/${ns.name}` });
    try {
      const s = ns.spawn(['python3', SEND, '127.0.0.1', '9301', '2', '5']);
      await s.waitForJson((j) => j.sent === 2, 60_000);
      const deadline = Date.now() + 60_000;
      while (seen.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    } finally {
      await q.close();
    }
    expect(seen).toEqual([5, 5]);
    expect(counter('meta priority 1:3')).toBe(1);
    expect(counter('meta priority 0:5')).toBe(1);
  });

  it('a queue flag the kernel does not know is refused with EOPNOTSUPP, as a QueueKernelError of the flags step', async () => {
    const q = await openQueue(2, () => 'accept', { netns: `/run/netns/${ns.name}` });
    try {
      const unknown = 1 << 5; // past NFQA_CFG_F_SECCTX, the last flag any kernel knows
      const refused = await q.configure('flags', 2, encodeConfigFlags, 2, unknown, unknown, unknown).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(refused).toBeInstanceOf(QueueKernelError);
      expect(refused).toMatchObject({ code: 'EOPNOTSUPP', step: 'flags', queue: 2 });
      expect((refused as Error).message).toMatch(/does not support queue flag/);
    } finally {
      await q.close();
    }
  });

  it('kernelFeatures() finds the flags every kernel since 4.x has', async () => {
    const f = await kernelFeatures({ netns: `/run/netns/${ns.name}` });
    expect(f.flags).toMatchObject({ failOpen: true, gso: true, uidGid: true, secctx: true });
    expect(typeof f.flags.conntrack).toBe('boolean');
    // Nothing is left bound by the probe.
    expect(ns.queueProc().filter((r) => r.queue >= 65528)).toEqual([]);
    // nf_tables, asked through the library's own batches: owner tables (5.12+) everywhere
    // in the matrix, and a queue expression exactly where nft itself can add a queue rule.
    expect(f.ownerTables).toBe(true);
    expect(f.compatQueueTarget).toBe(true);
    const byNft = runCommand(ns.wrap(['nft', '-f', '-']), { input: 'table inet nfqfeat {\n chain c {\n queue num 7 bypass\n }\n}\n' });
    expect(f.queueExpression, byNft.stderr).toBe(byNft.status === 0);
    ns.run(['nft', 'delete', 'table', 'inet', 'nfqfeat']);
    expect(ns.exec(['nft', 'list', 'tables'])).not.toMatch(/nfqueue_probe/);
  });
});
