/**
 * What a Queue needs to know of the socket under its transport that the Transport interface
 * does not say: whether this machine's kernel is at the other end (so its /proc table
 * describes the queue, and close() drains it), whether a receive-buffer overrun would end
 * the process, and how to read /proc/net in the socket's namespace. The library's socket
 * transports (NativeTransport, SocketTransport) carry these; replays, the test kit's kernel
 * and fakes carry none and are not live. openQueue asks the socket itself, under a recorder.
 */
export interface KernelSocket {
  readonly live?: boolean;
  readonly overrunIsFatal?: boolean;
  readProcNet?(name: string): string;
}
