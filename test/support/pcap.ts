// Shared byte builders for the pcap tests (not a test file itself).

import { concat } from './bytes.js';

export { concat };

/** A little builder of fixed-width integers in one byte order. */
export class Bytes {
  private parts: number[] = [];
  constructor(private readonly le: boolean) {}
  u8(v: number): this {
    this.parts.push(v & 0xff);
    return this;
  }
  u16(v: number): this {
    const b = [(v >>> 8) & 0xff, v & 0xff];
    this.parts.push(...(this.le ? b.reverse() : b));
    return this;
  }
  u32(v: number): this {
    const b = [(v >>> 24) & 0xff, (v >>> 16) & 0xff, (v >>> 8) & 0xff, v & 0xff];
    this.parts.push(...(this.le ? b.reverse() : b));
    return this;
  }
  raw(b: Uint8Array | number[]): this {
    this.parts.push(...b);
    return this;
  }
  pad4(): this {
    while (this.parts.length % 4 !== 0) this.parts.push(0);
    return this;
  }
  get length(): number {
    return this.parts.length;
  }
  done(): Uint8Array {
    return Uint8Array.from(this.parts);
  }
}

/** One pcapng block: type, total length, body (padded to 4), total length again. */
export function ngBlock(le: boolean, type: number, body: Uint8Array): Uint8Array {
  const padded = (body.length + 3) & ~3;
  const total = 12 + padded;
  return new Bytes(le).u32(type).u32(total).raw(body).pad4().u32(total).done();
}

/** A section header block body: byte-order magic, version 1.0, section length -1. */
export function shbBody(le: boolean): Uint8Array {
  return new Bytes(le).u32(0x1a2b3c4d).u16(1).u16(0).u32(0xffffffff).u32(0xffffffff).done();
}

/** A hand-made IPv4/UDP packet 10.1.2.3:12345 -> 10.4.5.6:40000 carrying `payload`. */
export function ipv4Udp(payload: Uint8Array): Uint8Array {
  const total = 20 + 8 + payload.length;
  const ip = new Bytes(false)
    .u8(0x45).u8(0).u16(total)
    .u16(0x1234).u16(0x4000) // id, DF
    .u8(64).u8(17).u16(0) // ttl, UDP, checksum placeholder
    .raw([10, 1, 2, 3]).raw([10, 4, 5, 6])
    .done();
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (ip[i]! << 8) | ip[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const csum = ~sum & 0xffff;
  ip[10] = csum >>> 8;
  ip[11] = csum & 0xff;
  const udp = new Bytes(false).u16(12345).u16(40000).u16(8 + payload.length).u16(0).done();
  return concat(ip, udp, payload);
}
