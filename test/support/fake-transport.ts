/**
 * A fake netlink transport for driving a Queue without root: it records every datagram the
 * queue sends, answers config requests (BIND, PARAMS, QUEUE_MAXLEN, FLAGS, UNBIND) the way
 * the kernel does (an NLMSG_ERROR ack with NLM_F_CAPPED, or an error echoing the whole
 * request), and lets a test inject received datagrams. Answers arrive in a microtask, like a
 * real socket's would arrive after send() returns.
 */
import type { Transport, TransportHandlers } from '../../src/netlink/transport.js';
import type { NetlinkSocketError } from '../../src/netlink/errors.js';
import { nlmsgAck, nlmsgError, readBe32, readLe16, readLe32, splitAttrs, splitMessages } from './bytes.js';

/** Kind of a config request, from its attributes. */
export type ConfigKind = 'bind' | 'unbind' | 'pf-bind' | 'pf-unbind' | 'params' | 'maxlen' | 'flags' | 'config';

/** A config request the fake saw. */
export interface SeenConfig {
  kind: ConfigKind;
  queue: number;
  seq: number;
  flags: number;
  bytes: Uint8Array;
}

/** A verdict (or batch verdict) message the fake saw. */
export interface SeenVerdict {
  batch: boolean;
  queue: number;
  id: number;
  /** The 32-bit verdict word. */
  word: number;
  seq: number;
  pid: number;
  mark: number | undefined;
  priority: number | undefined;
  payload: Uint8Array | undefined;
  /** Index of the datagram it was sent in. */
  datagram: number;
}

/** Classifies a CONFIG message (type 0x0302) by its attributes. */
export function configKind(msg: Uint8Array): ConfigKind {
  const attrs = splitAttrs(msg);
  for (const a of attrs) {
    const t = a.type & 0x3fff;
    if (t === 1) return (['config', 'bind', 'unbind', 'pf-bind', 'pf-unbind'] as const)[a.value[0]!] ?? 'config';
    if (t === 2) return 'params';
    if (t === 3) return 'maxlen';
    if (t === 5) return 'flags';
  }
  return 'config';
}

/** Decodes the verdict messages (type 0x0301 / 0x0303) of a datagram, test-side. */
export function verdictsIn(d: Uint8Array, datagram = 0): SeenVerdict[] {
  const out: SeenVerdict[] = [];
  for (const m of splitMessages(d)) {
    const type = readLe16(m, 4);
    if (type !== 0x0301 && type !== 0x0303) continue;
    let word = -1;
    let id = -1;
    let mark: number | undefined;
    let priority: number | undefined;
    let payload: Uint8Array | undefined;
    for (const a of splitAttrs(m)) {
      const t = a.type & 0x3fff;
      if (t === 2) {
        word = readBe32(a.value, 0);
        id = readBe32(a.value, 4);
      } else if (t === 3) mark = readBe32(a.value, 0);
      else if (t === 21) priority = readBe32(a.value, 0);
      else if (t === 10) payload = a.value.slice();
    }
    out.push({
      batch: type === 0x0303,
      queue: (m[18]! << 8) | m[19]!,
      id,
      word,
      seq: readLe32(m, 8),
      pid: readLe32(m, 12),
      mark,
      priority,
      payload,
      datagram,
    });
  }
  return out;
}

/** Options of the fake. */
export interface FakeOptions {
  portId?: number;
  /** errno to answer a config request with (0 = ack, undefined = no answer at all). */
  answer?: (c: SeenConfig) => number | undefined;
  /** Deliver answers synchronously, from inside send() (default: in a microtask). */
  sync?: boolean;
}

export class FakeTransport implements Transport {
  readonly kind = 'fake';
  readonly portId: number;
  /** Copies of every datagram sent. */
  readonly sent: Uint8Array[] = [];
  /** Every config request seen, in order. */
  readonly configs: SeenConfig[] = [];
  handlers: TransportHandlers | undefined;
  closed = false;
  startCalls = 0;
  private readonly answer: (c: SeenConfig) => number | undefined;
  private readonly sync: boolean;

  constructor(opts: FakeOptions = {}) {
    this.portId = opts.portId ?? 4242;
    this.answer = opts.answer ?? (() => 0);
    this.sync = opts.sync ?? false;
  }

  start(handlers: TransportHandlers): void {
    this.startCalls++;
    this.handlers = handlers;
  }

  send(datagram: Uint8Array): void {
    if (this.closed) throw new Error('send on a closed fake transport');
    const copy = datagram.slice();
    this.sent.push(copy);
    for (const m of splitMessages(copy)) {
      if (readLe16(m, 4) !== 0x0302) continue;
      const c: SeenConfig = { kind: configKind(m), queue: (m[18]! << 8) | m[19]!, seq: readLe32(m, 8), flags: readLe16(m, 6), bytes: m };
      this.configs.push(c);
      const errno = this.answer(c);
      if (errno === undefined) continue;
      const reply = errno === 0 ? nlmsgAck(m) : nlmsgError(errno, m);
      if (this.sync) this.deliver(reply);
      else queueMicrotask(() => this.deliver(reply));
    }
  }

  /** Hands a datagram to the queue, as if received. */
  deliver(d: Uint8Array): void {
    if (this.closed || this.handlers === undefined) return;
    this.handlers.datagram(d);
  }

  /** Reports a socket error to the queue. */
  fail(err: NetlinkSocketError): void {
    this.handlers?.error(err);
  }

  close(): void {
    this.closed = true;
  }

  /** Every verdict message sent so far, in order. */
  verdicts(): SeenVerdict[] {
    return this.sent.flatMap((d, i) => verdictsIn(d, i));
  }
}
