/**
 * A float32 kernel module behind the float64 kernel API the runtime speaks: arguments are
 * rounded into float32 buffers (allocated once, here) on the way in, results widened on the
 * way out. Training thus keeps its parameters, residuals and losses in float64 while every
 * product and loop of the kernels runs in float32, as mixed-precision training does.
 */
import { defined } from "../../foundation/defined.ts";
import type { CompiledKernels, PreparedSet } from "./api.ts";

/** An adapter's prepared set: the float32 module's set and the float32 values of its outputs. */
interface WidenedSet {
  readonly inner: PreparedSet;
  readonly result: Float32Array;
}

/** The float64 API over float32 kernels. */
export function widenedKernels(inner: CompiledKernels<Float32Array>): CompiledKernels {
  const { layout, maxBatch } = inner;
  const P = layout.paramCount;
  const out = layout.outputSize;
  const perExample = maxBatch * out;
  const w = new Float32Array(P);
  const dw = new Float32Array(P);
  const grad = new Float32Array(P);
  const c = new Float32Array(perExample);
  const y = new Float32Array(perExample);
  const result = new Float32Array(Math.max(P, perExample));
  const fixed = new Float32Array(layout.fixedCount);
  const inputs = layout.inputs.map((slot) => new Float32Array(maxBatch * slot.size));
  const outputs = new Float64Array(perExample);
  let jacobian = new Float32Array(0);

  /** Rounds `count` entries of `source` into `target` (TypedArray.set converts element types). */
  const narrow = (target: Float32Array, source: Float64Array, count: number) => {
    target.set(source.subarray(0, count));
    return target;
  };
  const narrowInputs = (x: readonly Float64Array[], n: number) => {
    for (const [k, slot] of layout.inputs.entries())
      narrow(defined(inputs[k], "an input buffer"), defined(x[k], "an input array"), n * slot.size);
    return inputs;
  };
  const widen = (target: Float64Array, source: Float32Array, count: number) => target.set(source.subarray(0, count));

  const sets = new WeakMap<PreparedSet, WidenedSet>();
  const setOf = (set: PreparedSet): WidenedSet => {
    const found = sets.get(set);
    if (found === undefined) throw new TypeError("not a prepared set of these kernels (prepareSet makes one)");
    return found;
  };
  /** f_lin or f_quad on a prepared set, through its float32 result buffer. */
  const onSet =
    (kernel: "fLinPrepared" | "fQuadPrepared") =>
    (set: PreparedSet, dwv: Float64Array, o: Float64Array): void => {
      const { inner: innerSet, result: values } = setOf(set);
      inner[kernel](innerSet, narrow(dw, dwv, P), values);
      widen(o, values, set.n * out);
    };

  /** A kernel of (w, Δ, x, n) with per-example outputs. */
  const along =
    (kernel: "jvp" | "quad" | "fLin" | "fQuad") =>
    (wv: Float64Array, dwv: Float64Array, x: readonly Float64Array[], n: number, o: Float64Array): void => {
      inner[kernel](narrow(w, wv, P), narrow(dw, dwv, P), narrowInputs(x, n), n, result);
      widen(o, result, n * out);
    };

  const kernels: CompiledKernels = {
    layout,
    maxBatch,
    dtype: "f64",
    threads: inner.threads,
    outputs,
    setFixed: (values) => inner.setFixed(narrow(fixed, values, layout.fixedCount)),
    f(wv, x, n, o) {
      inner.f(narrow(w, wv, P), narrowInputs(x, n), n, result);
      widen(o, result, n * out);
    },
    jvp: along("jvp"),
    quad: along("quad"),
    fLin: along("fLin"),
    fQuad: along("fQuad"),
    vjp(wv, x, cv, n, g) {
      inner.vjp(narrow(w, wv, P), narrowInputs(x, n), narrow(c, cv, n * out), n, grad);
      widen(g, grad, P);
    },
    hvp(wv, dwv, x, cv, n, o) {
      inner.hvp(narrow(w, wv, P), narrow(dw, dwv, P), narrowInputs(x, n), narrow(c, cv, n * out), n, result);
      widen(o, result, P);
    },
    lossAndGrad(wv, x, yv, n, g, mean) {
      const loss = inner.lossAndGrad(narrow(w, wv, P), narrowInputs(x, n), narrow(y, yv, n * out), n, grad, mean);
      widen(g, grad, P);
      widen(outputs, inner.outputs, n * out);
      return loss;
    },
    prepare(w0, x, n) {
      inner.prepare(narrow(w, w0, P), narrowInputs(x, n), n);
    },
    lossAndGradLin(dwv, yv, g, mean) {
      const loss = inner.lossAndGradLin(narrow(dw, dwv, P), narrow(y, yv, Math.min(yv.length, perExample)), grad, mean);
      widen(g, grad, P);
      widen(outputs, inner.outputs, perExample);
      return loss;
    },
    prepareSet(w0, x, n) {
      // A set may hold more examples than the buffers: its inputs are rounded into arrays of its own.
      const rounded = layout.inputs.map(
        (slot, k) => new Float32Array(defined(x[k], "an input array").subarray(0, n * slot.size)),
      );
      const innerSet = inner.prepareSet(narrow(w, w0, P), rounded, n);
      const set: PreparedSet = Object.freeze({ n });
      sets.set(set, { inner: innerSet, result: new Float32Array(n * out) });
      return set;
    },
    preparedSetBytes: (n) => inner.preparedSetBytes(n) + n * out * Float32Array.BYTES_PER_ELEMENT,
    loadPrepared: (set, rows) => inner.loadPrepared(setOf(set).inner, rows),
    fLinPrepared: onSet("fLinPrepared"),
    fQuadPrepared: onSet("fQuadPrepared"),
    lossAndGradQuad(dwv, yv, g, mean) {
      const loss = inner.lossAndGradQuad(
        narrow(dw, dwv, P),
        narrow(y, yv, Math.min(yv.length, perExample)),
        grad,
        mean,
      );
      widen(g, grad, P);
      widen(outputs, inner.outputs, perExample);
      return loss;
    },
    ntkMatVec(wv, x, n, v, o) {
      inner.ntkMatVec(narrow(w, wv, P), narrowInputs(x, n), n, narrow(c, v, n * out), result);
      widen(o, result, n * out);
    },
    ntkPrepare(wv, x, n) {
      inner.ntkPrepare(narrow(w, wv, P), narrowInputs(x, n), n);
    },
    ntkMatVecPrepared(v, o) {
      // The prepared batch size is the module's to know: v and out hold at most a full batch.
      inner.ntkMatVecPrepared(narrow(c, v, Math.min(v.length, perExample)), result);
      widen(o, result, Math.min(o.length, perExample));
    },
    jacobianRows(wv, x, n, o) {
      // For small models only: its buffer is made at the first call, at the size asked for.
      if (jacobian.length < n * out * P) jacobian = new Float32Array(n * out * P);
      inner.jacobianRows(narrow(w, wv, P), narrowInputs(x, n), n, jacobian);
      widen(o, jacobian, n * out * P);
    },
    dispose: () => inner.dispose(),
  };
  return kernels;
}
