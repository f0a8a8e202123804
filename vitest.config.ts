import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Kernel tests spawn processes in network namespaces: give them room.
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // Forks, not threads: the netlink socket is a native addon and kernel tests spawn children.
    pool: 'forks',
  },
});
