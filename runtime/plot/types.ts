/** The record of one training run, as produced by sweeps and consumed by the charts and the report. */

/** How a run ended: lazy (loss fell, kernel nearly constant), catapult (loss spiked, λ_max dropped, then converged), divergent, or unfinished (stopped before either). */
export type Phase = "lazy" | "catapult" | "divergent" | "unfinished";

/** Which model was trained: the network f, its linearization f_lin, or its quadratic model f_quad. */
export type ModelKind = "f" | "lin" | "quad";

export interface RunRecord {
  id: string;
  model: ModelKind;
  /** The learning rate η. */
  lr: number;
  /** η/η_crit. */
  lrMultiple: number;
  /** 2/λ_max(K(w0)). */
  etaCrit: number;
  seed: number;
  phase: Phase;
  /** Steps taken. */
  steps: number;
  /** trainLoss[t] is the training loss at step t, t = 0..steps (non-finite once diverged). */
  trainLoss: number[];
  /** The steps at which the slower measurements below were taken. */
  evalSteps: number[];
  /** testLoss[i] at step evalSteps[i]; empty when there is no test set. */
  testLoss: number[];
  /** lambdaMax[i] = λ_max(K) at step evalSteps[i] (or at step i when it has one entry per step). */
  lambdaMax: number[];
  /** eigs[i] = the top eigenvalues of K at step evalSteps[i], descending. */
  eigs?: number[][];
  /** distance[i] = ‖w − w0‖ at step evalSteps[i] (or at step i when it has one entry per step). */
  distance: number[];
  /** The lowest test loss seen during training; null without a test set or finite value. */
  bestTestLoss: number | null;
  finalTrainLoss: number;
  /** The first step whose loss was non-finite or past the divergence threshold. */
  divergedAt?: number;
}

/** What the report needs to know besides the runs. */
export interface ReportMeta {
  modelFile: string;
  data: string;
  etaCrit: number;
  lossNormalization: "sum" | "mean";
  notes?: string[];
}

/** The names the paper uses for the three models. */
export const MODEL_LABELS: Record<ModelKind, string> = { f: "f", lin: "f_lin", quad: "f_quad" };

/** The order models are listed in. */
export const MODEL_ORDER: readonly ModelKind[] = ["f", "lin", "quad"];

/** The order and colours of phases in charts and tables. */
export const PHASES: readonly Phase[] = ["lazy", "catapult", "divergent", "unfinished"];
export const PHASE_COLORS: Record<Phase, string> = {
  lazy: "#4c78a8",
  catapult: "#f58518",
  divergent: "#e45756",
  unfinished: "#bab0ac",
};
