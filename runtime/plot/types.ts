/** What the charts and the report read: run records (owned by training, runtime/run-record.ts) and their display order. */
import type { Phase, RunRecord } from "../run-record.ts";
import type { SweepSettings } from "../sweep-settings.ts";

export type { ModelKind, Phase, RunRecord } from "../run-record.ts";
export { MODEL_LABELS, MODEL_ORDER } from "../run-record.ts";
export type { SweepSettings } from "../sweep-settings.ts";

/** How the training loss was normalized. */
export type LossNormalization = "sum" | "mean";

/** The spectrum of K(w0) that the report states: its top eigenvalues and its size. */
export interface Spectrum {
  /** The top eigenvalues of K(w0), descending (seed 0). */
  readonly values: readonly number[];
  /** n·outputs: the side of K (1 for a single example with one output). */
  readonly rows: number;
}

/** What the report needs to know besides the runs. */
export interface ReportMeta {
  modelFile: string;
  /** The data set's name as loaded (the spec as given is in settings). */
  data: string;
  etaCrit: number;
  /** What η_crit came from (default kernel): 2/λ_max(K(w0)), or 2/sharpness of the loss Hessian. */
  etaCritFrom?: "kernel" | "sharpness";
  lossNormalization: LossNormalization;
  /** The model's loss (default squared). */
  loss?: LossName;
  /** Every setting that changes a result (also written to sweep.json). */
  settings: SweepSettings;
  /** The backend the kernels ran on (auto resolved), when known. */
  backend?: string;
  notes?: string[];
  /** The spectrum of K(w0) for seed 0: the report's predicted thresholds and its spectrum plot. */
  spectrum?: Spectrum;
  /** Exact f_lin runs drawn thin under f and f_quad in the loss chart (default: the sweep's own exact f_lin runs of its first seed). */
  reference?: readonly RunRecord[];
}

/** The model's loss (`loss` in the model file); squared unless declared. */
export type LossName = "squared" | "cross_entropy";

/** The training loss's axis label, with its normalization (and the loss, when not squared). */
export function trainingLossLabel(loss: LossNormalization, name: LossName = "squared"): string {
  if (name === "cross_entropy")
    return loss === "sum" ? "training loss (cross-entropy, sum)" : "training loss (cross-entropy, mean)";
  return loss === "sum" ? "training loss (½ Σ, sum)" : "training loss (½ · mean)";
}

/** The test loss's axis label: always ½·mean over the test set. */
export const TEST_LOSS_LABEL = "test loss (½ · mean)";

/** The test loss's axis label for a loss: a mean over the test set. */
export function testLossLabel(name: LossName = "squared"): string {
  return name === "cross_entropy" ? "test loss (cross-entropy, mean)" : TEST_LOSS_LABEL;
}

/** The order and colours of phases in charts and tables. */
export const PHASES: readonly Phase[] = ["lazy", "catapult", "divergent", "unfinished"];
export const PHASE_COLORS: Record<Phase, string> = {
  lazy: "#4c78a8",
  catapult: "#f58518",
  divergent: "#e45756",
  unfinished: "#bab0ac",
};
