/**
 * A fake netlink transport for driving a Queue without root: it records every datagram the
 * queue sends, answers config requests (BIND, PARAMS, QUEUE_MAXLEN, FLAGS, UNBIND) the way
 * the kernel does (an NLMSG_ERROR ack with NLM_F_CAPPED, or an error echoing the whole
 * request), and lets a test inject received datagrams. Answers arrive in a microtask, like a
 * real socket's would arrive after send() returns.
 */
import type { Transport, TransportHandlers } from '../../src/netlink/transport.js';
import type { NetlinkSocketError } from '../../src/netlink/errors.js';
import { MessageCursor } from '../../src/netlink/message.js';
import * as C from '../../src/nfqueue/constants.js';
import { decodeConfigMessage } from '../../src/nfqueue/config.js';
import { decodeVerdictMessage } from '../../src/nfqueue/verdict-decoder.js';
import { nlmsgAck, nlmsgError } from './bytes.js';

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

const COMMANDS = ['config', 'bind', 'unbind', 'pf-bind', 'pf-unbind'] as const;

/** Classifies a CONFIG message by its attributes (with the library's one config decoder). */
export function configKind(msg: Uint8Array): ConfigKind {
  const c = decodeConfigMessage(msg);
  if (c.command !== undefined) return COMMANDS[c.command] ?? 'config';
  if (c.copyMode !== undefined) return 'params';
  if (c.maxLen !== undefined) return 'maxlen';
  if (c.flags !== undefined) return 'flags';
  return 'config';
}

/** The verdict messages of a datagram, read with the library's one verdict decoder. */
export function verdictsIn(d: Uint8Array, datagram = 0): SeenVerdict[] {
  const out: SeenVerdict[] = [];
  const c = new MessageCursor().reset(d);
  while (c.next()) {
    if (c.type !== C.NFQ_TYPE_VERDICT && c.type !== C.NFQ_TYPE_VERDICT_BATCH) continue;
    const { batch, queue, id, word, verdict } = decodeVerdictMessage(d, c.offset, c.length);
    out.push({ batch, queue, id, word, seq: c.seq, pid: c.pid, mark: verdict.mark, priority: verdict.priority, payload: verdict.payload?.slice(), datagram });
  }
  if (c.error !== undefined) throw c.error;
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
    const cursor = new MessageCursor().reset(copy);
    while (cursor.next()) {
      if (cursor.type !== C.NFQ_TYPE_CONFIG) continue;
      const m = cursor.bytes();
      const c: SeenConfig = { kind: configKind(m), queue: decodeConfigMessage(m).queue, seq: cursor.seq, flags: cursor.flags, bytes: m };
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
