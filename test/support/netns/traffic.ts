// Traffic for the kernel tests: the one traffic script (test/support/traffic.mjs: UDP/TCP
// sinks, senders, floods) run inside a namespace, and counters of what was delivered.
import { fileURLToPath } from 'node:url';
import type { Child } from './exec.js';
import type { Family, Netns } from './namespaces.js';

/** Path of the standalone traffic script (UDP/TCP sinks, senders and floods). */
export const TRAFFIC_SCRIPT = fileURLToPath(new URL('../traffic.mjs', import.meta.url));
/** Path of the tiny reference consumer used to test these helpers (not the library). */
export const MINI_QUEUE_SCRIPT = fileURLToPath(new URL('../mini-queue.mjs', import.meta.url));

// ------------------------------------------------------------------ traffic conveniences

export interface UdpSinkOptions {
  family?: Family;
  host?: string;
  count?: number;
  timeoutMs?: number;
  idleMs?: number;
  payload?: 'utf8' | 'latin1' | 'hex' | 'none';
  /** Print at most this many payload bytes per datagram (default 64; 0: all of it). */
  payloadMax?: number;
  quiet?: boolean;
  echo?: boolean;
  /** How long to wait for {"ready":true} (default 10 s). */
  readyTimeoutMs?: number;
}

export interface SinkSummary {
  done: true;
  received: number;
  bytes: number;
  distinct: number;
  duplicates: number;
  outOfOrder: number;
  timedOut: boolean;
}

export interface UdpDatagramLine {
  from: string;
  port: number;
  len: number;
  seq: number | null;
  payload?: string;
}

/** Start a UDP sink in `ns` and resolve once it is bound. */
export async function startUdpSink(ns: Netns, port: number, o: UdpSinkOptions = {}): Promise<Child> {
  const args = ['sink', 'udp', String(port)];
  if (o.family) args.push('--family', String(o.family));
  if (o.host) args.push('--host', o.host);
  if (o.count !== undefined) args.push('--count', String(o.count));
  if (o.timeoutMs !== undefined) args.push('--timeout', String(o.timeoutMs));
  if (o.idleMs !== undefined) args.push('--idle', String(o.idleMs));
  if (o.payload) args.push('--payload', o.payload);
  if (o.payloadMax !== undefined) args.push('--payload-max', String(o.payloadMax));
  if (o.quiet) args.push('--quiet');
  if (o.echo) args.push('--echo');
  const child = ns.spawnNode(TRAFFIC_SCRIPT, args);
  await child.waitForJson<{ ready?: boolean }>((j) => j.ready === true, o.readyTimeoutMs ?? 10_000);
  return child;
}

/** Wait for a sink's final summary line (after it ended by itself, or kill it first). */
export async function sinkSummary(sink: Child, timeoutMs = 10_000): Promise<SinkSummary> {
  return sink.waitForJson<SinkSummary>((j) => j.done === true, timeoutMs);
}

/** Datagram lines a UDP sink printed so far. */
export function sinkDatagrams(sink: Child): UdpDatagramLine[] {
  return sink.json<UdpDatagramLine & { from?: string }>().filter((j) => typeof j.from === 'string' && typeof j.len === 'number');
}

export interface UdpSendOptions {
  /** Datagrams to send (from each source with `from`; default 1). */
  count?: number;
  size?: number;
  payloadPrefix?: string;
  rate?: number;
  family?: Family;
  bind?: string;
  /** Send `count` datagrams from each of these source addresses, prefixed `from=ADDR;`. */
  from?: string[];
  sport?: number;
  uid?: number;
  gid?: number;
  echoWaitMs?: number;
  timeoutMs?: number;
}

export interface UdpSendSummary {
  done: true;
  sent: number;
  errors: number;
  errorCodes: Record<string, number>;
  bytes: number;
  ms: number;
  echoed: number;
  /** The sender's uid and gid (after uid/gid were applied). */
  uid: number;
  gid: number;
  local: { address: string; port: number };
}

interface Agent {
  child: Child;
  ready: Promise<unknown>;
}
const agents = new WeakMap<Netns, Agent>();
let agentRequests = 0;

/** The namespace's traffic agent (started on first use, killed with the namespace). */
function agentOf(ns: Netns): Agent {
  let agent = agents.get(ns);
  if (agent === undefined || !agent.child.running) {
    const child = ns.spawnNode(TRAFFIC_SCRIPT, ['agent']);
    agent = { child, ready: child.waitForJson<{ ready?: boolean }>((j) => j.ready === true, 10_000) };
    agents.set(ns, agent);
  }
  return agent;
}

/**
 * Run the UDP sender in `ns` to completion and return its summary. The sends of a namespace
 * go through one long-lived process (the script's agent), so a send costs no process start;
 * one with uid/gid runs in a process of its own.
 */
export async function sendUdp(ns: Netns, host: string, port: number, o: UdpSendOptions = {}): Promise<UdpSendSummary> {
  const args = ['send', 'udp', host, String(port), '--count', String(o.count ?? 1)];
  if (o.size !== undefined) args.push('--size', String(o.size));
  if (o.payloadPrefix !== undefined) args.push('--payload-prefix', o.payloadPrefix);
  if (o.from) args.push('--from', o.from.join(','));
  if (o.rate !== undefined) args.push('--rate', String(o.rate));
  if (o.family) args.push('--family', String(o.family));
  if (o.bind) args.push('--bind', o.bind);
  if (o.sport !== undefined) args.push('--sport', String(o.sport));
  if (o.uid !== undefined) args.push('--uid', String(o.uid));
  if (o.gid !== undefined) args.push('--gid', String(o.gid));
  if (o.echoWaitMs !== undefined) args.push('--echo-wait', String(o.echoWaitMs));
  type Reply = UdpSendSummary & { done: boolean; error?: string; id?: number };
  let child: Child;
  let summary: Reply;
  if (o.uid === undefined && o.gid === undefined) {
    const agent = agentOf(ns);
    child = agent.child;
    await agent.ready;
    const id = ++agentRequests;
    child.write(`${JSON.stringify({ id, args })}\n`);
    summary = await child.waitForJson<Reply>((j) => j.id === id, o.timeoutMs ?? 30_000);
    delete summary.id;
  } else {
    child = ns.spawnNode(TRAFFIC_SCRIPT, args);
    summary = await child.waitForJson<Reply>((j) => 'done' in j, o.timeoutMs ?? 30_000);
    await child.waitForExit(5_000);
  }
  if (!summary.done) throw new Error(`UDP sender failed: ${JSON.stringify(summary)}\n${child.transcript()}`);
  return summary;
}

export interface TcpSendSummary {
  done: boolean;
  sent: number;
  ms?: number;
  error?: string;
}

/** Start a TCP sink in `ns` and resolve once it listens. */
export async function startTcpSink(ns: Netns, port: number, o: { family?: Family; host?: string; conns?: number; timeoutMs?: number } = {}): Promise<Child> {
  const args = ['sink', 'tcp', String(port)];
  if (o.family) args.push('--family', String(o.family));
  if (o.host) args.push('--host', o.host);
  if (o.conns !== undefined) args.push('--conns', String(o.conns));
  if (o.timeoutMs !== undefined) args.push('--timeout', String(o.timeoutMs));
  const child = ns.spawnNode(TRAFFIC_SCRIPT, args);
  await child.waitForJson<{ ready?: boolean }>((j) => j.ready === true, 10_000);
  return child;
}

/** Connect, send `bytes` of pattern, close; resolves with the summary (done:false on error). */
export async function sendTcp(ns: Netns, host: string, port: number, o: { bytes?: number; chunk?: number; family?: Family; timeoutMs?: number; uid?: number; gid?: number } = {}): Promise<TcpSendSummary> {
  const args = ['send', 'tcp', host, String(port), '--bytes', String(o.bytes ?? 0)];
  if (o.chunk !== undefined) args.push('--chunk', String(o.chunk));
  if (o.family) args.push('--family', String(o.family));
  if (o.uid !== undefined) args.push('--uid', String(o.uid));
  if (o.gid !== undefined) args.push('--gid', String(o.gid));
  const timeout = o.timeoutMs ?? 20_000;
  args.push('--timeout', String(timeout));
  const child = ns.spawnNode(TRAFFIC_SCRIPT, args);
  const summary = await child.waitForJson<TcpSendSummary>((j) => 'done' in j, timeout + 5_000);
  await child.waitForExit(5_000);
  return summary;
}

export interface FloodOptions {
  seconds?: number;
  count?: number;
  size?: number;
  /** Sends in flight at most (default 128). */
  window?: number;
  /** Round-robin over one socket per source address. */
  from?: string[];
  /** Datagrams per second at most (default: as fast as the sender can). */
  rate?: number;
}

export interface FloodSummary {
  done: true;
  sent: number;
  errors: number;
  ms: number;
}

/** Starts a UDP flood to host:port in `ns` without waiting for it (SIGTERM ends it early). */
export function startFlood(ns: Netns, host: string, port: number, o: FloodOptions): Child {
  const args = ['flood', 'udp', host, String(port)];
  if (o.seconds !== undefined) args.push('--seconds', String(o.seconds));
  if (o.count !== undefined) args.push('--count', String(o.count));
  if (o.size !== undefined) args.push('--size', String(o.size));
  if (o.window !== undefined) args.push('--window', String(o.window));
  if (o.from) args.push('--from', o.from.join(','));
  if (o.rate !== undefined) args.push('--rate', String(o.rate));
  return ns.spawnNode(TRAFFIC_SCRIPT, args);
}

/** The flood's summary, once it ended (by itself or after a SIGTERM). */
export async function floodSummary(flood: Child, timeoutMs = 30_000): Promise<FloodSummary> {
  const line = await flood.waitForJson<FloodSummary>((j) => j.done === true, timeoutMs);
  await flood.waitForExit(5_000);
  return line;
}

/** Floods UDP to host:port from inside `ns`; resolves with the sender's summary. */
export function flood(ns: Netns, host: string, port: number, o: FloodOptions): Promise<FloodSummary> {
  return floodSummary(startFlood(ns, host, port, o), ((o.seconds ?? 60) + 30) * 1000);
}

/** A packet counter on a later hook: what got through, read from the kernel's rule counters. */
export interface DeliveredCounter {
  /** Packets counted so far (summed over the counting rules). */
  pkts(): number;
  /** Polls until `n` packets were counted or `timeoutMs` passed; returns the count. */
  waitFor(n: number, timeoutMs?: number): Promise<number>;
}

let deliveredTag = 0;

/**
 * Counts the UDP datagrams to `port` that reach mangle INPUT in `ns` (after OUTPUT,
 * POSTROUTING and PREROUTING, so after any queue on those hooks): a receiver's count that
 * does not depend on a socket's receive buffer, hence neither on rmem_max nor on how
 * quickly a loaded machine schedules the receiver. `alternatives` adds one rule per extra
 * match (e.g. `['-m', 'string', '--algo', 'bm', '--string', '1;']`), and then only packets
 * matching one of them are counted.
 */
export function countDelivered(ns: Netns, port: number, o: { family?: Family; alternatives?: string[][] } = {}): DeliveredCounter {
  const family = o.family ?? 4;
  const tag = `delivered-${port}-${++deliveredTag}`;
  const alternatives = o.alternatives ?? [[]];
  const table = family === 6 ? ns.ip6tables.bind(ns) : ns.iptables.bind(ns);
  for (const extra of alternatives) table('-t', 'mangle', '-A', 'INPUT', '-p', 'udp', '--dport', String(port), ...extra, '-m', 'comment', '--comment', tag);
  const pkts = (): number => ns.rules('mangle', 'INPUT', family).filter((r) => r.line.includes(tag)).reduce((sum, r) => sum + r.pkts, 0);
  return {
    pkts,
    async waitFor(n, timeoutMs = 20_000) {
      const until = Date.now() + timeoutMs;
      let got = pkts();
      while (got < n && Date.now() < until) {
        await new Promise((r) => setTimeout(r, 50));
        got = pkts();
      }
      return got;
    },
  };
}
