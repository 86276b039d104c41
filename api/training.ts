/**
 * The library's training functions: train and sweep, with the options of `nqm train` and
 * `nqm sweep` (values as the command line writes them, `"2.5x"`, `"f,lin"`, or as numbers and
 * arrays) and plain records as results: the run records a sweep writes to runs.jsonl.
 */
import { basename, join } from "node:path";
import { defined } from "../foundation/defined.ts";
import { fail } from "../foundation/diagnostics.ts";
import { writeReport } from "../runtime/plot/index.ts";
import { defaultMemoryLimit } from "../runtime/memory.ts";
import { MODEL_ORDER, type ModelKind, type RunRecord } from "../runtime/run-record.ts";
import type { LossName } from "../compiler/check/typed.ts";
import {
  criticalCurvature,
  criticalRate,
  openSession,
  startingPoint,
  type LossNormalization,
  type Session,
  type SessionOptions,
} from "../runtime/session.ts";
import {
  identityHash,
  openSweepFolder,
  parseLearningRates,
  parseMultiple,
  parseShard,
  runSweep,
  shardJobs,
  sweepJobs,
  type SweepSpec,
  workerCount,
} from "../runtime/sweep.ts";
import { sweepSettings } from "../runtime/sweep-settings.ts";
import {
  exactLinearRefusal,
  kernelSpectrum,
  type LinearDynamics,
  referenceRuns,
  runTraining,
} from "../runtime/linear-exact.ts";
import type { ScheduleKind } from "../runtime/schedule.ts";
import { datasetHash } from "../runtime/data/content-hash.ts";
import type { QueueFailure } from "../runtime/queue/coordinator.ts";
import type { KernelOptions, ModelOptions } from "./model.ts";
import { readSource } from "./source.ts";

export type { LossName, LossNormalization, ModelKind, RunRecord };

/** Far beyond any experiment (days of steps); records stay bounded, and the step count stays exact. */
export const MAX_STEPS = 1e9;

/** Where sweeps without `out` get their folders (`--out-root`). */
export const DEFAULT_OUT_ROOT = "nqm-out";

/** What every training command shares (`--data`, `--steps`, `--loss`, …). */
export interface TrainingOptions extends ModelOptions, KernelOptions {
  /** The data set, as `--data`: `gauss1d:n=64`, `csv:PATH`, `npy:X,Y`, … (docs/training.md). */
  readonly data: string;
  /** Seed of the data draw (default 0). */
  readonly dataSeed?: number;
  /** Gradient steps per run (default 500). */
  readonly steps?: number;
  /** `sum` (½Σ(f−y)², the default) or `mean`. */
  readonly loss?: LossNormalization;
  /** Measure test loss, λ_max and ‖w−w0‖ every k steps (default max(10, steps/50)). */
  readonly evalEvery?: number;
  /** `dense-early` (the default: every early step too, so λ's fall shows) or `uniform`. */
  readonly evalSchedule?: ScheduleKind;
  /** Track the top k eigenvalues of the tangent kernel (default 1; 0: none). */
  readonly eigs?: number;
  /** Mini-batch size (default: full batch). */
  readonly batch?: number;
  /** A loss above cap × the initial loss counts as divergence (default 1e10). */
  readonly cap?: number;
  /** f_lin: `exact` (closed form from K(w0)'s eigendecomposition, where it applies; the default) or `stepped`. */
  readonly lin?: LinearDynamics;
  /** Record the loss along the top k eigenvectors of K(w0) and along the rest (default 0: none). */
  readonly directions?: number;
  /** Told why f_lin is stepped although the closed form was asked for. */
  readonly onNote?: (text: string) => void;
  /** The folder relative data paths are read from (default: the working directory). */
  readonly cwd?: string;
}

/** `f,lin,quad`, `all`, one of them, or an array of them. */
export function parseModels(value: string | readonly string[]): ModelKind[] {
  if (value === "all") return [...MODEL_ORDER];
  const kinds = (typeof value === "string" ? value.split(",") : [...value]).map((s) => s.trim());
  for (const kind of kinds)
    if (!(MODEL_ORDER as readonly string[]).includes(kind))
      fail("NQM3007", { option: "--model", reason: `\`${kind}\` is not one of f, lin, quad, all` });
  if (kinds.length === 0) fail("NQM3007", { option: "--model", reason: "no model given" });
  return kinds as ModelKind[];
}

function lossOf(value: string): LossNormalization {
  if (value !== "sum" && value !== "mean")
    fail("NQM3007", { option: "--loss", reason: `expected sum or mean, got \`${value}\`` });
  return value;
}

/** An integer option of the library within [min, max] (the CLI's parser checks its text the same way). */
function integer(option: string, value: number | undefined, fallback: number, min: number, max = 2 ** 53 - 1): number {
  const number = value ?? fallback;
  if (!Number.isInteger(number) || number < min || number > max)
    fail("NQM3007", { option, reason: `expected an integer from ${min} to ${max}, got ${number}` });
  return number;
}

/**
 * Measurements every 10 steps, or 50 in a run (whichever is sparser): warm-started Lanczos
 * needs a few kernel products per measurement, so tracking stays near one step's cost.
 */
function defaultEvalEvery(steps: number): number {
  return Math.max(10, Math.round(steps / 50));
}

/** `0.01` or 0.01 (absolute) or `2.5x` (a multiple of η_crit); finite and positive. */
function parseLearningRate(value: string | number): { absolute: number } | { multiple: number } {
  if (typeof value === "string" && /x\s*$/i.test(value)) return { multiple: parseMultiple(value, "--lr") };
  const absolute = Number(value);
  const text = String(value);
  if (!/^\s*[0-9]*\.?[0-9]+(?:e[-+]?\d+)?\s*$/i.test(text) || !Number.isFinite(absolute) || absolute <= 0)
    fail("NQM3007", {
      option: "--lr",
      reason: `expected a positive number or a multiple of η_crit such as 2.5x, got \`${text}\``,
    });
  return { absolute };
}

/** The settings every run of a training command shares, with the defaults filled in. */
function runSettings(options: TrainingOptions) {
  const steps = integer("--steps", options.steps, 500, 1, MAX_STEPS);
  const cap = options.cap ?? 1e10;
  if (!(cap > 0 && Number.isFinite(cap)))
    fail("NQM3007", { option: "--cap", reason: `expected a positive number, got ${cap}` });
  return {
    steps,
    loss: lossOf(options.loss ?? "sum"),
    evalEvery:
      options.evalEvery === undefined ? defaultEvalEvery(steps) : integer("--eval-every", options.evalEvery, 1, 1),
    evalSchedule: options.evalSchedule ?? "dense-early",
    eigs: integer("--eigs", options.eigs, 1, 0),
    ...(options.batch !== undefined ? { batch: integer("--batch", options.batch, 1, 1) } : {}),
    divergenceFactor: cap,
    ...(options.directions ? { directions: integer("--directions", options.directions, 0, 0) } : {}),
  };
}

/** `--lin`: exact (the default) or stepped. */
function linOf(value: string | undefined): LinearDynamics {
  if (value === undefined || value === "exact" || value === "stepped") return value ?? "exact";
  fail("NQM3007", { option: "--lin", reason: `expected exact or stepped, got \`${value}\`` });
}

/** Notes why f_lin runs will be stepped although the closed form was asked for. */
function noteStepped(
  session: Session,
  kinds: readonly ModelKind[],
  lin: LinearDynamics,
  batch: number | undefined,
  onNote: ((text: string) => void) | undefined,
): void {
  if (!kinds.includes("lin") || lin === "stepped") return;
  const reason = exactLinearRefusal(session, { kind: "lin", ...(batch ? { batch } : {}) }, lin);
  if (reason !== undefined) onNote?.(`f_lin is trained by gradient steps: ${reason}`);
}

/** The session that a training command's options describe. */
function sessionOptions(file: string, source: string, options: TrainingOptions): SessionOptions {
  return {
    file,
    source,
    set: { ...(options.set ?? {}) },
    ...(options.block ? { modelName: options.block } : {}),
    data: options.data,
    dataSeed: integer("--data-seed", options.dataSeed, 0, 0),
    ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.dtype ? { dtype: options.dtype } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
  };
}

/** What a training command learns when its session opens: the model, the data and the dims the data bound. */
export interface SessionInfo {
  readonly model: string;
  readonly data: string;
  readonly n: number;
  readonly testN?: number;
  /** Input dims that were not set and came from the data's shape. */
  readonly boundDims: Readonly<Record<string, number>>;
  /** The backend the kernels run on. */
  readonly backend: "js" | "wasm";
  /** The model's declared loss (`squared` unless its file says `loss cross_entropy`). */
  readonly modelLoss: LossName;
}

function sessionInfo(session: Session): SessionInfo {
  return {
    model: session.model.name,
    data: session.data.name,
    n: session.data.train.n,
    ...(session.data.test ? { testN: session.data.test.n } : {}),
    boundDims: { ...session.boundDims },
    backend: session.backend,
    modelLoss: session.model.loss,
  };
}

/** The options of `train`, as `nqm train`'s. */
export interface TrainOptions extends TrainingOptions {
  /** The learning rate: absolute (0.05 or "0.05") or a multiple of η_crit ("2.5x"). */
  readonly lr: number | string;
  /** Which models: "f,lin,quad", "all" (the default), or an array such as ["f", "quad"]. */
  readonly model?: string | readonly ModelKind[];
  /** The initialization seed (default 0). */
  readonly seed?: number;
  /** Called when the session is open, before training. */
  readonly onOpen?: (info: SessionInfo) => void;
  /** Called as each model trains, with the steps done. */
  readonly onStep?: (model: ModelKind, step: number, steps: number) => void;
  /** Called when a model's run is finished. */
  readonly onRun?: (record: RunRecord) => void;
}

/** The result of `train`, as `nqm train --json` prints it (plus the session). */
export interface TrainResult extends SessionInfo {
  readonly seed: number;
  readonly loss: LossNormalization;
  /** λ_max of the tangent kernel at w0. */
  readonly lambda0: number;
  /** For a loss other than squared: the sharpness λ_max(∇²L(w0)), which sets η_crit. */
  readonly sharpness0?: number;
  /** 2/λ0 (sum loss), 2n/λ0 (mean loss); with the sharpness in place of λ0 for other losses. */
  readonly etaCrit: number;
  /** What η_crit is 2/… of: the tangent kernel's λ_max (squared loss) or the loss Hessian's (sharpness). */
  readonly etaCritFrom: "kernel" | "sharpness";
  readonly lr: number;
  readonly runs: readonly RunRecord[];
}

/** Trains f, f_lin and/or f_quad by gradient descent from one w0 (as `nqm train`). */
export async function train(file: string, options: TrainOptions): Promise<TrainResult> {
  const kinds = parseModels(options.model ?? "all");
  const settings = runSettings(options);
  const rate = parseLearningRate(options.lr);
  const seed = integer("--seed", options.seed, 0, 0);
  const source = options.source ?? readSource(file);
  const session = await openSession({ memoryLimit: defaultMemoryLimit(), ...sessionOptions(file, source, options) });
  const info = sessionInfo(session);
  options.onOpen?.(info);
  const start = startingPoint(session, seed);
  const { lambda0 } = start;
  const curvature = criticalCurvature(start);
  const etaCrit = criticalRate(curvature.value, settings.loss, info.n);
  const lr = "absolute" in rate ? rate.absolute : rate.multiple * etaCrit;
  const runs: RunRecord[] = [];
  const lin = linOf(options.lin);
  noteStepped(session, kinds, lin, settings.batch, options.onNote);
  for (const kind of kinds) {
    const record = runTraining(
      session,
      start,
      { kind, lr, ...("multiple" in rate ? { lrMultiple: rate.multiple } : {}), ...settings, seed },
      { lin },
      (t) => options.onStep?.(kind, t, settings.steps),
    );
    options.onRun?.(record);
    runs.push(record);
  }
  return {
    ...info,
    seed,
    loss: settings.loss,
    lambda0,
    ...(start.sharpness0 !== undefined ? { sharpness0: start.sharpness0 } : {}),
    etaCrit,
    etaCritFrom: curvature.from,
    lr,
    runs,
  };
}

/** `--seeds`: a count n (seeds 0..n−1) or a comma list of distinct seeds such as `0,3,7`. */
export function parseSeeds(value: number | string | readonly number[]): number[] {
  if (typeof value === "number") return Array.from({ length: integer("--seeds", value, 1, 1) }, (_, i) => i);
  if (typeof value === "string" && !value.includes(",")) {
    if (!/^\s*\d+\s*$/.test(value))
      fail("NQM3007", { option: "--seeds", reason: `expected a count or a comma list of seeds, got \`${value}\`` });
    return parseSeeds(Number(value));
  }
  const seeds = typeof value === "string" ? value.split(",").map((part) => part.trim()) : value.map(String);
  const numbers = seeds.map((text) => {
    if (!/^\d+$/.test(text) || !Number.isSafeInteger(Number(text)))
      fail("NQM3007", { option: "--seeds", reason: `\`${text}\` is not a seed (an integer from 0 to 2^53 − 1)` });
    return Number(text);
  });
  if (new Set(numbers).size !== numbers.length)
    fail("NQM3007", { option: "--seeds", reason: "a seed is given twice (each seed is one run per model and rate)" });
  if (numbers.length === 0) fail("NQM3007", { option: "--seeds", reason: "no seed given" });
  return numbers;
}

/**
 * The folder name of a sweep without `out`: the model file's name and the sweep's identity hash,
 * so two different sweeps never share a folder and a rerun of the same sweep resumes its own.
 */
export function sweepFolderName(file: string, spec: SweepSpec): string {
  const stem = basename(file)
    .replace(/\.nqm$/i, "")
    .replace(/[^A-Za-z0-9_.-]+/g, "_")
    .slice(0, 64);
  return `${stem || "sweep"}-${identityHash(spec)}`;
}

/** The options of `sweep`, as `nqm sweep`'s. */
export interface SweepOptions extends TrainingOptions {
  /** η/η_crit values: "START:STOP:STEP", a comma list ("1x,2.5x"), or numbers (default "0.5x:4.5x:0.25x"). */
  readonly lrs?: string | readonly number[];
  /** Which models: "f,lin,quad", "all" (the default), or an array. */
  readonly model?: string | readonly ModelKind[];
  /** Initialization seeds: a count n (seeds 0..n−1, default 1), or a list ("0,3,7" or [0, 3, 7]). */
  readonly seeds?: number | string | readonly number[];
  /** The sweep's own folder; without it, a folder named from the sweep under `outRoot`. */
  readonly out?: string;
  /** Where sweeps without `out` get their folders (default "nqm-out"). */
  readonly outRoot?: string;
  /** Worker threads (default: the cores). */
  readonly workers?: number;
  /** Write the plots and the report (default true). */
  readonly report?: boolean;
  /** Lines for the report's Notes section. */
  readonly notes?: readonly string[];
  /** `redis://HOST:PORT[/DB]`: coordinate the sweep on this Redis (workers run `nqm worker`) instead of here. */
  readonly queue?: string;
  /** Tries per run on the queue (default: the coordinator's). */
  readonly attempts?: number;
  /** `I/N`: run only the I-th of N deterministic slices of the sweep (a job array). */
  readonly shard?: string;
  /** Queue progress: runs done, running and failed, and the last one finished. */
  readonly onQueueProgress?: (progress: QueueProgress) => void;
  /** Called once the folder is open and η_crit is measured, before the runs start. */
  readonly onStart?: (info: SweepStart) => void;
  /** Called as each run is written, with the runs done and the total. */
  readonly onRun?: (record: RunRecord, done: number, total: number) => void;
}

/** A queue sweep's progress, as the coordinator sees it. */
export interface QueueProgress {
  readonly done: number;
  readonly running: number;
  readonly failed: number;
  readonly last?: { readonly id: string; readonly phase: string };
}

/** What a sweep reports as its runs start. */
export interface SweepStart extends SessionInfo {
  readonly folder: string;
  readonly total: number;
  readonly etaCrit: number;
  /** The queue's address, for a queue sweep. */
  readonly queue?: string;
  /** The shard run, for `shard`. */
  readonly shard?: { readonly index: number; readonly count: number };
  readonly models: readonly ModelKind[];
  readonly lrMultiples: readonly number[];
  /** The initialization seeds, in the sweep's order. */
  readonly seeds: readonly number[];
}

/** The result of `sweep`: its folder and every run, in the sweep's order. */
export interface SweepResult extends SessionInfo {
  readonly folder: string;
  /** The sweep's identity hash (in sweep.json and every record). */
  readonly hash: string;
  /** η_crit of the first seed. */
  readonly etaCrit: number;
  readonly runs: readonly RunRecord[];
  /** The report's files (plots, report.md, report.html), unless `report: false`. */
  readonly report: readonly string[];
  readonly seconds: number;
  /** On a queue: the runs that failed every attempt, with their last error (a rerun tries them again). */
  readonly failures: readonly QueueFailure[];
  /** The queue's address as printed (`redis://host:port/db`), for a queue sweep. */
  readonly queue?: string;
  /** The shard run, for `shard`. */
  readonly shard?: { readonly index: number; readonly count: number };
}

/** Runs a parallel, resumable learning-rate sweep (as `nqm sweep`). */
export async function sweep(file: string, options: SweepOptions): Promise<SweepResult> {
  const source = options.source ?? readSource(file);
  const settings = runSettings(options);
  const lrs = options.lrs ?? "0.5x:4.5x:0.25x";
  const spec: SweepSpec = {
    ...sessionOptions(file, source, options),
    models: parseModels(options.model ?? "all"),
    lrMultiples:
      typeof lrs === "string" ? parseLearningRates(lrs) : parseLearningRates(lrs.map((m) => `${m}x`).join(",")),
    seeds: parseSeeds(options.seeds ?? 1),
    ...settings,
    ...(linOf(options.lin) === "stepped" ? { lin: "stepped" as const } : {}),
    cwd: options.cwd ?? process.cwd(),
  };
  // The queue's modules (BullMQ, ioredis) load only for a sweep on a queue.
  const queue =
    options.queue !== undefined
      ? {
          ...(await import("../runtime/queue/connection.ts")),
          ...(await import("../runtime/queue/coordinator.ts")),
        }
      : undefined;
  const address = queue !== undefined && options.queue !== undefined ? queue.parseQueueUrl(options.queue) : undefined;
  const shard = options.shard !== undefined ? parseShard(options.shard) : undefined;
  if (address !== undefined && shard !== undefined)
    fail("NQM3007", {
      option: "--shard",
      reason: "a sweep on a queue is shared by its workers already; use --shard without --queue (e.g. in a job array)",
    });
  const total = shardJobs(sweepJobs(spec), shard).length;
  const folderPath = options.out ?? join(options.outRoot ?? DEFAULT_OUT_ROOT, sweepFolderName(file, spec));
  // The folder first: an unwritable folder or one held by another sweep fails before any compile or data load.
  const folder = openSweepFolder(spec, folderPath, shard);
  try {
    // Then the queue: a wrong URL fails in seconds, before the compile.
    if (queue !== undefined && address !== undefined) await queue.checkQueueReachable(address);
    const workers = options.workers === undefined ? undefined : integer("--workers", options.workers, 1, 1);
    // 1 + workers sessions hold kernels and data at once: each gets its share of half the memory
    // (a coordinator holds its own session only; its workers run elsewhere).
    const memoryLimit = Math.floor(
      defaultMemoryLimit() / (address !== undefined ? 1 : 1 + workerCount(workers, total)),
    );
    // Open once here: it reports data and model errors before any worker starts, and warms the compile cache.
    const session = await openSession({ memoryLimit, ...sessionOptions(file, source, options) });
    const info = sessionInfo(session);
    const start = startingPoint(session, defined(spec.seeds[0], "a sweep's first seed"));
    const curvature = criticalCurvature(start);
    noteStepped(session, spec.models, spec.lin ?? "exact", spec.batch, options.onNote);
    const etaCrit = criticalRate(curvature.value, settings.loss, info.n);
    options.onStart?.({
      ...info,
      folder: folderPath,
      total,
      etaCrit,
      models: spec.models,
      lrMultiples: spec.lrMultiples,
      seeds: spec.seeds,
      ...(address !== undefined ? { queue: address.label } : {}),
      ...(shard !== undefined ? { shard } : {}),
    });
    const started = performance.now();
    let failures: QueueFailure[] = [];
    let runs: RunRecord[];
    if (queue !== undefined && address !== undefined) {
      const result = await queue.runQueueSweep(
        { ...spec, dataHash: datasetHash(session.data) },
        {
          address,
          folder,
          ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
          ...(options.onQueueProgress ? { onProgress: options.onQueueProgress } : {}),
        },
      );
      runs = result.runs;
      failures = result.failures;
    } else
      runs = await runSweep(
        { ...spec, memoryLimit },
        {
          outDir: folderPath,
          folder,
          ...(workers ? { workers } : {}),
          ...(shard ? { shard } : {}),
          ...(options.onRun ? { onRun: options.onRun } : {}),
        },
      );
    const seconds = (performance.now() - started) / 1000;
    // What the theory predicts, from the first seed's w0: the spectrum and, when the sweep has no
    // f_lin runs, the exact f_lin curves to draw under f and f_quad.
    const predictions = () => {
      if (curvature.from !== "kernel") return {};
      const spectrum = kernelSpectrum(session, start.w0);
      const reference = spec.models.includes("lin")
        ? undefined
        : referenceRuns(session, start, spec.lrMultiples, {
            steps: spec.steps,
            loss: settings.loss,
            evalEvery: spec.evalEvery,
            eigs: 0,
            seed: defined(spec.seeds[0], "a sweep's first seed"),
            divergenceFactor: spec.divergenceFactor,
            ...(spec.batch ? { batch: spec.batch } : {}),
          });
      return { spectrum, ...(reference ? { reference } : {}) };
    };
    const report =
      options.report === false
        ? []
        : await writeReport(folderPath, runs, {
            ...predictions(),
            modelFile: file,
            data: info.data,
            etaCrit,
            etaCritFrom: curvature.from,
            loss: info.modelLoss,
            lossNormalization: settings.loss,
            settings: sweepSettings(spec),
            backend: info.backend,
            ...(options.notes ? { notes: [...options.notes] } : {}),
          });
    const where = { ...(address !== undefined ? { queue: address.label } : {}), ...(shard ? { shard } : {}) };
    return { ...info, folder: folderPath, hash: folder.hash, etaCrit, runs, report, seconds, failures, ...where };
  } finally {
    folder.release();
  }
}
