/** `nqm train`, `nqm sweep` and `nqm demo`. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { defined } from "../../foundation/defined.ts";
import { NqmError, diagnostic, fail } from "../../foundation/diagnostics.ts";
import { majorityPhase, testLossAcrossCritical, writeReport } from "../../runtime/plot/index.ts";
import { formatLabel } from "../../runtime/plot/series.ts";
import { MODEL_LABELS, MODEL_ORDER, type ModelKind, type RunRecord } from "../../runtime/run-record.ts";
import { defaultMemoryLimit } from "../../runtime/memory.ts";
import { progress } from "../../runtime/progress.ts";
import {
  criticalRate,
  openSession,
  startingPoint,
  type LossNormalization,
  type Session,
  type SessionOptions,
} from "../../runtime/session.ts";
import {
  openSweepFolder,
  parseLearningRates,
  parseMultiple,
  parseShard,
  readRuns,
  runSweep,
  shardJobs,
  sweepJobs,
  type SweepSpec,
  workerCount,
} from "../../runtime/sweep.ts";
import { datasetHash } from "../../runtime/data/content-hash.ts";
import type { QueueFailure } from "../../runtime/queue/coordinator.ts";
import { mergeSweepFolders } from "../../runtime/sweep-merge.ts";
import { sweepSettings } from "../../runtime/sweep-settings.ts";
import {
  exactLinearRefusal,
  kernelSpectrum,
  type LinearDynamics,
  referenceRuns,
  runTraining,
} from "../../runtime/linear-exact.ts";
import type { ScheduleKind } from "../../runtime/schedule.ts";
import { readSource, kernelChoice, type KernelOptions, report } from "../io.ts";
import { alignColumns } from "../table.ts";
import { type AxisPoint, kernelChanges, largestConverged, writeAxisReport } from "../../runtime/plot/axis.ts";

export interface TrainingOptions extends KernelOptions {
  set?: Record<string, number>;
  modelName?: string;
  data: string;
  dataSeed: number;
  steps: number;
  loss: string;
  evalEvery?: number;
  evalSchedule?: ScheduleKind;
  eigs: number;
  batch?: number;
  cap: number;
  /** f_lin: exact or stepped (default exact). */
  lin?: string;
  directions?: number;
}

function linOf(value: string | undefined): LinearDynamics {
  if (value === undefined || value === "exact" || value === "stepped") return value ?? "exact";
  fail("NQM3007", { option: "--lin", reason: `expected exact or stepped, got \`${value}\`` });
}

/** Says on stderr why f_lin runs will be stepped although the closed form was asked for. */
function noteStepped(session: Session, kinds: readonly ModelKind[], lin: LinearDynamics, batch?: number): void {
  if (!kinds.includes("lin") || lin === "stepped") return;
  const reason = exactLinearRefusal(session, { kind: "lin", ...(batch ? { batch } : {}) }, lin);
  if (reason !== undefined) process.stderr.write(`nqm: f_lin is trained by gradient steps: ${reason}\n`);
}

function lossOf(value: string): LossNormalization {
  if (value !== "sum" && value !== "mean")
    fail("NQM3007", { option: "--loss", reason: `expected sum or mean, got \`${value}\`` });
  return value;
}

/** `f,lin,quad`, `all`, or one of them. */
function parseModels(value: string): ModelKind[] {
  if (value === "all") return [...MODEL_ORDER];
  const kinds = value.split(",").map((s) => s.trim());
  for (const kind of kinds)
    if (!(MODEL_ORDER as readonly string[]).includes(kind))
      fail("NQM3007", { option: "--model", reason: `\`${kind}\` is not one of f, lin, quad, all` });
  return kinds as ModelKind[];
}

/**
 * Measurements every 10 steps, or 50 in a run (whichever is sparser): warm-started Lanczos
 * needs a few kernel products per measurement, so tracking stays near one step's cost.
 */
function defaultEvalEvery(steps: number): number {
  return Math.max(10, Math.round(steps / 50));
}

/** `0.01` (absolute) or `2.5x` (a multiple of η_crit); finite and positive. */
function parseLearningRate(value: string): { absolute: number } | { multiple: number } {
  if (/x\s*$/i.test(value)) return { multiple: parseMultiple(value, "--lr") };
  const absolute = Number(value);
  if (!/^\s*[0-9]*\.?[0-9]+(?:e[-+]?\d+)?\s*$/i.test(value) || !Number.isFinite(absolute) || absolute <= 0)
    fail("NQM3007", {
      option: "--lr",
      reason: `expected a positive number or a multiple of η_crit such as 2.5x, got \`${value}\``,
    });
  return { absolute };
}

/** The session that a training command's options describe. */
function sessionOptions(file: string, source: string, options: TrainingOptions): SessionOptions {
  return {
    file,
    source,
    set: options.set ?? {},
    ...(options.modelName ? { modelName: options.modelName } : {}),
    data: options.data,
    dataSeed: options.dataSeed,
    ...kernelChoice(options),
  };
}

async function open(
  file: string,
  options: TrainingOptions,
  memoryLimit?: number,
): Promise<{ session: Session; source: string }> {
  const source = readSource(file);
  const session = await openSession({
    ...(memoryLimit !== undefined ? { memoryLimit } : {}),
    ...sessionOptions(file, source, options),
  });
  const bound = Object.entries(session.boundDims);
  if (bound.length > 0)
    process.stderr.write(
      `nqm: ${bound.map(([k, v]) => `${k} = ${v}`).join(", ")} from the data (${session.data.name})\n`,
    );
  return { session, source };
}

const num = (x: number | null | undefined, digits = 4) =>
  x === null || x === undefined || !Number.isFinite(x) ? "—" : formatLabel(x, digits);

function summaryLine(r: RunRecord): string {
  return [
    MODEL_LABELS[r.model].padEnd(7),
    r.phase.padEnd(11),
    `loss ${num(r.trainLoss[0])} → peak ${num(r.peakTrainLoss)} → ${r.divergedAt !== undefined ? `diverged at step ${r.divergedAt}` : num(r.finalTrainLoss)}`,
    r.lambdaMax.length > 0 ? `  λ_max ${num(r.lambdaMax[0])} → ${num(r.lambdaMax.at(-1))}` : "",
    r.bestTestLoss !== null ? `  best test ${num(r.bestTestLoss)}` : "",
    r.dynamics === "exact" ? "  (closed form)" : "",
  ].join(" ");
}

export async function trainCommand(
  file: string,
  options: TrainingOptions & { lr: string; model: string; seed: number; json?: boolean },
): Promise<number> {
  const kinds = parseModels(options.model);
  const loss = lossOf(options.loss);
  const rate = parseLearningRate(options.lr);
  const lin = linOf(options.lin);
  const { session } = await open(file, options, defaultMemoryLimit());
  const n = session.data.train.n;
  const start = startingPoint(session, options.seed);
  const { lambda0 } = start;
  const etaCrit = criticalRate(lambda0, loss, n);
  const lr = "absolute" in rate ? rate.absolute : rate.multiple * etaCrit;
  const runs: RunRecord[] = [];
  noteStepped(session, kinds, lin, options.batch);
  for (const kind of kinds) {
    const bar = progress(`train ${MODEL_LABELS[kind]}`, options.steps);
    const record = runTraining(
      session,
      start,
      {
        kind,
        lr,
        ...("multiple" in rate ? { lrMultiple: rate.multiple } : {}),
        steps: options.steps,
        loss,
        evalEvery: options.evalEvery ?? defaultEvalEvery(options.steps),
        ...(options.evalSchedule ? { evalSchedule: options.evalSchedule } : {}),
        eigs: options.eigs,
        ...(options.batch ? { batch: options.batch } : {}),
        seed: options.seed,
        divergenceFactor: options.cap,
        ...(options.directions ? { directions: options.directions } : {}),
      },
      { lin },
      (t) => bar.update(t),
    );
    bar.finish(record.phase);
    runs.push(record);
  }
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ model: session.model.name, data: session.data.name, lambda0, etaCrit, lr, runs })}\n`,
    );
    return 0;
  }
  process.stdout.write(
    `${[
      `model ${session.model.name} on ${session.data.name} (n = ${n}${session.data.test ? `, ${session.data.test.n} test` : ""}), seed ${options.seed}, ${loss} loss`,
      `λ_max(K(w0)) = ${num(lambda0, 6)}   η_crit = 2/λ_max${loss === "mean" ? "·n" : ""} = ${num(etaCrit, 6)}   η = ${num(lr, 6)} = ${num(lr / etaCrit, 4)}·η_crit`,
      ...runs.map(summaryLine),
    ].join("\n")}\n`,
  );
  return 0;
}

/** The options of `nqm sweep`. */
export interface SweepOptions extends Omit<TrainingOptions, "set"> {
  /** --set values; one name with several values is a sweep axis (`m=500,1000`). */
  set?: Record<string, number | readonly number[]>;
  lrs: string;
  models: string;
  seeds: number;
  out: string;
  workers?: number;
  report: boolean;
  /** Lines for the report's Notes section (the demo's). */
  notes?: string[];
  /** `--queue URL`: coordinate the sweep on this Redis instead of running it here. */
  queue?: string;
  /** Tries per run on the queue. */
  attempts?: number;
  /** `--shard I/N`: run only the I-th of N slices of the sweep. */
  shard?: string;
}

/** The --set values as one value each, and the axis: the one name given several values (NQM3007 for two). */
function splitAxis(given: Record<string, number | readonly number[]>): {
  set: Record<string, number>;
  axis?: { name: string; values: readonly number[] };
} {
  const set: Record<string, number> = {};
  let axis: { name: string; values: readonly number[] } | undefined;
  for (const [name, value] of Object.entries(given)) {
    const values = typeof value === "number" ? [value] : value;
    if (values.length === 1) set[name] = defined(values[0], "a --set value");
    else if (axis === undefined) axis = { name, values };
    else
      fail("NQM3007", {
        option: "--set",
        reason: `${axis.name} and ${name} both have several values; a sweep has one such axis`,
      });
  }
  return axis ? { set, axis } : { set };
}

/**
 * A sweep along a dim or const: one learning-rate sweep per value in DIR/NAME=VALUE (each
 * resumable, compiled once per value and cached), then the plots across the values and
 * DIR/report.md (runtime/plot/axis.ts).
 */
async function axisSweep(
  file: string,
  options: SweepOptions,
  set: Record<string, number>,
  axis: { name: string; values: readonly number[] },
): Promise<number> {
  const points: AxisPoint[] = [];
  for (const value of axis.values) {
    const out = join(options.out, `${axis.name}=${value}`);
    process.stderr.write(
      `nqm: sweep ${points.length + 1} of ${axis.values.length}: ${axis.name} = ${value} in ${out}\n`,
    );
    const code = await sweepCommand(file, { ...options, set: { ...set, [axis.name]: value }, out });
    if (code !== 0) return code;
    points.push({ value, runs: readRuns(join(out, "runs.jsonl")) });
  }
  const lines = [`swept ${axis.name} = ${axis.values.join(", ")}: one folder each in ${options.out}`];
  if (options.report) {
    const paths = await writeAxisReport(options.out, axis.name, points);
    lines.push(`report across ${axis.name}: ${paths.at(-1)}`);
  }
  const models = MODEL_ORDER.filter((m) => points.some((p) => p.runs.some((r) => r.model === m)));
  lines.push(
    ...alignColumns([
      [axis.name, ...models.map((m) => `largest convergent η/η_crit, ${MODEL_LABELS[m]}`)],
      ...points.map((p) => [String(p.value), ...models.map((m) => String(largestConverged(p.runs, m) ?? "none"))]),
    ]),
  );
  const { fits } = kernelChanges(points);
  if (fits.length > 0)
    lines.push(
      `kernel change of lazy f runs against ${axis.name}, fitted log–log slope: ${fits.map((f) => `${f.multiple}x ${f.slope.toFixed(3)}`).join(", ")}`,
    );
  process.stdout.write(`${lines.join("\n")}\n`);
  return 0;
}

export async function sweepCommand(file: string, given: SweepOptions): Promise<number> {
  const { set, axis } = splitAxis(given.set ?? {});
  if (axis) return axisSweep(file, given, set, axis);
  const options = { ...given, set };
  // The queue's modules (BullMQ, ioredis) load only for a sweep on a queue.
  const queue =
    options.queue !== undefined
      ? {
          ...(await import("../../runtime/queue/connection.ts")),
          ...(await import("../../runtime/queue/coordinator.ts")),
        }
      : undefined;
  const address = queue !== undefined && options.queue !== undefined ? queue.parseQueueUrl(options.queue) : undefined;
  const shard = options.shard !== undefined ? parseShard(options.shard) : undefined;
  if (address !== undefined && shard !== undefined)
    fail("NQM3007", {
      option: "--shard",
      reason: "a sweep on a queue is shared by its workers already; use --shard without --queue (e.g. in a job array)",
    });
  const source = readSource(file);
  const loss = lossOf(options.loss);
  const spec: SweepSpec = {
    ...sessionOptions(file, source, options),
    models: parseModels(options.models),
    lrMultiples: parseLearningRates(options.lrs),
    seeds: Array.from({ length: options.seeds }, (_, i) => i),
    steps: options.steps,
    loss,
    evalEvery: options.evalEvery ?? defaultEvalEvery(options.steps),
    evalSchedule: options.evalSchedule ?? "dense-early",
    eigs: options.eigs,
    ...(options.batch ? { batch: options.batch } : {}),
    divergenceFactor: options.cap,
    ...(linOf(options.lin) === "stepped" ? { lin: "stepped" } : {}),
    ...(options.directions ? { directions: options.directions } : {}),
    cwd: process.cwd(),
  };
  const total = shardJobs(sweepJobs(spec), shard).length;
  // The folder first: an unwritable --out or a folder held by another sweep fails before any compile or data load.
  const folder = openSweepFolder(spec, options.out, shard);
  try {
    // Then the queue: a wrong URL fails in seconds, before the compile.
    if (queue !== undefined && address !== undefined) await queue.checkQueueReachable(address);
    // 1 + workers sessions hold kernels and data at once: each gets its share of half the memory
    // (a coordinator holds its own session only; its workers run elsewhere).
    const memoryLimit = Math.floor(
      defaultMemoryLimit() / (address !== undefined ? 1 : 1 + workerCount(options.workers, total)),
    );
    // Open once here: it reports data and model errors before any worker starts, and warms the compile cache.
    const { session } = await open(file, options, memoryLimit);
    const start = startingPoint(session, defined(spec.seeds[0], "a sweep's first seed"));
    const { lambda0 } = start;
    noteStepped(session, spec.models, spec.lin ?? "exact", spec.batch);
    const etaCrit = criticalRate(lambda0, loss, session.data.train.n);
    process.stderr.write(
      `nqm: sweep of ${total} runs (${spec.models.join(", ")} × ${spec.lrMultiples.length} learning rates × ${spec.seeds.length} seed${spec.seeds.length > 1 ? "s" : ""}${shard ? `; shard ${shard.index} of ${shard.count}` : ""}); η_crit = ${num(etaCrit, 6)} for seed 0\n`,
    );
    if (address !== undefined)
      process.stderr.write(
        `nqm: queued on ${address.label}; start workers with \`nqm worker --queue ${address.label}\` on any machine\n`,
      );
    const bar = progress("sweep", total, { unit: "runs" });
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
          onProgress: (p) =>
            bar.update(
              p.done,
              `${p.running} running, ${p.failed} failed${p.last ? ` · ${p.last.id} ${p.last.phase}` : ""}`,
            ),
        },
      );
      runs = result.runs;
      failures = result.failures;
    } else
      runs = await runSweep(
        { ...spec, memoryLimit },
        {
          outDir: options.out,
          folder,
          ...(options.workers ? { workers: options.workers } : {}),
          ...(shard ? { shard } : {}),
          onRun: (record, done) => bar.update(done, `${record.id} ${record.phase}`),
        },
      );
    bar.finish();
    const lines = [
      `wrote ${join(options.out, "runs.jsonl")} and ${join(options.out, "summary.csv")} (${runs.length} runs, ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    ];
    if (options.report) {
      // What the theory predicts, from the first seed's w0: the spectrum and, when the sweep has
      // no f_lin runs, the exact f_lin curves to draw under f and f_quad.
      const spectrum = kernelSpectrum(session, start.w0);
      const reference = spec.models.includes("lin")
        ? undefined
        : referenceRuns(session, start, spec.lrMultiples, {
            steps: spec.steps,
            loss,
            evalEvery: spec.evalEvery,
            eigs: 0,
            seed: defined(spec.seeds[0], "a sweep's first seed"),
            divergenceFactor: spec.divergenceFactor,
            ...(spec.batch ? { batch: spec.batch } : {}),
          });
      const paths = await writeReport(options.out, runs, {
        spectrum,
        ...(reference ? { reference } : {}),
        modelFile: file,
        data: session.data.name,
        etaCrit,
        lossNormalization: loss,
        settings: sweepSettings(spec),
        backend: session.backend,
        ...(options.notes ? { notes: options.notes } : {}),
      });
      lines.push(`report: ${paths.at(-1)}`);
    }
    lines.push(phaseTable(runs));
    process.stdout.write(`${lines.join("\n")}\n`);
    if (failures.length === 0) return 0;
    // Never silently dropped: each failed run with its last error; a rerun tries them again.
    report(
      failures.map((f) =>
        diagnostic("NQM4012", {
          id: f.id,
          attempts: `${f.attempts} attempt${f.attempts === 1 ? "" : "s"}`,
          reason: f.reason,
        }),
      ),
    );
    process.stderr.write(
      `nqm: ${failures.length} of ${total} runs failed; rerun the same command to try them again (runs.jsonl keeps the others)\n`,
    );
    return 1;
  } finally {
    folder.release();
  }
}

/** `nqm sweep merge DIR…`: the shards' folders joined into one sweep folder, with its report. */
export async function mergeCommand(
  dirs: readonly string[],
  options: { out: string; report: boolean },
): Promise<number> {
  const { spec, runs, missing, duplicates } = mergeSweepFolders(dirs, options.out);
  const lines = [
    `merged ${dirs.length} folder${dirs.length === 1 ? "" : "s"} into ${join(options.out, "runs.jsonl")}: ${runs.length} runs${duplicates > 0 ? ` (${duplicates} found twice, kept once)` : ""}`,
  ];
  const first = runs.find((r) => r.seed === spec.seeds[0]) ?? runs[0];
  if (options.report && first !== undefined) {
    const paths = await writeReport(options.out, runs, {
      modelFile: spec.file,
      data: spec.data,
      etaCrit: first.etaCrit,
      lossNormalization: spec.loss,
      settings: sweepSettings(spec),
    });
    lines.push(`report: ${paths.at(-1)}`);
  }
  if (runs.length > 0) lines.push(phaseTable(runs));
  process.stdout.write(`${lines.join("\n")}\n`);
  if (missing.length > 0)
    process.stderr.write(
      `nqm: ${missing.length} of the sweep's ${missing.length + runs.length} runs are in none of the folders (${missing.slice(0, 5).join(", ")}${missing.length > 5 ? ", …" : ""}); run the missing shards, or \`nqm sweep\` with --out ${options.out} to finish it here\n`,
    );
  return 0;
}

/** Model × η/η_crit → the majority phase (as the report counts it), as text. */
function phaseTable(runs: readonly RunRecord[]): string {
  const multiples = [...new Set(runs.map((r) => r.lrMultiple))].sort((a, b) => a - b);
  const kinds = MODEL_ORDER.filter((k) => runs.some((r) => r.model === k));
  const cell = (kind: ModelKind, m: number) => {
    const group = runs.filter((r) => r.model === kind && r.lrMultiple === m);
    return group.length === 0 ? "" : majorityPhase(group).phase;
  };
  const header = ["η/η_crit", ...kinds.map((k) => MODEL_LABELS[k])];
  const rows = multiples.map((m) => [String(m), ...kinds.map((k) => cell(k, m))]);
  return alignColumns([header, ...rows]).join("\n");
}

/** Where the bundled examples live (beside dist/ or beside cli/ when run from source). */
function examplePath(name: string): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const found = [resolve(here, "..", "examples", name), resolve(here, "..", "..", "examples", name)].find((path) =>
    existsSync(path),
  );
  if (found === undefined)
    throw new NqmError([
      diagnostic("NQM3006", { file: name, reason: "the bundled example was not found beside the nqm installation" }),
    ]);
  return found;
}

const DEMO = {
  example: "two_layer_relu.nqm",
  set: { m: 2000 },
  data: "gauss1d:n=64,test=500",
  lrs: "0.5x:2.5x:0.25x",
  steps: 400,
  // With the dense-early schedule, steps 1–10, 13, 16, … are measured too: λ_max's fall shows.
  evalEvery: 10,
} as const;

/**
 * The demo's sweep for the paper's Figure 2b (best test loss against η), run first so that the
 * 1-D sweep's report can state its result. On 1-D data every model is a·x for x > 0 and b·x for
 * x < 0, so every run that converges ends at the same least-squares fit; on MNIST 3 vs 5 the
 * catapult lowers the best test loss of f and f_quad, as in the paper (for each of seeds 0–4:
 * f by 5–9%, f_quad by 0.5–4%).
 */
const DEMO_TEST_LOSS = {
  folder: "figure-2b",
  set: { m: 256 },
  data: "mnist:classes=3+5,n=128,test=500",
  lrs: "0.5x,0.9x,1.25x,1.5x",
  steps: 300,
  evalEvery: 10,
  // The test loss is the point here; tracking λ_max would cost about as much as the steps.
  eigs: 0,
} as const;

/** One sentence per model: its best test loss below and above η_crit. */
function comparisonLines(runs: readonly RunRecord[]): string[] {
  return testLossAcrossCritical(runs).map(({ model, below, above }) => {
    const side = (s: { multiple: number; loss: number } | undefined) =>
      s === undefined ? "none converged" : `${num(s.loss)} (at ${formatLabel(s.multiple)} η_crit)`;
    const verdict =
      below && above ? (above.loss < below.loss ? ": lower above η_crit" : ": not lower above η_crit") : "";
    return `${MODEL_LABELS[model]}: best test loss below η_crit ${side(below)}, above ${side(above)}${verdict}`;
  });
}

export async function demoCommand(options: { out: string; workers?: number }): Promise<number> {
  const file = examplePath(DEMO.example);
  const figure = DEMO_TEST_LOSS;
  const figureOut = join(options.out, figure.folder);
  const common = {
    dataSeed: 0,
    loss: "sum",
    cap: 1e10,
    models: "f,lin,quad",
    seeds: 1,
    ...(options.workers ? { workers: options.workers } : {}),
    report: true,
  } as const;
  process.stderr.write(
    `nqm demo (1 of 2, the paper's Figure 2b): ${DEMO.example} (m = ${figure.set.m}) on ${figure.data}: f, f_lin and f_quad at η/η_crit = ${figure.lrs.replaceAll("x", "").replaceAll(",", ", ")}, ${figure.steps} steps each\n`,
  );
  const figureCode = await sweepCommand(file, {
    ...common,
    set: { ...figure.set },
    data: figure.data,
    steps: figure.steps,
    evalEvery: figure.evalEvery,
    eigs: figure.eigs,
    lrs: figure.lrs,
    out: figureOut,
    notes: [
      `The paper's Figure 2b: ${DEMO.example} with m = ${figure.set.m} on ${figure.data} (MNIST digits 3 and 5, labels ±1). With super-critical rates f and f_quad reach a lower best test loss than with sub-critical ones; f_lin diverges.`,
    ],
  });
  if (figureCode !== 0) return figureCode;
  const comparison = comparisonLines(readRuns(join(figureOut, "runs.jsonl")));
  process.stderr.write(
    `nqm demo (2 of 2, the three regimes): ${DEMO.example} (m = ${DEMO.set.m}) on ${DEMO.data}: f, f_lin and f_quad for η from 0.5 to 2.5 η_crit, ${DEMO.steps} steps each\n`,
  );
  const code = await sweepCommand(file, {
    ...common,
    set: { ...DEMO.set },
    data: DEMO.data,
    steps: DEMO.steps,
    evalEvery: DEMO.evalEvery,
    eigs: 1,
    lrs: DEMO.lrs,
    out: options.out,
    notes: [
      `Best test loss against η (the paper's Figure 2b) is in ${figure.folder}/report.html: ${DEMO.example} (m = ${figure.set.m}) on ${figure.data}, ${figure.steps} steps. ${comparison.join("; ")}.`,
      "This sweep's 1-D data cannot show it: with d = 1 every model is a·x for x > 0 and b·x for x < 0, so every run that converges ends at the same least-squares fit, whatever its learning rate.",
    ],
  });
  process.stdout.write(`Figure 2b (${figureOut}):\n${comparison.map((line) => `  ${line}`).join("\n")}\n`);
  return code;
}
