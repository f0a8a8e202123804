/**
 * Terminal plumbing for nfq-dump: stdout lines batched per event-loop turn, and the live
 * status line on stderr (only when stderr is a terminal), which is cleared before anything
 * else is written to the same terminal and redrawn afterwards.
 */

/** Batches stdout writes: every line written during one turn leaves in one write. */
export class LineOutput {
  private chunks: string[] = [];
  private scheduled = false;
  private broken = false;
  constructor(
    private readonly stream: NodeJS.WritableStream,
    private readonly before: () => void = () => {},
    private readonly after: () => void = () => {},
  ) {}

  /** True once the reader went away (EPIPE). */
  get closed(): boolean {
    return this.broken;
  }

  markBroken(): void {
    this.broken = true;
    this.chunks = [];
  }

  /** Queues text (include the newline). */
  write(text: string): void {
    if (this.broken) return;
    this.chunks.push(text);
    if (!this.scheduled) {
      this.scheduled = true;
      queueMicrotask(() => this.flush());
    }
  }

  /** Writes everything queued now. */
  flush(): void {
    this.scheduled = false;
    if (this.chunks.length === 0 || this.broken) return;
    const text = this.chunks.length === 1 ? this.chunks[0]! : this.chunks.join('');
    this.chunks = [];
    this.before();
    try {
      this.stream.write(text);
    } catch {
      this.broken = true;
    }
    this.after();
  }
}

/** The live status line on stderr. Does nothing unless enabled (stderr is a TTY). */
export class StatusLine {
  private shown = false;
  private last = '';
  constructor(
    private readonly stream: NodeJS.WriteStream,
    readonly enabled: boolean,
  ) {}

  /** Draws `text` over the current status line. */
  draw(text: string): void {
    if (!this.enabled) return;
    // A pseudo-terminal without a size reports 0 columns: assume 80.
    const cols = this.stream.columns;
    const width = cols !== undefined && cols >= 20 ? cols - 1 : 79;
    this.last = text.length > width ? text.slice(0, width) : text;
    this.stream.write(`\r\x1b[K${this.last}`);
    this.shown = true;
  }

  /** Draws the last text again (after something else was printed). */
  redraw(): void {
    if (this.enabled && !this.shown && this.last !== '') this.draw(this.last);
  }

  /** Erases the status line, leaving the cursor at the start of the line. */
  clear(): void {
    if (!this.enabled || !this.shown) return;
    this.stream.write('\r\x1b[K');
    this.shown = false;
  }

  /** Erases it for good. */
  stop(): void {
    this.clear();
    this.last = '';
  }
}

/** The program's name, in front of its messages. */
export const PROG = 'nfq-dump';

/** `n thing` or `n things`. */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}

/** `queue N` or `queues A, B`. */
export function queueList(qs: readonly number[]): string {
  return qs.length === 1 ? `queue ${qs[0]}` : `queues ${qs.join(', ')}`;
}
