// NetlinkConn on its own, with a netlink family of its own (type 0x10), over a fake
// transport: requests and their acks and errors (ext-ack included), timeouts, kernel errors
// no request waits for, the framing of received datagrams, and batched sends.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { NetlinkConn, type ConnHandlers } from '../../src/netlink/conn.js';
import { NetlinkSocketError } from '../../src/netlink/errors.js';
import type { Transport, TransportHandlers } from '../../src/netlink/transport.js';
import type { MessageWriter } from '../../src/netlink/writer.js';
import { attr, concat, nlmsg, nlmsgAck, nlmsgError, readLe16, readLe32, splitMessages } from '../support/bytes.js';

const TYPE = 0x10;
const NLM_F_REQUEST = 0x01;
const NLM_F_REQUEST_ACK = 0x05;

class Wire implements Transport {
  readonly kind = 'wire';
  readonly portId = 99;
  readonly sent: Uint8Array[] = [];
  handlers: TransportHandlers | undefined;
  closed = false;
  start(h: TransportHandlers): void {
    this.handlers = h;
  }
  send(d: Uint8Array): void {
    this.sent.push(d.slice());
  }
  close(): void {
    this.closed = true;
  }
  receive(d: Uint8Array): void {
    this.handlers!.datagram(d);
  }
}

interface Seen {
  message: [number, Uint8Array][];
  unmatched: unknown[];
  decode: Error[];
  socket: NetlinkSocketError[];
}

function setup(onMessage?: (conn: NetlinkConn) => void): { wire: Wire; conn: NetlinkConn; seen: Seen } {
  const wire = new Wire();
  const seen: Seen = { message: [], unmatched: [], decode: [], socket: [] };
  const h: ConnHandlers = {
    message: (type, buf, off, len) => (onMessage !== undefined ? onMessage(conn) : seen.message.push([type, buf.subarray(off, off + len)])),
    unmatchedError: (errno, seq, extAck) => seen.unmatched.push({ errno, seq, extAck }),
    decodeError: (e) => seen.decode.push(e),
    socketError: (e) => seen.socket.push(e),
    sendError: (e) => {
      throw e;
    },
    end: () => undefined,
  };
  const conn: NetlinkConn = new NetlinkConn(wire, h);
  conn.start();
  return { wire, conn, seen };
}

const options = {
  timeout: 1000,
  refused: (errno: number, extAck: { message?: string } | undefined, seq: number) => new Error(`refused ${errno} ${extAck?.message ?? '-'} seq ${seq}`),
  timedOut: () => new Error('timed out'),
};

/** A request of type TYPE holding attribute 1 = `value`; seq, pid and the ack flag left to the connection. */
function encodeTest(w: MessageWriter, value: number): void {
  w.begin({ type: TYPE, flags: NLM_F_REQUEST, seq: 0, pid: 0 });
  w.attrBe32(1, value);
  w.end();
}

function request(conn: NetlinkConn): Promise<void> {
  return conn.request(encodeTest, 7, undefined, undefined, options);
}

afterEach(() => {
  vi.useRealTimers();
});

describe('NetlinkConn', () => {
  it('resolves a request on its ack and rejects one on its error, with the extended ack', async () => {
    const { wire, conn } = setup();
    const a = request(conn);
    const b = request(conn);
    const [ra, rb] = wire.sent.map((d) => splitMessages(d)[0]!);
    expect(wire.sent).toHaveLength(2); // each request leaves at once
    // The connection filled in seq, our port id and NLM_F_ACK.
    expect([readLe16(ra!, 6), readLe32(ra!, 8), readLe32(ra!, 12)]).toEqual([NLM_F_REQUEST_ACK, 1, conn.portId]);
    expect([readLe16(rb!, 6), readLe32(rb!, 8), readLe32(rb!, 12)]).toEqual([NLM_F_REQUEST_ACK, 2, conn.portId]);
    const extAck = attr(1, Buffer.from('bad attribute\0'));
    wire.receive(concat(nlmsgError(22, rb!, { ackTlvs: extAck }), nlmsgAck(ra!)));
    await expect(a).resolves.toBeUndefined();
    await expect(b).rejects.toThrow(/^refused 22 bad attribute seq 2$/);
  });

  it('times a request out, and a late answer is then nobody\'s', async () => {
    vi.useFakeTimers();
    const { wire, conn, seen } = setup();
    const p = request(conn);
    vi.advanceTimersByTime(1000);
    await expect(p).rejects.toThrow('timed out');
    wire.receive(nlmsgError(1, splitMessages(wire.sent[0]!)[0]!));
    expect(seen.unmatched).toEqual([{ errno: 1, seq: 1, extAck: undefined }]);
  });

  it('hands over the family\'s messages, drops acks nobody waits for, and reports a malformed tail after the good messages', () => {
    const { wire, seen } = setup();
    const m1 = nlmsg({ type: TYPE, seq: 0 }, [1, 2, 3, 4]);
    const stray = nlmsgAck(nlmsg({ type: TYPE, seq: 77 }));
    wire.receive(concat(m1, stray, nlmsg({ type: 3 }), new Uint8Array(5)));
    expect(seen.message).toEqual([[TYPE, m1]]);
    expect(seen.unmatched).toEqual([]);
    expect(seen.decode).toHaveLength(1);
    expect(String(seen.decode[0])).toMatch(/netlink header needs 16 bytes, 5 left/);
  });

  it('reports NLMSG_OVERRUN as an ENOBUFS socket error', () => {
    const { wire, seen } = setup();
    wire.receive(nlmsg({ type: 4 }));
    expect(seen.socket).toHaveLength(1);
    expect(seen.socket[0]!.code).toBe('ENOBUFS');
  });

  it('sends what is written while a datagram is handled as one datagram, after it', () => {
    const { wire } = setup((conn) => {
      conn.send(encodeTest, 1, undefined, undefined);
    });
    wire.receive(concat(nlmsg({ type: TYPE }), nlmsg({ type: TYPE }), nlmsg({ type: TYPE })));
    expect(wire.sent).toHaveLength(1);
    expect(splitMessages(wire.sent[0]!)).toHaveLength(3);
  });

  it('send() fills in seq and port id, returns the seq, and asks for no ack; seq skips 0 when it wraps', async () => {
    const { wire, conn } = setup();
    (conn as unknown as { seq: number }).seq = 0xfffffffe;
    const seqs = [conn.send(encodeTest, 1, undefined, undefined), conn.send(encodeTest, 2, undefined, undefined), conn.send(encodeTest, 3, undefined, undefined)];
    expect(seqs).toEqual([0xffffffff, 1, 2]);
    expect(wire.sent).toHaveLength(0); // outside a datagram: at the end of the microtask turn
    await Promise.resolve();
    expect(wire.sent).toHaveLength(1);
    const sent = splitMessages(wire.sent[0]!);
    expect(sent.map((m) => [readLe16(m, 6), readLe32(m, 8), readLe32(m, 12)])).toEqual(seqs.map((s) => [NLM_F_REQUEST, s, conn.portId]));
  });

  it('close() rejects what still waits and closes the transport', async () => {
    const { wire, conn } = setup();
    const p = request(conn);
    conn.close(new Error('closed'));
    await expect(p).rejects.toThrow('closed');
    expect(wire.closed).toBe(true);
    expect(conn.isClosed).toBe(true);
  });

  describe('a send that fails', () => {
    /** A connection whose transport throws `err` on send while `failing` is set; sendError reports are kept. */
    function failingSetup(err: unknown): { conn: NetlinkConn; reported: unknown[]; wire: Wire & { failing: boolean } } {
      const wire = Object.assign(new Wire(), { failing: true });
      const send = wire.send.bind(wire);
      wire.send = (d: Uint8Array): void => {
        if (wire.failing) throw err;
        send(d);
      };
      const reported: unknown[] = [];
      const conn = new NetlinkConn(wire, {
        message: () => undefined,
        unmatchedError: () => undefined,
        decodeError: () => undefined,
        socketError: () => undefined,
        sendError: (e) => void reported.push(e),
        end: () => undefined,
      });
      conn.start();
      return { conn, reported, wire };
    }

    it('rejects its request at once with the send error, not after the timeout, and reports nothing else', async () => {
      vi.useFakeTimers();
      const eperm = new NetlinkSocketError('sendmsg failed: EPERM', { errno: 1, syscall: 'sendmsg' });
      const { conn, reported, wire } = failingSetup(eperm);
      const p = request(conn);
      await expect(p).rejects.toBe(eperm);
      expect(reported).toEqual([]);
      expect(vi.getTimerCount()).toBe(0); // its timeout was cleared
      // The connection goes on: the next request is sent and answered.
      wire.failing = false;
      const q = request(conn);
      wire.receive(nlmsgAck(splitMessages(wire.sent[0]!)[0]!));
      await expect(q).resolves.toBeUndefined();
    });

    it('with verdicts in the same datagram: the request rejects, and the owner hears of the rest; a plain Error becomes a NetlinkSocketError', async () => {
      const { conn, reported } = failingSetup(new Error('boom'));
      conn.sendHeld(encodeTest, 1, undefined, undefined); // written, not yet sent
      const p = request(conn);
      const err = await p.then(() => undefined, (e: unknown) => e);
      expect(err).toBeInstanceOf(NetlinkSocketError);
      expect(String(err)).toMatch(/sending a request failed: boom/);
      expect(reported).toHaveLength(1);
    });

    it('requestAll: every message of the request is its own (nothing reported beside the rejection)', async () => {
      const { conn, reported } = failingSetup(new NetlinkSocketError('ENOBUFS', { errno: 105 }));
      const twoMessages = (w: MessageWriter): void => {
        encodeTest(w, 1);
        w.begin({ type: TYPE, flags: NLM_F_REQUEST_ACK, seq: 0, pid: 0 });
        w.end();
      };
      const seqs: number[] = [];
      await expect(conn.requestAll(twoMessages, undefined, undefined, undefined, options, seqs)).rejects.toThrow('ENOBUFS');
      expect(seqs).toHaveLength(2);
      expect(reported).toEqual([]);
    });
  });
});
