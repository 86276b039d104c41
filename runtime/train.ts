/**
 * Gradient descent on f, f_lin or f_quad with the compiled kernels, recording the training
 * loss at every step and, every few steps, the test loss, the top eigenvalues of the tangent
 * kernel and the distance from w0; then the run's phase.
 *
 * Phases (docs/training.md): with L0 the initial training loss,
 *   divergent   the loss became non-finite or exceeded divergenceFactor·max(L0, L_zero), with
 *               L_zero the loss of predicting 0 (the run stops there);
 *   catapult    the loss rose above L0 at some step, and the run converged;
 *   lazy        the loss never rose above L0, and the run converged;
 *   unfinished  anything else: the run did not converge.
 * A run converged when its final loss is at most CONVERGED_FRACTION·L0, or (full batch) it fell
 * below L0 and its gradient norm to at most CONVERGED_FRACTION of the initial one: it reached
 * the floor of what the model can fit (on 1-D data the kernel has rank 2 and the floor is about
 * 2% of L0). A loss that merely fell, as f_lin's at exactly η_crit, whose top-eigenvector
 * residual flips sign without shrinking, is not convergence.
 */
import { CONVERGED_FRACTION, type ModelKind, type Phase, type RunRecord } from "./run-record.ts";
import {
  criticalCurvature,
  criticalRate,
  topEigenpairs,
  topEigenvalues,
  type LossNormalization,
  type Session,
} from "./session.ts";
import { axpy, dot } from "./linalg/index.ts";
import { defined } from "../foundation/defined.ts";
import { deriveSeed, Rng } from "./rng.ts";
import { Thinned } from "./thinned.ts";
import { fail } from "../foundation/diagnostics.ts";
import type { PreparedSet } from "../compiler/codegen/api.ts";
import { checkMemory } from "./memory.ts";
import { directionBasis, lossComponents } from "./directions.ts";
import { scheduleOfKind, type ScheduleKind } from "./schedule.ts";
import { countCorrect, datasetAccuracyRule, lossFor } from "./loss.ts";
import { objectiveFor } from "./objective.ts";

export interface RunConfig {
  readonly kind: ModelKind;
  /** The learning rate η (absolute). */
  readonly lr: number;
  /** η/η_crit when the rate was given as a multiple (then the record's id uses it as given). */
  readonly lrMultiple?: number;
  readonly steps: number;
  readonly loss: LossNormalization;
  /** Measure test loss, eigenvalues and distance every this many steps (and at the end). */
  readonly evalEvery: number;
  /** Also measure densely in the early steps (`dense-early`, the default) or not (`uniform`); see schedule.ts. */
  readonly evalSchedule?: ScheduleKind;
  /** How many top eigenvalues of K to track (1: λ_max only; 0: none). */
  readonly eigs: number;
  /** Mini-batch size for SGD; undefined for full-batch gradient descent. */
  readonly batch?: number;
  /** The init seed (w0 comes from it) and the mini-batch order. */
  readonly seed: number;
  /** A loss above this multiple of the initial loss counts as divergence. */
  readonly divergenceFactor: number;
  /** The most entries the record keeps per series (default RECORD_POINTS). */
  readonly recordPoints?: number;
  /** Record the loss along the top-k eigenvectors of K(w0) and the rest at each evaluation (docs/training.md). */
  readonly directions?: number;
  /** Called with the trained vector at the end (w for f, Δ for f_lin and f_quad). */
  readonly onEnd?: (params: Float64Array) => void;
}

/** What the run needs from its seed's initialization. */
export interface RunStart {
  readonly w0: Float64Array;
  /** λ_max(K(w0)) and its eigenvector, for η_crit and warm starts. */
  readonly lambda0: number;
  readonly eigenvector0?: Float64Array;
  /** λ_max of the loss Hessian at w0, for losses other than squared (then η_crit = 2/sharpness). */
  readonly sharpness0?: number;
}

/** Relative residual of the eigenvalues tracked during training: far below what a plot shows. */
const TRACKING_TOL = 1e-6;

/**
 * The phase of a run from its initial and final losses, whether any loss rose above the initial
 * one, divergence, and ‖∇L(w_T)‖/‖∇L(w0)‖ when known (full-batch runs).
 */
export function phaseFrom(
  initial: number,
  final: number,
  roseAbove: boolean,
  diverged: boolean,
  gradientRatio: number | undefined,
): Phase {
  if (diverged) return "divergent";
  const converged =
    final <= CONVERGED_FRACTION * initial ||
    (final < initial && gradientRatio !== undefined && gradientRatio <= CONVERGED_FRACTION);
  if (!converged) return "unfinished";
  return roseAbove ? "catapult" : "lazy";
}

/** The phase of a run from its training losses and its final-to-initial gradient-norm ratio (see the module comment). */
export function classifyPhase(trainLoss: readonly number[], diverged: boolean, gradientRatio?: number): Phase {
  const initial = trainLoss[0] ?? Number.NaN;
  return phaseFrom(
    initial,
    trainLoss.at(-1) ?? Number.NaN,
    trainLoss.some((l) => l > initial),
    diverged,
    gradientRatio,
  );
}

/**
 * The most entries a record keeps per series: longer runs keep an evenly thinned subset (with
 * the exact first and final values, peak and best test loss), so a record's size, and the memory
 * of a long run, stay bounded.
 */
const RECORD_POINTS = 16_384;

/** Refuses a learning rate that is not a positive finite number (NQM3007). */
export function checkLearningRate(lr: number): void {
  if (!(lr > 0 && Number.isFinite(lr)))
    fail("NQM3007", {
      option: "--lr",
      reason: `the learning rate η = ${lr} is not a positive finite number (a multiple of η_crit too large or too small?)`,
    });
}

/** Runs gradient descent for one (model kind, learning rate, seed) and returns its record. */
export function trainRun(
  session: Session,
  start: RunStart,
  config: RunConfig,
  onStep?: (t: number) => void,
): RunRecord {
  checkLearningRate(config.lr);
  const { kernels, data } = session;
  const P = kernels.layout.paramCount;
  const K = data.outputSize;
  const n = data.train.n;
  const X = session.trainX;
  const y = data.train.y;
  const { w0 } = start;
  const fullBatch = config.batch === undefined || config.batch >= n;
  const B = fullBatch ? n : (config.batch ?? n);
  const inputs = X[0] ?? new Float64Array(0);
  const width = inputs.length / n;

  // The trained vector: w itself for f, the displacement Δ = w − w0 for f_lin and f_quad.
  const params = config.kind === "f" ? Float64Array.from(w0) : new Float64Array(P);
  const grad = new Float64Array(P);
  const out = new Float64Array(Math.max(n, data.test?.n ?? 0) * K);
  // The model's loss (squared: the kernels' own), and how a test prediction is scored, if at all.
  const lossFunction = lossFor(session.model.loss, K);
  const objective = objectiveFor(kernels, lossFunction, K, n);
  const accuracyRule = datasetAccuracyRule(data);

  // f_lin and f_quad: what depends only on w0 and the inputs is computed once per data set
  // (prepared sets); steps load it (full batch) or gather their batch's rows of it (SGD), and
  // the training and test losses are evaluated from it.
  const staged = config.kind !== "f";
  if (staged) {
    const sets = kernels.preparedSetBytes(n) + (data.test ? kernels.preparedSetBytes(data.test.n) : 0);
    checkMemory(
      `the ${config.kind === "lin" ? "f_lin" : "f_quad"} run's prepared training${data.test ? ` and test (${data.test.n} examples)` : ""} sets, with the kernels,`,
      session.memory.kernelBytes + sets,
      session.memory.limit,
      data.test ? "use a smaller test set (test=N) or a smaller model" : "lower the sizes",
    );
  }
  const trainSet = staged ? kernels.prepareSet(w0, X, n) : undefined;
  const testSet = staged && data.test ? kernels.prepareSet(w0, [data.test.x], data.test.n) : undefined;

  // Mini-batches are copied into these buffers (no allocation per step); f_lin and f_quad need only the rows.
  const batchX = new Float64Array(staged ? 0 : B * width);
  const batchY = new Float64Array(B * K);
  const batchRows = new Int32Array(B);
  const order = Array.from({ length: n }, (_, i) => i);
  const rng = new Rng(deriveSeed(config.seed, "sgd/batches"));
  let cursor = n;
  const nextBatch = (): void => {
    for (let b = 0; b < B; b++) {
      if (cursor >= n) {
        rng.shuffle(order);
        cursor = 0;
      }
      const j = order[cursor++] ?? 0;
      batchRows[b] = j;
      if (!staged) batchX.set(inputs.subarray(j * width, (j + 1) * width), b * width);
      batchY.set(y.subarray(j * K, (j + 1) * K), b * K);
    }
  };

  /** Loss of the current model on the full training set (and the gradient, for full-batch steps). */
  const lossAndGrad = (): number => {
    const mean = config.loss === "mean";
    if (!fullBatch) nextBatch();
    if (!trainSet) {
      if (fullBatch) return objective.f(params, X, y, n, grad, mean);
      objective.f(params, [batchX], batchY, B, grad, mean);
      return predictLoss(X, y, n, config.loss);
    }
    if (fullBatch) kernels.loadPrepared(trainSet);
    else kernels.loadPrepared(trainSet, batchRows);
    const labels = fullBatch ? y : batchY;
    const loss =
      config.kind === "lin" ? objective.lin(params, labels, grad, mean) : objective.quad(params, labels, grad, mean);
    return fullBatch ? loss : predictLoss(X, y, n, config.loss, trainSet);
  };

  /**
   * The current model's loss on (x, y): f in chunks of at most maxBatch examples, f_lin and
   * f_quad from the set's prepared state (the chunks' losses summed alike); with `tally`, the
   * correct predictions are counted into it.
   */
  const predictLoss = (
    x: readonly Float64Array[],
    labels: Float64Array,
    count: number,
    loss: LossNormalization,
    set?: PreparedSet,
    tally?: { correct: number },
  ): number => {
    if (set) {
      if (config.kind === "lin") kernels.fLinPrepared(set, params, out);
      else kernels.fQuadPrepared(set, params, out);
    }
    const xs = x[0] ?? new Float64Array(0);
    const rowWidth = xs.length / count;
    let total = 0;
    for (let startRow = 0; startRow < count; startRow += kernels.maxBatch) {
      const rows = Math.min(kernels.maxBatch, count - startRow);
      const predictions = set ? out.subarray(startRow * K) : out;
      if (!set) kernels.f(params, [xs.subarray(startRow * rowWidth, (startRow + rows) * rowWidth)], rows, out);
      const chunkLabels = labels.subarray(startRow * K, (startRow + rows) * K);
      total += lossFunction.value(predictions, chunkLabels, rows);
      if (tally && accuracyRule) tally.correct += countCorrect(accuracyRule, predictions, chunkLabels, rows, K);
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
  const quadAtDelta = new Float64Array(n * K);
  const shiftedLabels = new Float64Array(n * K);
  const normW0 = Math.sqrt(dot(w0, w0));
  /**
   * K_quad v on the prepared training set: J_quad(Δ)ᵀ v is lossAndGradQuad's gradient for the
   * residual v (labels f_quad(Δ) − v, f_quad(Δ) as that kernel computes it: quadAtDelta, set
   * by trackEigenvalues); J_quad g = (f_quad(Δ + s·g) − f_quad(Δ − s·g)) / (2s), exact for a
   * quadratic, with s·‖g‖ = max(‖Δ‖, ‖w0‖) so that neither f(w0) nor the s² terms, which cancel
   * in the difference, outweigh it. Three staged products instead of vjp, hvp, jvp and two quads.
   */
  const stagedQuadKernelMatVec =
    (set: PreparedSet) =>
    (v: Float64Array, result: Float64Array): void => {
      kernels.loadPrepared(set);
      for (let i = 0; i < n * K; i++) shiftedLabels[i] = (quadAtDelta[i] ?? 0) - (v[i] ?? 0);
      kernels.lossAndGradQuad(params, shiftedLabels, jtv, false);
      const normG = Math.sqrt(dot(jtv, jtv));
      if (normG === 0) {
        result.fill(0);
        return;
      }
      const s = Math.max(Math.sqrt(dot(params, params)), normW0) / normG;
      for (let i = 0; i < P; i++) {
        const step = s * (jtv[i] ?? 0);
        plus[i] = (params[i] ?? 0) + step;
        minus[i] = (params[i] ?? 0) - step;
      }
      kernels.fQuadPrepared(set, plus, qPlus);
      kernels.fQuadPrepared(set, minus, qMinus);
      for (let i = 0; i < n * K; i++) result[i] = ((qPlus[i] ?? 0) - (qMinus[i] ?? 0)) / (2 * s);
    };
  const quadKernelMatVec = (v: Float64Array, result: Float64Array): void => {
    // J_quad(w)ᵀ v = J(w0)ᵀ v + Σ_j v_j H_j(w0) Δ; then J_quad g = J(w0) g + D²f(w0)[Δ, g],
    // the mixed term by polarization with g scaled to ‖Δ‖ (to keep the difference accurate).
    kernels.vjp(w0, X, v, n, jtv);
    kernels.hvp(w0, params, X, v, n, hv);
    axpy(1, hv, jtv);
    kernels.jvp(w0, jtv, X, n, result);
    const normD = Math.sqrt(dot(params, params));
    const normG = Math.sqrt(dot(jtv, jtv));
    if (normD === 0 || normG === 0) return;
    const s = normD / normG;
    // biome-ignore-start lint/style/noNonNullAssertion: P-long and n·K-long loops at every Lanczos step, over buffers allocated with those lengths above
    for (let i = 0; i < P; i++) {
      plus[i] = params[i]! + s * jtv[i]!;
      minus[i] = params[i]! - s * jtv[i]!;
    }
    kernels.quad(w0, plus, X, n, qPlus);
    kernels.quad(w0, minus, X, n, qMinus);
    for (let i = 0; i < n * K; i++) result[i]! += (qPlus[i]! - qMinus[i]!) / (4 * s);
    // biome-ignore-end lint/style/noNonNullAssertion: end of the matrix-vector loops
  };
  let eigenvectors: readonly Float64Array[] | undefined = start.eigenvector0 ? [start.eigenvector0] : undefined;
  const trackEigenvalues = (): number[] => {
    if (config.eigs === 0) return [];
    if (config.kind === "lin" && config.eigs === 1) return [start.lambda0]; // K(w0) never changes for f_lin
    if (config.kind === "quad" && trainSet) {
      // f_quad(Δ) as lossAndGradQuad computes it (its outputs), for the residual trick above.
      kernels.loadPrepared(trainSet);
      kernels.lossAndGradQuad(params, y, jtv, false);
      quadAtDelta.set(kernels.outputs.subarray(0, n * K));
    }
    const result =
      config.kind === "quad"
        ? topEigenpairs(trainSet ? stagedQuadKernelMatVec(trainSet) : quadKernelMatVec, n * K, config.eigs, {
            tol: TRACKING_TOL,
            ...(eigenvectors ? { start: eigenvectors } : {}),
          })
        : topEigenvalues(session, config.kind === "f" ? params : w0, config.eigs, eigenvectors, TRACKING_TOL);
    eigenvectors = result.vectors;
    return result.values;
  };
  const basis = config.directions ? directionBasis(session, w0, config.directions) : undefined;
  const trainPredictions = new Float64Array(basis ? n * K : 0);
  const components = (): number[] => {
    if (!basis) return [];
    if (!trainSet) kernels.f(params, X, n, trainPredictions);
    else if (config.kind === "lin") kernels.fLinPrepared(trainSet, params, trainPredictions);
    else kernels.fQuadPrepared(trainSet, params, trainPredictions);
    return lossComponents(basis, trainPredictions, y, config.loss, n);
  };
  const distance = (): number => {
    if (config.kind !== "f") return Math.sqrt(dot(params, params));
    let s = 0;
    for (const [i, p] of params.entries()) s += (p - defined(w0[i], "w0 entry")) ** 2;
    return Math.sqrt(s);
  };

  // The catapult's peak does not scale with L0, so a tiny L0 alone must not set the cap.
  const zeroTotal = lossFunction.value(new Float64Array(n * K), y, n);
  const zeroLoss = config.loss === "mean" ? zeroTotal / n : zeroTotal;
  let divergenceThreshold = Infinity;
  const points = config.recordPoints ?? RECORD_POINTS;
  const losses = new Thinned<{ step: number; loss: number }>(points);
  const evaluations = new Thinned<{
    step: number;
    test?: number;
    accuracy?: number;
    eigs: number[];
    distance: number;
    directions?: number[];
  }>(points);
  const schedule = scheduleOfKind(config.evalSchedule ?? "dense-early", config.steps, config.evalEvery);
  let initialLoss = Number.NaN;
  let finalLoss = Number.NaN;
  let peakLoss = Number.NEGATIVE_INFINITY;
  let bestTestLoss = Number.POSITIVE_INFINITY;
  let bestTestAccuracy = Number.NEGATIVE_INFINITY;
  let steps = 0;
  let divergedAt: number | undefined;
  // ‖∇L‖ at w0 and at the last step, for the convergence test (full batch only: an SGD step's gradient is its batch's).
  let initialGradientNorm = Number.NaN;
  let finalGradientNorm = Number.NaN;
  for (let t = 0; t <= config.steps; t++) {
    const loss = lossAndGrad();
    losses.push({ step: t, loss });
    steps = t;
    finalLoss = loss;
    if (Number.isFinite(loss) && loss > peakLoss) peakLoss = loss;
    if (fullBatch && (t === 0 || t === config.steps)) {
      if (t === 0) initialGradientNorm = Math.sqrt(dot(grad, grad));
      else finalGradientNorm = Math.sqrt(dot(grad, grad));
    }
    if (t === 0) {
      initialLoss = loss;
      divergenceThreshold = config.divergenceFactor * Math.max(loss, zeroLoss, Number.MIN_VALUE);
    }
    if (!Number.isFinite(loss) || loss > divergenceThreshold) {
      divergedAt = t;
      break;
    }
    if (schedule.has(t)) {
      const tally = { correct: 0 };
      const test = data.test ? predictLoss([data.test.x], data.test.y, data.test.n, "mean", testSet, tally) : undefined;
      if (test !== undefined && Number.isFinite(test) && test < bestTestLoss) bestTestLoss = test;
      const accuracy = data.test && accuracyRule ? tally.correct / data.test.n : undefined;
      if (accuracy !== undefined && accuracy > bestTestAccuracy) bestTestAccuracy = accuracy;
      evaluations.push({
        step: t,
        ...(test !== undefined ? { test } : {}),
        ...(accuracy !== undefined ? { accuracy } : {}),
        eigs: trackEigenvalues(),
        distance: distance(),
        ...(basis ? { directions: components() } : {}),
      });
    }
    onStep?.(t);
    if (t === config.steps) break;
    // params − lr·grad, as params + (−lr)·grad: the same in IEEE arithmetic (negation is exact).
    axpy(-config.lr, grad, params);
  }
  config.onEnd?.(params);
  const curvature = criticalCurvature(start);
  const etaCrit = criticalRate(curvature.value, config.loss, n);
  const lrMultiple = config.lrMultiple ?? config.lr / etaCrit;
  const kept = losses.values();
  const evaluated = evaluations.values();
  const gradientRatio = Number.isFinite(finalGradientNorm / initialGradientNorm)
    ? finalGradientNorm / initialGradientNorm
    : undefined;
  return {
    id: runId(config.kind, lrMultiple, config.seed),
    model: config.kind,
    lr: config.lr,
    lrMultiple,
    etaCrit,
    etaCritFrom: curvature.from,
    ...(start.sharpness0 !== undefined ? { sharpness0: start.sharpness0 } : {}),
    loss: session.model.loss,
    seed: config.seed,
    phase: phaseFrom(initialLoss, finalLoss, peakLoss > initialLoss, divergedAt !== undefined, gradientRatio),
    steps,
    trainLoss: kept.map((e) => e.loss),
    ...(losses.thinned ? { lossSteps: kept.map((e) => e.step) } : {}),
    evalSteps: evaluated.map((e) => e.step),
    testLoss: evaluated.flatMap((e) => (e.test !== undefined ? [e.test] : [])),
    ...(data.test && accuracyRule
      ? {
          testAccuracy: evaluated.flatMap((e) => (e.accuracy !== undefined ? [e.accuracy] : [])),
          bestTestAccuracy: Number.isFinite(bestTestAccuracy) ? bestTestAccuracy : null,
        }
      : {}),
    lambdaMax: evaluated.flatMap((e) => e.eigs.slice(0, 1)),
    ...(config.eigs > 1 ? { eigs: evaluated.map((e) => e.eigs) } : {}),
    distance: evaluated.map((e) => e.distance),
    ...(basis ? { directions: evaluated.map((e) => e.directions ?? []) } : {}),
    bestTestLoss: Number.isFinite(bestTestLoss) ? bestTestLoss : null,
    peakTrainLoss: Number.isFinite(peakLoss) ? peakLoss : initialLoss,
    finalTrainLoss: finalLoss,
    ...(gradientRatio !== undefined ? { gradientRatio } : {}),
    ...(divergedAt !== undefined ? { divergedAt } : {}),
  };
}

/**
 * A run's id: model, learning-rate multiple and seed. The multiple is written exactly (the
 * shortest text that reads back as the same double), so distinct rates never share an id.
 */
export function runId(kind: ModelKind, lrMultiple: number, seed: number): string {
  return `${kind}|${String(lrMultiple)}|${seed}`;
}
