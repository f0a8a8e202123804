// The part of buffer-layout (which ships no types) this package uses.
declare module 'buffer-layout' {
  export interface Layout<T = unknown> {
    readonly span: number;
    property: string | undefined;
    decode(b: Buffer, offset?: number): T;
    encode(src: T, b: Buffer, offset?: number): number;
  }
  interface BufferLayout {
    struct<T>(fields: Layout<unknown>[], property?: string): Layout<T>;
    u8(property?: string): Layout<number>;
    u16(property?: string): Layout<number>;
    u32(property?: string): Layout<number>;
    s32(property?: string): Layout<number>;
    u16be(property?: string): Layout<number>;
    u32be(property?: string): Layout<number>;
    s32be(property?: string): Layout<number>;
    blob(length: number, property?: string): Layout<Buffer>;
  }
  const lo: BufferLayout;
  export default lo;
}
