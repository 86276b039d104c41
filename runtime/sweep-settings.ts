/**
 * Every setting that changes a sweep's results, as one plain record: written to sweep.json and
 * listed in report.md and report.html, so a result can be traced to exactly what produced it.
 */
import { createHash } from "node:crypto";
import { COMPILER_VERSION, compilerHash } from "../compiler/version.ts";
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
  /** The training loss's formula; the test loss is always ½·mean. */
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

/** The formula of the training loss for a normalization. */
export function lossFormula(loss: LossNormalization): string {
  return loss === "sum" ? "½ Σ (f − y)² (sum over the training set)" : "½ · mean (f − y)² (sum / n)";
}

/** The test loss's formula: a mean, so it compares across data-set sizes. */
export const TEST_LOSS_FORMULA = "½ · mean (f − y)² over the test set";

/** The settings record of a sweep spec (pure, apart from hashing the compiler's source once). */
export function sweepSettings(spec: SweepSpec): SweepSettings {
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
    lossFormula: lossFormula(spec.loss),
    testLossFormula: TEST_LOSS_FORMULA,
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
