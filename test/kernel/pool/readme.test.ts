// The README's "Worker pool and metrics" examples, run as written (the package import
// rewritten to the built dist/, `nfq-dump` to the built CLI) in a namespace: the pool with
// its handler module and metrics server, the curl scrape, and nfq-dump --metrics.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ns, eventually, type Json } from '../../support/capabilities.js';
import { countDelivered, sendUdp } from '../../support/netns.js';
import { promtoolCheck } from '../../support/promtool.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const SOURCES = Array.from({ length: 24 }, (_, i) => `127.0.0.${i + 2}`);

function section(): { js: string[]; sh: string[] } {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  const start = readme.indexOf('## Worker pool and metrics');
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0) throw new Error('README has no "## Worker pool and metrics" section');
  const text = readme.slice(start, end);
  const blocks = (lang: string): string[] => [...text.matchAll(new RegExp('```' + lang + '\\n([\\s\\S]*?)```', 'g'))].map((m) => m[1]!);
  return { js: blocks('js'), sh: blocks('sh') };
}

let ns: Ns;
let dir: string;
beforeAll(() => {
  ns = new Ns('poolrd');
  dir = mkdtempSync(join(tmpdir(), 'nfq-pool-readme-'));
});
afterAll(async () => {
  await ns?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

describe('README: worker pool and metrics', () => {
  it('has the handler, the pool, a curl scrape and nfq-dump --metrics, using only the public package', () => {
    const { js, sh } = section();
    expect(js).toHaveLength(2);
    expect(sh).toHaveLength(2);
    expect(js[0]).toMatch(/export default function/);
    expect(js[1]).toMatch(/from 'netfilter-queue'/);
    expect(js[1]).toMatch(/openQueuePool\(/);
    expect(sh[0]).toMatch(/^curl /);
    expect(sh[1]).toMatch(/^nfq-dump .*--metrics 127\.0\.0\.1:\d+/);
  });

  it('the pool example serves queues 0-3 on 2 workers, drops "forbidden", and its metrics scrape with curl', async () => {
    const { js, sh } = section();
    writeFileSync(join(dir, 'handler.mjs'), js[0]!);
    writeFileSync(join(dir, 'pool.mjs'), js[1]!.replace("from 'netfilter-queue'", `from '${join(ROOT, 'dist/index.js')}'`));
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '-j', 'NFQUEUE', '--queue-balance', '0:3');
    const app = ns.spawn([process.execPath, join(dir, 'pool.mjs')]);
    // (Its first line is not JSON, which this helper does not collect: look at /proc instead.)
    await eventually(() => [0, 1, 2, 3].every((q) => (ns.row(q)?.copyMode ?? 0) === 2), 'queues 0-3 bound', 30_000);
    await eventually(() => ns.run('curl', '-sf', '-o', '/dev/null', 'http://127.0.0.1:9102/metrics').status === 0, 'metrics served', 30_000);
    const delivered = countDelivered(ns.netns, 7300);
    const forbidden = countDelivered(ns.netns, 7300, { alternatives: [['-m', 'string', '--algo', 'bm', '--string', 'forbidden']] });
    expect((await sendUdp(ns.netns, '127.0.0.1', 7300, { count: 2, from: SOURCES })).sent).toBe(48);
    expect((await sendUdp(ns.netns, '127.0.0.1', 7300, { count: 5, payloadPrefix: 'forbidden;', bind: '127.0.0.9' })).sent).toBe(5);
    await eventually(() => delivered.pkts() === 48, 'delivered: 48');
    const scrape = ns.run('bash', '-c', sh[0]!);
    expect(scrape.status).toBe(0);
    const perQueue = [...scrape.stdout.matchAll(/^nfqueue_packets_received_total\{queue="(\d)",worker="(\d)"\} (\d+)$/gm)];
    expect(perQueue.map((m) => [Number(m[1]), Number(m[2])])).toEqual([
      [0, 0],
      [1, 1],
      [2, 0],
      [3, 1],
    ]);
    expect(perQueue.reduce((a, m) => a + Number(m[3]), 0)).toBe(53);
    expect(promtoolCheck(ns.run('curl', '-s', 'http://127.0.0.1:9102/metrics').stdout)).toEqual({ status: 0, output: '' });
    expect(forbidden.pkts()).toBe(0);
    app.kill('SIGTERM');
    await app.exited;
    expect(app.exitStatus()?.code).toBe(0);
    const final = app.json<Json>().find((l) => l.closed === true)!;
    expect(final.received).toHaveLength(2);
    expect(final.received[0] + final.received[1]).toBe(53);
    expect([0, 1, 2, 3].map((q) => ns.row(q))).toEqual([undefined, undefined, undefined, undefined]);
  });

  it('the nfq-dump --metrics example runs as written', () => {
    const { sh } = section();
    const script = sh[1]!.replace(/^nfq-dump /m, `${process.execPath} ${join(ROOT, 'dist/cli/nfq-dump.js')} `);
    ns.ipt('-A', 'OUTPUT', '-p', 'udp', '--dport', '7301', '-j', 'NFQUEUE', '--queue-num', '0');
    const r = ns.run('bash', '-c', `${script}\nwait`);
    expect(r.status).toBe(0);
    expect(r.stdout.trim().split('\n')).toEqual(['nfqueue_kernel_packets_waiting{queue="0"} 0']);
    expect(ns.row(0)).toBeUndefined();
  });
});
