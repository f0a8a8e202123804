/**
 * A NETLINK_NETFILTER socket that speaks nf_tables: all-or-nothing batches whose every
 * message is acked (so a refusal names the message, with the kernel's extended-ack text),
 * and dumps of tables, chains and rules decoded into typed objects. It composes the pure
 * codecs of `src/nftables/` with a NetlinkConn over a Transport.
 *
 * The socket matters: a table created with the owner flag belongs to this socket's port id
 * and is deleted by the kernel when the socket closes (or the process dies).
 */
import { NETLINK_NETFILTER, NLM_F_DUMP_INTR } from '../netlink/constants.js';
import { NetlinkConn } from '../netlink/conn.js';
import { openDefaultTransport } from '../netlink/default-transport.js';
import { NetlinkError, NetlinkSocketError, type RequestInfo } from '../netlink/errors.js';
import type { NetnsTarget } from '../netlink/netns.js';
import type { Transport } from '../netlink/transport.js';
import type { MessageWriter } from '../netlink/writer.js';
import * as C from '../nftables/constants.js';
import { NftablesKernelError } from '../nftables/errors.js';
import type { Ruleset } from '../nftables/queue-rules.js';
import { decodeChain, decodeRule, decodeTable, encodeBatchBegin, encodeBatchEnd, encodeDumpRequest, nftMessageAt, type NftChain, type NftRule, type NftTable } from '../nftables/messages.js';
import { attributeAtOffset, describeOperation, familyName, writeOperation, type BatchOperation, type OffendingAttribute } from '../nftables/batch.js';

/** Options of openNftSocket(). */
export interface NftSocketOptions {
  /** Open the socket in another network namespace (path or fd; needs the native transport). */
  netns?: NetnsTarget;
  /** The transport to use instead of opening one (tests, replays). */
  transport?: Transport;
  /** Milliseconds to wait for the kernel's answer to a batch or dump (default 5000). */
  requestTimeout?: number;
}

/** Kernel modules behind expression names, for hints (`queue` → CONFIG_NFT_QUEUE). */
const EXPRESSION_CONFIG: Record<string, string> = { queue: 'CONFIG_NFT_QUEUE', target: 'CONFIG_NFT_COMPAT', match: 'CONFIG_NFT_COMPAT', ct: 'CONFIG_NFT_CT', counter: 'CONFIG_NF_TABLES', meta: 'CONFIG_NF_TABLES', payload: 'CONFIG_NF_TABLES' };

/** What the user should hear about an errno, given the operation and the attribute the kernel pointed at. */
/** The operation a batch message's sequence number belongs to (seqs[0] is BATCH_BEGIN). */
function operationOf(b: BatchInFlight, seq: number): BatchOperation | undefined {
  const k = b.seqs.indexOf(seq);
  return k > 0 ? b.operations[k - 1] : undefined;
}

/** BATCH_BEGIN, each operation (with NLM_F_ACK), BATCH_END; the connection numbers them. */
function writeBatch(w: MessageWriter, operations: readonly BatchOperation[]): void {
  encodeBatchBegin(w, { seq: 0 });
  for (const o of operations) writeOperation(w, o, 0);
  encodeBatchEnd(w, { seq: 0 });
}

/** A GET* dump request, narrowed to `table` when given. */
function writeDumpRequest(w: MessageWriter, getMsg: number, family: number, table: string | undefined): void {
  encodeDumpRequest(w, getMsg, family, { seq: 0 }, table);
}

function featureHint(errno: number, o: BatchOperation | undefined, batchLevel: boolean, at: OffendingAttribute | undefined): string | undefined {
  if (batchLevel && errno === 95) return 'this kernel has no nf_tables (CONFIG_NF_TABLES)';
  if (batchLevel && errno === 1) return 'changing nf_tables needs CAP_NET_ADMIN';
  if (o?.op === 'newtable' && errno === 95 && ((o.table.flags ?? 0) & C.NFT_TABLE_F_OWNER) !== 0) return 'this kernel has no owned tables (NFT_TABLE_F_OWNER, Linux 5.12+)';
  if (o?.op === 'newtable' && errno === 17) return `a table named ${o.table.name} already exists`;
  if (o?.op === 'newchain' && errno === 97) return `this kernel has no nf_tables family ${familyName(o.chain.family)}`;
  if (o?.op === 'newchain' && errno === 2 && at?.attribute === 'NFTA_CHAIN_TYPE') return `this kernel has no chain type ${o.chain.type ?? '?'} for family ${familyName(o.chain.family)}`;
  if (o?.op === 'newrule' && errno === 2 && at?.expression !== undefined) {
    const name = at.expression.name;
    return `this kernel has no \`${name}\` expression (expression ${at.expression.index + 1} of the rule${EXPRESSION_CONFIG[name] === undefined ? '' : `; ${EXPRESSION_CONFIG[name]}`})`;
  }
  if (o?.op === 'newrule' && errno === 2 && at?.attribute === 'NFTA_RULE_CHAIN') return `there is no chain ${o.rule.chain} in table ${familyName(o.rule.family)} ${o.rule.table}`;
  if (o?.op === 'deltable' && errno === 1) return 'the table is owned by another netlink socket';
  return at === undefined ? undefined : `the kernel points at ${at.attribute}${at.expression === undefined ? '' : ` (expression ${at.expression.index + 1}, ${at.expression.name})`}`;
}

interface BatchInFlight {
  /** The sequence numbers the connection gave BATCH_BEGIN, each operation, BATCH_END (filled as they are sent). */
  seqs: number[];
  operations: readonly BatchOperation[];
  errors: NftablesKernelError[];
  fail(err: Error): void;
}

interface DumpInFlight {
  /** The dump request's sequence number, once sent (filled by the connection). */
  seqs: number[];
  kind: number;
  items: unknown[];
  interrupted: boolean;
  generation: number | undefined;
  error: Error | undefined;
}

/** The results of a dump, with the ruleset generation it was read at. */
interface DumpResult<T> {
  items: T[];
  generation: number | undefined;
}

/** An nf_tables netlink socket; see the file comment. */
export class NftSocket {
  private readonly conn: NetlinkConn;
  private readonly timeout: number;
  private batchInFlight: BatchInFlight | undefined;
  private dumpInFlight: DumpInFlight | undefined;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  /** Set when the socket failed by itself (the transport ended or errored). */
  private failure: Error | undefined;

  constructor(transport: Transport, options: Pick<NftSocketOptions, 'requestTimeout'> = {}) {
    this.timeout = options.requestTimeout ?? 5000;
    this.conn = new NetlinkConn(transport, {
      message: (type, buf, off, len) => this.onMessage(type, buf, off, len),
      unmatchedError: (errno, seq, extAck) => this.onUnmatchedError(errno, seq, extAck),
      decodeError: (err) => this.fail(err),
      socketError: (err) => this.fail(err),
      sendError: (err) => this.fail(err instanceof Error ? err : new NetlinkSocketError(String(err))),
      end: () => this.fail(new NetlinkSocketError('the nf_tables socket ended')),
    });
    this.conn.start();
  }

  /** Our netlink port id: the owner of the tables this socket creates with the owner flag. */
  get portId(): number {
    return this.conn.portId;
  }

  /** True once close() was called. */
  get isClosed(): boolean {
    return this.closed;
  }

  /** Lets the process exit while the socket is open (or not). */
  setKeepAlive(alive: boolean): void {
    this.conn.transport.setKeepAlive?.(alive);
  }

  /** Closes the socket; the kernel then deletes every table it owns. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.conn.close(new NetlinkError('the nf_tables socket was closed', { code: 'ERR_NFT_CLOSED' }));
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.batchInFlight?.fail(err);
    if (this.dumpInFlight !== undefined) this.dumpInFlight.error ??= err;
  }

  /** Runs `f` after every earlier batch and dump (one exchange at a time keeps replies apart). */
  private serial<T>(f: () => Promise<T>): Promise<T> {
    const run = this.tail.then(f, f);
    this.tail = run.catch(() => undefined);
    return run;
  }

  private refused(what: string) {
    return {
      timeout: this.timeout,
      refused: (errno: number, extAck: { message?: string; offset?: number } | undefined, seq: number) => new NftablesKernelError(errno, what, { type: 0, seq, what }, extAck),
      timedOut: () => new NetlinkError(`nf_tables did not answer ${what} within ${this.timeout} ms`, { code: 'ETIMEDOUT' }),
    };
  }

  /**
   * Sends `operations` as one batch and resolves when the kernel committed it. On a refusal
   * nothing of the batch is applied, and the NftablesKernelError names the first failing
   * message with the kernel's extended-ack text.
   */
  batch(operations: readonly BatchOperation[]): Promise<void> {
    if (operations.length === 0) return Promise.resolve();
    return this.serial(() => this.sendBatch(operations));
  }

  private sendBatch(operations: readonly BatchOperation[]): Promise<void> {
    if (this.closed) return Promise.reject(new NetlinkError('the nf_tables socket is closed', { code: 'ERR_NFT_CLOSED' }));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    return new Promise<void>((resolve, reject) => {
      let settled = false;
      const done = (err?: Error): void => {
        if (settled) return;
        settled = true;
        this.batchInFlight = undefined;
        if (err === undefined) resolve();
        else reject(err);
      };
      const last = operations[operations.length - 1]!;
      const inFlight: BatchInFlight = { seqs: [], operations, errors: [], fail: done };
      this.batchInFlight = inFlight;
      // The last message's ack comes last (the kernel delivers a batch's acks in order, after
      // a commit failure reported against BATCH_BEGIN): when it settles, every error is in.
      // Every operation asks for an ack; the connection awaits the last one (BATCH_END asks
      // for none), and the seqs it hands back tie the other messages' errors to them.
      const lastAck = this.conn.requestAll(writeBatch, operations, undefined, undefined, this.refused(describeOperation(last)), inFlight.seqs);
      lastAck.then(
        () => done(inFlight.errors[0]),
        (err: Error) => {
          const first = inFlight.errors[0];
          if (first !== undefined) return done(first);
          if (err instanceof NftablesKernelError) {
            const seq = err.request?.seq ?? 0;
            return done(this.kernelError(err.errno, seq, { message: err.extAckMessage, offset: err.extAckOffset }));
          }
          done(err);
        },
      );
    });
  }

  private kernelError(errno: number, seq: number, extAck: { message?: string | undefined; offset?: number | undefined } | undefined): NftablesKernelError {
    const b = this.batchInFlight;
    const o = b === undefined ? undefined : operationOf(b, seq);
    const batchLevel = b !== undefined && seq === b.seqs[0];
    const what = o !== undefined ? describeOperation(o) : batchLevel ? 'the batch' : `message ${seq}`;
    const ack: { message?: string; offset?: number } = {};
    if (extAck?.message !== undefined) ack.message = extAck.message;
    if (extAck?.offset !== undefined) ack.offset = extAck.offset;
    const request: RequestInfo = { type: 0, seq, what };
    const at = o !== undefined && ack.offset !== undefined ? attributeAtOffset(o, ack.offset) : undefined;
    return new NftablesKernelError(errno, what, request, ack, featureHint(errno, o, batchLevel, at));
  }

  private onUnmatchedError(errno: number, seq: number, extAck: { message?: string; offset?: number } | undefined): void {
    const b = this.batchInFlight;
    if (b === undefined) return;
    const err = this.kernelError(errno, seq, extAck);
    // An error against BATCH_BEGIN (EPERM, no nf_tables, a failed commit) may be all that comes.
    if (seq === b.seqs[0]) b.fail(err);
    else if (operationOf(b, seq) !== undefined) b.errors.push(err);
  }

  private onMessage(type: number, buf: Uint8Array, off: number, len: number): void {
    const d = this.dumpInFlight;
    if (d === undefined) return;
    const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    if (view.getUint32(off + 8, true) !== d.seqs[0] || type !== C.nftMessageType(d.kind)) return;
    if ((view.getUint16(off + 6, true) & NLM_F_DUMP_INTR) !== 0) d.interrupted = true;
    try {
      d.generation ??= nftMessageAt(buf, off, len).resId;
      if (d.kind === C.NFT_MSG_NEWTABLE) d.items.push(decodeTable(buf, off, len));
      else if (d.kind === C.NFT_MSG_NEWCHAIN) d.items.push(decodeChain(buf, off, len));
      else d.items.push(decodeRule(buf, off, len));
    } catch (e) {
      d.error ??= e as Error;
    }
  }

  private dumpOnce<T>(getMsg: number, newMsg: number, family: number, table: string | undefined): Promise<DumpResult<T> & { interrupted: boolean }> {
    if (this.closed) return Promise.reject(new NetlinkError('the nf_tables socket is closed', { code: 'ERR_NFT_CLOSED' }));
    if (this.failure !== undefined) return Promise.reject(this.failure);
    const what = `the ${getMsg === C.NFT_MSG_GETTABLE ? 'table' : getMsg === C.NFT_MSG_GETCHAIN ? 'chain' : 'rule'} dump`;
    const d: DumpInFlight = { seqs: [], kind: newMsg, items: [], interrupted: false, generation: undefined, error: undefined };
    this.dumpInFlight = d;
    const finish = (): void => {
      if (this.dumpInFlight === d) this.dumpInFlight = undefined;
    };
    return this.conn
      .requestAll(writeDumpRequest, getMsg, family, table, this.refused(what), d.seqs)
      .then(
        () => {
          finish();
          if (d.error !== undefined) throw d.error;
          return { items: d.items as T[], generation: d.generation, interrupted: d.interrupted };
        },
        (e: unknown) => {
          finish();
          throw e;
        },
      );
  }

  /** Dumps until the kernel reports a consistent read (no NLM_F_DUMP_INTR), three tries at most. */
  private dump<T>(getMsg: number, newMsg: number, family: number, table: string | undefined): Promise<DumpResult<T>> {
    return this.serial(async () => {
      for (let attempt = 0; ; attempt++) {
        const r = await this.dumpOnce<T>(getMsg, newMsg, family, table);
        if (!r.interrupted || attempt === 2) return { items: r.items, generation: r.generation };
      }
    });
  }

  /** Every table (of `family`, default all), with its flags and owner. */
  async tables(family = C.NFPROTO_UNSPEC): Promise<NftTable[]> {
    return (await this.dump<NftTable>(C.NFT_MSG_GETTABLE, C.NFT_MSG_NEWTABLE, family, undefined)).items;
  }

  /** Every chain (of `family`, and of `table` when given). */
  async chains(family = C.NFPROTO_UNSPEC, table?: string): Promise<NftChain[]> {
    return (await this.dump<NftChain>(C.NFT_MSG_GETCHAIN, C.NFT_MSG_NEWCHAIN, family, table)).items;
  }

  /** Every rule (of `family`, and of `table` when given), with its expressions decoded. */
  async rules(family = C.NFPROTO_UNSPEC, table?: string): Promise<NftRule[]> {
    return (await this.dump<NftRule>(C.NFT_MSG_GETRULE, C.NFT_MSG_NEWRULE, family, table)).items;
  }

  /** Tables, chains and rules read at one ruleset generation (re-read when it changed in between). */
  async ruleset(family = C.NFPROTO_UNSPEC): Promise<Ruleset> {
    for (let attempt = 0; ; attempt++) {
      const t = await this.dump<NftTable>(C.NFT_MSG_GETTABLE, C.NFT_MSG_NEWTABLE, family, undefined);
      const c = await this.dump<NftChain>(C.NFT_MSG_GETCHAIN, C.NFT_MSG_NEWCHAIN, family, undefined);
      const r = await this.dump<NftRule>(C.NFT_MSG_GETRULE, C.NFT_MSG_NEWRULE, family, undefined);
      const gens = new Set([t.generation, c.generation, r.generation].filter((g) => g !== undefined));
      if (gens.size <= 1 || attempt === 2) return { tables: t.items, chains: c.items, rules: r.items, generation: [...gens][0] };
    }
  }
}

/** Opens an nf_tables socket (the default transport: the native addon's, else the `netlink` package's). */
export function openNftSocket(options: NftSocketOptions = {}): NftSocket {
  const transport = options.transport ?? openDefaultTransport(NETLINK_NETFILTER, options.netns === undefined ? {} : { netns: options.netns });
  const o: Pick<NftSocketOptions, 'requestTimeout'> = {};
  if (options.requestTimeout !== undefined) o.requestTimeout = options.requestTimeout;
  return new NftSocket(transport, o);
}

/** Reads the whole nf_tables ruleset (of `options.netns`, or this process's namespace) through a short-lived socket. */
export async function listRuleset(options: NftSocketOptions & { family?: number } = {}): Promise<Ruleset> {
  const s = openNftSocket(options);
  s.setKeepAlive(true);
  try {
    return await s.ruleset(options.family ?? C.NFPROTO_UNSPEC);
  } finally {
    s.close();
  }
}
