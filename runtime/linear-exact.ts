/**
 * Exact gradient descent on f_lin: for the squared loss and full-batch steps the residual obeys
 * r_{t+1} = (I − η′K) r_t with K = J(w0)J(w0)ᵀ fixed (η′ = η for the sum loss, η/n for the mean
 * loss), so one eigendecomposition K = V diag(λ) Vᵀ gives every step of every learning rate:
 *   r_t = V diag((1 − η′λ)^t) c,  c = Vᵀ r_0,
 *   w_t − w0 = −Jᵀ V diag(g_t) c,  g_t = (1 − (1 − η′λ)^t)/λ  (η′t where λ = 0),
 *   ‖w_t − w0‖² = Σ λ_i g_{t,i}² c_i²,
 *   f(X_test; w_t) = f(X_test; w0) − K(X_test, X) V diag(g_t) c.
 * The run's record matches a stepped run's field for field (same steps, divergence rule, thinning);
 * `dynamics: "exact"` says which produced it.
 */
import { fail } from "../foundation/diagnostics.ts";
import { formatBytes } from "../foundation/format.ts";
import { symmetricEigen } from "./linalg/index.ts";
import { NonFiniteError } from "./linalg/errors.ts";
import type { RunRecord } from "./run-record.ts";
import { criticalRate, topEigenvalues, type Session } from "./session.ts";
import { Thinned } from "./thinned.ts";
import { scheduleOfKind } from "./schedule.ts";
import { checkLearningRate, phaseFrom, runId, trainRun, type RunConfig, type RunStart } from "./train.ts";

/** How f_lin runs are computed: the closed form (default where it applies) or gradient steps. */
export type LinearDynamics = "exact" | "stepped";

/**
 * The most kernel rows (examples × outputs) the closed form takes on: the dense
 * eigendecomposition costs O(rows³), about 0.7 s at 512 rows and 5.5 s at 1024 on one core
 * (measured for docs/training.md), so past 2048 stepping is the cheaper way to a few hundred steps.
 */
export const EXACT_MAX_ROWS = 2048;

/** The bytes the Jacobian J(w0) (rows × parameters) may take: it is held while K is formed. */
const JACOBIAN_BYTES = 1 << 30;

/** The kernel of f_lin at w0 in its eigenbasis, with the residual and the test set in that basis. */
export interface LinearSystem {
  /** n·outputs, the side of K. */
  readonly rows: number;
  /** The eigenvalues of K(w0), descending. */
  readonly values: Float64Array;
  /** vectors[i·rows + j]: component j of the unit eigenvector of values[i]. */
  readonly vectors: Float64Array;
  /** c = Vᵀ r_0, r_0 = f(X; w0) − y. */
  readonly coefficients: Float64Array;
  /**
   * The test residual r_test(w) = r_test,0 − S w with S = K(X_test, X) V, kept as S = QR
   * (Householder): ‖r_test‖² = ‖Qᵀr_test,0 − R w‖² + ‖(I − QQᵀ) r_test,0‖², a sum of two
   * non-negative terms (no cancellation), at rows² per evaluation instead of test rows × rows.
   */
  readonly test?: {
    readonly count: number;
    /** min(test rows, rows): the rows of R. */
    readonly rank: number;
    /** R, [rank × rows] row-major, upper trapezoidal. */
    readonly r: Float64Array;
    /** The first `rank` entries of Qᵀ r_test,0. */
    readonly projected: Float64Array;
    /** ‖(I − QQᵀ) r_test,0‖². */
    readonly outside: number;
  };
}

/**
 * Why the closed form cannot run `config` in `session` (a sentence for the user), or undefined
 * when it can. Decided from sizes alone, so a sweep can say it before any worker starts.
 */
export function exactLinearRefusal(
  session: Session,
  config: Pick<RunConfig, "kind" | "batch">,
  lin: LinearDynamics = "exact",
): string | undefined {
  if (config.kind !== "lin") return "only f_lin has a closed form";
  if (lin === "stepped") return "--lin stepped asks for gradient steps";
  if (session.model.loss !== "squared")
    return `the model's loss is ${session.model.loss}: the closed form is that of squared loss`;
  const n = session.data.train.n;
  if (config.batch !== undefined && config.batch < n) return "mini-batch SGD has no closed form";
  const rows = n * session.data.outputSize;
  if (rows > EXACT_MAX_ROWS)
    return `K(w0) would have ${rows} rows (n·outputs), more than the ${EXACT_MAX_ROWS} its eigendecomposition takes in reasonable time`;
  const bytes = rows * session.kernels.layout.paramCount * 8;
  if (bytes > Math.min(JACOBIAN_BYTES, session.memory.limit - session.memory.kernelBytes))
    return `the Jacobian J(w0) would need ${formatBytes(bytes)}`;
  // With a test set: its Jacobian in chunks as large as J, and K(X_test, X)V twice (S and its QR).
  const testRows = (session.data.test?.n ?? 0) * session.data.outputSize;
  const testBytes = testRows > 0 ? bytes + 2 * testRows * rows * 8 : 0;
  if (bytes + testBytes > session.memory.limit - session.memory.kernelBytes)
    return `J(w0) and the test set's kernel K(X_test, X) would need ${formatBytes(bytes + testBytes)}`;
  return undefined;
}

const systems = new WeakMap<Float64Array, LinearSystem>();

/** The eigensystem of K(w0) for the session's data, computed once per w0 (a sweep's rates share it). */
export function linearSystem(session: Session, w0: Float64Array): LinearSystem {
  const known = systems.get(w0);
  if (known) return known;
  const { kernels, data } = session;
  const K = data.outputSize;
  const n = data.train.n;
  const rows = n * K;
  const jacobian = jacobianRows(session, w0, data.train.x, n);
  const gram = new Float64Array(rows * rows);
  crossProducts(jacobian, jacobian, rows, rows, kernels.layout.paramCount, gram, true);
  let eigen: ReturnType<typeof symmetricEigen>;
  try {
    eigen = symmetricEigen(gram, rows);
  } catch (error) {
    if (error instanceof NonFiniteError) fail("NQM4006", { what: "the tangent kernel K(w0)", where: error.where });
    throw error;
  }
  const residual = predictions(session, w0, data.train.x, n);
  for (let i = 0; i < rows; i++) residual[i] = at(residual, i) - at(data.train.y, i);
  const coefficients = new Float64Array(rows);
  for (let i = 0; i < rows; i++) {
    let s = 0;
    for (let j = 0; j < rows; j++) s += at(eigen.vectors, i * rows + j) * at(residual, j);
    coefficients[i] = s;
  }
  const system: LinearSystem = {
    rows,
    values: eigen.values,
    vectors: eigen.vectors,
    coefficients,
    ...(data.test ? { test: testPart(session, w0, jacobian, eigen.vectors, rows) } : {}),
  };
  systems.set(w0, system);
  return system;
}

/** The test set's residual at w0 and K(X_test, X) V, from the test Jacobian in chunks of examples. */
function testPart(
  session: Session,
  w0: Float64Array,
  jacobian: Float64Array,
  vectors: Float64Array,
  rows: number,
): NonNullable<LinearSystem["test"]> {
  const { data, kernels } = session;
  const test = data.test;
  if (!test) throw new Error("internal: testPart without a test set");
  const K = data.outputSize;
  const P = kernels.layout.paramCount;
  const testRows = test.n * K;
  const width = test.x.length / test.n;
  const residual0 = predictions(session, w0, test.x, test.n);
  for (let i = 0; i < testRows; i++) residual0[i] = at(residual0, i) - at(test.y, i);
  const shift = new Float64Array(testRows * rows);
  // Chunks of as many test examples as the training set has: a test Jacobian no larger than J.
  const chunk = Math.max(1, data.train.n);
  const cross = new Float64Array(chunk * K * rows);
  for (let first = 0; first < test.n; first += chunk) {
    const count = Math.min(chunk, test.n - first);
    const part = jacobianRows(session, w0, test.x.subarray(first * width, (first + count) * width), count);
    crossProducts(part, jacobian, count * K, rows, P, cross, false);
    // shift[t, i] = Σ_j K(X_test, X)[t, j] V[i, j]
    for (let t = 0; t < count * K; t++) {
      const row = (first * K + t) * rows;
      for (let i = 0; i < rows; i++) {
        let s = 0;
        for (let j = 0; j < rows; j++) s += at(cross, t * rows + j) * at(vectors, i * rows + j);
        shift[row + i] = s;
      }
    }
  }
  return { count: test.n, ...householder(shift, testRows, rows, residual0) };
}

/** J(w0) on `count` examples of `x`, [count·outputs × params], one vjp per row on one example. */
function jacobianRows(session: Session, w0: Float64Array, x: Float64Array, count: number): Float64Array {
  const { kernels, data } = session;
  const K = data.outputSize;
  const P = kernels.layout.paramCount;
  const width = x.length / Math.max(count, 1);
  const out = new Float64Array(count * K * P);
  const unit = new Float64Array(K);
  const grad = new Float64Array(P);
  for (let j = 0; j < count; j++) {
    const xj = x.subarray(j * width, (j + 1) * width);
    for (let k = 0; k < K; k++) {
      unit.fill(0);
      unit[k] = 1;
      kernels.vjp(w0, [xj], unit, 1, grad);
      out.set(grad, (j * K + k) * P);
    }
  }
  return out;
}

/** f(x; w0) for `count` examples, in chunks the kernels take. */
function predictions(session: Session, w0: Float64Array, x: Float64Array, count: number): Float64Array {
  const { kernels, data } = session;
  const K = data.outputSize;
  const width = x.length / Math.max(count, 1);
  const result = new Float64Array(count * K);
  const out = new Float64Array(kernels.maxBatch * K);
  for (let first = 0; first < count; first += kernels.maxBatch) {
    const rows = Math.min(kernels.maxBatch, count - first);
    kernels.f(w0, [x.subarray(first * width, (first + rows) * width)], rows, out);
    result.set(out.subarray(0, rows * K), first * K);
  }
  return result;
}

// biome-ignore-start lint/style/noNonNullAssertion: the product loops index a (aRows × len), b (bRows × len) and out (aRows × bRows) within those sizes
/**
 * out[i·bRows + j] = ⟨a_i, b_j⟩ for rows of length len; `symmetric` (a = b) computes j ≤ i and
 * mirrors. Pairs of rows of a against pairs of rows of b share their loads (four sums per two
 * pairs of loads), which halves the memory traffic that bounds this product.
 */
function crossProducts(
  a: Float64Array,
  b: Float64Array,
  aRows: number,
  bRows: number,
  len: number,
  out: Float64Array,
  symmetric: boolean,
): void {
  for (let i = 0; i < aRows; i += 2) {
    const two = i + 1 < aRows;
    const a0 = i * len;
    const a1 = two ? a0 + len : a0;
    const jEnd = symmetric ? Math.min(i + 2, bRows) : bRows;
    for (let j = 0; j < jEnd; j += 2) {
      const pair = j + 1 < jEnd;
      const b0 = j * len;
      const b1 = pair ? b0 + len : b0;
      let s00 = 0;
      let s01 = 0;
      let s10 = 0;
      let s11 = 0;
      for (let k = 0; k < len; k++) {
        const x0 = a[a0 + k]!;
        const x1 = a[a1 + k]!;
        const y0 = b[b0 + k]!;
        const y1 = b[b1 + k]!;
        s00 += x0 * y0;
        s01 += x0 * y1;
        s10 += x1 * y0;
        s11 += x1 * y1;
      }
      out[i * bRows + j] = s00;
      if (pair) out[i * bRows + j + 1] = s01;
      if (two) {
        out[(i + 1) * bRows + j] = s10;
        if (pair) out[(i + 1) * bRows + j + 1] = s11;
      }
    }
  }
  if (symmetric)
    for (let i = 0; i < aRows; i++) for (let j = i + 1; j < bRows; j++) out[i * bRows + j] = out[j * bRows + i]!;
}

/**
 * Householder QR of the m×k row-major matrix a, applied to b as well: R (the first min(m, k)
 * rows of the reduced a), Qᵀb's first min(m, k) entries and the squared norm of the rest.
 */
function householder(
  a: Float64Array,
  m: number,
  k: number,
  b: Float64Array,
): { rank: number; r: Float64Array; projected: Float64Array; outside: number } {
  // Columns stored contiguously (column c at c·m) so each reflection runs along memory.
  const columns = new Float64Array(m * k);
  for (let i = 0; i < m; i++) for (let c = 0; c < k; c++) columns[c * m + i] = a[i * k + c]!;
  const rhs = Float64Array.from(b);
  const rank = Math.min(m, k);
  const v = new Float64Array(m);
  for (let j = 0; j < rank; j++) {
    const base = j * m;
    let norm2 = 0;
    for (let i = j; i < m; i++) norm2 += columns[base + i]! ** 2;
    if (norm2 === 0) continue;
    const head = columns[base + j]!;
    const alpha = head > 0 ? -Math.sqrt(norm2) : Math.sqrt(norm2);
    for (let i = j; i < m; i++) v[i] = columns[base + i]!;
    v[j] = head - alpha;
    const vv = norm2 - head * head + v[j]! * v[j]!;
    if (vv === 0) continue;
    const reflect = (target: Float64Array, offset: number) => {
      let d = 0;
      for (let i = j; i < m; i++) d += v[i]! * target[offset + i]!;
      const f = (2 * d) / vv;
      for (let i = j; i < m; i++) target[offset + i]! -= f * v[i]!;
    };
    for (let c = j; c < k; c++) reflect(columns, c * m);
    reflect(rhs, 0);
  }
  const r = new Float64Array(rank * k);
  for (let i = 0; i < rank; i++) for (let c = i; c < k; c++) r[i * k + c] = columns[c * m + i]!;
  let outside = 0;
  for (let i = rank; i < m; i++) outside += rhs[i]! ** 2;
  return { rank, r, projected: rhs.slice(0, rank), outside };
}

/** Entry i of an array whose length the caller's loop bound fixes. */
function at(values: Float64Array, i: number): number {
  return values[i]!;
}
// biome-ignore-end lint/style/noNonNullAssertion: end of the product loops

/**
 * (1 − hλ)^t and g = (1 − (1 − hλ)^t)/λ for one eigenvalue: near hλ = 0 through log1p/expm1,
 * so g tends to h·t without cancellation (an exactly zero λ gives g = h·t).
 */
function factors(h: number, lambda: number, t: number): { decay: number; gain: number } {
  const x = h * lambda;
  if (Math.abs(x) < 0.5) {
    const log = Math.log1p(-x);
    const decay = Math.exp(t * log);
    const gain = lambda === 0 ? h * t : -Math.expm1(t * log) / lambda;
    return { decay, gain };
  }
  const decay = (1 - x) ** t;
  return { decay, gain: (1 - decay) / lambda };
}

/** The loss components the record's `directions` hold: ½(p_iᵀr)² for the top k, then the rest. */
export function exactDirections(system: LinearSystem, decays: Float64Array, k: number, scale: number): number[] {
  const top = Math.min(k, system.rows);
  const parts: number[] = [];
  let rest = 0;
  for (let i = 0; i < system.rows; i++) {
    const r = at(system.coefficients, i) * at(decays, i);
    if (i < top) parts.push(0.5 * r * r * scale);
    else rest += r * r;
  }
  parts.push(0.5 * rest * scale);
  return parts;
}

/**
 * The record of full-batch gradient descent on f_lin for `config`, in closed form (the caller
 * checked exactLinearRefusal). Every field is what trainRun would record, up to rounding.
 */
export function exactLinearRun(
  session: Session,
  start: RunStart,
  config: RunConfig,
  onStep?: (t: number) => void,
): RunRecord {
  checkLearningRate(config.lr);
  const system = linearSystem(session, start.w0);
  const { rows, values, coefficients } = system;
  const n = session.data.train.n;
  const mean = config.loss === "mean";
  const h = mean ? config.lr / n : config.lr;
  const scale = mean ? 1 / n : 1;
  const y = session.data.train.y;
  let zero = 0;
  for (let i = 0; i < rows; i++) zero += at(y, i) ** 2;
  const zeroLoss = 0.5 * zero * scale;
  const decays = new Float64Array(rows);
  const gains = new Float64Array(rows);
  const fill = (t: number) => {
    for (let i = 0; i < rows; i++) {
      const { decay, gain } = factors(h, at(values, i), t);
      decays[i] = decay;
      gains[i] = gain;
    }
  };
  const trainLoss = (): number => {
    let s = 0;
    for (let i = 0; i < rows; i++) s += (at(coefficients, i) * at(decays, i)) ** 2;
    return 0.5 * s * scale;
  };
  const distance = (): number => {
    let s = 0;
    for (let i = 0; i < rows; i++) {
      const lambda = at(values, i);
      if (lambda > 0) s += lambda * (at(gains, i) * at(coefficients, i)) ** 2;
    }
    return Math.sqrt(s);
  };
  const weights = new Float64Array(rows);
  const testLoss = (): number | undefined => {
    const test = system.test;
    if (!test) return undefined;
    for (let i = 0; i < rows; i++) weights[i] = at(gains, i) * at(coefficients, i);
    let s = test.outside;
    for (let i = 0; i < test.rank; i++) {
      let rw = 0;
      for (let j = i; j < rows; j++) rw += at(test.r, i * rows + j) * at(weights, j);
      const r = at(test.projected, i) - rw;
      s += r * r;
    }
    return (0.5 * s) / test.count;
  };
  // ‖∇L‖ = ‖Jᵀr‖ (over n for the mean loss, which cancels in the ratio): ‖Jᵀr‖² = Σ λ_i (c_i (1 − η′λ_i)^t)².
  // Eigenvalues within the solver's rounding of zero (rows·ε·λ1) count as zero: sqrt(λ) of such a
  // value times an O(1) residual would otherwise stand for a gradient that Jᵀr does not have.
  const zeroLevel = rows * Number.EPSILON * Math.max(at(values, 0), 0);
  const gradientNorm = (): number => {
    let s = 0;
    for (let i = 0; i < rows; i++) {
      const lambda = at(values, i);
      if (lambda > zeroLevel) s += lambda * (at(coefficients, i) * at(decays, i)) ** 2;
    }
    return Math.sqrt(s);
  };
  let initialGradientNorm = Number.NaN;
  let finalGradientNorm = Number.NaN;
  const schedule = scheduleOfKind(config.evalSchedule ?? "dense-early", config.steps, config.evalEvery);
  const eigs = config.eigs === 0 ? [] : Array.from(values.subarray(0, Math.min(config.eigs, rows)));
  const k = config.directions ?? 0;

  const points = config.recordPoints ?? 16_384;
  const losses = new Thinned<{ step: number; loss: number }>(points);
  const evaluations = new Thinned<{
    step: number;
    test?: number;
    distance: number;
    directions?: number[];
  }>(points);
  let initialLoss = Number.NaN;
  let finalLoss = Number.NaN;
  let peakLoss = Number.NEGATIVE_INFINITY;
  let bestTestLoss = Number.POSITIVE_INFINITY;
  let threshold = Infinity;
  let steps = 0;
  let divergedAt: number | undefined;
  for (let t = 0; t <= config.steps; t++) {
    fill(t);
    const loss = trainLoss();
    losses.push({ step: t, loss });
    steps = t;
    finalLoss = loss;
    if (Number.isFinite(loss) && loss > peakLoss) peakLoss = loss;
    if (t === 0) initialGradientNorm = gradientNorm();
    else if (t === config.steps) finalGradientNorm = gradientNorm();
    if (t === 0) {
      initialLoss = loss;
      threshold = config.divergenceFactor * Math.max(loss, zeroLoss, Number.MIN_VALUE);
    }
    if (!Number.isFinite(loss) || loss > threshold) {
      divergedAt = t;
      break;
    }
    if (schedule.has(t)) {
      const test = testLoss();
      if (test !== undefined && Number.isFinite(test) && test < bestTestLoss) bestTestLoss = test;
      evaluations.push({
        step: t,
        ...(test !== undefined ? { test } : {}),
        distance: distance(),
        ...(k > 0 ? { directions: exactDirections(system, decays, k, scale) } : {}),
      });
    }
    onStep?.(t);
  }
  const etaCrit = criticalRate(start.lambda0, config.loss, n);
  const lrMultiple = config.lrMultiple ?? config.lr / etaCrit;
  const kept = losses.values();
  const evaluated = evaluations.values();
  const gradientRatio = Number.isFinite(finalGradientNorm / initialGradientNorm)
    ? finalGradientNorm / initialGradientNorm
    : undefined;
  return {
    id: runId("lin", lrMultiple, config.seed),
    model: "lin",
    dynamics: "exact",
    lr: config.lr,
    lrMultiple,
    etaCrit,
    etaCritFrom: "kernel",
    loss: "squared",
    seed: config.seed,
    phase: phaseFrom(initialLoss, finalLoss, peakLoss > initialLoss, divergedAt !== undefined, gradientRatio),
    steps,
    trainLoss: kept.map((e) => e.loss),
    ...(losses.thinned ? { lossSteps: kept.map((e) => e.step) } : {}),
    evalSteps: evaluated.map((e) => e.step),
    testLoss: evaluated.flatMap((e) => (e.test !== undefined ? [e.test] : [])),
    lambdaMax: evaluated.flatMap(() => eigs.slice(0, 1)),
    ...(config.eigs > 1 ? { eigs: evaluated.map(() => [...eigs]) } : {}),
    distance: evaluated.map((e) => e.distance),
    ...(k > 0 ? { directions: evaluated.map((e) => e.directions ?? []) } : {}),
    bestTestLoss: Number.isFinite(bestTestLoss) ? bestTestLoss : null,
    peakTrainLoss: Number.isFinite(peakLoss) ? peakLoss : initialLoss,
    finalTrainLoss: finalLoss,
    ...(gradientRatio !== undefined ? { gradientRatio } : {}),
    ...(divergedAt !== undefined ? { divergedAt } : {}),
  };
}

/** Settings beyond RunConfig that choose how a run is computed. */
export interface RunChoice {
  /** f_lin: closed form where it applies (default), or stepping. */
  readonly lin?: LinearDynamics;
}

/**
 * Trains one run: f_lin in closed form where exactLinearRefusal allows it, everything else (and
 * f_lin with `lin: "stepped"`) by trainRun. A stepped f_lin record says `dynamics: "stepped"`.
 */
export function runTraining(
  session: Session,
  start: RunStart,
  config: RunConfig,
  choice: RunChoice = {},
  onStep?: (t: number) => void,
): RunRecord {
  if (config.kind === "lin" && exactLinearRefusal(session, config, choice.lin) === undefined)
    return exactLinearRun(session, start, config, onStep);
  // f: how far its tangent kernel moved (the lazy regime's O(1/m)), where K is small enough to form.
  let kernelChange: number | undefined;
  const rows = session.data.train.n * session.data.outputSize;
  const measure =
    config.kind === "f" &&
    rows * rows * session.kernels.layout.paramCount <= KERNEL_CHANGE_FLOPS &&
    exactLinearRefusal(session, { kind: "lin" }) === undefined;
  const record = trainRun(
    session,
    start,
    measure ? { ...config, onEnd: (w) => (kernelChange = relativeKernelChange(session, start.w0, w)) } : config,
    onStep,
  );
  if (config.kind === "lin") return { ...record, dynamics: "stepped" };
  return kernelChange === undefined ? record : { ...record, kernelChange };
}

/**
 * The most rows²·parameters for which an f run measures its kernel change (two Jacobians and
 * Gram matrices, about a second): beyond it the measurement would cost more than many runs.
 */
const KERNEL_CHANGE_FLOPS = 2e9;

const initialKernels = new WeakMap<Float64Array, Float64Array>();

/** K(w) = J(w)J(w)ᵀ on the training set, [rows × rows]. */
function kernelAt(session: Session, w: Float64Array): Float64Array {
  const n = session.data.train.n;
  const rows = n * session.data.outputSize;
  const jacobian = jacobianRows(session, w, session.data.train.x, n);
  const gram = new Float64Array(rows * rows);
  crossProducts(jacobian, jacobian, rows, rows, session.kernels.layout.paramCount, gram, true);
  return gram;
}

/** ‖K(w) − K(w0)‖_F / ‖K(w0)‖_F (K(w0) formed once per w0); NaN when w is not finite. */
export function relativeKernelChange(session: Session, w0: Float64Array, w: Float64Array): number {
  if (!w.every(Number.isFinite)) return Number.NaN;
  let initial = initialKernels.get(w0);
  if (!initial) {
    initial = kernelAt(session, w0);
    initialKernels.set(w0, initial);
  }
  const current = kernelAt(session, w);
  let difference = 0;
  let norm = 0;
  for (let i = 0; i < initial.length; i++) {
    difference += (at(current, i) - at(initial, i)) ** 2;
    norm += at(initial, i) ** 2;
  }
  return Math.sqrt(difference / norm);
}

/** How many top eigenvalues of K(w0) a report states. */
const SPECTRUM_SIZE = 10;

/**
 * The top eigenvalues of K(w0) and its side, for the report: from the closed form's dense
 * decomposition where it applies (all of them, cached for the runs), else by Lanczos.
 */
export function kernelSpectrum(session: Session, w0: Float64Array): { values: number[]; rows: number } {
  const rows = session.data.train.n * session.data.outputSize;
  if (exactLinearRefusal(session, { kind: "lin" }) === undefined) {
    const system = linearSystem(session, w0);
    return { values: Array.from(system.values.subarray(0, Math.min(SPECTRUM_SIZE, rows))), rows };
  }
  return { values: [...topEigenvalues(session, w0, Math.min(SPECTRUM_SIZE, rows)).values], rows };
}

/**
 * Exact f_lin runs at each η/η_crit (the loss chart draws them thin under f and f_quad), or none
 * where the closed form does not apply; cheap, so a sweep without f_lin gets them too.
 */
export function referenceRuns(
  session: Session,
  start: RunStart,
  multiples: readonly number[],
  config: Omit<RunConfig, "kind" | "lr" | "lrMultiple">,
): RunRecord[] {
  if (exactLinearRefusal(session, { kind: "lin", ...(config.batch ? { batch: config.batch } : {}) }) !== undefined)
    return [];
  const etaCrit = criticalRate(start.lambda0, config.loss, session.data.train.n);
  return multiples.map((multiple) =>
    exactLinearRun(session, start, { ...config, kind: "lin", lr: multiple * etaCrit, lrMultiple: multiple }),
  );
}
