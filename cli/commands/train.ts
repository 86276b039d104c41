/** `nqm train`, `nqm sweep` and `nqm demo`: the library's train and sweep (api/training.ts), printed. */
import { existsSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { NqmError, diagnostic } from "../../foundation/diagnostics.ts";
import { majorityPhase } from "../../runtime/plot/index.ts";
import { formatLabel } from "../../runtime/plot/series.ts";
import { MODEL_LABELS, MODEL_ORDER, type ModelKind, type RunRecord } from "../../runtime/run-record.ts";
import { progress, type Progress } from "../../runtime/progress.ts";
import { type SessionInfo, sweep, train, type LossNormalization } from "../../api/training.ts";
import { kernelChoice, type KernelOptions } from "../io.ts";
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
  eigs: number;
  batch?: number;
  cap: number;
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
    eigs: options.eigs,
    ...(options.batch !== undefined ? { batch: options.batch } : {}),
    cap: options.cap,
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
  const { lambda0, etaCrit, lr, runs, loss } = result;
  if (options.json) {
    process.stdout.write(`${JSON.stringify({ model: result.model, data: result.data, lambda0, etaCrit, lr, runs })}\n`);
    return 0;
  }
  process.stdout.write(
    `${[
      `model ${result.model} on ${result.data} (n = ${result.n}${result.testN !== undefined ? `, ${result.testN} test` : ""}), seed ${result.seed}, ${loss} loss`,
      `λ_max(K(w0)) = ${num(lambda0, 6)}   η_crit = 2/λ_max${loss === "mean" ? "·n" : ""} = ${num(etaCrit, 6)}   η = ${num(lr, 6)} = ${num(lr / etaCrit, 4)}·η_crit`,
      ...runs.map(summaryLine),
    ].join("\n")}\n`,
  );
  return 0;
}

/** The options of `nqm sweep`. */
export interface SweepOptions extends TrainingOptions {
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
}

export async function sweepCommand(file: string, options: SweepOptions): Promise<number> {
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
    onStart: (info) => {
      noteBoundDims(info);
      if (options.out === undefined) process.stderr.write(`nqm: sweep folder ${info.folder}\n`);
      process.stderr.write(
        `nqm: sweep of ${info.total} runs (${info.models.join(", ")} × ${info.lrMultiples.length} learning rates × ${info.seeds.length} seed${info.seeds.length > 1 ? "s" : ""}); η_crit = ${num(info.etaCrit, 6)} for seed ${info.seeds[0]}\n`,
      );
      bar = progress("sweep", info.total, { unit: "runs" });
    },
    onRun: (record, done) => bar?.update(done, `${record.id} ${record.phase}`),
  });
  bar?.finish();
  const lines = [
    `wrote ${join(result.folder, "runs.jsonl")} and ${join(result.folder, "summary.csv")} (${result.runs.length} runs, ${result.seconds.toFixed(1)} s)`,
  ];
  if (result.report.length > 0) lines.push(`report: ${result.report.at(-1)}`);
  lines.push(phaseTable(result.runs));
  process.stdout.write(`${lines.join("\n")}\n`);
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
  // The catapult is over in about 20 steps: measure λ_max often enough to see it fall.
  evalEvery: 2,
} as const;

export async function demoCommand(options: { out?: string; outRoot?: string; workers?: number }): Promise<number> {
  const file = examplePath(DEMO.example);
  process.stderr.write(
    `nqm demo: ${DEMO.example} (m = ${DEMO.set.m}) on ${DEMO.data}: gradient descent on f, f_lin and f_quad for η from 0.5 to 2.5 η_crit, ${DEMO.steps} steps each\n`,
  );
  const code = await sweepCommand(file, {
    set: { ...DEMO.set },
    data: DEMO.data,
    dataSeed: 0,
    steps: DEMO.steps,
    evalEvery: DEMO.evalEvery,
    loss: "sum",
    eigs: 1,
    cap: 1e10,
    lrs: DEMO.lrs,
    model: "all",
    seeds: 1,
    ...(options.out !== undefined ? { out: options.out } : {}),
    ...(options.outRoot !== undefined ? { outRoot: options.outRoot } : {}),
    ...(options.workers ? { workers: options.workers } : {}),
    report: true,
  });
  return code;
}
