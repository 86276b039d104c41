/**
 * A progress bar for long loops (training steps, sweep runs) on stderr. On a terminal it redraws
 * one line in place, with rate and ETA; elsewhere (CI logs, pipes) it prints a plain line at most
 * every 30 s, so short loops print nothing. It never writes to stdout, which may carry JSON.
 */

/** Where progress goes: process.stderr, or anything with the same shape (tests). */
export interface ProgressStream {
  write(chunk: string): boolean;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressOptions {
  /** What is counted, e.g. "steps" or "runs" (default "steps"). */
  unit?: string;
  /** Default process.stderr. */
  stream?: ProgressStream;
  /** auto (the default): a bar on a terminal, occasional lines elsewhere. */
  mode?: "auto" | "bar" | "lines" | "off";
  /** The least time between plain lines (default 30 s). */
  lineIntervalMs?: number;
  /** The least time between bar redraws (default 100 ms). */
  redrawIntervalMs?: number;
  /** The clock, in milliseconds (default performance.now). */
  now?: () => number;
}

/** Progress of one loop of `total` items. */
export class Progress {
  private done = 0;
  private detail = "";
  private readonly started: number;
  private lastDraw = -Infinity;
  private linesPrinted = 0;
  private finished = false;
  private readonly mode: "bar" | "lines" | "off";
  private readonly stream: ProgressStream;
  private readonly now: () => number;
  private readonly unit: string;
  private readonly lineInterval: number;
  private readonly redrawInterval: number;

  constructor(
    private readonly label: string,
    private readonly total: number,
    options: ProgressOptions = {},
  ) {
    this.stream = options.stream ?? process.stderr;
    this.now = options.now ?? (() => performance.now());
    this.unit = options.unit ?? "steps";
    this.lineInterval = options.lineIntervalMs ?? 30_000;
    this.redrawInterval = options.redrawIntervalMs ?? 100;
    const mode = options.mode ?? "auto";
    this.mode = mode === "auto" ? (this.stream.isTTY === true && process.env.TERM !== "dumb" ? "bar" : "lines") : mode;
    this.started = this.now();
    // A plain line only after the first interval: loops shorter than that stay silent.
    if (this.mode === "lines") this.lastDraw = this.started;
  }

  /** Sets the count of finished items, with an optional short status such as the current loss. */
  update(done: number, detail?: string): void {
    if (this.finished) return;
    this.done = Math.max(0, Math.min(done, this.total));
    if (detail !== undefined) this.detail = detail;
    this.maybeDraw(false);
  }

  /** Adds `count` finished items (default 1). */
  tick(count = 1, detail?: string): void {
    this.update(this.done + count, detail);
  }

  /** Prints `message` on a line of its own without garbling the bar (which is then redrawn). */
  log(message: string): void {
    if (this.mode === "bar" && !this.finished) {
      this.stream.write(`\r\x1b[K${message}\n`);
      this.draw();
    } else if (this.mode !== "off") {
      this.stream.write(`${message}\n`);
    }
  }

  /** Ends the loop: the bar is drawn complete and the line ended; in line mode a last line follows any earlier ones. */
  finish(detail?: string): void {
    if (this.finished) return;
    if (detail !== undefined) this.detail = detail;
    if (this.mode === "bar") {
      this.draw();
      this.stream.write("\n");
    } else if (this.mode === "lines" && this.linesPrinted > 0) {
      this.stream.write(`${this.plainLine()}\n`);
    }
    this.finished = true;
  }

  private maybeDraw(force: boolean): void {
    const now = this.now();
    if (this.mode === "bar" && (force || now - this.lastDraw >= this.redrawInterval || this.done === this.total)) {
      this.lastDraw = now;
      this.draw();
    } else if (this.mode === "lines" && now - this.lastDraw >= this.lineInterval) {
      this.lastDraw = now;
      this.linesPrinted++;
      this.stream.write(`${this.plainLine()}\n`);
    }
  }

  private draw(): void {
    const columns = Math.max(40, this.stream.columns ?? 80);
    const fraction = this.total > 0 ? this.done / this.total : 1;
    const stats = `${Math.floor(fraction * 100)
      .toString()
      .padStart(3)}% ${this.done}/${this.total} ${this.unit} · ${this.timing()}`;
    const tail = this.detail === "" ? "" : ` · ${this.detail}`;
    const barWidth = Math.max(10, Math.min(30, columns - this.label.length - stats.length - tail.length - 4));
    const filled = Math.round(fraction * barWidth);
    const bar = `${"█".repeat(filled)}${"░".repeat(barWidth - filled)}`;
    const line = `${this.label} ${bar} ${stats}${tail}`;
    this.stream.write(`\r\x1b[K${line.length >= columns ? `${line.slice(0, columns - 2)}…` : line}`);
  }

  private plainLine(): string {
    const percent = this.total > 0 ? Math.floor((100 * this.done) / this.total) : 100;
    return `${this.label}: ${this.done}/${this.total} ${this.unit} (${percent}%), ${this.timing()}${this.detail === "" ? "" : `, ${this.detail}`}`;
  }

  /** "12s elapsed, 40s left", or just the elapsed time when no rate is known yet or the loop is done. */
  private timing(): string {
    const elapsed = (this.now() - this.started) / 1000;
    if (this.done >= this.total || this.done === 0 || elapsed < 0.2) return `${formatDuration(elapsed)} elapsed`;
    const remaining = (elapsed / this.done) * (this.total - this.done);
    return `${formatDuration(elapsed)} elapsed, ${formatDuration(remaining)} left`;
  }
}

/** A progress reporter for a loop of `total` items labelled `label` (see Progress). */
export function progress(label: string, total: number, options: ProgressOptions = {}): Progress {
  return new Progress(label, total, options);
}

/** A compact duration: 0.4s, 12s, 3m05s, 1h02m. */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds) || seconds < 0) return "?";
  if (seconds < 9.95) return `${seconds.toFixed(1)}s`;
  const whole = Math.round(seconds);
  if (whole < 60) return `${whole}s`;
  const minutes = Math.floor(whole / 60);
  if (minutes < 60) return `${minutes}m${String(whole % 60).padStart(2, "0")}s`;
  return `${Math.floor(minutes / 60)}h${String(minutes % 60).padStart(2, "0")}m`;
}
