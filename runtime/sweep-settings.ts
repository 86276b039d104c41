/**
 * Every setting that changes a sweep's results, as one plain record: written to sweep.json and
 * listed in report.md and report.html, so a result can be traced to exactly what produced it.
 */
import { createHash } from "node:crypto";
import { COMPILER_VERSION, compilerHash } from "../compiler/version.ts";
import { parseSource } from "../grammar/build-ast.ts";
import type { LossNormalization } from "./session.ts";
import type { SweepSpec } from "./sweep-types.ts";
import type { ScheduleKind } from "./schedule.ts";

/** The settings of a sweep, as recorded (see sweepSettings). */
export interface SweepSettings {
  /** The model file as given on the command line, and the SHA-256 of its text. */
  readonly file: string;
  readonly fileSha256: string;
  /** The `--set` values (dims and consts overriding the file's). */
  readonly set: Readonly<Record<string, number>>;
  readonly modelName?: string;
  /** The `--data` spec as given, and the seed of its draw. */
  readonly data: string;
  readonly dataSeed: number;
  readonly models: readonly string[];
  readonly lrMultiples: readonly number[];
  readonly seeds: readonly number[];
  readonly steps: number;
  readonly loss: LossNormalization;
  /** The loss the model declares, when it is not squared (the formulas below follow it). */
  readonly modelLoss?: "cross_entropy";
  /** The training loss's formula; the test loss is always a mean. */
  readonly lossFormula: string;
  readonly testLossFormula: string;
  readonly evalEvery: number;
  /** `dense-early` (also every early step, see runtime/schedule.ts) or `uniform`. */
  readonly evalSchedule: ScheduleKind;
  readonly eigs: number;
  /** The mini-batch size, or null for full-batch gradient descent. */
  readonly batch: number | null;
  /** The divergence cap (`--cap`). */
  readonly divergenceFactor: number;
  /** How f_lin runs are computed: closed form where it applies, or stepped (`--lin`). */
  readonly lin?: "exact" | "stepped";
  /** How many top eigen-directions of K(w0) the loss is split along (`--directions`, 0: none). */
  readonly directions?: number;
  readonly dtype: string;
  /** The backend asked for (`auto` unless --backend was given). */
  readonly backend: string;
  /** The nqm release and the hash of its compiler source (`nqm --version`). */
  readonly nqmVersion: string;
  readonly compilerHash: string;
}

/** The formula of the training loss for a normalization (and the model's loss, default squared). */
export function lossFormula(loss: LossNormalization, name: "squared" | "cross_entropy" = "squared"): string {
  if (name === "cross_entropy")
    return `${loss === "sum" ? "Σ" : "mean"} ℓ(f, y), ℓ the cross-entropy: logsumexp(f) − y·f (softmax), or log(1 + exp(−y f)) for one output${loss === "sum" ? " (sum over the training set)" : " (sum / n)"}`;
  return loss === "sum" ? "½ Σ (f − y)² (sum over the training set)" : "½ · mean (f − y)² (sum / n)";
}

/** The test loss's formula: a mean, so it compares across data-set sizes. */
export const TEST_LOSS_FORMULA = "½ · mean (f − y)² over the test set";

/** The test loss's formula for the model's loss. */
export function testLossFormula(name: "squared" | "cross_entropy" = "squared"): string {
  return name === "cross_entropy" ? "mean cross-entropy over the test set" : TEST_LOSS_FORMULA;
}

/**
 * The loss the spec's model declares: read from its syntax only (checking needs the data's
 * dims), squared when the file does not parse or declares none (opening the session reports errors).
 */
function declaredLoss(spec: SweepSpec): "squared" | "cross_entropy" {
  const models = parseSource(spec.source).ast?.models ?? [];
  const model = spec.modelName === undefined ? models[0] : models.find((m) => m.name === spec.modelName);
  const declared = model?.decls.find((d) => d.kind === "loss");
  return declared?.kind === "loss" && declared.loss === "cross_entropy" ? "cross_entropy" : "squared";
}

/** The settings record of a sweep spec (pure, apart from hashing the compiler's source once). */
export function sweepSettings(spec: SweepSpec): SweepSettings {
  const modelLoss = declaredLoss(spec);
  return {
    file: spec.file,
    fileSha256: createHash("sha256").update(spec.source).digest("hex"),
    set: { ...spec.set },
    ...(spec.modelName !== undefined ? { modelName: spec.modelName } : {}),
    data: spec.data,
    dataSeed: spec.dataSeed,
    models: [...spec.models],
    lrMultiples: [...spec.lrMultiples],
    seeds: [...spec.seeds],
    steps: spec.steps,
    loss: spec.loss,
    ...(modelLoss === "squared" ? {} : { modelLoss }),
    lossFormula: lossFormula(spec.loss, modelLoss),
    testLossFormula: testLossFormula(modelLoss),
    evalEvery: spec.evalEvery,
    evalSchedule: spec.evalSchedule ?? "dense-early",
    eigs: spec.eigs,
    batch: spec.batch ?? null,
    divergenceFactor: spec.divergenceFactor,
    lin: spec.lin ?? "exact",
    directions: spec.directions ?? 0,
    dtype: spec.dtype ?? "f64",
    backend: spec.backend ?? "auto",
    nqmVersion: COMPILER_VERSION,
    compilerHash: compilerHash(),
  };
}
