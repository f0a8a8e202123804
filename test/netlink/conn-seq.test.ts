// NetlinkConn's sequence numbers at the 32-bit wrap: 0 is what the kernel's own messages
// carry (a packet message has seq 0), so a request must never be sent with it, or its ack
// would be mistaken for, and matched against, nothing of ours.
import { describe, expect, it } from 'vitest';
import { NetlinkConn, type ConnHandlers } from '../../src/netlink/conn.js';
import type { Transport, TransportHandlers } from '../../src/netlink/transport.js';
import { nlmsgAck, readLe32, splitMessages } from '../support/bytes.js';

class Wire implements Transport {
  readonly kind = 'wire';
  readonly portId = 99;
  readonly sent: Uint8Array[] = [];
  handlers: TransportHandlers | undefined;
  start(h: TransportHandlers): void {
    this.handlers = h;
  }
  send(d: Uint8Array): void {
    this.sent.push(d.slice());
  }
  close(): void {}
}

describe('NetlinkConn sequence numbers', () => {
  it('wrap from 0xffffffff to 1, never 0, and the request sent with 1 is acked', async () => {
    const wire = new Wire();
    const unmatched: number[] = [];
    const handlers: ConnHandlers = {
      message: () => undefined,
      unmatchedError: (_errno, seq) => unmatched.push(seq),
      decodeError: (e) => {
        throw e;
      },
      socketError: (e) => {
        throw e;
      },
      sendError: (e) => {
        throw e;
      },
      end: () => undefined,
    };
    const conn = new NetlinkConn(wire, handlers);
    conn.start();
    // Skipping 2^32 - 2 requests: the counter is set just below the wrap.
    (conn as unknown as { seq: number }).seq = 0xfffffffe;
    const options = { timeout: 1000, refused: () => new Error('refused'), timedOut: () => new Error('timed out') };
    const send = (): Promise<void> =>
      conn.request(
        (w) => {
          w.begin({ type: 0x10, flags: 0x05, seq: 0, pid: 0 });
          w.end();
        },
        undefined,
        undefined,
        undefined,
        options,
      );
    const a = send();
    const b = send();
    const c = send();
    const [ra, rb, rc] = wire.sent.map((d) => splitMessages(d)[0]!);
    expect([ra, rb, rc].map((m) => readLe32(m!, 8))).toEqual([0xffffffff, 1, 2]);
    wire.handlers!.datagram(nlmsgAck(rb!));
    await expect(b).resolves.toBeUndefined();
    wire.handlers!.datagram(nlmsgAck(ra!));
    wire.handlers!.datagram(nlmsgAck(rc!));
    await Promise.all([a, c]);
    send().catch(() => undefined);
    expect(readLe32(splitMessages(wire.sent[3]!)[0]!, 8)).toBe(3);
    conn.close(new Error('done'));
    expect(unmatched).toEqual([]);
  });
});
