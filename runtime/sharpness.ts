/**
 * The sharpness of a loss: λ_max of the Hessian in w of L(w) = Σ_j ℓ(f(w; x_j), y_j), by Lanczos
 * on its product with a vector (as in the edge-of-stability literature), which the kernels give
 * without forming any matrix:
 *
 *   H_L v = J(w)ᵀ H_ℓ(f) J(w) v + Σ_j Σ_k (∂ℓ/∂f_jk) H_{f_jk}(w) v
 *
 * (jvp, then the loss's Hessian in f, then vjp; plus hvp with the loss's derivative as its
 * cotangent). For squared loss at any w the first term alone has the tangent kernel's top
 * eigenvalue; η_crit uses that kernel instead (the paper's threshold), so this serves the other
 * losses.
 */
import type { CompiledKernels } from "../compiler/codegen/api.ts";
import { defined } from "../foundation/defined.ts";
import { type LanczosOptions, type LanczosResult, lanczosTopK } from "./linalg/index.ts";
import type { Loss } from "./loss.ts";
import { checkMemory } from "./memory.ts";

/** The training set the sharpness is measured on. */
export interface SharpnessData {
  readonly x: readonly Float64Array[];
  readonly y: Float64Array;
  readonly n: number;
  /** Outputs per example. */
  readonly outputSize: number;
}

/**
 * Lanczos steps at most: each keeps a vector of all parameters, so the basis stays small for
 * wide models (the two-layer MNIST net with 203k parameters converges to 1e-8 in 25 steps).
 */
const MAX_STEPS = 100;
/** Steps the memory must allow, or the sharpness is refused (NQM3010). */
const MIN_STEPS = 20;

/**
 * The Lanczos steps for P parameters within `bytes` of memory: as many as fit, between
 * MIN_STEPS and MAX_STEPS; NQM3010 when not even MIN_STEPS fit.
 */
export function sharpnessSteps(P: number, bytes: number): number {
  const vector = 8 * P;
  checkMemory(
    `the sharpness's Lanczos basis (${MIN_STEPS} vectors of ${P} parameters)`,
    MIN_STEPS * vector,
    bytes,
    "lower the sizes (or train with squared loss, whose η_crit needs only the tangent kernel)",
  );
  return Math.min(MAX_STEPS, Math.floor(bytes / vector));
}

/** v ↦ H_L(w) v for the loss on the data, as Lanczos takes it. */
export function lossHessianProduct(
  kernels: CompiledKernels,
  loss: Loss,
  w: Float64Array,
  data: SharpnessData,
): (v: Float64Array, out: Float64Array) => void {
  const { x, y, n } = data;
  const size = n * data.outputSize;
  const f = new Float64Array(size);
  const c = new Float64Array(size);
  kernels.f(w, x, n, f);
  loss.derivative(f, y, n, c);
  const jv = new Float64Array(size);
  const hjv = new Float64Array(size);
  const curvature = new Float64Array(w.length);
  return (v, out) => {
    kernels.jvp(w, v, x, n, jv);
    loss.hessianProduct(f, y, n, jv, hjv);
    kernels.vjp(w, x, hjv, n, out);
    kernels.hvp(w, v, x, c, n, curvature);
    for (let i = 0; i < out.length; i++) out[i] = (out[i] ?? 0) + (curvature[i] ?? 0);
  };
}

/** λ_max of the loss Hessian at w, with its eigenvector (Lanczos to a relative residual `tol`). */
export function lossSharpness(
  kernels: CompiledKernels,
  loss: Loss,
  w: Float64Array,
  data: SharpnessData,
  options: LanczosOptions = {},
): { readonly value: number; readonly vector: Float64Array; readonly result: LanczosResult } {
  const P = w.length;
  const result = lanczosTopK(lossHessianProduct(kernels, loss, w, data), P, 1, {
    tol: 1e-8,
    maxIter: Math.min(P, MAX_STEPS),
    ...options,
  });
  return {
    value: defined(result.values[0], "the sharpness from Lanczos"),
    vector: defined(result.vectors[0], "the sharpness's eigenvector"),
    result,
  };
}
