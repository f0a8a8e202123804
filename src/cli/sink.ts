/** Where nfq-dump's packet lines go (text, JSON, hex), and the -w pcap: shared by the live and -r paths. */
import { PcapFileWriter, LINKTYPE_RAW } from '../pcap/index.js';
import type { CliOptions } from './args.js';
import { explainFileError } from './errors.js';
import { formatJson, formatLine, hexDump, type DumpRecord, type FormatOptions, type NameOf } from './format.js';
import { LineOutput, PROG, StatusLine } from './output.js';

/** Current wall time with microseconds. */
export function now(): { sec: number; usec: number } {
  const ms = performance.timeOrigin + performance.now();
  const sec = Math.floor(ms / 1000);
  return { sec, usec: Math.min(999999, Math.floor((ms - sec * 1000) * 1000)) };
}

/** Where the packet lines go, and the pcap writer: shared by the live and replay paths. */
export class Sink {
  readonly out: LineOutput;
  readonly status: StatusLine;
  private pcap: PcapFileWriter | undefined;
  private pcapFailed: string | undefined;
  /** The reader of `-w -` went away. */
  readerGone = false;
  private readonly fmt: FormatOptions & { hex?: boolean };
  /** True when the pcap goes to stdout: no text lines then. */
  private readonly quiet: boolean;
  private lastWarning = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly o: CliOptions,
    nameOf: NameOf,
    statusEnabled: boolean,
  ) {
    this.status = new StatusLine(process.stderr, statusEnabled);
    const sameTerminal = process.stdout.isTTY === true && process.stderr.isTTY === true;
    this.out = new LineOutput(
      process.stdout,
      () => {
        if (sameTerminal) this.status.clear();
      },
      () => {
        if (sameTerminal) this.status.redraw();
      },
    );
    this.fmt = { nameOf, verbose: o.verbose, hex: o.hex };
    this.quiet = o.write === '-';
  }

  /** Opens the -w file; throws with a message on failure. */
  openPcap(): void {
    if (this.o.write === undefined) return;
    const path = this.o.write === '-' ? '/dev/stdout' : this.o.write;
    try {
      this.pcap = new PcapFileWriter(path, LINKTYPE_RAW, { snaplen: 65535 });
    } catch (e) {
      throw new Error(explainFileError(e, this.o.write, 'write'));
    }
  }

  /** A pcap write error, once: the caller stops. */
  get pcapError(): string | undefined {
    return this.pcapFailed;
  }

  emit(r: DumpRecord): void {
    if (this.pcap !== undefined && this.pcapFailed === undefined) {
      try {
        const data = r.payload ?? new Uint8Array(0);
        const nsec = r.time.usec * 1000;
        this.pcap.write(data, { sec: r.time.sec, nsec }, Math.max(r.wireLength ?? data.byteLength, data.byteLength));
      } catch (e) {
        // `-w - | tshark ...` whose reader went away: stop quietly, like tcpdump.
        if ((e as NodeJS.ErrnoException).code === 'EPIPE' && this.o.write === '-') this.readerGone = true;
        this.pcapFailed = explainFileError(e, this.o.write ?? '', 'write');
      }
    }
    if (this.quiet) return;
    let text = this.o.json ? formatJson(r, this.fmt) : formatLine(r, this.fmt);
    text += '\n';
    if (this.o.hex && !this.o.json && r.payload !== undefined) text += hexDump(r.payload);
    this.out.write(text);
  }

  /** A message on stderr, around the status line. Same-kind warnings at most once a second. */
  warn(message: string, kind?: string): void {
    if (kind !== undefined) {
      const t = Date.now();
      const w = this.lastWarning.get(kind);
      if (w !== undefined && t - w.at < 1000) {
        w.suppressed++;
        return;
      }
      if (w !== undefined && w.suppressed > 0) message += ` (and ${w.suppressed} more like it)`;
      this.lastWarning.set(kind, { at: t, suppressed: 0 });
    }
    this.out.flush();
    this.status.clear();
    process.stderr.write(`${PROG}: ${message}\n`);
    this.status.redraw();
  }

  close(): void {
    this.out.flush();
    this.status.stop();
    this.pcap?.close();
  }
}
