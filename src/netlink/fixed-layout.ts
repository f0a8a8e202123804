/**
 * Declarative fixed-size structs (buffer-layout) over Uint8Array, for the wire formats off
 * the per-packet path: headers of pcap files and records, the cooked netlink header, config
 * requests. The per-packet decode and the verdict encode stay plain DataView code.
 */
import { createRequire } from 'node:module';
import type BufferLayout from 'buffer-layout';

/**
 * @internal The buffer-layout package, loaded with require(): importing this CommonJS package from an
 * ES module makes Node scan its whole source for named exports, which cost ~60 ms of every
 * program start that imports the library (measured on Node 20; require() takes ~7 ms).
 */
export const layout = createRequire(import.meta.url)('buffer-layout') as typeof BufferLayout;

/** A buffer-layout struct, as far as it is used here (declared here so that no published type refers to buffer-layout, which ships none). */
export interface BufferLayoutStruct<T> {
  readonly span: number;
  decode(b: Buffer, offset?: number): T;
  encode(src: T, b: Buffer, offset?: number): number;
}

/** A fixed-size struct: `span` bytes, decoded to and encoded from a plain object. */
export interface FixedLayout<T> {
  /** Size in bytes. */
  readonly span: number;
  /** Reads the struct at `offset` of `bytes` (which must hold `span` bytes from there). */
  decode(bytes: Uint8Array, offset?: number): T;
  /** Writes `value` at `offset` of `bytes`. */
  encode(value: T, bytes: Uint8Array, offset?: number): void;
  /** `value` as `span` new bytes. */
  bytes(value: T): Uint8Array;
}

const asBuffer = (b: Uint8Array): Buffer => (Buffer.isBuffer(b) ? b : Buffer.from(b.buffer, b.byteOffset, b.byteLength));

/** Wraps a buffer-layout struct so that it works on any Uint8Array. */
export function fixedLayout<T>(layout: BufferLayoutStruct<T>): FixedLayout<T> {
  return {
    span: layout.span,
    decode: (bytes, offset = 0) => layout.decode(asBuffer(bytes), offset),
    encode: (value, bytes, offset = 0) => {
      layout.encode(value, asBuffer(bytes), offset);
    },
    bytes: (value) => {
      const out = new Uint8Array(layout.span);
      layout.encode(value, asBuffer(out), 0);
      return out;
    },
  };
}
