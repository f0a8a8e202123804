/// <reference types="node" preserve="true" />
/**
 * `netfilter-queue/netlink`: the netlink layer, usable for any netlink family. Message
 * framing and attribute codecs, the connection (sequence numbers, acks, batching), the
 * transports (native addon, the `netlink` package's socket), the errors, and the constants
 * of <linux/netlink.h> (`netlinkConstants`).
 */
export * as netlinkConstants from './constants.js';
export { NetfilterQueueError, NetlinkError, NetlinkDecodeError, NetlinkKernelError, NetlinkSocketError, errnoName, type ErrorOptions, type RequestInfo } from './errors.js';
export { MessageWriter, type MessageStart } from './writer.js';
export { AttributeDecoder, parseAttributes, type RawAttribute } from './attributes.js';
export { MessageCursor, parseMessages, parseErrorMessage, readHeader, writeHeader, type NetlinkHeader, type NetlinkMessage, type NetlinkErrorMessage } from './message.js';
export { NetlinkConn, type ConnHandlers, type RequestOptions, type ExtAck } from './conn.js';
export type { Transport, TransportHandlers, TransportFactory } from './transport.js';
export type { NetnsTarget } from './netns.js';
export { openSocketTransport, type SocketTransportOptions } from './socket-transport.js';
export { openNativeTransport, nativeTransportUnavailable, type NativeTransport, type NativeTransportOptions, type NativeTransportStats } from './native-transport.js';
export { openDefaultTransport, type DefaultTransportOptions } from './default-transport.js';
