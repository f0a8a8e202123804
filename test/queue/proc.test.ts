import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parseKernelQueueStats, readKernelQueueStats, PROC_NFNETLINK_QUEUE } from '../../src/queue/proc.js';

// As the kernel prints it (seq_printf "%5u %6u %5u %1u %5u %5u %5u %8u %2d\n").
const SAMPLE =
  '    0 134222267     0 2 65531     0     0        0  1\n' +
  '    1   4242    17 1  1500     3    12      999  1\n' +
  '65535 4294967295 1024 0     0 4294967295     0 4294967295  1\n';

describe('parseKernelQueueStats', () => {
  it('reads every column of every row', () => {
    expect(parseKernelQueueStats(SAMPLE)).toEqual([
      { queue: 0, portId: 134222267, waiting: 0, copyMode: 2, copyRange: 65531, queueDropped: 0, userDropped: 0, lastId: 0 },
      { queue: 1, portId: 4242, waiting: 17, copyMode: 1, copyRange: 1500, queueDropped: 3, userDropped: 12, lastId: 999 },
      { queue: 65535, portId: 4294967295, waiting: 1024, copyMode: 0, copyRange: 0, queueDropped: 4294967295, userDropped: 0, lastId: 4294967295 },
    ]);
  });

  it('returns nothing for an empty table and skips lines that are not rows', () => {
    expect(parseKernelQueueStats('')).toEqual([]);
    expect(parseKernelQueueStats('\n\n')).toEqual([]);
    expect(parseKernelQueueStats('queue portid waiting mode range qdrop udrop last 1\n    2 5 0 2 10 0 0 7 1')).toEqual([
      { queue: 2, portId: 5, waiting: 0, copyMode: 2, copyRange: 10, queueDropped: 0, userDropped: 0, lastId: 7 },
    ]);
    expect(parseKernelQueueStats('1 2 3\n')).toEqual([]);
  });

  it('reads a table from a file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'nfq-proc-'));
    try {
      const f = join(dir, 'nfnetlink_queue');
      writeFileSync(f, SAMPLE);
      expect(readKernelQueueStats(f).map((r) => r.queue)).toEqual([0, 1, 65535]);
      expect(() => readKernelQueueStats(join(dir, 'missing'))).toThrow();
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    expect(PROC_NFNETLINK_QUEUE).toBe('/proc/net/netfilter/nfnetlink_queue');
  });
});
