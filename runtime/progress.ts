/**
 * Progress of long loops (training steps, sweep runs) on stderr, drawn by cli-progress: on a
 * terminal a bar redrawn in place with rate and ETA; elsewhere (CI logs, pipes) a plain line every
 * 30 s once a loop has run that long, so short loops print nothing. It never writes to stdout,
 * which may carry JSON.
 */
import cliProgress from "cli-progress";

/** Off a terminal, a loop prints nothing until it has run this long. */
const LOG_AFTER_MS = 30_000;

/** Progress of one loop (exported: the handle every command holds while its loop runs). */
export interface Progress {
  /** Sets the count of finished items, with an optional short status such as the current run. */
  update(done: number, detail?: string): void;
  /** Ends the loop, with an optional last status. */
  finish(detail?: string): void;
}

/** A progress reporter for a loop of `total` items labelled `label`, counting `unit` (default "steps"). */
export function progress(label: string, total: number, options: { unit?: string } = {}): Progress {
  const bar = new cliProgress.SingleBar(
    {
      stream: process.stderr,
      format: "{label} {bar} {percentage}% {value}/{total} {unit} · {duration_formatted} elapsed, {left} left{detail}",
      barsize: 30,
      hideCursor: false,
      noTTYOutput: true,
      notTTYSchedule: 30_000,
      etaBuffer: 50,
    },
    cliProgress.Presets.shades_classic,
  );
  let done = 0;
  let started = false;
  const since = performance.now();
  const start = () => {
    started = true;
    bar.start(total, done, { label, unit: options.unit ?? "steps", detail: "", left: left(done) });
  };
  if (process.stderr.isTTY === true) start();
  // Our own estimate: the library's prints "NULL" or "INF" when nothing is done yet or all at once.
  const left = (value: number): string => {
    if (value >= total) return "0s";
    if (value <= 0) return "?";
    const seconds = Math.round((((performance.now() - since) / 1000) * (total - value)) / value);
    return seconds < 60 ? `${seconds}s` : `${Math.floor(seconds / 60)}m${String(seconds % 60).padStart(2, "0")}s`;
  };
  const status = (value: number, detail: string | undefined) => ({
    left: left(value),
    ...(detail === undefined ? {} : { detail: ` · ${detail}` }),
  });
  return {
    update(value, detail) {
      done = value;
      if (!started && performance.now() - since >= LOG_AFTER_MS) start();
      if (started) bar.update(value, status(value, detail));
    },
    finish(detail) {
      if (!started) return;
      bar.update(done, status(done, detail));
      bar.stop();
    },
  };
}
