// Pool test handler: accepts every packet; a datagram whose payload contains "die!" ends
// the worker thread (process.exit in a worker ends only that thread).
export default function handler(packet) {
  if (packet.payload !== undefined && Buffer.from(packet.payload).includes('die!')) process.exit(7);
  return 'accept';
}
