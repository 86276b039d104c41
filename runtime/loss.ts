/**
 * The training losses on a model's outputs f and labels y (both [n, K] row-major), one example
 * at a time: the value, its derivative ∂ℓ/∂f (the cotangent whose vjp is the gradient), its
 * Hessian in f applied to a vector (for the sharpness), and the labels each loss accepts.
 *
 *   squared        ℓ = ½ ‖f − y‖²                     ∂ℓ/∂f = f − y        H_ℓ = I
 *   softmax CE     ℓ = Σ_k y_k (logsumexp(f) − f_k)   ∂ℓ/∂f = s p − y      H_ℓ = s (diag p − p pᵀ)
 *   logistic       ℓ = log(1 + exp(−y f))             ∂ℓ/∂f = −y σ(−y f)   H_ℓ = y² σ(y f) σ(−y f)
 *
 * with p = softmax(f) and s = Σ_k y_k (1 for one-hot labels). `cross_entropy` is the logistic
 * loss for one output (labels ±1) and softmax cross-entropy for more (one-hot labels).
 */
import type { LossName } from "../compiler/check/typed.ts";
import { fail } from "../foundation/diagnostics.ts";
import type { Dataset, Split } from "./data/types.ts";

/** A loss as training uses it, for a model with K outputs. */
export interface Loss {
  readonly name: LossName;
  /** Σ over the n examples of ℓ(f_j, y_j). */
  value(f: Float64Array, y: Float64Array, n: number): number;
  /** ∂ℓ/∂f of every output of the n examples into c. */
  derivative(f: Float64Array, y: Float64Array, n: number, c: Float64Array): void;
  /** H_ℓ(f_j) u_j for each of the n examples into out. */
  hessianProduct(f: Float64Array, y: Float64Array, n: number, u: Float64Array, out: Float64Array): void;
}

// biome-ignore-start lint/style/noNonNullAssertion: per-output loops run at every step; every index is below n·K, the length of f, y, c, u and out (callers pass arrays of at least n·K)
const squared = (K: number): Loss => ({
  name: "squared",
  value(f, y, n) {
    let s = 0;
    for (let i = 0; i < n * K; i++) {
      const r = f[i]! - y[i]!;
      s += r * r;
    }
    return 0.5 * s;
  },
  derivative(f, y, n, c) {
    for (let i = 0; i < n * K; i++) c[i] = f[i]! - y[i]!;
  },
  hessianProduct(_f, _y, n, u, out) {
    for (let i = 0; i < n * K; i++) out[i] = u[i]!;
  },
});

/** log(1 + exp(x)) without overflow, and without losing small values to rounding. */
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** 1 / (1 + exp(−x)). */
function sigmoid(x: number): number {
  return x >= 0 ? 1 / (1 + Math.exp(-x)) : Math.exp(x) / (1 + Math.exp(x));
}

const logistic: Loss = {
  name: "cross_entropy",
  value(f, y, n) {
    let s = 0;
    for (let j = 0; j < n; j++) s += softplus(-y[j]! * f[j]!);
    return s;
  },
  derivative(f, y, n, c) {
    for (let j = 0; j < n; j++) c[j] = -y[j]! * sigmoid(-y[j]! * f[j]!);
  },
  hessianProduct(f, y, n, u, out) {
    for (let j = 0; j < n; j++) {
      const z = y[j]! * f[j]!;
      out[j] = y[j]! * y[j]! * sigmoid(z) * sigmoid(-z) * u[j]!;
    }
  },
};

/** logsumexp of f[at .. at + K), shifted by the maximum so that no exp overflows. */
function logSumExp(f: Float64Array, at: number, K: number): number {
  let max = Number.NEGATIVE_INFINITY;
  for (let k = 0; k < K; k++) max = Math.max(max, f[at + k]!);
  if (!Number.isFinite(max)) return max;
  let s = 0;
  for (let k = 0; k < K; k++) s += Math.exp(f[at + k]! - max);
  return max + Math.log(s);
}

const softmaxCrossEntropy = (K: number): Loss => ({
  name: "cross_entropy",
  value(f, y, n) {
    let s = 0;
    for (let j = 0; j < n; j++) {
      const lse = logSumExp(f, j * K, K);
      for (let k = 0; k < K; k++) {
        const label = y[j * K + k]!;
        if (label !== 0) s += label * (lse - f[j * K + k]!);
      }
    }
    return s;
  },
  derivative(f, y, n, c) {
    for (let j = 0; j < n; j++) {
      const lse = logSumExp(f, j * K, K);
      let mass = 0;
      for (let k = 0; k < K; k++) mass += y[j * K + k]!;
      for (let k = 0; k < K; k++) c[j * K + k] = mass * Math.exp(f[j * K + k]! - lse) - y[j * K + k]!;
    }
  },
  hessianProduct(f, y, n, u, out) {
    for (let j = 0; j < n; j++) {
      const lse = logSumExp(f, j * K, K);
      let mass = 0;
      let pu = 0;
      for (let k = 0; k < K; k++) {
        mass += y[j * K + k]!;
        pu += Math.exp(f[j * K + k]! - lse) * u[j * K + k]!;
      }
      for (let k = 0; k < K; k++) {
        const p = Math.exp(f[j * K + k]! - lse);
        out[j * K + k] = mass * p * (u[j * K + k]! - pu);
      }
    }
  },
});

/** How a prediction is scored against a label: sign for one output with labels ±1, argmax for one-hot. */
export type AccuracyRule = "sign" | "argmax";

/** How many of the n examples are predicted right under `rule` (argmax takes the first maximal entry). */
export function countCorrect(rule: AccuracyRule, f: Float64Array, y: Float64Array, n: number, K: number): number {
  let correct = 0;
  for (let j = 0; j < n; j++) {
    if (rule === "sign") {
      if (Math.sign(f[j * K]!) === Math.sign(y[j * K]!)) correct++;
      continue;
    }
    let predicted = 0;
    let labelled = 0;
    for (let k = 1; k < K; k++) {
      if (f[j * K + k]! > f[j * K + predicted]!) predicted = k;
      if (y[j * K + k]! > y[j * K + labelled]!) labelled = k;
    }
    if (predicted === labelled) correct++;
  }
  return correct;
}

/** The accuracy rule labels of K values per example admit: ±1 for one output, one-hot for more; else none. */
export function accuracyRule(y: Float64Array, n: number, K: number): AccuracyRule | undefined {
  if (n === 0) return undefined;
  if (K === 1) {
    for (let j = 0; j < n; j++) if (Math.abs(y[j]!) !== 1) return undefined;
    return "sign";
  }
  for (let j = 0; j < n; j++) {
    let ones = 0;
    for (let k = 0; k < K; k++) {
      const label = y[j * K + k]!;
      if (label === 1) ones++;
      else if (label !== 0) return undefined;
    }
    if (ones !== 1) return undefined;
  }
  return "argmax";
}

/** The first label of a split that `accepts` refuses, as "example J has …", or undefined. */
function firstRefused(split: Split, K: number, accepts: (row: Float64Array) => boolean): string | undefined {
  for (let j = 0; j < split.n; j++) {
    const row = split.y.subarray(j * K, (j + 1) * K);
    if (!accepts(row)) return `example ${j} has ${K === 1 ? row[0] : `[${row.join(", ")}]`}`;
  }
  return undefined;
}
// biome-ignore-end lint/style/noNonNullAssertion: end of the per-output loops

/** The loss `name` for a model with K outputs. */
export function lossFor(name: LossName, K: number): Loss {
  if (name === "squared") return squared(K);
  return K === 1 ? logistic : softmaxCrossEntropy(K);
}

/** The accuracy rule of a data set: its training and test labels must both admit it. */
export function datasetAccuracyRule(data: Dataset): AccuracyRule | undefined {
  const K = data.outputSize;
  const rule = accuracyRule(data.train.y, data.train.n, K);
  if (rule === undefined || !data.test) return rule;
  return accuracyRule(data.test.y, data.test.n, K) === rule ? rule : undefined;
}

/**
 * The data with labels fit for the model's loss: for cross-entropy with K > 1 outputs, labels of
 * one integer class in [0, K) per example become one-hot; cross-entropy labels must be ±1 (one
 * output) or rows of non-negative entries summing to 1 (NQM4003). Other data (squared loss, or
 * labels of another width than K) is returned as is.
 */
export function labelsForLoss(data: Dataset, loss: LossName, K: number): Dataset {
  if (loss === "squared") return data;
  const splits = [data.train, ...(data.test ? [data.test] : [])];
  if (K > 1 && data.outputSize === 1) {
    const refused = splits
      .map((s) => firstRefused(s, 1, (row) => Number.isInteger(row[0]) && (row[0] ?? -1) >= 0 && (row[0] ?? K) < K))
      .find((r) => r !== undefined);
    if (refused !== undefined)
      fail("NQM4003", {
        reason: `cross-entropy on ${K} outputs takes one integer class in 0..${K - 1} per example (or one-hot rows), but ${refused}`,
      });
    const oneHot = (split: Split): Split => {
      const y = new Float64Array(split.n * K);
      split.y.forEach((label, j) => {
        y[j * K + label] = 1;
      });
      return { ...split, y };
    };
    return {
      ...data,
      outputSize: K,
      train: oneHot(data.train),
      ...(data.test ? { test: oneHot(data.test) } : {}),
    };
  }
  // Labels of another width are the session's to report (NQM4005), with both sizes.
  if (data.outputSize !== K) return data;
  const accepts =
    K === 1
      ? (row: Float64Array) => Math.abs(row[0] ?? 0) === 1
      : (row: Float64Array) => row.every((v) => v >= 0) && Math.abs(row.reduce((a, b) => a + b, 0) - 1) <= 1e-9;
  for (const [split, name] of splits.map((s) => [s, s === data.train ? "training" : "test"] as const)) {
    const refused = firstRefused(split, K, accepts);
    if (refused !== undefined)
      fail("NQM4003", {
        reason:
          K === 1
            ? `cross-entropy on one output is the logistic loss and takes labels ±1 (two classes, e.g. mnist:classes=0+1), but ${name} ${refused}`
            : `cross-entropy on ${K} outputs takes one-hot labels (or one integer class per example), but ${name} ${refused}`,
      });
  }
  return data;
}
