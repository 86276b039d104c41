/** The typed interface of a compiled kernels module, as nqm's runtime uses it. */
import type { Layout } from "./layout.ts";

/**
 * Mirrors the `Kernels` interface written into every generated module; a test type-checks a
 * generated module against it.
 */
export interface CompiledKernels {
  readonly layout: Layout;
  readonly maxBatch: number;
  readonly outputs: Float64Array;
  setFixed(values: Float64Array): void;
  f(w: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  jvp(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  quad(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  fLin(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  fQuad(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  vjp(w: Float64Array, x: readonly Float64Array[], c: Float64Array, n: number, grad: Float64Array): void;
  hvp(
    w: Float64Array,
    dw: Float64Array,
    x: readonly Float64Array[],
    c: Float64Array,
    n: number,
    out: Float64Array,
  ): void;
  lossAndGrad(
    w: Float64Array,
    x: readonly Float64Array[],
    y: Float64Array,
    n: number,
    grad: Float64Array,
    mean: boolean,
  ): number;
  prepare(w0: Float64Array, x: readonly Float64Array[], n: number): void;
  lossAndGradLin(dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean): number;
  lossAndGradQuad(dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean): number;
  ntkMatVec(w: Float64Array, x: readonly Float64Array[], n: number, v: Float64Array, out: Float64Array): void;
  jacobianRows(w: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
}

export interface KernelsModule {
  readonly LAYOUT: Layout;
  readonly MAX_BATCH: number;
  createKernels(): CompiledKernels;
}
