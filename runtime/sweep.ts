/**
 * Learning-rate sweeps: every (seed, η/η_crit, model) run in a pool of worker threads (piscina).
 * Each finished run is appended to runs.jsonl in job order, so an interrupted sweep resumes where
 * it stopped and its file ends up identical to that of an uninterrupted sweep. The folder is
 * locked for the sweep's life; every record carries the sweep's identity hash, so a folder is
 * only ever resumed by the sweep that wrote it, even when its sweep.json is lost.
 */
import { createHash } from "node:crypto";
import { existsSync, readFileSync, truncateSync } from "node:fs";
import { availableParallelism } from "node:os";
import { join } from "node:path";
import { Piscina } from "piscina";
import { stringify } from "csv-stringify/sync";
import { z } from "zod";
import { defined } from "../foundation/defined.ts";
import { type Diagnostic, fail, NqmError } from "../foundation/diagnostics.ts";
import { appendText, ensureWritableFolder, ioReason, writeFailed, writeTextAtomic } from "./files.ts";
import { RUN_RECORD, type RunRecord } from "./run-record.ts";
import { lockSweepFolder } from "./sweep-lock.ts";
import { sweepSettings } from "./sweep-settings.ts";
import type { Job, JobOutcome, SweepSpec } from "./sweep-types.ts";
import { runId } from "./train.ts";

export type { Job, SweepSpec } from "./sweep-types.ts";

/** Every run of the sweep in its fixed order: by seed, then learning rate, then model. */
export function sweepJobs(spec: Pick<SweepSpec, "models" | "lrMultiples" | "seeds">): Job[] {
  const jobs: Job[] = [];
  for (const seed of spec.seeds)
    for (const lrMultiple of spec.lrMultiples)
      for (const kind of spec.models) jobs.push({ index: jobs.length, kind, lrMultiple, seed });
  return jobs;
}

/** The I-th of N slices of a sweep (`--shard I/N`, I from 1). */
export interface Shard {
  readonly index: number;
  readonly count: number;
}

/** Parses `--shard I/N` (1 ≤ I ≤ N), or NQM3007. */
export function parseShard(text: string): Shard {
  const match = /^\s*(\d+)\s*\/\s*(\d+)\s*$/.exec(text);
  const index = Number(match?.[1]);
  const count = Number(match?.[2]);
  if (!match || !(count >= 1 && count <= 100_000 && index >= 1 && index <= count))
    fail("NQM3007", {
      option: "--shard",
      reason: `expected I/N with 1 ≤ I ≤ N (the I-th of N slices, e.g. 2/8), got \`${text}\``,
    });
  return { index, count };
}

/**
 * The jobs of a shard. Jobs are dealt round-robin in the order of a hash of their run ids: a
 * fixed shuffle, so each slice mixes models, rates and seeds (plain striding would give every
 * slice one model when N is their number) and the slices of all N cover the sweep exactly once.
 * Within a slice the jobs keep the sweep's order.
 */
export function shardJobs(jobs: readonly Job[], shard: Shard | undefined): Job[] {
  if (shard === undefined) return [...jobs];
  const key = (job: Job) => createHash("sha256").update(expectedId(job)).digest("hex");
  const dealt = jobs
    .map((job) => ({ job, key: key(job) }))
    .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const mine = new Set(dealt.filter((_, i) => i % shard.count === shard.index - 1).map(({ job }) => job.index));
  return jobs.filter((job) => mine.has(job.index));
}

/** A multiple of η_crit such as `2.5x`: finite and positive, or NQM3007 for `option`. */
export function parseMultiple(part: string, option: string): number {
  const match = /^\s*([0-9]*\.?[0-9]+(?:e[-+]?\d+)?)x\s*$/i.exec(part);
  const value = match ? Number(match[1]) : Number.NaN;
  // A subnormal multiple is refused with zero: η = multiple·η_crit would underflow or lose its digits.
  if (!Number.isFinite(value) || !(value >= 2 ** -1022)) {
    const reason =
      match && value === Number.POSITIVE_INFINITY
        ? `\`${part.trim()}\` is too large to be a number`
        : match
          ? `\`${part.trim()}\` is zero (or too small to be told from zero)`
          : `\`${part.trim()}\` is not a positive multiple of η_crit such as 2.5x`;
    fail("NQM3007", { option, reason });
  }
  return value;
}

/**
 * Parses `0.5x:4.5x:0.25x` (start:stop:step, inclusive) or a comma list `1x,2.5x` into η/η_crit
 * values; a value given twice is refused (two runs would share one id).
 */
export function parseLearningRates(text: string): number[] {
  const multiple = (part: string) => parseMultiple(part, "--lrs");
  let values: number[];
  if (text.includes(":")) {
    const parts = text.split(":");
    if (parts.length !== 3)
      fail("NQM3007", { option: "--lrs", reason: "a range is START:STOP:STEP, e.g. 0.5x:4.5x:0.25x" });
    const [start, stop, step] = parts.map(multiple) as [number, number, number];
    if (stop < start) fail("NQM3007", { option: "--lrs", reason: "the range needs STOP ≥ START" });
    const count = Math.floor((stop - start) / step + 1e-9) + 1;
    if (!(count <= 1000)) fail("NQM3007", { option: "--lrs", reason: `the range has ${count} values; at most 1000` });
    values = Array.from({ length: count }, (_, i) => Number((start + i * step).toPrecision(12)));
  } else {
    values = text.split(",").map(multiple);
  }
  const seen = new Set<number>();
  for (const value of values) {
    if (seen.has(value))
      fail("NQM3007", {
        option: "--lrs",
        reason: `${value}x is given twice (each rate is one run per model and seed)`,
      });
    seen.add(value);
  }
  return values;
}

/** The fields of a spec that decide its runs (what must match for a sweep to resume), in the identity's order. */
const IDENTITY_FIELDS = [
  "source",
  "set",
  "modelName",
  "data",
  "dataSeed",
  "models",
  "lrMultiples",
  "seeds",
  "steps",
  "loss",
  "evalEvery",
  "eigs",
  "batch",
  "divergenceFactor",
] as const satisfies readonly (keyof SweepSpec)[];

/** The identity of a sweep: its deciding fields as JSON. */
function identity(spec: SweepSpec): string {
  return JSON.stringify({
    ...Object.fromEntries(IDENTITY_FIELDS.map((field) => [field, spec[field]])),
    // f32 runs are other numbers; f64 (the default) leaves the identity of older sweeps as it was.
    dtype: spec.dtype === "f32" ? "f32" : undefined,
    // Always present: a sweep of an nqm without schedules (measured uniformly, phases by the old rule) is not resumed.
    evalSchedule: spec.evalSchedule ?? "dense-early",
    // Absent (exact f_lin, no directions) leaves the identity of older sweeps as it was.
    lin: spec.lin === "stepped" ? "stepped" : undefined,
    directions: spec.directions || undefined,
  });
}

/** A short hash of the sweep's identity, stored in sweep.json and in every record. */
export function identityHash(spec: SweepSpec): string {
  return createHash("sha256").update(identity(spec)).digest("hex").slice(0, 16);
}

const SWEEP_FILE = z.object({ hash: z.string(), identity: z.string() }).loose();

/** The parts of sweep.json that rebuild its sweep (see sweepFromFolder). */
const SWEEP_RECORD = SWEEP_FILE.extend({
  file: z.string(),
  settings: z.object({ backend: z.enum(["auto", "js", "wasm"]) }).loose(),
});

/** The deciding fields as identity() writes them. */
const IDENTITY = z.object({
  source: z.string(),
  set: z.record(z.string(), z.number()),
  modelName: z.string().optional(),
  data: z.string(),
  dataSeed: z.number(),
  models: z.array(z.enum(["f", "lin", "quad"])).min(1),
  lrMultiples: z.array(z.number()).min(1),
  seeds: z.array(z.number()).min(1),
  steps: z.number(),
  loss: z.enum(["sum", "mean"]),
  evalEvery: z.number(),
  eigs: z.number(),
  batch: z.number().optional(),
  divergenceFactor: z.number(),
  dtype: z.literal("f32").optional(),
});

/**
 * The sweep whose folder `dir` is, rebuilt from its sweep.json, and its hash; NQM3006 when the
 * file cannot be read, NQM4007 when it is not a sweep's or its identity does not give its hash.
 */
export function sweepFromFolder(dir: string): { spec: SweepSpec; hash: string; shard?: string } {
  const path = join(dir, "sweep.json");
  const text = readOrFail(path);
  const damaged = (why: string): never => fail("NQM4007", { reason: `${path} ${why}; it is not a sweep's record` });
  let file: z.infer<typeof SWEEP_RECORD>;
  let fields: z.infer<typeof IDENTITY>;
  try {
    file = SWEEP_RECORD.parse(JSON.parse(text));
    fields = IDENTITY.parse(JSON.parse(file.identity));
  } catch {
    return damaged("is damaged");
  }
  const { dtype, ...rest } = fields;
  const spec: SweepSpec = {
    ...rest,
    file: file.file,
    ...(dtype !== undefined ? { dtype } : {}),
    ...(file.settings.backend !== "auto" ? { backend: file.settings.backend } : {}),
  };
  if (identityHash(spec) !== file.hash) damaged(`names sweep ${file.hash}, but its identity is another sweep's`);
  const shard = typeof file.shard === "string" ? file.shard : undefined;
  return { spec, hash: file.hash, ...(shard !== undefined ? { shard } : {}) };
}

/**
 * The whole lines of a runs.jsonl with their records, changing nothing (a last line cut short
 * by a kill is left out); NQM4007 for a damaged whole line, as readRuns.
 */
export function readRunLines(path: string): { line: string; record: RunRecord }[] {
  const { runs } = parseRuns(path);
  const lines = existsSync(path)
    ? readOrFail(path)
        .split("\n")
        .filter((line) => line.trim() !== "")
    : [];
  // parseRuns kept the whole non-blank lines in order: the first runs.length of them.
  return runs.map((record, i) => ({ line: defined(lines[i], "a whole line of runs.jsonl"), record }));
}

/**
 * Reads the finished runs of a previous sweep, dropping a last line cut short by a kill: only
 * lines ended by a newline count (a record whose newline was never written is redone, or the
 * next record would be appended to its line). A damaged whole line is refused (NQM4007): no
 * kill makes one, and the runs after it must not be thrown away.
 */
export function readRuns(path: string): RunRecord[] {
  const { runs, wholeBytes, totalBytes } = parseRuns(path);
  if (wholeBytes < totalBytes) truncateRuns(path, wholeBytes);
  return runs;
}

/** The records of runs.jsonl and the bytes of its whole lines (see readRuns), changing nothing. */
function parseRuns(path: string): { runs: RunRecord[]; wholeBytes: number; totalBytes: number } {
  if (!existsSync(path)) return { runs: [], wholeBytes: 0, totalBytes: 0 };
  const text = readOrFail(path);
  const runs: RunRecord[] = [];
  let kept = 0; // characters of text made of whole lines
  for (let end = text.indexOf("\n"), line = 1; end >= 0; end = text.indexOf("\n", kept), line++) {
    const content = text.slice(kept, end);
    if (content.trim() !== "") {
      let parsed: ReturnType<typeof RUN_RECORD.safeParse>;
      try {
        parsed = RUN_RECORD.safeParse(JSON.parse(content));
      } catch (error) {
        fail("NQM4007", { reason: `${path}:${line} is not JSON (${(error as Error).message}); move the file away` });
      }
      if (!parsed.success) {
        const issue = parsed.error.issues[0];
        const where = issue && issue.path.length > 0 ? ` at ${issue.path.join(".")}` : "";
        fail("NQM4007", {
          reason: `${path}:${line} is not a run record (${issue?.message ?? "invalid"}${where}); move the file away`,
        });
      }
      runs.push(parsed.data);
    }
    kept = end + 1;
  }
  return { runs, wholeBytes: Buffer.byteLength(text.slice(0, kept)), totalBytes: Buffer.byteLength(text) };
}

function truncateRuns(path: string, bytes: number): void {
  try {
    truncateSync(path, bytes);
  } catch (error) {
    writeFailed(path, error);
  }
}

/** The text of `path`, or NQM3006 naming it and the cause. */
function readOrFail(path: string): string {
  try {
    return readFileSync(path, "utf8");
  } catch (error) {
    fail("NQM3006", { file: path, reason: ioReason(error) });
  }
}

/**
 * A locked sweep folder whose identity has been checked, with the runs already in it (exported:
 * the handle the CLI opens, passes to runSweep and releases).
 */
export interface SweepFolder {
  readonly outDir: string;
  readonly runsPath: string;
  readonly hash: string;
  readonly previous: readonly RunRecord[];
  /** Releases the folder's lock (also done when the process exits). */
  readonly release: () => void;
}

/**
 * Opens `outDir` for `spec`: creates it, checks that it is writable, locks it (NQM4008 when
 * another sweep holds it) and checks that whatever it holds belongs to this sweep (NQM4007).
 * Cheap: call it before compiling or loading data, so a bad folder fails fast.
 */
export function openSweepFolder(spec: SweepSpec, outDir: string, shard?: Shard): SweepFolder {
  ensureWritableFolder(outDir);
  const release = lockSweepFolder(outDir);
  try {
    const specPath = join(outDir, "sweep.json");
    const runsPath = join(outDir, "runs.jsonl");
    const hash = identityHash(spec);
    const advice = "choose another --out or delete it";
    const other = `${outDir} holds a different sweep (other model, data or settings); ${advice}`;
    if (existsSync(specPath)) {
      let recorded: z.infer<typeof SWEEP_FILE> | undefined;
      try {
        recorded = SWEEP_FILE.parse(JSON.parse(readOrFail(specPath)));
      } catch (error) {
        if (error instanceof NqmError) throw error; // unreadable
        recorded = undefined; // damaged (or left empty by an older nqm): the records decide
      }
      if (recorded !== undefined && recorded.hash !== hash) fail("NQM4007", { reason: other });
    }
    const { runs: previous, wholeBytes, totalBytes } = parseRuns(runsPath);
    const foreign = previous.find((record) => record.sweep !== hash);
    if (foreign !== undefined)
      fail("NQM4007", {
        reason:
          foreign.sweep === undefined
            ? `${runsPath} was written by an earlier nqm, whose runs started from other initial weights (seeds are now derived per tensor) and had rounded run ids, so they cannot be resumed; ${advice}`
            : `${runsPath} holds run ${foreign.id} of sweep ${foreign.sweep}, not of this one (${hash}); ${advice}`,
      });
    // Only now that the runs are known to be this sweep's: drop a last line cut short by a kill.
    if (wholeBytes < totalBytes) truncateRuns(runsPath, wholeBytes);
    writeTextAtomic(
      specPath,
      `${JSON.stringify({ hash, identity: identity(spec), file: spec.file, data: spec.data, settings: sweepSettings(spec), ...(shard ? { shard: `${shard.index}/${shard.count}` } : {}) }, null, 2)}\n`,
    );
    if (!existsSync(runsPath)) writeTextAtomic(runsPath, "");
    return { outDir, runsPath, hash, previous, release };
  } catch (error) {
    release();
    throw error;
  }
}

export interface SweepOptions {
  readonly outDir: string;
  readonly workers?: number;
  /** The folder, when the caller opened it already (to fail fast before its own setup). */
  readonly folder?: SweepFolder;
  /** Called as each run is written (for progress). */
  readonly onRun?: (record: RunRecord, done: number, total: number) => void;
  /** Stop after writing this many new runs (used to test resumption). */
  readonly stopAfter?: number;
  /** Run only this slice of the sweep's jobs. */
  readonly shard?: Shard;
}

/** The number of worker threads a sweep starts: the request (default: one per core), at most one per job. */
export function workerCount(requested: number | undefined, jobs: number): number {
  return Math.max(1, Math.min(requested ?? availableParallelism(), jobs));
}

/** Runs the sweep (resuming one found in outDir) and returns every run, in job order. */
export async function runSweep(spec: SweepSpec, options: SweepOptions): Promise<RunRecord[]> {
  const folder = options.folder ?? openSweepFolder(spec, options.outDir);
  try {
    const jobs = shardJobs(sweepJobs(spec), options.shard);
    // A shard's jobs are a slice: results are kept by place in that slice, not by job index.
    const place = new Map(jobs.map((job, i) => [job.index, i]));
    const done = new Map<string, RunRecord>(folder.previous.map((r) => [r.id, r]));
    const results: (RunRecord | undefined)[] = jobs.map((job) => done.get(expectedId(job)));
    // Runs are written strictly in job order; finished ones wait for their predecessors.
    let nextToWrite = 0;
    while (nextToWrite < jobs.length && results[nextToWrite]) nextToWrite++;
    const pending = jobs.filter((_, i) => !results[i]);
    let written = 0;
    const limit = options.stopAfter ?? Infinity;
    const flush = () => {
      for (let record = results[nextToWrite]; record !== undefined; record = results[nextToWrite]) {
        if (!done.has(record.id)) {
          if (written >= limit) return;
          appendText(folder.runsPath, `${JSON.stringify(record)}\n`);
          written++;
          options.onRun?.(record, jobs.length - pending.length + written, jobs.length);
        }
        nextToWrite++;
      }
    };
    if (pending.length > 0)
      // The workers fill the cores: each run's kernels get one thread unless the spec says otherwise.
      await runPool(
        { ...spec, threads: spec.threads ?? 1 },
        pending,
        workerCount(options.workers, pending.length),
        (index, record) => {
          results[defined(place.get(index), "a job's place in its slice")] = { sweep: folder.hash, ...record };
          flush();
          return written >= limit;
        },
      );
    // runs.jsonl holds exactly the first nextToWrite jobs; runs finished past a stop are not in it,
    // so they are left out here too (a resumed sweep redoes them).
    const kept = results.slice(0, nextToWrite).filter((r) => r !== undefined);
    writeSummary(folder.outDir, kept);
    return kept;
  } finally {
    if (options.folder === undefined) folder.release();
  }
}

/** The id a job's record will have (runs are keyed by it across resumptions). */
export function expectedId(job: Job): string {
  return runId(job.kind, job.lrMultiple, job.seed);
}

/** The worker's module: bundled beside nqm.js in dist, or the tsx bootstrap of the .ts source. */
export function workerFile(): string {
  return new URL(import.meta.url.endsWith(".ts") ? "./sweep-worker-tsx.mjs" : "./sweep-worker.js", import.meta.url)
    .href;
}

/** Runs `jobs` on `count` worker threads, in order; `onDone` returns true to stop early. */
async function runPool(
  spec: SweepSpec,
  jobs: readonly Job[],
  count: number,
  onDone: (index: number, record: RunRecord) => boolean,
): Promise<void> {
  const pool = new Piscina<Job, JobOutcome>({
    filename: workerFile(),
    workerData: spec,
    minThreads: count,
    maxThreads: count,
    concurrentTasksPerWorker: 1,
  });
  let stopped = false;
  let failure: unknown;
  const stop = (error?: unknown) => {
    if (stopped) return;
    stopped = true;
    failure = error;
    void pool.destroy();
  };
  try {
    await Promise.all(
      jobs.map(async (job) => {
        let outcome: JobOutcome;
        try {
          outcome = await pool.run(job);
        } catch (error) {
          stop(error); // after a stop, the queued jobs are cancelled: stop keeps the first cause
          return;
        }
        if (stopped) return;
        if (!outcome.ok) stop(new NqmError(outcome.diagnostics as Diagnostic[]));
        else if (onDone(job.index, outcome.record)) stop();
      }),
    );
  } finally {
    await pool.destroy();
  }
  if (failure !== undefined) throw failure;
}

const SUMMARY_COLUMNS = [
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
  "loss",
  "eta_crit_from",
  "sharpness_initial",
  "best_test_accuracy",
  "final_test_accuracy",
];

/** Writes `dir`/summary.csv for these runs (what every way of running a sweep ends with). */
export function writeSummary(dir: string, runs: readonly RunRecord[]): void {
  writeTextAtomic(join(dir, "summary.csv"), summaryCsv(runs));
}

/**
 * Rewrites runs.jsonl with its lines in the sweep's job order (atomically, as text, so each
 * record keeps its bytes): a sweep whose runs arrived in another order (from a queue, from
 * shards) ends with the file a local sweep writes. Returns `runs` in that order.
 */
export function reorderRunsFile(spec: SweepSpec, runsPath: string, runs: readonly RunRecord[]): RunRecord[] {
  const order = new Map(sweepJobs(spec).map((job, i) => [expectedId(job), i]));
  const place = (id: string) => order.get(id) ?? Number.POSITIVE_INFINITY;
  const lines = readOrFail(runsPath)
    .split("\n")
    .filter((line) => line.trim() !== "")
    .map((line) => ({ line, id: (JSON.parse(line) as { id: string }).id }));
  lines.sort((a, b) => place(a.id) - place(b.id));
  writeTextAtomic(runsPath, lines.map(({ line }) => `${line}\n`).join(""));
  return [...runs].sort((a, b) => place(a.id) - place(b.id));
}

/** summary.csv: one row per run, the figures a spreadsheet or a quick look needs. */
function summaryCsv(runs: readonly RunRecord[]): string {
  const peak = (values: readonly number[]) => values.reduce((a, b) => (Number.isFinite(b) && b > a ? b : a), -Infinity);
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
    r.peakTrainLoss ?? peak(r.trainLoss),
    r.finalTrainLoss,
    r.bestTestLoss ?? "",
    r.lambdaMax[0] ?? "",
    r.lambdaMax.at(-1) ?? "",
    r.divergedAt ?? "",
    r.loss ?? "squared",
    r.etaCritFrom ?? "kernel",
    r.sharpness0 ?? "",
    r.bestTestAccuracy ?? "",
    r.testAccuracy?.at(-1) ?? "",
  ]);
  return stringify([SUMMARY_COLUMNS, ...rows], { cast: { number: (value) => String(value) } });
}
