/** Opens a Queue over the fake transport and collects what it reports. */
import { openQueue, type QueueOptions } from '../../src/open-queue.js';
import type { Queue, PacketCallback } from '../../src/queue/queue.js';
import { FakeTransport, type FakeOptions } from './fake-transport.js';

/** A port id no real netlink socket of this machine has (above pid_max, below the kernel's negative range). */
export const FAKE_PORT_ID = 0x5eed1234;

export interface Harness {
  queue: Queue;
  fake: FakeTransport;
  errors: Error[];
}

export async function openFake(
  callback: PacketCallback,
  options: Omit<QueueOptions, 'transport' | 'onError'> = {},
  fakeOptions: FakeOptions = {},
  num: number | number[] = 0,
): Promise<Harness> {
  const fake = new FakeTransport({ portId: FAKE_PORT_ID, ...fakeOptions });
  const errors: Error[] = [];
  const queue = await openQueue(num, callback, { ...options, transport: fake, onError: (e) => errors.push(e) });
  return { queue, fake, errors };
}

/** Lets queued microtasks (async verdicts, scheduled flushes, fake answers) run. */
export async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
}
