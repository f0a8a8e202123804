/**
 * QueuedPacket is a base class that declares Packet's fields again (see queued-packet.ts for
 * why): these tests hold the two in step, so that a field added to Packet and not to
 * QueuedPacket, or given another initial value or place, fails here.
 */
import { describe, expect, it } from 'vitest';
import { decodePacket, Packet } from '../../src/nfqueue/packet.js';
import { QueuedPacket } from '../../src/queue/queued-packet.js';
import { encodeKernelPacket, type PacketSpec } from '../support/kernel-packet.js';

// Every attribute the decoder knows, and one it does not.
const EVERY_FIELD: PacketSpec = {
  queue: 7,
  family: 10,
  id: 0xfffffffe,
  hwProtocol: 0x86dd,
  hook: 2,
  mark: 0x80000001,
  timestamp: { sec: 1764000000, usec: 654321 },
  indev: 2,
  outdev: 3,
  physindev: 4,
  physoutdev: 5,
  hwaddr: Uint8Array.of(0x52, 0x54, 0, 0x12, 0x34, 0x56),
  payload: Uint8Array.of(0x60, 0, 0, 0, 0, 8, 17, 64),
  ct: Uint8Array.of(8, 0, 8, 0, 0, 0, 0, 42),
  ctInfo: 2,
  capLen: 1500,
  skbInfo: 3,
  exp: Uint8Array.of(8, 0, 1, 0, 0, 0, 0, 1),
  uid: 1000,
  gid: 100,
  secctx: 'system_u:object_r:unlabeled_t:s0',
  vlan: { proto: 0x8100, tci: 0x2064 },
  l2hdr: Uint8Array.of(1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 0x86, 0xdd),
  priority: 6,
  cgroupClassid: 0x100001,
  unknown: [{ type: 0x8063, value: Uint8Array.of(1, 2, 3, 4) }],
};

describe('QueuedPacket', () => {
  it('has exactly the fields of a Packet, in the same order, with the same initial values', () => {
    expect(Object.entries(new QueuedPacket())).toEqual(Object.entries(new Packet()));
  });

  it('is a Packet: instanceof, the length getter and conntrack() come from Packet', () => {
    const p = new QueuedPacket();
    expect(p).toBeInstanceOf(Packet);
    expect(p).toBeInstanceOf(QueuedPacket);
    expect(p.length).toBeUndefined();
    expect(p.conntrack()).toBeUndefined();
    const msg = encodeKernelPacket(EVERY_FIELD);
    const q = decodePacket(msg, 0, msg.length, undefined, new QueuedPacket());
    expect(q.length).toBe(1500);
    expect(q.conntrack()).toEqual(decodePacket(msg, 0, msg.length).conntrack());
  });

  it('decodes every attribute to the same values as a Packet, field by field', () => {
    const msg = encodeKernelPacket(EVERY_FIELD);
    const plain = decodePacket(msg, 0, msg.length);
    const queued = decodePacket(msg, 0, msg.length, undefined, new QueuedPacket());
    const keys = Object.keys(plain);
    expect(Object.keys(queued)).toEqual(keys);
    // Every field is set by this message, so a field QueuedPacket lacked would differ here.
    for (const k of keys) expect([k, (plain as unknown as Record<string, unknown>)[k]]).not.toEqual([k, undefined]);
    for (const k of keys) expect([k, (queued as unknown as Record<string, unknown>)[k]]).toEqual([k, (plain as unknown as Record<string, unknown>)[k]]);
  });

  it('keeps its iteration state private: a spread or JSON shows the packet fields only', () => {
    const q = new QueuedPacket();
    expect(Object.keys({ ...q })).toEqual(Object.keys(new Packet()));
    expect(Object.keys(JSON.parse(JSON.stringify(q)) as object)).toEqual(Object.keys(JSON.parse(JSON.stringify(new Packet())) as object));
  });
});
