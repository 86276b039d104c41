/** `nqm train`, `nqm sweep` and `nqm demo`: the library's train and sweep (api/training.ts), printed. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NqmError, diagnostic } from "../../foundation/diagnostics.ts";
import { majorityPhase, testLossAcrossCritical, writeReport } from "../../runtime/plot/index.ts";
import { formatLabel } from "../../runtime/plot/series.ts";
import { MODEL_LABELS, MODEL_ORDER, type ModelKind, type RunRecord } from "../../runtime/run-record.ts";
import { progress, type Progress } from "../../runtime/progress.ts";
import { DEFAULT_OUT_ROOT, type SessionInfo, sweep, train, type LossNormalization } from "../../api/training.ts";
import { readRuns } from "../../runtime/sweep.ts";
import { mergeSweepFolders } from "../../runtime/sweep-merge.ts";
import { sweepSettings } from "../../runtime/sweep-settings.ts";
import type { ScheduleKind } from "../../runtime/schedule.ts";
import type { LinearDynamics } from "../../runtime/linear-exact.ts";
import { type AxisPoint, kernelChanges, largestConverged, writeAxisReport } from "../../runtime/plot/axis.ts";
import { defined } from "../../foundation/defined.ts";
import { fail } from "../../foundation/diagnostics.ts";
import { basename } from "node:path";
import { kernelChoice, type KernelOptions, report } from "../io.ts";
import { alignColumns } from "../table.ts";

export { DEFAULT_OUT_ROOT, sweepFolderName } from "../../api/training.ts";

/** The options every training command parses (commander's values). */
export interface TrainingOptions extends KernelOptions {
  set?: Record<string, number>;
  block?: string;
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

/** The library's training options from the command's. */
function trainingChoice(options: TrainingOptions) {
  return {
    ...(options.set ? { set: options.set } : {}),
    ...(options.block ? { block: options.block } : {}),
    data: options.data,
    dataSeed: options.dataSeed,
    steps: options.steps,
    loss: options.loss as LossNormalization,
    ...(options.evalEvery !== undefined ? { evalEvery: options.evalEvery } : {}),
    ...(options.evalSchedule !== undefined ? { evalSchedule: options.evalSchedule } : {}),
    eigs: options.eigs,
    ...(options.batch !== undefined ? { batch: options.batch } : {}),
    cap: options.cap,
    ...(options.lin !== undefined ? { lin: options.lin as LinearDynamics } : {}),
    ...(options.directions ? { directions: options.directions } : {}),
    onNote: (text: string) => process.stderr.write(`nqm: ${text}\n`),
    ...kernelChoice(options),
  };
}

/** Says which input dims came from the data. */
function noteBoundDims(info: SessionInfo): void {
  const bound = Object.entries(info.boundDims);
  if (bound.length > 0)
    process.stderr.write(`nqm: ${bound.map(([k, v]) => `${k} = ${v}`).join(", ")} from the data (${info.data})\n`);
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
    r.bestTestAccuracy != null ? `  best test accuracy ${num(r.bestTestAccuracy)}` : "",
    r.dynamics === "exact" ? "  (closed form)" : "",
  ].join(" ");
}

export async function trainCommand(
  file: string,
  options: TrainingOptions & { lr: string; model: string; seed: number; json?: boolean },
): Promise<number> {
  const bars = new Map<ModelKind, Progress>();
  const result = await train(file, {
    ...trainingChoice(options),
    lr: options.lr,
    model: options.model,
    seed: options.seed,
    onOpen: noteBoundDims,
    onStep: (kind, step, steps) => {
      let bar = bars.get(kind);
      if (bar === undefined) {
        bar = progress(`train ${MODEL_LABELS[kind]}`, steps);
        bars.set(kind, bar);
      }
      bar.update(step);
    },
    onRun: (record) => bars.get(record.model)?.finish(record.phase),
  });
  const { lambda0, etaCrit, lr, runs, loss, etaCritFrom, sharpness0, modelLoss } = result;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({
        model: result.model,
        data: result.data,
        loss: modelLoss,
        lambda0,
        ...(sharpness0 !== undefined ? { sharpness0 } : {}),
        etaCrit,
        etaCritFrom,
        lr,
        runs,
      })}\n`,
    );
    return 0;
  }
  process.stdout.write(
    `${[
      `model ${result.model} on ${result.data} (n = ${result.n}${result.testN !== undefined ? `, ${result.testN} test` : ""}), seed ${result.seed}, ${loss}${modelLoss === "squared" ? "" : ` ${modelLoss}`} loss`,
      etaCritFrom === "kernel"
        ? `λ_max(K(w0)) = ${num(lambda0, 6)}   η_crit = 2/λ_max${loss === "mean" ? "·n" : ""} = ${num(etaCrit, 6)}   η = ${num(lr, 6)} = ${num(lr / etaCrit, 4)}·η_crit`
        : `λ_max(K(w0)) = ${num(lambda0, 6)}   sharpness λ_max(∇²L(w0)) = ${num(sharpness0, 6)}   η_crit = 2/sharpness${loss === "mean" ? "·n" : ""} = ${num(etaCrit, 6)}   η = ${num(lr, 6)} = ${num(lr / etaCrit, 4)}·η_crit`,
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
  /** f, lin, quad, a comma list or all (--model; --models is its old spelling). */
  model: string;
  models?: string;
  /** A count or a comma list (the library parses it). */
  seeds: string | number;
  /** The sweep's own folder; without it, a folder named from the sweep under outRoot. */
  out?: string;
  outRoot?: string;
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
  /** Told the sweep's folder once it is open (the demo reads its first sweep's runs back). */
  onFolder?: (folder: string) => void;
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
 * A sweep along a dim or const: one learning-rate sweep per value in ROOT/NAME=VALUE (each
 * resumable, compiled once per value and cached), then the plots across the values and
 * ROOT/report.md (runtime/plot/axis.ts). ROOT is --out, or FILE-NAME under the output root.
 */
async function axisSweep(
  file: string,
  options: SweepOptions,
  set: Record<string, number>,
  axis: { name: string; values: readonly number[] },
): Promise<number> {
  const root = options.out ?? join(options.outRoot ?? DEFAULT_OUT_ROOT, `${basename(file, ".nqm")}-${axis.name}`);
  const points: AxisPoint[] = [];
  for (const value of axis.values) {
    const out = join(root, `${axis.name}=${value}`);
    process.stderr.write(
      `nqm: sweep ${points.length + 1} of ${axis.values.length}: ${axis.name} = ${value} in ${out}\n`,
    );
    const code = await sweepCommand(file, { ...options, set: { ...set, [axis.name]: value }, out });
    if (code !== 0) return code;
    points.push({ value, runs: readRuns(join(out, "runs.jsonl")) });
  }
  const lines = [`swept ${axis.name} = ${axis.values.join(", ")}: one folder each in ${root}`];
  if (options.report) {
    const paths = await writeAxisReport(root, axis.name, points);
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
  let bar: Progress | undefined;
  const result = await sweep(file, {
    ...trainingChoice(options),
    lrs: options.lrs,
    model: options.models ?? options.model,
    seeds: options.seeds,
    ...(options.out !== undefined ? { out: options.out } : {}),
    ...(options.outRoot !== undefined ? { outRoot: options.outRoot } : {}),
    ...(options.workers !== undefined ? { workers: options.workers } : {}),
    report: options.report,
    ...(options.notes ? { notes: options.notes } : {}),
    ...(options.queue !== undefined ? { queue: options.queue } : {}),
    ...(options.attempts !== undefined ? { attempts: options.attempts } : {}),
    ...(options.shard !== undefined ? { shard: options.shard } : {}),
    onStart: (info) => {
      options.onFolder?.(info.folder);
      noteBoundDims(info);
      if (options.out === undefined) process.stderr.write(`nqm: sweep folder ${info.folder}\n`);
      const shard = info.shard ? `; shard ${info.shard.index} of ${info.shard.count}` : "";
      process.stderr.write(
        `nqm: sweep of ${info.total} runs (${info.models.join(", ")} × ${info.lrMultiples.length} learning rates × ${info.seeds.length} seed${info.seeds.length > 1 ? "s" : ""}${shard}); η_crit = ${num(info.etaCrit, 6)} for seed ${info.seeds[0]}\n`,
      );
      if (info.queue !== undefined)
        process.stderr.write(
          `nqm: queued on ${info.queue}; start workers with \`nqm worker --queue ${info.queue}\` on any machine\n`,
        );
      bar = progress("sweep", info.total, { unit: "runs" });
    },
    onRun: (record, done) => bar?.update(done, `${record.id} ${record.phase}`),
    onQueueProgress: (p) =>
      bar?.update(p.done, `${p.running} running, ${p.failed} failed${p.last ? ` · ${p.last.id} ${p.last.phase}` : ""}`),
  });
  bar?.finish();
  const lines = [
    `wrote ${join(result.folder, "runs.jsonl")} and ${join(result.folder, "summary.csv")} (${result.runs.length} runs, ${result.seconds.toFixed(1)} s)`,
  ];
  if (result.report.length > 0) lines.push(`report: ${result.report.at(-1)}`);
  lines.push(phaseTable(result.runs));
  process.stdout.write(`${lines.join("\n")}\n`);
  const failures = result.failures;
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
    `nqm: ${failures.length} of ${result.runs.length + failures.length} runs failed; rerun the same command to try them again (runs.jsonl keeps the others)\n`,
  );
  return 1;
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

export async function demoCommand(options: { out?: string; outRoot?: string; workers?: number }): Promise<number> {
  const file = examplePath(DEMO.example);
  const figure = DEMO_TEST_LOSS;
  // With --out, the Figure 2b sweep goes in its figure-2b folder; else each sweep in its own under the root.
  const common = {
    dataSeed: 0,
    loss: "sum",
    cap: 1e10,
    model: "f,lin,quad",
    seeds: 1,
    ...(options.outRoot !== undefined ? { outRoot: options.outRoot } : {}),
    ...(options.workers ? { workers: options.workers } : {}),
    report: true,
  } as const;
  process.stderr.write(
    `nqm demo (1 of 2, the paper's Figure 2b): ${DEMO.example} (m = ${figure.set.m}) on ${figure.data}: f, f_lin and f_quad at η/η_crit = ${figure.lrs.replaceAll("x", "").replaceAll(",", ", ")}, ${figure.steps} steps each\n`,
  );
  let figureOut = options.out === undefined ? undefined : join(options.out, figure.folder);
  const figureCode = await sweepCommand(file, {
    ...common,
    set: { ...figure.set },
    data: figure.data,
    steps: figure.steps,
    evalEvery: figure.evalEvery,
    eigs: figure.eigs,
    lrs: figure.lrs,
    ...(figureOut !== undefined ? { out: figureOut } : {}),
    onFolder: (folder: string) => {
      figureOut = folder;
    },
    notes: [
      `The paper's Figure 2b: ${DEMO.example} with m = ${figure.set.m} on ${figure.data} (MNIST digits 3 and 5, labels ±1). With super-critical rates f and f_quad reach a lower best test loss than with sub-critical ones; f_lin diverges.`,
    ],
  });
  if (figureCode !== 0) return figureCode;
  const figureFolder = figureOut ?? ".";
  const comparison = comparisonLines(readRuns(join(figureFolder, "runs.jsonl")));
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
    ...(options.out !== undefined ? { out: options.out } : {}),
    notes: [
      `Best test loss against η (the paper's Figure 2b) is in ${join(figureFolder, "report.html")}: ${DEMO.example} (m = ${figure.set.m}) on ${figure.data}, ${figure.steps} steps. ${comparison.join("; ")}.`,
      "This sweep's 1-D data cannot show it: with d = 1 every model is a·x for x > 0 and b·x for x < 0, so every run that converges ends at the same least-squares fit, whatever its learning rate.",
    ],
  });
  process.stdout.write(`Figure 2b (${figureFolder}):\n${comparison.map((line) => `  ${line}`).join("\n")}\n`);
  return code;
}
