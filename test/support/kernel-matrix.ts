// Kernel tests that need a feature some kernels lack (the conntrack glue, the nft queue
// expression): they skip where the feature is missing, with the reason recorded for the
// kernel matrix's table (scripts/kernel-matrix), and FAIL instead of skipping on a kernel
// the matrix says has the feature (NFQ_KERNEL_EXPECT, set in the guest from matrix.json).
import type { TestContext } from 'vitest';

declare module 'vitest' {
  interface TaskMeta {
    /** Why the test skipped on this kernel (shown by npm run test:kernels). */
    skipReason?: string;
  }
}

/** The features the kernel matrix expects of the kernel running these tests. */
export const expectedFeatures: ReadonlySet<string> = new Set((process.env.NFQ_KERNEL_EXPECT ?? '').split(',').filter((f) => f !== ''));

/**
 * Skips the test (recording `reason`) unless `have`; throws instead when the matrix
 * expects `feature` on this kernel, so a missing feature can never pass as a skip there.
 */
export function requireFeature(ctx: TestContext, feature: string, have: boolean, reason: string): void {
  if (have) return;
  if (expectedFeatures.has(feature)) {
    throw new Error(`the kernel matrix expects ${feature} on ${process.env.NFQ_KERNEL_MATRIX ?? 'this kernel'}, but ${reason}`);
  }
  ctx.task.meta.skipReason = reason;
  ctx.skip(reason);
}
