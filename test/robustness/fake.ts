/**
 * A minimal fake netlink transport for the robustness tests (no root): acks every config
 * request the way the kernel does (NLMSG_ERROR 0 with NLM_F_CAPPED, echoing the request
 * header), records every datagram sent, and lets a test inject received datagrams. Plus
 * builders for kernel-shaped packet messages. Written independently of the library's
 * encoders on purpose.
 */
import type { Transport, TransportHandlers } from '../../src/netlink/transport.js';

export class FakeTransport implements Transport {
  readonly kind = 'fake';
  readonly reusesReceiveBuffer = false;
  readonly portId = 777_001;
  readonly sent: Uint8Array[] = [];
  handlers: TransportHandlers | undefined;
  startCalls = 0;
  closed = false;

  start(h: TransportHandlers): void {
    this.startCalls++;
    this.handlers = h;
  }

  send(d: Uint8Array): void {
    const copy = d.slice();
    this.sent.push(copy);
    const v = new DataView(copy.buffer);
    for (let off = 0; off + 16 <= copy.length; ) {
      const len = v.getUint32(off, true);
      if (len < 16) break;
      if (v.getUint16(off + 4, true) === 0x0302) {
        const ack = new Uint8Array(36);
        const a = new DataView(ack.buffer);
        a.setUint32(0, 36, true);
        a.setUint16(4, 2, true); // NLMSG_ERROR
        a.setUint16(6, 0x100, true); // NLM_F_CAPPED
        a.setUint32(8, v.getUint32(off + 8, true), true);
        ack.set(copy.subarray(off, off + 16), 20);
        queueMicrotask(() => this.deliver(ack));
      }
      off += (len + 3) & ~3;
    }
  }

  deliver(d: Uint8Array): void {
    if (!this.closed) this.handlers?.datagram(d);
  }

  close(): void {
    this.closed = true;
  }

  /** [queue, id, verdict word] of every verdict message sent. */
  verdicts(): [number, number, number][] {
    const out: [number, number, number][] = [];
    for (const d of this.sent) {
      const v = new DataView(d.buffer, d.byteOffset, d.byteLength);
      for (let off = 0; off + 16 <= d.length; ) {
        const len = v.getUint32(off, true);
        if (len < 16) break;
        if (v.getUint16(off + 4, true) === 0x0301) {
          const queue = v.getUint16(off + 18, false);
          for (let a = off + 20; a + 4 <= off + len; ) {
            const alen = v.getUint16(a, true);
            if (alen < 4) break;
            if ((v.getUint16(a + 2, true) & 0x3fff) === 2) out.push([queue, v.getUint32(a + 8, false), v.getUint32(a + 4, false)]);
            a += (alen + 3) & ~3;
          }
        }
        off += (len + 3) & ~3;
      }
    }
    return out;
  }
}

function attr(type: number, value: Uint8Array): Uint8Array {
  const len = 4 + value.length;
  const out = new Uint8Array((len + 3) & ~3);
  const v = new DataView(out.buffer);
  v.setUint16(0, len, true);
  v.setUint16(2, type, true);
  out.set(value, 4);
  return out;
}

/** A NFQNL_MSG_PACKET as the kernel writes it: PACKET_HDR, optional MARK, PAYLOAD. */
export function packetMessage(queue: number, id: number, payload: Uint8Array = new Uint8Array(20), seq = 0): Uint8Array {
  const hdr = new Uint8Array(7);
  new DataView(hdr.buffer).setUint32(0, id, false);
  hdr[4] = 0x08; // ETH_P_IP
  hdr[6] = 3; // NF_INET_LOCAL_OUT
  const attrs = [attr(1, hdr), attr(10, payload)];
  const body = attrs.reduce((n, a) => n + a.length, 0);
  const out = new Uint8Array(20 + body);
  const v = new DataView(out.buffer);
  v.setUint32(0, out.length, true);
  v.setUint16(4, 0x0300, true);
  v.setUint32(8, seq, true);
  out[16] = 2; // AF_INET
  v.setUint16(18, queue, false);
  let off = 20;
  for (const a of attrs) {
    out.set(a, off);
    off += a.length;
  }
  return out;
}

export function concat(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}
