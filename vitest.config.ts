import { defineConfig } from 'vitest/config';

/**
 * Files whose assertions depend on timing: a flood that provokes overruns in a fast consumer
 * on purpose, close during a flood, a restart measured in ms, and zero-loss bursts into the
 * fallback socket's short queue (~130 packets, see test/kernel/queue.test.ts). They run after
 * the others, one at a time, so no other file's load stalls their consumers and no flood
 * meets another. (overload.test.ts is not one: its consumer is slow by design, sleeping, its
 * flood paced, and its assertions are the kernel's books, which load does not change.)
 */
const SERIAL = [
  'test/kernel/robustness/fallback-overrun.test.ts',
  'test/kernel/robustness/shutdown.test.ts',
  'test/kernel/pool/pool.test.ts',
  'test/kernel/queue.test.ts',
];

export default defineConfig({
  test: {
    // Kernel tests spawn processes in network namespaces: give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Forks, not threads: the netlink socket is a native addon and kernel tests spawn children.
    pool: 'forks',
    // Most kernel test files spend their time waiting on children and the kernel, each in a
    // namespace of its own: run more files at once than there are cores (vitest's default
    // is one fewer than the cores, a single worker on a 2-core machine).
    maxWorkers: 4,
    projects: [
      {
        // Tests that need no root share their worker processes (isolate: false): a fresh
        // process per file cost about a quarter of these files' CPU (measured: 142 s against
        // 108 s of CPU for the 63 files), and the suite is CPU-bound on this 2-core machine.
        extends: true,
        test: { name: 'unit', include: ['test/**/*.test.ts'], exclude: ['test/kernel/**'], isolate: false, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'parallel', include: ['test/kernel/**/*.test.ts'], exclude: SERIAL, sequence: { groupOrder: 0 } },
      },
      {
        extends: true,
        test: { name: 'serial', include: SERIAL, fileParallelism: false, sequence: { groupOrder: 1 } },
      },
    ],
  },
});
