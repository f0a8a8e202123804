/**
 * Which queue answers a packet's own verdict methods (packet.accept(), drop(), verdict()).
 * Only packets handed out by `for await` iteration are bound, in a WeakMap, so callback
 * mode pays nothing: no field, no closure per packet.
 */
import type { Packet } from './packet.js';
import type { VerdictInput } from './verdict.js';
import { VerdictStateError } from './errors.js';

type Answer = (p: Packet, v: VerdictInput) => void;

const owners = new WeakMap<Packet, Answer>();

/** Binds `p` to the function that answers it. */
export function bindPacket(p: Packet, answer: Answer): void {
  owners.set(p, answer);
}

/** Answers `p` through its queue; a packet that was not iterated gets a VerdictStateError. */
export function answerPacket(p: Packet, v: VerdictInput): void {
  const answer = owners.get(p);
  if (answer === undefined) {
    throw new VerdictStateError(
      `packet ${p.id} on queue ${p.queue} was not handed out by for await (… of queue): in a callback, return its verdict instead`,
      p.queue,
      p.id,
    );
  }
  answer(p, v);
}
