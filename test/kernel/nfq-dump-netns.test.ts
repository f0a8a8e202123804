// nfq-dump --netns and the idle hint on the kernel; the README's netns example and banner,
// run as written; the demo's recording replayed by an unprivileged user. nfq-dump and the
// README example run in THIS process's namespace (not under ip netns exec): the rule and
// the traffic live in a child namespace. Needs root, iproute2 and iptables-legacy.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readlinkSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Child, createNetns, kernelTestsUnavailable, sendUdp, type Netns } from '../support/netns.js';
import { nativeTransportUnavailable } from '../../src/netlink/native-transport.js';
import { CLI, ROOT, ensureBuilt, jsonLines } from '../support/cli.js';

const skip = kernelTestsUnavailable() ?? nativeTransportUnavailable();
const NODE = process.execPath;
const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** This process's network namespace, e.g. `net:[4026531833]`. */
const ownNetns = (): string => readlinkSync('/proc/self/ns/net');

describe.skipIf(skip !== undefined)('nfq-dump --netns and the idle hint (kernel, root)', () => {
  let ns: Netns;
  let tmp: string;
  const running: Child[] = [];

  /** Starts a command HERE (not in the namespace), collecting its output. */
  function start(cmd: string[], env: Record<string, string> = {}): Child {
    const c = new Child(cmd, spawn(cmd[0]!, cmd.slice(1), { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...env } }));
    running.push(c);
    return c;
  }

  async function stderrMatch(c: Child, re: RegExp, what: string, timeoutMs = 15_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!re.test(c.stderr())) {
      if (Date.now() > deadline || !c.running) throw new Error(`no ${what}\n${c.transcript()}`);
      await sleep(50);
    }
  }

  beforeAll(() => {
    ensureBuilt();
    tmp = mkdtempSync(join(tmpdir(), 'nfq-dump-netns-'));
    ns = createNetns('nfqnscli');
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', '5500', '-j', 'NFQUEUE', '--queue-num', '3');
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', '5500', '-m', 'mark', '--mark', '0x2a', '-m', 'comment', '--comment', 'netns-marked');
  });

  afterEach(async () => {
    for (const c of running.splice(0)) {
      c.kill('SIGKILL');
      await c.exited;
    }
    for (const q of [0, 3, 4]) await ns.waitForQueueUnbound(q, 5_000);
  });

  afterAll(async () => {
    await ns?.destroy();
    if (tmp !== undefined) rmSync(tmp, { recursive: true, force: true });
  });

  it("serves the child namespace's queue from here: packets shown and answered, that namespace's counters in the summary", async () => {
    const c = start([NODE, CLI, '--netns', ns.name, '-q', '3', '--json', '--mark', '0x2a', '-c', '5']);
    await stderrMatch(c, /listening on queue 3/, 'banner');
    expect(c.stderr()).toContain(`nfq-dump: listening on queue 3 in network namespace ${ns.name} (copy 65535 bytes), verdict accept with mark 0x2a; Ctrl-C to stop`);
    const row = await ns.waitForQueueBound(3);
    // nfq-dump itself is still in this namespace.
    expect(readlinkSync(`/proc/${c.pid}/ns/net`)).toBe(ownNetns());
    expect(row.portid).toBeGreaterThan(0);
    await sendUdp(ns, '127.0.0.1', 5500, { count: 5 });
    expect((await c.waitForExit(15_000)).code).toBe(0);
    const pkts = jsonLines(c.lines().join('\n'));
    expect(pkts).toHaveLength(5);
    expect(pkts.every((p) => p['queue'] === 3 && p['dport'] === 5500 && p['verdict'] === 'accept' && p['verdictMark'] === 0x2a)).toBe(true);
    expect(ns.counter('mangle', 'POSTROUTING', 'netns-marked').pkts).toBe(5);
    // The kernel's counters come from the child's table: this namespace has no such row.
    expect(c.stderr()).toContain('0 packets dropped by kernel (queue 3: 0 queue full, 0 socket buffer full)');
    expect(c.stderr()).not.toMatch(/no packet on queue/);
  });

  it('a quiet queue with no rule: one hint with its /proc row and the queues the rules use', async () => {
    const c = start([NODE, CLI, '--netns', `/run/netns/${ns.name}`, '-q', '4'], { NFQ_DUMP_IDLE_HINT_MS: '300' });
    await stderrMatch(c, /check the queue number/, 'idle hint');
    await sleep(1000); // time for a second hint, which must not come
    c.kill('SIGINT');
    expect((await c.waitForExit(10_000)).code).toBe(0);
    const err = c.stderr();
    expect(err.match(/no packet on queue 4/g)).toHaveLength(1);
    expect(err).toMatch(/nfq-dump: no packet on queue 4 after 0\.3 s\. Where did they go\?\n {2}\/proc\/net\/netfilter\/nfnetlink_queue: queue 4, portid \d+, waiting 0, copy mode 2, copy range \d+, queue_dropped 0, user_dropped 0, last id 0 \(bound by this nfq-dump/);
    expect(err).toMatch(new RegExp(`no NFQUEUE rule in network namespace /run/netns/${ns.name} sends packets to queue 4 \\(iptables-legacy-save[^)]*; NFQUEUE rules there go to queue 3\\)`));
  });

  it('a quiet queue a rule targets (nfq-dump inside the namespace): the hint shows the rule', async () => {
    const c = ns.spawn([NODE, CLI, '-q', '3'], { env: { NFQ_DUMP_IDLE_HINT_MS: '300' } });
    running.push(c);
    await stderrMatch(c, /so no packet has matched them yet/, 'idle hint');
    c.kill('SIGINT');
    expect((await c.waitForExit(10_000)).code).toBe(0);
    expect(c.stderr()).toContain('  NFQUEUE rules in this network namespace for queue 3:\n    iptables -t filter -A OUTPUT -p udp -m udp --dport 5500 -j NFQUEUE --queue-num 3\n');
  });

  it('without iptables-save (nor nsenter) the hint still shows the /proc row', async () => {
    const bin = join(tmp, 'bin');
    spawnSync('mkdir', ['-p', bin]);
    const c = start([NODE, CLI, '--netns', ns.name, '-q', '4'], { NFQ_DUMP_IDLE_HINT_MS: '300', PATH: bin });
    await stderrMatch(c, /could not read iptables-legacy-save/, 'idle hint');
    c.kill('SIGINT');
    expect((await c.waitForExit(10_000)).code).toBe(0);
    expect(c.stderr()).toMatch(/\/proc\/net\/netfilter\/nfnetlink_queue: queue 4, portid \d+/);
    // The nf_tables dump needs no command; the legacy tables do.
    expect(c.stderr()).toMatch(/could not read iptables-legacy-save: iptables-legacy has IPv4 tables \([a-z, ]*filter[a-z, ]*\) but iptables-legacy-save is not installed/);
    // With nsenter but no iptables-save at all:
    symlinkSync(spawnSync('sh', ['-c', 'command -v nsenter'], { encoding: 'utf8' }).stdout.trim(), join(bin, 'nsenter'));
    const d = start([NODE, CLI, '--netns', ns.name, '-q', '4'], { NFQ_DUMP_IDLE_HINT_MS: '300', PATH: bin });
    await stderrMatch(d, /could not read iptables-legacy-save/, 'idle hint');
    d.kill('SIGINT');
    expect((await d.waitForExit(10_000)).code).toBe(0);
    expect(d.stderr()).toMatch(/no NFQUEUE rule in network namespace \S+ sends packets to queue 4 \(nf_tables dump; no rule there queues packets at all\)/);
  });

  it('no hint once packets arrive', async () => {
    const c = start([NODE, CLI, '--netns', ns.name, '-q', '3'], { NFQ_DUMP_IDLE_HINT_MS: '4000' });
    await ns.waitForQueueBound(3);
    await sendUdp(ns, '127.0.0.1', 5500, { count: 1 });
    while (c.lines().length === 0 && c.running) await sleep(50);
    await sleep(4500);
    c.kill('SIGINT');
    expect((await c.waitForExit(10_000)).code).toBe(0);
    expect(c.stderr()).toContain('1 packet seen on queue 3');
    expect(c.stderr()).not.toMatch(/no packet on queue/);
  });

  it('bad namespaces: exit 1 with a message naming them, nothing bound', () => {
    const notNs = join(tmp, 'not-a-namespace');
    writeFileSync(notNs, '');
    for (const [arg, msg] of [
      ['nfq-no-such-ns', 'cannot open network namespace /run/netns/nfq-no-such-ns: no such file'],
      [notNs, `cannot open netlink socket in network namespace ${notNs}: not a network namespace (EINVAL)`],
    ] as const) {
      const r = spawnSync(NODE, [CLI, '--netns', arg], { encoding: 'utf8', timeout: 15_000 });
      expect(r.status).toBe(1);
      expect(r.stderr).toContain(`nfq-dump: ${msg}`);
    }
    const fallback = spawnSync(NODE, [CLI, '--netns', ns.name], { encoding: 'utf8', timeout: 15_000, env: { ...process.env, NFQUEUE_TRANSPORT: 'netlink' } });
    expect(fallback.status).toBe(1);
    expect(fallback.stderr).toMatch(/the netns option needs the native transport/);
    expect(ns.queueProc()).toEqual([]);
  });

  it("the README's banner is the one nfq-dump prints", async () => {
    const c = ns.spawn([NODE, CLI]);
    running.push(c);
    await stderrMatch(c, /listening on/, 'banner');
    c.kill('SIGINT');
    await c.waitForExit(10_000);
    const banner = c.stderr().split('\n')[0]!;
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('## nfq-dump'), readme.indexOf('## Library'));
    expect(section).toContain(`\n    ${banner}\n`);
  });

  it("the README's netns example runs as written, from this namespace", async () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const at = readme.indexOf('**Another network namespace.**');
    const m = /```js\n([\s\S]*?)```/.exec(readme.slice(at));
    expect(at >= 0 && m !== null, 'a js example after "Another network namespace"').toBe(true);
    const code = m![1]!.replace("from 'netfilter-queue'", `from '${join(ROOT, 'dist/index.js')}'`).replace("'/run/netns/blue'", `'/run/netns/${ns.name}'`);
    expect(code).toContain(`/run/netns/${ns.name}`);
    const file = join(tmp, 'netns-example.mjs');
    writeFileSync(file, code);
    ns.iptables('-I', 'OUTPUT', '-p', 'udp', '--dport', '5501', '-j', 'NFQUEUE', '--queue-num', '0');
    const app = start([NODE, file]);
    const bound = await app.waitForLine(/^bound in blue:/, 15_000);
    const rows = JSON.parse(bound.slice('bound in blue:'.length)) as Array<{ queue: number; portId: number }>;
    expect(rows).toEqual([expect.objectContaining({ queue: 0, portId: (await ns.waitForQueueBound(0)).portid })]);
    await sendUdp(ns, '127.0.0.1', 5501, { count: 3 });
    // Answered by the callback (close() would give waiting ones the default verdict unseen).
    for (let r = ns.queueRow(0); !(r !== undefined && r.lastId >= 3 && r.waiting === 0); r = ns.queueRow(0)) await sleep(50);
    app.kill('SIGINT');
    expect(await app.waitForLine(/packets accepted$/, 10_000)).toBe('3 packets accepted');
  });
});

describe.skipIf(kernelTestsUnavailable() !== undefined)('npm run demo', () => {
  it('leaves a recording that a user without privileges can replay', () => {
    const r = spawnSync('bash', [join(ROOT, 'scripts/demo.sh')], { encoding: 'utf8', timeout: 120_000, cwd: ROOT });
    const out = /The capture files stay in (\S+) /.exec(r.stdout)?.[1];
    try {
      expect(r.status, r.stdout + r.stderr).toBe(0);
      expect(out).toBeDefined();
      expect(statSync(out!).mode & 0o005).toBe(0o005);
      for (const f of ['netlink.pcap', 'packets.pcap']) expect(statSync(join(out!, f)).mode & 0o004).toBe(0o004);
      const nobody = spawnSync('setpriv', ['--reuid=nobody', '--regid=nogroup', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', NODE, CLI, '-r', join(out!, 'netlink.pcap'), '-c', '2'], { encoding: 'utf8' });
      expect(nobody.status, nobody.stderr).toBe(0);
      expect(nobody.stdout.split('\n').filter((l) => l !== '')).toHaveLength(2);
    } finally {
      if (out !== undefined) rmSync(out, { recursive: true, force: true });
    }
  });
});
