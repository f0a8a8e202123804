// Pool test handler: throws on "boom", never answers on "hang", accepts the rest. The
// pool's queues must give the first two the default verdict (as a single Queue does).
export default function handler(packet) {
  const text = Buffer.from(packet.payload ?? []).toString('latin1');
  if (text.includes('boom')) throw new Error('boom');
  if (text.includes('hang')) return new Promise(() => {});
  return 'accept';
}
