/** The typed interface of a compiled kernels module, as nqm's runtime uses it. */
import type { Layout } from "./layout.ts";

/** The element type of every array of a kernel module. */
export type Dtype = "f64" | "f32";
/** How matrix products run: JavaScript loops, or the WebAssembly SIMD GEMM on threads. */
export type Backend = "js" | "wasm";

/** The arrays of a module compiled for float64 (the default) or float32. */
export type KernelArray = Float64Array | Float32Array;

/**
 * A data set prepared once (`prepareSet`): the w0-only state of its n examples, for
 * `fLinPrepared`, `fQuadPrepared` and `loadPrepared` of the kernels that made it.
 */
export interface PreparedSet {
  readonly n: number;
}

/**
 * Mirrors the `Kernels` interface written into every generated module (for arrays `A`); a test
 * type-checks generated modules of both dtypes against it.
 */
export interface CompiledKernels<A extends KernelArray = Float64Array> {
  readonly layout: Layout;
  readonly maxBatch: number;
  readonly dtype: A extends Float32Array ? "f32" : "f64";
  readonly threads: number;
  readonly outputs: A;
  setFixed(values: A): void;
  f(w: A, x: readonly A[], n: number, out: A): void;
  jvp(w: A, dw: A, x: readonly A[], n: number, out: A): void;
  quad(w: A, dw: A, x: readonly A[], n: number, out: A): void;
  fLin(w: A, dw: A, x: readonly A[], n: number, out: A): void;
  fQuad(w: A, dw: A, x: readonly A[], n: number, out: A): void;
  vjp(w: A, x: readonly A[], c: A, n: number, grad: A): void;
  hvp(w: A, dw: A, x: readonly A[], c: A, n: number, out: A): void;
  lossAndGrad(w: A, x: readonly A[], y: A, n: number, grad: A, mean: boolean): number;
  prepare(w0: A, x: readonly A[], n: number): void;
  lossAndGradLin(dw: A, y: A, grad: A, mean: boolean): number;
  lossAndGradQuad(dw: A, y: A, grad: A, mean: boolean): number;
  prepareSet(w0: A, x: readonly A[], n: number): PreparedSet;
  preparedSetBytes(n: number): number;
  loadPrepared(set: PreparedSet, rows?: ArrayLike<number>): void;
  fLinPrepared(set: PreparedSet, dw: A, out: A): void;
  fQuadPrepared(set: PreparedSet, dw: A, out: A): void;
  ntkMatVec(w: A, x: readonly A[], n: number, v: A, out: A): void;
  ntkPrepare(w: A, x: readonly A[], n: number): void;
  ntkMatVecPrepared(v: A, out: A): void;
  jacobianRows(w: A, x: readonly A[], n: number, out: A): void;
  dispose(): void;
}

/** Options of a module's `createKernels`. */
export interface KernelsOptions {
  /** Threads for the WebAssembly backend (default: the machine's cores); the JavaScript backend uses 1. */
  readonly threads?: number;
}

export interface KernelsModule<A extends KernelArray = Float64Array> {
  readonly LAYOUT: Layout;
  readonly MAX_BATCH: number;
  createKernels(options?: KernelsOptions): CompiledKernels<A>;
  /** The initial params and fixed tensors for `seed`, as nqm draws them (runtime/init.ts). */
  initialize(seed?: number): { readonly w: A; readonly fixed: A };
}
