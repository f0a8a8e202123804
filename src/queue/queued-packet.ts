/**
 * The packet the Queue hands out: the decoded Packet plus its own verdict methods
 * (packet.accept(), drop(), verdict()). Only packets handed out by `for await` iteration
 * are bound to an answerer; in a callback, which returns its verdict, they throw.
 */
import { Packet } from '../nfqueue/packet.js';
import type { Verdict, VerdictInput } from '../nfqueue/verdict.js';
import { VerdictStateError } from './errors.js';

/** Who answers a bound packet: the iterator that handed it out. */
export interface PacketAnswerer {
  answer(p: QueuedPacket, v: VerdictInput): void;
}

/** A packet from a Queue: its decoded fields and, under `for await`, its verdict methods. */
export class QueuedPacket extends Packet {
  #answerer: PacketAnswerer | undefined = undefined;

  /** @internal binds `p` to the iterator that hands it out. */
  static attach(p: QueuedPacket, answerer: PacketAnswerer): void {
    p.#answerer = answerer;
  }

  /**
   * Answers this packet with `verdict`, for packets from `for await (… of queue)`; in a
   * callback, return the verdict instead (this throws a VerdictStateError there). So does a
   * second answer.
   */
  verdict(verdict: VerdictInput): void {
    this.answerWith(verdict);
  }

  /** Accepts this packet (iteration only), with optional mark, payload… (see verdict()). */
  accept(options?: Omit<Verdict, 'verdict' | 'queue' | 'bypass'>): void {
    this.answerWith(options === undefined ? 'accept' : { ...options, verdict: 'accept' });
  }

  /** Drops this packet (iteration only, see verdict()). */
  drop(): void {
    this.answerWith('drop');
  }

  private answerWith(v: VerdictInput): void {
    const answerer = this.#answerer;
    if (answerer === undefined) {
      throw new VerdictStateError(
        `packet ${this.id} on queue ${this.queue} was not handed out by for await (… of queue): in a callback, return its verdict instead`,
        this.queue,
        this.id,
      );
    }
    answerer.answer(this, v);
  }
}
