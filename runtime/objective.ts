/**
 * The loss-and-gradient steps of f, f_lin and f_quad for a model's loss. The compiled kernels
 * compute squared loss, whose gradient is the vjp of the residual f − y; for another loss the
 * gradient is the vjp of its derivative ∂ℓ/∂f instead:
 *
 * - f: the outputs (kernel f), then ∂ℓ/∂f, then vjp with it as the cotangent;
 * - f_lin, f_quad: their staged kernels take no cotangent, only labels, and their gradient is
 *   the vjp of (outputs − labels); so a first call gives the outputs F, and a second with the
 *   labels F − ∂ℓ/∂f gives the vjp of ∂ℓ/∂f (F is the same both times: the same kernel on the
 *   same arguments). The rounding of F − ∂ℓ/∂f costs about eps·|F| in the cotangent.
 */
import type { CompiledKernels } from "../compiler/codegen/api.ts";
import type { Loss } from "./loss.ts";

/** The three models' loss and gradient, with the compiled kernels' signatures (sum, or mean over the n examples). */
export interface Objective {
  f(w: Float64Array, x: readonly Float64Array[], y: Float64Array, n: number, grad: Float64Array, mean: boolean): number;
  /** After loadPrepared: f_lin at w0 + Δ over the prepared rows (y holds their labels). */
  lin(dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean): number;
  /** After loadPrepared: f_quad at w0 + Δ over the prepared rows. */
  quad(dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean): number;
}

/** The objective of `loss` on kernels with K outputs, for batches of at most maxRows examples. */
export function objectiveFor(kernels: CompiledKernels, loss: Loss, K: number, maxRows: number): Objective {
  if (loss.name === "squared")
    return {
      f: (w, x, y, n, grad, mean) => kernels.lossAndGrad(w, x, y, n, grad, mean),
      lin: (dw, y, grad, mean) => kernels.lossAndGradLin(dw, y, grad, mean),
      quad: (dw, y, grad, mean) => kernels.lossAndGradQuad(dw, y, grad, mean),
    };
  const outputs = new Float64Array(maxRows * K);
  const cotangent = new Float64Array(maxRows * K);
  const shifted = new Float64Array(maxRows * K);
  /** Σ ℓ over the first n rows of `outputs`, and ∂ℓ/∂f (divided by n for the mean) into cotangent. */
  const differentiate = (y: Float64Array, n: number, mean: boolean): number => {
    const f = outputs.subarray(0, n * K);
    const total = loss.value(f, y, n);
    loss.derivative(f, y, n, cotangent);
    if (mean) for (let i = 0; i < n * K; i++) cotangent[i] = (cotangent[i] ?? 0) / n;
    return mean ? total / n : total;
  };
  const staged =
    (step: (dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean) => number) =>
    (dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean): number => {
      const n = y.length / K;
      step(dw, y, grad, false);
      outputs.set(kernels.outputs.subarray(0, n * K));
      const value = differentiate(y, n, mean);
      for (let i = 0; i < n * K; i++) shifted[i] = (outputs[i] ?? 0) - (cotangent[i] ?? 0);
      step(dw, shifted.subarray(0, n * K), grad, false);
      return value;
    };
  return {
    f: (w, x, y, n, grad, mean) => {
      kernels.f(w, x, n, outputs);
      const value = differentiate(y, n, mean);
      kernels.vjp(w, x, cotangent.subarray(0, n * K), n, grad);
      return value;
    },
    lin: staged((dw, y, grad, mean) => kernels.lossAndGradLin(dw, y, grad, mean)),
    quad: staged((dw, y, grad, mean) => kernels.lossAndGradQuad(dw, y, grad, mean)),
  };
}
