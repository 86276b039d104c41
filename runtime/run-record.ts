/**
 * The record of one training run: produced by training (train.ts), stored one per line in a
 * sweep's runs.jsonl, read back by resumed sweeps and consumed by the charts and the report.
 * The schema checks what is read back from disk; JSON writes a non-finite loss as null, which
 * reads back as NaN.
 */
import { z } from "zod";

/** How a run ended: lazy (converged, the loss never above L0), catapult (loss spiked, λ_max dropped, then converged), divergent, or unfinished (did not converge: see train.ts for the threshold). */
export type Phase = "lazy" | "catapult" | "divergent" | "unfinished";

/** The fraction of L0 (and of the initial gradient norm) a run must fall to to count as converged (docs/training.md). */
export const CONVERGED_FRACTION = 0.01;

/** Which model was trained: the network f, its linearization f_lin, or its quadratic model f_quad. */
export type ModelKind = "f" | "lin" | "quad";

export interface RunRecord {
  /** The identity hash of the sweep that wrote the record (absent outside sweeps). */
  sweep?: string;
  id: string;
  model: ModelKind;
  /** f_lin only: solved in closed form from the eigendecomposition of K(w0), or by gradient steps. */
  dynamics?: "exact" | "stepped";
  /** The learning rate η. */
  lr: number;
  /** η/η_crit. */
  lrMultiple: number;
  /** 2/λ_max(K(w0)), or 2/sharpness (see etaCritFrom); n times that for the mean loss. */
  etaCrit: number;
  /**
   * What η_crit came from: the tangent kernel's λ_max at w0 (the paper's threshold, for squared
   * loss) or the sharpness, λ_max of the loss Hessian at w0 (other losses). Absent in older records: kernel.
   */
  etaCritFrom?: "kernel" | "sharpness";
  /** The sharpness at w0 (sum over the training set), when η_crit came from it. */
  sharpness0?: number;
  /** The model's loss (absent in older records: squared). */
  loss?: "squared" | "cross_entropy";
  seed: number;
  phase: Phase;
  /** Steps taken. */
  steps: number;
  /** trainLoss[t] is the training loss at step t, t = 0..steps (non-finite once diverged); at step lossSteps[t] when present. */
  trainLoss: number[];
  /** The steps of trainLoss's entries, when a long run kept only some of them (always the first and last). */
  lossSteps?: number[];
  /** The steps at which the slower measurements below were taken. */
  evalSteps: number[];
  /** testLoss[i] at step evalSteps[i]; empty when there is no test set. */
  testLoss: number[];
  /**
   * For classification labels (±1 for one output: sign; one-hot: argmax), the fraction of test
   * examples predicted right, testAccuracy[i] at step evalSteps[i]; absent otherwise.
   */
  testAccuracy?: number[];
  /** The highest test accuracy seen (null when none was finite); present with testAccuracy. */
  bestTestAccuracy?: number | null;
  /** lambdaMax[i] = λ_max(K) at step evalSteps[i] (or at step i when it has one entry per step). */
  lambdaMax: number[];
  /** eigs[i] = the top eigenvalues of K at step evalSteps[i], descending. */
  eigs?: number[][];
  /** distance[i] = ‖w − w0‖ at step evalSteps[i] (or at step i when it has one entry per step). */
  distance: number[];
  /** f only: ‖K(w_T) − K(w0)‖_F / ‖K(w0)‖_F at the run's last step (for small enough K: docs/training.md). */
  kernelChange?: number;
  /** directions[i] = the loss along each of the top-k eigenvectors of K(w0), then along the rest, at step evalSteps[i]. */
  directions?: number[][];
  /** The lowest test loss seen during training; null without a test set or finite value. */
  bestTestLoss: number | null;
  /** The highest finite training loss of the run (exact, also when trainLoss keeps only some steps). */
  peakTrainLoss?: number;
  finalTrainLoss: number;
  /** ‖∇L(w_T)‖/‖∇L(w0)‖ of a full-batch run that ran all its steps (the phase's convergence test reads it). */
  gradientRatio?: number;
  /** The first step whose loss was non-finite or past the divergence threshold. */
  divergedAt?: number;
}

/** The names the paper uses for the three models. */
export const MODEL_LABELS: Record<ModelKind, string> = { f: "f", lin: "f_lin", quad: "f_quad" };

/** The order models are listed in. */
export const MODEL_ORDER: readonly ModelKind[] = ["f", "lin", "quad"];

/** A number as JSON stores it: null stands for a non-finite value. */
const stored = z
  .number()
  .nullable()
  .transform((value) => value ?? Number.NaN);
const count = z.number().int().nonnegative();

/** The schema of a RunRecord read back from runs.jsonl. */
export const RUN_RECORD = z.object({
  sweep: z.string().optional(),
  id: z.string(),
  model: z.enum(["f", "lin", "quad"]),
  dynamics: z.enum(["exact", "stepped"]).optional(),
  lr: z.number().positive(),
  lrMultiple: z.number().positive(),
  etaCrit: z.number().positive(),
  etaCritFrom: z.enum(["kernel", "sharpness"]).optional(),
  sharpness0: z.number().optional(),
  loss: z.enum(["squared", "cross_entropy"]).optional(),
  seed: z.number().int(),
  phase: z.enum(["lazy", "catapult", "divergent", "unfinished"]),
  steps: count,
  trainLoss: z.array(stored),
  lossSteps: z.array(count).optional(),
  evalSteps: z.array(count),
  testLoss: z.array(stored),
  testAccuracy: z.array(stored).optional(),
  bestTestAccuracy: z.number().nullable().optional(),
  lambdaMax: z.array(stored),
  eigs: z.array(z.array(stored)).optional(),
  distance: z.array(stored),
  directions: z.array(z.array(stored)).optional(),
  kernelChange: stored.optional(),
  bestTestLoss: z.number().nullable(),
  peakTrainLoss: stored.optional(),
  finalTrainLoss: stored,
  gradientRatio: z.number().nonnegative().optional(),
  divergedAt: count.optional(),
}) satisfies z.ZodType<RunRecord, unknown>;
