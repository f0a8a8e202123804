/**
 * nfq-dump -r: decodes a recorded netlink conversation (LINKTYPE_NETLINK pcap or pcapng, as
 * written by --record, the library's recorder, or tcpdump on an nlmon interface) into the
 * same records a live queue produces, each with the verdict that was recorded for it.
 * Pcaps of raw IP (LINKTYPE_RAW, e.g. from -w), Ethernet and Linux "cooked" captures are
 * read too: their packets have no queue metadata and no verdict.
 *
 * Messages are told apart by type, not by the cooked header's direction (nlmon marks
 * directions differently from the library's recorder): PACKET and NLMSG_ERROR come from the
 * kernel, VERDICT, VERDICT_BATCH and CONFIG from the program.
 */
import { NetfilterQueueError } from '../index.js';
import { nfqueueConstants as nfq, configCommandName, copyModeName, decodePacket, decodeConfigMessage, decodeVerdictMessage, type DecodedVerdict } from '../nfqueue/index.js';
import { parseIpPacket } from '../packet/index.js';
import { netlinkConstants, errnoName, parseErrorMessage, parseMessages } from '../netlink/index.js';

const { NETLINK_NETFILTER, NLMSG_ERROR } = netlinkConstants;
import { decodeNetlinkCooked, readPcapFile, ipPacketOfRecord, IP_LINKTYPES, LINKTYPE_NETLINK, type PcapRecord } from '../pcap/index.js';
import { recordFromPacket, type DumpRecord, type ShownVerdict } from './format.js';

/** Filters applied while replaying. */
export interface ReplayFilter {
  /** Only these queues (undefined: all). */
  queues?: ReadonlySet<number>;
  /** Only this NFPROTO family (undefined: all). */
  family?: number;
}

/** What a replay found, for the summary. */
export interface ReplaySummary {
  linktype: number;
  /** Records in the file. */
  records: number;
  /** Packets decoded (before filters). */
  packets: number;
  /** Packets left out by --queue / --family. */
  filtered: number;
  /** Netlink datagrams of another protocol than NETLINK_NETFILTER (nlmon captures). */
  otherProtocol: number;
  /** Records or messages that could not be decoded. */
  malformed: number;
  /** Records of a raw capture that hold no IP packet (ARP…). */
  notIp: number;
  /** First decode problem, for the warning. */
  firstProblem?: string;
  /** Queue numbers seen. */
  queues: Set<number>;
  /** Requests the kernel refused, e.g. `bind on queue 0: EBUSY`. */
  refused: string[];
}

/** The file's link type is not one nfq-dump decodes. */
export class UnsupportedCaptureError extends NetfilterQueueError {
  override name = 'UnsupportedCaptureError';
  constructor(message: string) {
    super(message, { code: 'ERR_UNSUPPORTED_CAPTURE' });
  }
}

function timeOf(rec: PcapRecord): { sec: number; usec: number } {
  const ns = rec.timestampNs;
  return { sec: Number(ns / 1_000_000_000n), usec: Number((ns % 1_000_000_000n) / 1000n) };
}

interface Pending {
  record: DumpRecord;
  queue: number;
  id: number;
}

/**
 * Reads `path` and returns the records in packet order, each with its verdict (null when
 * the recording holds none). Throws on unreadable files (fs errors, PcapFormatError) and
 * UnsupportedCaptureError.
 */
export function replayCapture(path: string, filter: ReplayFilter = {}): { records: DumpRecord[]; summary: ReplaySummary } {
  const cap = readPcapFile(path);
  const linktype = cap.interfaces[0]?.linktype ?? LINKTYPE_NETLINK;
  const summary: ReplaySummary = { linktype, records: cap.records.length, packets: 0, filtered: 0, otherProtocol: 0, malformed: 0, notIp: 0, queues: new Set(), refused: [] };
  const out: DumpRecord[] = [];
  const problem = (what: string): void => {
    summary.malformed++;
    summary.firstProblem ??= what;
  };
  const pass = (queue: number | undefined, family: number | undefined): boolean => {
    if (filter.queues !== undefined && (queue === undefined || !filter.queues.has(queue))) return false;
    if (filter.family !== undefined && family !== filter.family) return false;
    return true;
  };

  // Packets waiting for their verdict, by queue and id; verdicts by request sequence number
  // (to attach a kernel refusal to the verdict it answers).
  const waiting = new Map<number, Pending>();
  const bySeq = new Map<number, ShownVerdict>();
  const requests = new Map<number, string>();
  const key = (q: number, id: number): number => q * 0x100000000 + id;

  for (let i = 0; i < cap.records.length; i++) {
    const rec = cap.records[i]!;
    const lt = rec.linktype;
    if (lt !== LINKTYPE_NETLINK) {
      const r = rawRecord(rec);
      if (r === undefined) {
        if (!IP_LINKTYPES.includes(lt)) {
          throw new UnsupportedCaptureError(
            `${path} has link type ${lt}, which nfq-dump does not decode: it reads netlink recordings (LINKTYPE_NETLINK, 253) and raw IP (101), Ethernet (1) or Linux cooked (113, 276) captures`,
          );
        }
        summary.notIp++;
        continue;
      }
      summary.packets++;
      if (!pass(undefined, r.family)) {
        summary.filtered++;
        continue;
      }
      out.push(r);
      continue;
    }
    let datagram: Uint8Array;
    try {
      const c = decodeNetlinkCooked(rec.data);
      if (c.protocol !== NETLINK_NETFILTER) {
        summary.otherProtocol++;
        continue;
      }
      datagram = c.datagram;
    } catch (e) {
      problem(`record ${i + 1}: ${(e as Error).message}`);
      continue;
    }
    let msgs: ReturnType<typeof parseMessages>;
    try {
      msgs = parseMessages(datagram);
    } catch (e) {
      problem(`record ${i + 1}: ${(e as Error).message}`);
      continue;
    }
    for (const m of msgs) {
      const type = m.header.type;
      try {
        if (type === nfq.NFQ_TYPE_PACKET) {
          const p = decodePacket(m.buffer, m.offset, m.header.length);
          summary.packets++;
          summary.queues.add(p.queue);
          if (!pass(p.queue, p.family)) {
            summary.filtered++;
            continue;
          }
          const r = recordFromPacket(p, timeOf(rec), 'capture');
          r.verdict = null;
          out.push(r);
          waiting.set(key(p.queue, p.id), { record: r, queue: p.queue, id: p.id });
        } else if (type === nfq.NFQ_TYPE_VERDICT || type === nfq.NFQ_TYPE_VERDICT_BATCH) {
          const fields = decodeVerdictMessage(m.buffer, m.offset, m.header.length);
          const v = { queue: fields.queue, id: fields.id, shown: shownVerdict(fields) };
          bySeq.set(m.header.seq, v.shown);
          requests.set(
            m.header.seq,
            type === nfq.NFQ_TYPE_VERDICT ? `${v.shown.verdict} verdict for packet ${v.id} on queue ${v.queue}` : `batch ${v.shown.verdict} verdict up to packet ${v.id} on queue ${v.queue}`,
          );
          if (type === nfq.NFQ_TYPE_VERDICT) {
            const k = key(v.queue, v.id);
            const p = waiting.get(k);
            if (p !== undefined) {
              p.record.verdict = v.shown;
              waiting.delete(k);
            }
          } else {
            for (const [k, p] of waiting) {
              if (p.queue === v.queue && p.id <= v.id) {
                p.record.verdict = { ...v.shown };
                waiting.delete(k);
              }
            }
          }
        } else if (type === nfq.NFQ_TYPE_CONFIG) {
          requests.set(m.header.seq, describeConfig(m.buffer.subarray(m.offset, m.offset + m.header.length)));
        } else if (type === NLMSG_ERROR) {
          const e = parseErrorMessage(m);
          if (e.errno !== 0) {
            const v = bySeq.get(e.request.seq);
            if (v !== undefined) v.error = errnoName(e.errno);
            const what = requests.get(e.request.seq) ?? `request ${e.request.seq}`;
            summary.refused.push(`${what}: ${errnoName(e.errno)}`);
          }
        }
      } catch (e) {
        problem(`record ${i + 1}: ${(e as Error).message}`);
      }
    }
  }
  return { records: out, summary };
}

/** A config request in words: `bind on queue 0`, `params (copy packet 65535) on queue 0`. */
function describeConfig(m: Uint8Array): string {
  let c;
  try {
    c = decodeConfigMessage(m);
  } catch {
    return 'config request';
  }
  const what: string[] = [];
  if (c.command !== undefined) what.push(configCommandName(c.command).toLowerCase().replace('_', '-'));
  if (c.copyMode !== undefined) what.push(`params (copy ${copyModeName(c.copyMode)} ${c.copyRange})`);
  if (c.maxLen !== undefined) what.push('maxlen');
  if (c.flags !== undefined) what.push('flags');
  return `${what.length > 0 ? what.join(' + ') : 'config request'} on queue ${c.queue}`;
}

/** The verdict of a (batch) verdict message, as shown. */
function shownVerdict({ verdict: v }: DecodedVerdict): ShownVerdict {
  const shown: ShownVerdict = { verdict: v.verdict };
  if (v.queue !== undefined) shown.queue = v.queue;
  if (v.mark !== undefined) shown.mark = v.mark;
  return shown;
}

/** A record of a raw IP / Ethernet / cooked capture, or undefined when it holds no IP packet. */
function rawRecord(rec: PcapRecord): DumpRecord | undefined {
  const captured = ipPacketOfRecord(rec);
  if (captured === undefined) return undefined;
  const ip = parseIpPacket(captured.ip, captured.wireLength);
  if (ip === undefined) return undefined;
  return {
    family: ip.version === 4 ? nfq.NFPROTO_IPV4 : nfq.NFPROTO_IPV6,
    hwProtocol: captured.hwProtocol,
    time: timeOf(rec),
    timeSource: 'capture',
    wireLength: captured.wireLength,
    payload: captured.ip,
    ip,
  };
}
