/**
 * Gradient descent on f, f_lin or f_quad with the compiled kernels, recording the training
 * loss at every step and, every few steps, the test loss, the top eigenvalues of the tangent
 * kernel and the distance from w0; then the run's phase.
 *
 * Phases (docs/training.md): with L0 the initial training loss,
 *   divergent   the loss became non-finite or exceeded divergenceFactor·max(L0, L_zero), with
 *               L_zero the loss of predicting 0 (the run stops there);
 *   catapult    the loss rose above L0 at some step, and the final loss is below L0;
 *   lazy        the loss never rose above L0, and the final loss is below L0;
 *   unfinished  anything else (the final loss is not below L0).
 */
import type { ModelKind, Phase, RunRecord } from "./plot/types.ts";
import { criticalRate, topEigenvalues, type LossNormalization, type Session } from "./session.ts";
import { dot, lanczosTopK } from "./linalg/index.ts";
import { Rng } from "./rng.ts";

export interface RunConfig {
  readonly kind: ModelKind;
  /** The learning rate η (absolute). */
  readonly lr: number;
  readonly steps: number;
  readonly loss: LossNormalization;
  /** Measure test loss, eigenvalues and distance every this many steps (and at the end). */
  readonly evalEvery: number;
  /** How many top eigenvalues of K to track (1: λ_max only; 0: none). */
  readonly eigs: number;
  /** Mini-batch size for SGD; undefined for full-batch gradient descent. */
  readonly batch?: number;
  /** The init seed (w0 comes from it) and the mini-batch order. */
  readonly seed: number;
  /** A loss above this multiple of the initial loss counts as divergence. */
  readonly divergenceFactor: number;
}

/** What the run needs from its seed's initialization. */
export interface RunStart {
  readonly w0: Float64Array;
  /** λ_max(K(w0)) and its eigenvector, for η_crit and warm starts. */
  readonly lambda0: number;
  readonly eigenvector0?: Float64Array;
}

/** Relative residual of the eigenvalues tracked during training: far below what a plot shows. */
const TRACKING_TOL = 1e-6;

/** ½ Σ (out − y)², or its mean over the n examples. */
function squaredLoss(out: Float64Array, y: Float64Array, count: number, n: number, loss: LossNormalization): number {
  let s = 0;
  for (let i = 0; i < count; i++) {
    const r = out[i]! - y[i]!;
    s += r * r;
  }
  return loss === "mean" ? (0.5 * s) / n : 0.5 * s;
}

/** The phase of a run from its training losses (see the module comment). */
export function classifyPhase(trainLoss: readonly number[], diverged: boolean): Phase {
  if (diverged) return "divergent";
  const initial = trainLoss[0]!;
  const final = trainLoss.at(-1)!;
  if (!(final < initial)) return "unfinished";
  return trainLoss.some((l) => l > initial) ? "catapult" : "lazy";
}

/** Runs gradient descent for one (model kind, learning rate, seed) and returns its record. */
export function trainRun(
  session: Session,
  start: RunStart,
  config: RunConfig,
  onStep?: (t: number) => void,
): RunRecord {
  const { kernels, data } = session;
  const P = kernels.layout.paramCount;
  const K = data.outputSize;
  const n = data.train.n;
  const X = session.trainX;
  const y = data.train.y;
  const { w0 } = start;
  const fullBatch = config.batch === undefined || config.batch >= n;
  const B = fullBatch ? n : config.batch!;

  // The trained vector: w itself for f, the displacement Δ = w − w0 for f_lin and f_quad.
  const params = config.kind === "f" ? Float64Array.from(w0) : new Float64Array(P);
  const grad = new Float64Array(P);
  const out = new Float64Array(Math.max(n, data.test?.n ?? 0) * K);
  if (config.kind !== "f" && fullBatch) kernels.prepare(w0, X, n);

  // Mini-batches are copied into these buffers (no allocation per step).
  const batchX = new Float64Array((B * X[0]!.length) / n);
  const batchY = new Float64Array(B * K);
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(config.seed ^ 0x2545f491);
  let cursor = n;
  const nextBatch = (): void => {
    const width = X[0]!.length / n;
    for (let b = 0; b < B; b++) {
      if (cursor >= n) {
        rng.shuffle(order);
        cursor = 0;
      }
      const j = order[cursor++]!;
      batchX.set(X[0]!.subarray(j * width, (j + 1) * width), b * width);
      batchY.set(y.subarray(j * K, (j + 1) * K), b * K);
    }
  };

  /** Loss of the current model on the full training set (and the gradient, for full-batch steps). */
  const lossAndGrad = (): number => {
    if (fullBatch) {
      if (config.kind === "f") return kernels.lossAndGrad(params, X, y, n, grad, config.loss === "mean");
      if (config.kind === "lin") return kernels.lossAndGradLin(params, y, grad, config.loss === "mean");
      return kernels.lossAndGradQuad(params, y, grad, config.loss === "mean");
    }
    nextBatch();
    const mean = config.loss === "mean";
    if (config.kind === "f") kernels.lossAndGrad(params, [batchX], batchY, B, grad, mean);
    else {
      kernels.prepare(w0, [batchX], B);
      if (config.kind === "lin") kernels.lossAndGradLin(params, batchY, grad, mean);
      else kernels.lossAndGradQuad(params, batchY, grad, mean);
    }
    return predictLoss(X, y, n, config.loss);
  };

  /** The current model's loss on (x, y), in chunks of at most maxBatch examples. */
  const predictLoss = (
    x: readonly Float64Array[],
    labels: Float64Array,
    count: number,
    loss: LossNormalization,
  ): number => {
    const width = x[0]!.length / count;
    let total = 0;
    for (let startRow = 0; startRow < count; startRow += kernels.maxBatch) {
      const rows = Math.min(kernels.maxBatch, count - startRow);
      const chunk = [x[0]!.subarray(startRow * width, (startRow + rows) * width)];
      if (config.kind === "f") kernels.f(params, chunk, rows, out);
      else if (config.kind === "lin") kernels.fLin(w0, params, chunk, rows, out);
      else kernels.fQuad(w0, params, chunk, rows, out);
      total += squaredLoss(out, labels.subarray(startRow * K, (startRow + rows) * K), rows * K, 1, "sum");
    }
    return loss === "mean" ? total / count : total;
  };

  // The tangent kernel of the trained model at the current point, as a matrix-vector product.
  const jtv = new Float64Array(P);
  const hv = new Float64Array(P);
  const plus = new Float64Array(P);
  const minus = new Float64Array(P);
  const qPlus = new Float64Array(n * K);
  const qMinus = new Float64Array(n * K);
  const quadKernelMatVec = (v: Float64Array, result: Float64Array): void => {
    // J_quad(w)ᵀ v = J(w0)ᵀ v + Σ_j v_j H_j(w0) Δ; then J_quad g = J(w0) g + D²f(w0)[Δ, g],
    // the mixed term by polarization with g scaled to ‖Δ‖ (to keep the difference accurate).
    kernels.vjp(w0, X, v, n, jtv);
    kernels.hvp(w0, params, X, v, n, hv);
    for (let i = 0; i < P; i++) jtv[i] += hv[i]!;
    kernels.jvp(w0, jtv, X, n, result);
    const normD = Math.sqrt(dot(params, params));
    const normG = Math.sqrt(dot(jtv, jtv));
    if (normD === 0 || normG === 0) return;
    const s = normD / normG;
    for (let i = 0; i < P; i++) {
      plus[i] = params[i]! + s * jtv[i]!;
      minus[i] = params[i]! - s * jtv[i]!;
    }
    kernels.quad(w0, plus, X, n, qPlus);
    kernels.quad(w0, minus, X, n, qMinus);
    for (let i = 0; i < n * K; i++) result[i] += (qPlus[i]! - qMinus[i]!) / (4 * s);
  };
  let eigenvectors: readonly Float64Array[] | undefined = start.eigenvector0 ? [start.eigenvector0] : undefined;
  const trackEigenvalues = (): number[] => {
    if (config.eigs === 0) return [];
    if (config.kind === "lin" && config.eigs === 1) return [start.lambda0]; // K(w0) never changes for f_lin
    const result =
      config.kind === "quad"
        ? lanczosTopK(quadKernelMatVec, n * K, Math.min(config.eigs, n * K), {
            tol: TRACKING_TOL,
            ...(eigenvectors ? { start: eigenvectors } : {}),
          })
        : topEigenvalues(session, config.kind === "f" ? params : w0, config.eigs, eigenvectors, TRACKING_TOL);
    eigenvectors = result.vectors;
    return result.values;
  };
  const distance = (): number => {
    if (config.kind !== "f") return Math.sqrt(dot(params, params));
    let s = 0;
    for (let i = 0; i < P; i++) s += (params[i]! - w0[i]!) ** 2;
    return Math.sqrt(s);
  };

  // The catapult's peak does not scale with L0, so a tiny L0 alone must not set the cap.
  const zeroLoss = squaredLoss(new Float64Array(n * K), y, n * K, n, config.loss);
  let divergenceThreshold = Infinity;
  const trainLoss: number[] = [];
  const evalSteps: number[] = [];
  const testLoss: number[] = [];
  const lambdaMax: number[] = [];
  const eigs: number[][] = [];
  const distances: number[] = [];
  let divergedAt: number | undefined;
  for (let t = 0; t <= config.steps; t++) {
    const loss = lossAndGrad();
    trainLoss.push(loss);
    if (t === 0) divergenceThreshold = config.divergenceFactor * Math.max(loss, zeroLoss, Number.MIN_VALUE);
    if (!Number.isFinite(loss) || loss > divergenceThreshold) {
      divergedAt = t;
      break;
    }
    if (t % config.evalEvery === 0 || t === config.steps) {
      evalSteps.push(t);
      if (data.test) testLoss.push(predictLoss([data.test.x], data.test.y, data.test.n, "mean"));
      const values = trackEigenvalues();
      if (values.length > 0) lambdaMax.push(values[0]!);
      if (config.eigs > 1) eigs.push(values);
      distances.push(distance());
    }
    onStep?.(t);
    if (t === config.steps) break;
    for (let i = 0; i < P; i++) params[i] -= config.lr * grad[i]!;
  }
  const etaCrit = criticalRate(start.lambda0, config.loss, n);
  const finiteTest = testLoss.filter(Number.isFinite);
  return {
    id: runId(config.kind, config.lr / etaCrit, config.seed),
    model: config.kind,
    lr: config.lr,
    lrMultiple: config.lr / etaCrit,
    etaCrit,
    seed: config.seed,
    phase: classifyPhase(trainLoss, divergedAt !== undefined),
    steps: trainLoss.length - 1,
    trainLoss,
    evalSteps,
    testLoss,
    lambdaMax,
    ...(config.eigs > 1 ? { eigs } : {}),
    distance: distances,
    bestTestLoss: finiteTest.length > 0 ? finiteTest.reduce((a, b) => Math.min(a, b), Infinity) : null,
    finalTrainLoss: trainLoss.at(-1)!,
    ...(divergedAt !== undefined ? { divergedAt } : {}),
  };
}

/** A run's id: model, learning-rate multiple (rounded to 6 digits) and seed. */
export function runId(kind: ModelKind, lrMultiple: number, seed: number): string {
  return `${kind}|${Number(lrMultiple.toPrecision(6))}|${seed}`;
}
