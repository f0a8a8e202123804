/** Opens a Queue over the test kit's in-memory kernel and collects what it reports. */
import { openQueue, type QueueOptions } from '../../src/open-queue.js';
import type { Queue, PacketCallback } from '../../src/queue/queue.js';
import { TestKernel, type TestKernelOptions } from '../../src/testing/test-kernel.js';

/** A port id no real netlink socket of this machine has (above pid_max, below the kernel's negative range). */
export const FAKE_PORT_ID = 0x5eed1234;

export interface Harness {
  queue: Queue;
  kernel: TestKernel;
  errors: Error[];
}

export async function openOnTestKernel(
  callback: PacketCallback,
  options: Omit<QueueOptions, 'transport' | 'onError'> = {},
  kernelOptions: TestKernelOptions = {},
  num: number | number[] = 0,
): Promise<Harness> {
  const kernel = new TestKernel({ portId: FAKE_PORT_ID, ...kernelOptions });
  const errors: Error[] = [];
  const queue = await openQueue(num, callback, { ...options, transport: kernel, onError: (e) => errors.push(e) });
  return { queue, kernel, errors };
}

/** Lets queued microtasks (async verdicts, scheduled flushes, the kernel's answers) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
