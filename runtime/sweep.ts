/**
 * Learning-rate sweeps: every (seed, η/η_crit, model) run in a pool of worker threads. Each
 * finished run is appended to runs.jsonl in job order, so an interrupted sweep resumes where
 * it stopped and its file ends up identical to that of an uninterrupted sweep.
 */
import { appendFileSync, existsSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import { fail, NqmError, type Diagnostic } from "../compiler/diagnostics.ts";
import type { ModelKind, RunRecord } from "./plot/types.ts";
import { runId } from "./train.ts";
import type { LossNormalization, SessionOptions } from "./session.ts";

/** A sweep: the session it trains in, and the runs and settings it sweeps over. */
export interface SweepSpec extends SessionOptions {
  readonly models: readonly ModelKind[];
  readonly lrMultiples: readonly number[];
  readonly seeds: readonly number[];
  readonly steps: number;
  readonly loss: LossNormalization;
  readonly evalEvery: number;
  readonly eigs: number;
  readonly batch?: number;
  readonly divergenceFactor: number;
}

export interface Job {
  readonly index: number;
  readonly kind: ModelKind;
  readonly lrMultiple: number;
  readonly seed: number;
}

/** Messages from a worker. */
export type WorkerMessage =
  | { readonly type: "ready" }
  | { readonly type: "done"; readonly index: number; readonly record: RunRecord }
  | { readonly type: "failed"; readonly index: number; readonly error: string; readonly diagnostics?: unknown };

/** Every run of the sweep in its fixed order: by seed, then learning rate, then model. */
export function sweepJobs(spec: Pick<SweepSpec, "models" | "lrMultiples" | "seeds">): Job[] {
  const jobs: Job[] = [];
  for (const seed of spec.seeds)
    for (const lrMultiple of spec.lrMultiples)
      for (const kind of spec.models) jobs.push({ index: jobs.length, kind, lrMultiple, seed });
  return jobs;
}

/** Parses `0.5x:4.5x:0.25x` (start:stop:step, inclusive) or a comma list `1x,2.5x` into η/η_crit values. */
export function parseLearningRates(text: string): number[] {
  const multiple = (part: string): number => {
    const match = /^\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)x\s*$/i.exec(part);
    if (!match || !(Number(match[1]) > 0))
      fail("NQM3007", { option: "--lrs", reason: `\`${part}\` is not a positive multiple of η_crit such as 2.5x` });
    return Number(match[1]);
  };
  if (text.includes(":")) {
    const parts = text.split(":");
    if (parts.length !== 3)
      fail("NQM3007", { option: "--lrs", reason: "a range is START:STOP:STEP, e.g. 0.5x:4.5x:0.25x" });
    const [start, stop, step] = parts.map(multiple) as [number, number, number];
    if (!(step > 0) || stop < start)
      fail("NQM3007", { option: "--lrs", reason: "the range needs STEP > 0 and STOP ≥ START" });
    const count = Math.floor((stop - start) / step + 1e-9) + 1;
    if (count > 1000) fail("NQM3007", { option: "--lrs", reason: `the range has ${count} values; at most 1000` });
    return Array.from({ length: count }, (_, i) => Number((start + i * step).toPrecision(12)));
  }
  return text.split(",").map(multiple);
}

/** The fields of a spec that decide its runs (what must match for a sweep to resume). */
function identity(spec: SweepSpec): string {
  const {
    source,
    set,
    modelName,
    data,
    dataSeed,
    models,
    lrMultiples,
    seeds,
    steps,
    loss,
    evalEvery,
    eigs,
    batch,
    divergenceFactor,
  } = spec;
  return JSON.stringify({
    source,
    set,
    modelName,
    data,
    dataSeed,
    models,
    lrMultiples,
    seeds,
    steps,
    loss,
    evalEvery,
    eigs,
    batch,
    divergenceFactor,
  });
}

/**
 * Reads the finished runs of a previous sweep in `dir`, dropping a line cut short by a kill: only
 * lines ended by a newline count (a record whose newline was never written is redone, or the next
 * record would be appended to its line).
 */
export function readRuns(path: string): RunRecord[] {
  if (!existsSync(path)) return [];
  const text = readFileSync(path, "utf8");
  const runs: RunRecord[] = [];
  let kept = 0; // characters of text made of whole lines
  for (let end = text.indexOf("\n"); end >= 0; end = text.indexOf("\n", kept)) {
    const line = text.slice(kept, end);
    if (line.trim() !== "") {
      try {
        runs.push(JSON.parse(line) as RunRecord);
      } catch {
        break; // a damaged line: everything from here is redone
      }
    }
    kept = end + 1;
  }
  if (kept < text.length) truncateSync(path, Buffer.byteLength(text.slice(0, kept)));
  return runs;
}

export interface SweepOptions {
  readonly outDir: string;
  readonly workers?: number;
  /** Called as each run is written (for progress). */
  readonly onRun?: (record: RunRecord, done: number, total: number) => void;
  /** Stop after writing this many new runs (used to test resumption). */
  readonly stopAfter?: number;
}

/** Runs the sweep (resuming one found in outDir) and returns every run, in job order. */
export async function runSweep(spec: SweepSpec, options: SweepOptions): Promise<RunRecord[]> {
  mkdirSync(options.outDir, { recursive: true });
  const specPath = join(options.outDir, "sweep.json");
  const runsPath = join(options.outDir, "runs.jsonl");
  const id = identity(spec);
  if (existsSync(specPath) && existsSync(runsPath)) {
    const previous = readFileSync(specPath, "utf8");
    if (previous.trim() !== "" && JSON.parse(previous).identity !== id) {
      fail("NQM4007", {
        reason: `${options.outDir} holds a different sweep (other model, data or settings); choose another --out or delete it`,
      });
    }
  } else {
    writeFileSync(runsPath, "");
  }
  writeFileSync(specPath, `${JSON.stringify({ identity: id, file: spec.file, data: spec.data }, null, 2)}\n`);

  const jobs = sweepJobs(spec);
  const done = new Map<string, RunRecord>(readRuns(runsPath).map((r) => [r.id, r]));
  const results: (RunRecord | undefined)[] = jobs.map((job) => done.get(expectedId(job)));
  // Runs are written strictly in job order; finished ones wait for their predecessors.
  let nextToWrite = 0;
  while (nextToWrite < jobs.length && results[nextToWrite]) nextToWrite++;
  const pending = jobs.filter((job) => !results[job.index]);
  let written = 0;
  const limit = options.stopAfter ?? Infinity;
  const flush = () => {
    while (nextToWrite < jobs.length && results[nextToWrite]) {
      const record = results[nextToWrite]!;
      if (!done.has(record.id)) {
        if (written >= limit) return;
        appendFileSync(runsPath, `${JSON.stringify(record)}\n`);
        written++;
        options.onRun?.(record, jobs.length - pending.length + written, jobs.length);
      }
      nextToWrite++;
    }
  };
  if (pending.length > 0)
    await runPool(
      spec,
      pending,
      Math.max(1, Math.min(options.workers ?? availableParallelism(), pending.length)),
      (index, record) => {
        results[index] = record;
        flush();
        return written >= limit;
      },
    );
  // runs.jsonl holds exactly the first nextToWrite jobs; runs finished past a stop are not in it,
  // so they are left out here too (a resumed sweep redoes them).
  const kept = results.slice(0, nextToWrite) as RunRecord[];
  writeSummary(join(options.outDir, "summary.csv"), kept);
  return kept;
}

/** The id a job's record will have (runs are keyed by it across resumptions). */
function expectedId(job: Job): string {
  return runId(job.kind, job.lrMultiple, job.seed);
}

function workerUrl(): { url: URL; execArgv: string[] } {
  // In dist the worker is bundled beside nqm.js. From source (tsx) it is a .ts file, and Node 20
  // does not apply `--import tsx` to a worker's entry (ERR_UNKNOWN_FILE_EXTENSION), so a one-line
  // ESM bootstrap registers tsx's hooks in the worker and then imports the .ts worker.
  if (!import.meta.url.endsWith(".ts")) return { url: new URL("./sweep-worker.js", import.meta.url), execArgv: [] };
  const tsx = import.meta.resolve("tsx/esm/api");
  const worker = new URL("./sweep-worker.ts", import.meta.url).href;
  const bootstrap = `import { register } from ${JSON.stringify(tsx)}; register(); await import(${JSON.stringify(worker)});`;
  return { url: new URL(`data:text/javascript,${encodeURIComponent(bootstrap)}`), execArgv: [] };
}

/** Feeds jobs to `count` workers; `onDone` returns true to stop early. */
function runPool(
  spec: SweepSpec,
  jobs: readonly Job[],
  count: number,
  onDone: (index: number, record: RunRecord) => boolean,
): Promise<void> {
  const { url, execArgv } = workerUrl();
  const queue = [...jobs];
  const workers: Worker[] = [];
  return new Promise((resolve, reject) => {
    let active = 0;
    let stopped = false;
    const finish = (error?: unknown) => {
      if (stopped) return;
      stopped = true;
      for (const worker of workers) void worker.terminate();
      if (error) reject(error);
      else resolve();
    };
    const feed = (worker: Worker) => {
      const job = queue.shift();
      if (!job) {
        active--;
        void worker.terminate();
        if (active === 0) finish();
        return;
      }
      worker.postMessage(job);
    };
    for (let i = 0; i < count; i++) {
      const worker = new Worker(url, { workerData: spec, execArgv });
      workers.push(worker);
      active++;
      worker.on("message", (message: WorkerMessage) => {
        if (message.type === "ready") return feed(worker);
        if (message.type === "failed")
          return finish(
            message.diagnostics ? new NqmError(message.diagnostics as Diagnostic[]) : new Error(message.error),
          );
        if (onDone(message.index, message.record)) return finish();
        feed(worker);
      });
      worker.on("error", (error) => finish(error));
    }
  });
}

/** One row per run: the figures a spreadsheet or a quick look needs. */
export function writeSummary(path: string, runs: readonly RunRecord[]): void {
  const header = [
    "id",
    "model",
    "seed",
    "lr",
    "lr_multiple",
    "eta_crit",
    "phase",
    "steps",
    "initial_loss",
    "peak_loss",
    "final_loss",
    "best_test_loss",
    "lambda_max_initial",
    "lambda_max_final",
    "diverged_at",
  ];
  const finite = (values: readonly number[]) => values.filter((v) => typeof v === "number" && Number.isFinite(v));
  const rows = runs.map((r) => [
    r.id,
    r.model,
    r.seed,
    r.lr,
    r.lrMultiple,
    r.etaCrit,
    r.phase,
    r.steps,
    r.trainLoss[0],
    finite(r.trainLoss).reduce((a, b) => Math.max(a, b), -Infinity),
    r.finalTrainLoss,
    r.bestTestLoss ?? "",
    r.lambdaMax[0] ?? "",
    r.lambdaMax.at(-1) ?? "",
    r.divergedAt ?? "",
  ]);
  writeFileSync(
    path,
    `${[header, ...rows]
      .map((row) => row.map((cell) => (cell === null || cell === undefined ? "" : String(cell))).join(","))
      .join("\n")}\n`,
  );
}
