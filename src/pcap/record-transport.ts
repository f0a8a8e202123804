/**
 * The recorder: a Transport wrapper that writes every datagram the library sends and
 * receives, with its direction and a wall-clock timestamp, to a LINKTYPE_NETLINK pcap (the
 * format tcpdump writes on an nlmon interface; Wireshark and tshark decode it as netfilter
 * queue messages). The file is a fixture that `replay()` plays back without privileges.
 */
import { NETLINK_NETFILTER, NLM_F_MULTI, NLMSG_NOOP } from '../netlink/constants.js';
import { MessageCursor } from '../netlink/message.js';
import { NetlinkSocketError } from '../netlink/errors.js';
import type { Transport, TransportHandlers } from '../netlink/transport.js';
import { encodeNetlinkCooked, type NetlinkDirection } from './netlink-cooked.js';
import { LINKTYPE_NETLINK, PcapFileWriter, nowNs } from './writer.js';

/** Options of recordTransport(). */
export interface RecordOptions {
  /** Netlink protocol written in each record's cooked header (default 12, NETLINK_NETFILTER). */
  protocol?: number;
  /** Write nanosecond timestamps (default: microseconds, which every tool reads). */
  nanosecond?: boolean;
}

/** A transport that records its conversation; see recordTransport(). */
export interface RecordingTransport extends Transport {
  /** The pcap file being written. */
  readonly path: string;
  /** The transport being recorded. */
  readonly inner: Transport;
  /** Datagrams written so far (both directions). */
  readonly recorded: number;
}

/**
 * Wraps `inner` so that every datagram sent (direction `'out'`, cooked packet type 4) and
 * received (`'in'`, type 0) is appended to the pcap file at `path` (created or truncated
 * now) before it goes on. Each record is written synchronously, so a crash loses nothing
 * already seen. The file is closed with the transport. If writing fails (disk full…), the
 * failure is reported once through the `error` handler and recording stops; the
 * conversation itself goes on.
 *
 * A sent datagram is recorded after `inner.send()` accepted it (a refused send is not in
 * the file); received datagrams are recorded as they are delivered. A delivery holding
 * several messages is recorded one record per message, each cut to its nlmsg_len: the kernel
 * sends nfnetlink_queue messages (packets, acks, errors) one per datagram, and a batching
 * transport (the native one reads many datagrams per call) hands them over back to back, so
 * this gives back the datagrams as the kernel sent them. NLMSG_NOOP messages are left out:
 * they are the native transport's fillers between datagrams read in place (the kernel sends
 * none). Multipart messages (NLM_F_MULTI, dumps), which do share datagrams, are recorded as
 * delivered.
 */
export function recordTransport(inner: Transport, path: string, options: RecordOptions = {}): RecordingTransport {
  const protocol = options.protocol ?? NETLINK_NETFILTER;
  const file = new PcapFileWriter(path, LINKTYPE_NETLINK, { nanosecond: options.nanosecond ?? false });
  let recorded = 0;
  let failed: Error | undefined;
  let handlers: TransportHandlers | undefined;

  const write = (direction: NetlinkDirection, datagram: Uint8Array): void => {
    if (failed !== undefined || file.closed) return;
    try {
      file.write(encodeNetlinkCooked(direction, protocol, datagram), nowNs());
      recorded++;
    } catch (e) {
      failed = e instanceof Error ? e : new Error(String(e));
      try {
        file.close();
      } catch {
        // already failing: the first error is the one worth reporting
      }
      handlers?.error(new NetlinkSocketError(`recording to ${path} failed, recording stopped: ${failed.message}`, { cause: failed }));
    }
  };

  const t: RecordingTransport = {
    kind: `record(${inner.kind})`,
    get portId() {
      return inner.portId;
    },
    path,
    inner,
    get recorded() {
      return recorded;
    },
    start(h) {
      handlers = h;
      const wrapped: TransportHandlers = {
        datagram(data) {
          for (const d of kernelDatagrams(data)) write('in', d);
          h.datagram(data);
        },
        error(err) {
          h.error(err);
        },
      };
      if (h.end !== undefined) {
        const end = h.end;
        wrapped.end = () => end.call(h);
      }
      inner.start(wrapped);
    },
    send(datagram) {
      inner.send(datagram);
      write('out', datagram);
    },
    close() {
      try {
        inner.close();
      } finally {
        file.close();
      }
    },
  };
  if (inner.setReceiveBufferSize !== undefined) t.setReceiveBufferSize = (bytes) => inner.setReceiveBufferSize?.(bytes);
  if (inner.getReceiveBufferSize !== undefined) t.getReceiveBufferSize = () => inner.getReceiveBufferSize?.() ?? 0;
  if (inner.setKeepAlive !== undefined) t.setKeepAlive = (alive) => inner.setKeepAlive?.(alive);
  if (inner.pause !== undefined) t.pause = () => inner.pause?.();
  if (inner.resume !== undefined) t.resume = () => inner.resume?.();
  return t;
}

/** The datagrams a delivery was made of: one per message unless multipart (see recordTransport). */
function kernelDatagrams(data: Uint8Array): Uint8Array[] {
  const c = new MessageCursor().reset(data);
  const out: Uint8Array[] = [];
  while (c.next()) {
    if ((c.flags & NLM_F_MULTI) !== 0) return [data];
    if (c.type !== NLMSG_NOOP) out.push(data.subarray(c.offset, c.offset + c.length));
  }
  return out.length > 0 && c.error === undefined ? out : [data];
}
