/**
 * The native transport's `netns` option: the socket is created in another network namespace
 * while this process stays in its own. Bad targets get a typed error naming them and leave
 * no file descriptor open; on the kernel, a queue in a child namespace is served from here.
 */
import { describe, it, expect, beforeAll, afterAll } from 'vitest';
import { existsSync, readdirSync, statSync, writeFileSync, mkdtempSync, rmSync, openSync, closeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { openNativeTransport, nativeTransportUnavailable } from '../../src/netlink/native-transport.js';
import { openDefaultTransport } from '../../src/netlink/default-transport.js';
import { NetlinkSocketError } from '../../src/netlink/errors.js';
import { NETLINK_NETFILTER } from '../../src/netlink/constants.js';
import { parseKernelQueueStats, readKernelQueueStats, readKernelQueueStatsOf, NFNETLINK_QUEUE_PROC_NET } from '../../src/queue/proc.js';
import { createNetns, kernelTestsUnavailable, sendUdp, type Netns } from '../support/netns.js';

const unavailable = nativeTransportUnavailable();

/** Open file descriptors of this process. */
function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

/** The inode of this thread's network namespace: changes if the thread was left elsewhere. */
function ownNetns(): number {
  return statSync('/proc/thread-self/ns/net').ino;
}

/** The error openNativeTransport throws for `netns`, or a failure if it opens. */
function openError(netns: string | number): NetlinkSocketError {
  try {
    openNativeTransport(NETLINK_NETFILTER, { netns }).close();
  } catch (e) {
    expect(e).toBeInstanceOf(NetlinkSocketError);
    return e as NetlinkSocketError;
  }
  throw new Error(`netns ${String(netns)} opened`);
}

describe.skipIf(unavailable !== undefined)('netns option: bad targets', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'nfq-netns-'));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('a missing path is ENOENT, named, with nothing left open', () => {
    const fds = openFds();
    const e = openError('/run/netns/nfq-no-such-namespace');
    expect(e.errno).toBe(2);
    expect(e.code).toBe('ENOENT');
    expect(e.syscall).toBe('open');
    expect(e.message).toContain('/run/netns/nfq-no-such-namespace');
    expect(openFds()).toBe(fds);
  });

  it('a file that is not a namespace is EINVAL from setns, named, with nothing left open', () => {
    const file = join(dir, 'not-a-namespace');
    writeFileSync(file, 'x');
    const fds = openFds();
    const home = ownNetns();
    const e = openError(file);
    expect(e.errno).toBe(22);
    expect(e.code).toBe('EINVAL');
    expect(e.syscall).toBe('setns');
    expect(e.message).toContain(file);
    expect(e.message).toMatch(/not a network namespace/);
    expect(openFds()).toBe(fds);
    expect(ownNetns()).toBe(home);
  });

  it('a namespace of another kind is EINVAL too', () => {
    const fds = openFds();
    const e = openError('/proc/self/ns/uts');
    expect(e.code).toBe('EINVAL');
    expect(openFds()).toBe(fds);
  });

  it('a directory and a FIFO are refused without hanging', () => {
    const fifo = join(dir, 'fifo');
    const fds = openFds();
    expect(openError(dir).code).toBe('EINVAL');
    execFileSync('mkfifo', [fifo]);
    expect(openError(fifo).code).toBe('EINVAL');
    expect(openFds()).toBe(fds);
  });

  it('a fd that is not open is EBADF, and a caller fd stays open after an error', () => {
    const fds = openFds();
    const fd = openSync('/proc/self/ns/uts', 'r');
    expect(openError(fd).code).toBe('EINVAL');
    // Not ours to close: still open.
    expect(openFds()).toBe(fds + 1);
    closeSync(fd);
    // (A just-closed number would be reused by the addon's own open of the home namespace.)
    const e = openError(1 << 30);
    expect(e.code).toBe('EBADF');
    expect(e.message).toContain(`fd ${1 << 30}`);
    expect(openFds()).toBe(fds);
  });

  it('bad option types are TypeError / RangeError before anything is opened', () => {
    expect(() => openNativeTransport(NETLINK_NETFILTER, { netns: -1 })).toThrow(RangeError);
    expect(() => openNativeTransport(NETLINK_NETFILTER, { netns: 1.5 })).toThrow(RangeError);
    expect(() => openNativeTransport(NETLINK_NETFILTER, { netns: '' })).toThrow(TypeError);
    expect(() => openNativeTransport(NETLINK_NETFILTER, { netns: {} as unknown as string })).toThrow(TypeError);
    expect(() => openNativeTransport(NETLINK_NETFILTER, { netns: '/proc/self/ns/net', procNetFiles: ['../self/environ'] })).toThrow(TypeError);
  });
});

describe('netns option on the netlink package fallback', () => {
  it('is a clear error, not a socket in the wrong namespace', () => {
    const before = process.env.NFQUEUE_TRANSPORT;
    process.env.NFQUEUE_TRANSPORT = 'netlink';
    try {
      let err: unknown;
      try {
        openDefaultTransport(NETLINK_NETFILTER, { netns: '/proc/self/ns/net' }).close();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(NetlinkSocketError);
      expect((err as NetlinkSocketError).code).toBe('EOPNOTSUPP');
      expect((err as Error).message).toMatch(/netns option needs the native transport/);
    } finally {
      if (before === undefined) delete process.env.NFQUEUE_TRANSPORT;
      else process.env.NFQUEUE_TRANSPORT = before;
    }
  });
});

const skipKernel = kernelTestsUnavailable() ?? unavailable;

describe.skipIf(skipKernel !== undefined)('netns option on the kernel', () => {
  let ns: Netns;
  beforeAll(() => {
    ns = createNetns('nsopt');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it("opens the socket in the child namespace; its /proc file keeps showing that namespace's table", async () => {
    const home = ownNetns();
    const fds = openFds();
    const t = openNativeTransport(NETLINK_NETFILTER, { netns: `/run/netns/${ns.name}`, procNetFiles: [NFNETLINK_QUEUE_PROC_NET] });
    try {
      expect(ownNetns()).toBe(home);
      const { openQueue } = await import('../../src/index.js');
      const q = await openQueue(41, () => 'accept', { transport: t });
      // The row is in the child's table (as `ip netns exec` sees it), read through our fd...
      const row = { queue: 41, portId: t.portId };
      expect(ns.queueProc().some((r) => r.queue === 41 && r.portid === t.portId)).toBe(true);
      expect(readKernelQueueStatsOf(t).some((r) => r.queue === row.queue && r.portId === row.portId)).toBe(true);
      expect(parseKernelQueueStats(t.readProcNet?.(NFNETLINK_QUEUE_PROC_NET) ?? '')).toEqual(readKernelQueueStatsOf(t));
      // ...and not in this process's own namespace.
      expect(readKernelQueueStats().some((r) => r.queue === row.queue && r.portId === row.portId)).toBe(false);
      await q.close();
      expect(ownNetns()).toBe(home);
    } finally {
      t.close();
    }
    expect(openFds()).toBe(fds);
  });

  it('serves and answers packets of a rule in the child namespace while this process stays in its own', async () => {
    const home = ownNetns();
    const queue = 42;
    const port = 7142;
    const count = 40;
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', String(queue));
    // Verdicts resume at the next hook: count what passed, by the mark our verdict set.
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'mark', '--mark', '7', '-m', 'comment', '--comment', 'netns-marked');
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', 'netns-all');
    const nsFd = openSync(`/run/netns/${ns.name}`, 'r');
    const { openQueue } = await import('../../src/index.js');
    let seen = 0;
    const q = await openQueue(
      queue,
      (p) => {
        seen++;
        // Every other packet dropped: the verdicts are ours, not a default.
        return p.id % 2 === 0 ? { verdict: 'accept', mark: 7 } : 'drop';
      },
      { netns: nsFd },
    );
    closeSync(nsFd); // the socket keeps its namespace alone
    try {
      expect(ownNetns()).toBe(home);
      const sent = await sendUdp(ns, '127.0.0.1', port, { count });
      expect(sent.sent).toBe(count);
      const t0 = Date.now();
      while (seen < count && Date.now() - t0 < 20_000) await new Promise((r) => setTimeout(r, 20));
      expect(seen).toBe(count);
      const stats = q.stats();
      // The kernel's row comes from the child's table, with nothing left waiting.
      expect(stats.kernel).toEqual([expect.objectContaining({ queue, portId: q.portId, waiting: 0 })]);
      const marked = ns.counter('mangle', 'POSTROUTING', 'netns-marked').pkts;
      const all = ns.counter('mangle', 'POSTROUTING', 'netns-all').pkts;
      expect(marked).toBe(all);
      expect(all).toBe(stats.verdicts.accept);
      expect(stats.verdicts.accept + stats.verdicts.drop).toBe(count);
      expect(stats.verdicts.drop).toBeGreaterThan(0);
    } finally {
      await q.close();
    }
    expect(ownNetns()).toBe(home);
    await ns.waitForQueueUnbound(queue);
  });
});

describe.skipIf(skipKernel !== undefined)("netns option: the queue reads its namespace's /proc", () => {
  let ns: Netns;
  beforeAll(() => {
    ns = createNetns('nsproc');
  });
  afterAll(async () => {
    await ns?.destroy();
  });

  it('EPERM from a queue another process holds there is reported as EBUSY (the owner is found in that table)', async () => {
    const { openQueue, QueueKernelError } = await import('../../src/index.js');
    const holder = await openQueue(45, () => 'accept', { netns: `/run/netns/${ns.name}` });
    try {
      const e = await openQueue(45, () => 'accept', { netns: `/run/netns/${ns.name}` }).then(
        () => undefined,
        (err: unknown) => err,
      );
      expect(e).toBeInstanceOf(QueueKernelError);
      expect((e as InstanceType<typeof QueueKernelError>).code).toBe('EBUSY');
      expect((e as Error).message).toContain(`netlink port id ${holder.portId}`);
    } finally {
      await holder.close();
    }
  });

  it('close() drains a burst waiting in that namespace: every packet gets a verdict, none is dropped by the unbind', async () => {
    const { openQueue } = await import('../../src/index.js');
    const port = 7146;
    const count = 60;
    ns.iptables('-A', 'OUTPUT', '-p', 'udp', '--dport', String(port), '-j', 'NFQUEUE', '--queue-num', '46');
    ns.iptables('-t', 'mangle', '-A', 'POSTROUTING', '-p', 'udp', '--dport', String(port), '-m', 'comment', '--comment', 'netns-drained');
    let closing: Promise<void> | undefined;
    const q = await openQueue(
      46,
      () => {
        if (closing === undefined) {
          // Hold the loop while the burst piles up in the kernel and the socket, then close.
          const t0 = Date.now();
          while (Date.now() - t0 < 500);
          closing = q.close();
        }
        return 'accept';
      },
      { netns: `/run/netns/${ns.name}` },
    );
    const sent = await sendUdp(ns, '127.0.0.1', port, { count });
    expect(sent.sent).toBe(count);
    while (closing === undefined) await new Promise((r) => setTimeout(r, 20));
    await closing;
    expect(ns.counter('mangle', 'POSTROUTING', 'netns-drained').pkts).toBe(count);
  });
});

describe.skipIf(skipKernel !== undefined)('openQueue netns option with record', () => {
  let ns: Netns;
  let dir: string;
  beforeAll(() => {
    ns = createNetns('nsrec');
    dir = mkdtempSync(join(tmpdir(), 'nfq-netns-rec-'));
  });
  afterAll(async () => {
    await ns?.destroy();
    rmSync(dir, { recursive: true, force: true });
  });

  it("records a queue of the child namespace, and stats() shows that namespace's row", async () => {
    const { openQueue } = await import('../../src/index.js');
    const { readPcapFile } = await import('../../src/pcap/index.js');
    const file = join(dir, 'netns.pcap');
    const q = await openQueue(43, () => 'accept', { netns: `/run/netns/${ns.name}`, record: file });
    try {
      expect(q.transportKind).toBe('record(native)');
      expect(q.stats().kernel).toEqual([expect.objectContaining({ queue: 43, portId: q.portId })]);
      expect(readKernelQueueStats().some((r) => r.queue === 43 && r.portId === q.portId)).toBe(false);
    } finally {
      await q.close();
    }
    expect(readPcapFile(file).records.length).toBeGreaterThan(0);
  });

  it('rejects netns with a transport, and a bad namespace before the recording is made', async () => {
    const { openQueue } = await import('../../src/index.js');
    const t = openNativeTransport(NETLINK_NETFILTER);
    try {
      await expect(openQueue(44, () => 'accept', { netns: `/run/netns/${ns.name}`, transport: t })).rejects.toThrow(TypeError);
    } finally {
      t.close();
    }
    const file = join(dir, 'never.pcap');
    const fds = openFds();
    await expect(openQueue(44, () => 'accept', { netns: '/run/netns/nfq-no-such-namespace', record: file })).rejects.toMatchObject({ name: 'NetlinkSocketError', code: 'ENOENT' });
    expect(existsSync(file)).toBe(false);
    expect(openFds()).toBe(fds);
  });
});
