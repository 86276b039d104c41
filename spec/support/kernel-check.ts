/**
 * Compiled kernels against the reference interpreter at one point: every kernel of the API
 * (f, jvp, quad, fLin, fQuad, vjp, hvp, lossAndGrad, prepare + lossAndGradLin/Quad, ntkMatVec,
 * jacobianRows) is run on flat arrays packed from the point and compared, entry by entry, with
 * what the interpreter computes for the same quantity from the derived IR.
 *
 * The comparison rule (see `withinTolerance`): |actual − expected| ≤ RTOL · max(|expected|,
 * FLOOR · scale), RTOL = 1e-12. `scale` is the largest magnitude of any value the interpreter
 * computed on the way to that quantity (every node of its graph, every example). Without
 * cancellation an entry is of the size of the values it was computed from, and the floor is
 * inactive: the check is a plain relative error of 1e-12. An entry far smaller than the values
 * it was computed from is the result of cancellation, and there the kernels' legitimately
 * different evaluation order (a blocked product sums in another order than a dot product; a
 * fused Σⱼ outer sums per term, the interpreter per example) leaves an error of a few ulps of
 * `scale`, not of the entry; FLOOR = 1e-3 accepts ~4 ulps of `scale` (1e-12 · 1e-3 = 1e-15 ≈
 * 4.5 ε), far below any real bug (a wrong index, a stale buffer or a missing term changes an
 * entry by the size of a term).
 */
import type { CompiledKernels } from "../../compiler/codegen/api.ts";
import type { Slot } from "../../compiler/codegen/layout.ts";
import type { DerivativeProgram } from "../../compiler/diff/programs.ts";
import { interpret, type Bindings, type Value } from "../../compiler/ir/interpret.ts";
import assert from "node:assert/strict";
import { tensor, type Nested, type Tensor } from "../../compiler/ir/tensor.ts";
import type { EvalPoint } from "../../runtime/point.ts";
import { topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth, present } from "./entries.ts";

export const RTOL = 1e-12;
export const FLOOR = 1e-3;

/** The comparison rule's two constants: |a − e| ≤ rtol · max(|e|, floor · scale). */
export interface Tolerance {
  readonly rtol: number;
  readonly floor: number;
}

/** Float64 kernels (see the file comment). */
export const F64_TOLERANCE: Tolerance = { rtol: RTOL, floor: FLOOR };

/**
 * Float32 kernels (seen through the float64 adapter): the same error model with float32's unit
 * roundoff. In units of float64's u = 2⁻⁵³, RTOL = 1e-12 is 9007 u relative to the entry, and
 * RTOL·FLOOR = 1e-15 is 9 u of `scale` in absolute terms. Each rounding of a computation
 * contributes at most u times the magnitude it rounds (≤ u·scale) to the result, through
 * derivatives of moderate size on the points of these tests (|x| ≤ 1.5, a few layers), so the
 * error is a count of roundings times u·scale whatever u is: the f32 rule keeps both multiples
 * with u = 2⁻²⁴, rtol = RTOL·2²⁹ ≈ 5.4e-4 and the same FLOOR (9 u·scale ≈ 5.4e-7·scale).
 * Unlike f64 kernels, which share their inputs with the interpreter bit for bit and differ from
 * it by evaluation order only, an f32 kernel also rounds every input and every operation, so its
 * errors use more of the allowance: about 2 u·scale at worst over a few hundred generated
 * programs (an exact cancellation, x·(w·x) − (w·x)·x), against f64's 0.2 u·scale.
 * Kinks are a separate matter: an f32 pre-activation within its rounding error of 0 may fall on
 * the other side (see `kinkSafeForFloat32` in spec/support/backends.ts).
 */
export const F32_TOLERANCE: Tolerance = { rtol: RTOL * 2 ** 29, floor: FLOOR };

/** |actual − expected| ≤ rtol · max(|expected|, floor · scale); NaN never passes. */
export function withinTolerance(
  actual: number,
  expected: number,
  scale: number,
  tolerance: Tolerance = F64_TOLERANCE,
): boolean {
  if (Number.isNaN(actual) || Number.isNaN(expected)) return false;
  if (actual === expected) return true;
  return Math.abs(actual - expected) <= tolerance.rtol * Math.max(Math.abs(expected), tolerance.floor * scale);
}

/** Packs named tensors into one flat vector in layout order. */
export function pack(slots: readonly Slot[], tensors: Readonly<Record<string, Tensor>>, total: number): Float64Array {
  const flat = new Float64Array(total);
  for (const slot of slots) {
    if (!Object.hasOwn(tensors, slot.name)) throw new Error(`no tensor for ${slot.name}`);
    flat.set(nth(tensors, slot.name).data, slot.offset);
  }
  return flat;
}

/** Per-example tensors into one [n, size] array. */
export function packExamples(examples: readonly Tensor[], size: number): Float64Array {
  const flat = new Float64Array(examples.length * size);
  examples.forEach((t, j) => flat.set(t.data, j * size));
  return flat;
}

/** A per-example value as one flat [n, size] array (a shared value is repeated per example). */
function flatPerExample(value: Value, n: number): Float64Array {
  const tensors = Array.isArray(value)
    ? (value as readonly Tensor[])
    : Array.from({ length: n }, () => value as Tensor);
  return packExamples(tensors, nth(tensors, 0).data.length);
}

/** One shared value per param, in layout order. */
function flatPerParam(values: readonly Value[], slots: readonly Slot[], total: number): Float64Array {
  const flat = new Float64Array(total);
  slots.forEach((slot, i) => {
    const value = nth(values, i);
    if (Array.isArray(value)) throw new Error(`internal: gradient of ${slot.name} varies per example`);
    flat.set((value as Tensor).data, slot.offset);
  });
  return flat;
}

/** The largest |value| of any node of `roots`' graph under `bindings`. */
function largestValue(roots: readonly Node[], bindings: Bindings): number {
  const nodes = topologicalOrder(roots);
  let largest = 0;
  for (const value of interpret(nodes, bindings)) {
    for (const t of Array.isArray(value) ? (value as readonly Tensor[]) : [value as Tensor])
      for (const v of t.data) largest = Math.max(largest, Math.abs(v));
  }
  return largest;
}

export interface Comparison {
  /** Entries compared, over every quantity. */
  readonly entries: number;
  /** The largest |a − e| / max(|e|, floor·scale) seen (≤ rtol when everything passed). */
  readonly worst: number;
  /** Failures, one line each, readable. */
  readonly failures: readonly string[];
}

export interface CompareOptions {
  /** Targets for the losses, one tensor per example (default: the cotangent). */
  readonly y?: readonly Tensor[];
  /** A second displacement for a second call of each staged step (default: the point's direction halved). */
  readonly otherDirection?: Readonly<Record<string, Tensor>>;
  /** Which losses to check: sum (false) or mean (true), or both (default). */
  readonly means?: readonly boolean[];
  /** Skip jacobianRows (it runs the interpreter once per row). */
  readonly skipJacobian?: boolean;
  /** The comparison rule (default F64_TOLERANCE). */
  readonly tolerance?: Tolerance;
}

/** Runs every kernel at `point` and compares it with the interpreter (see the file comment). */
export function compareWithInterpreter(
  program: DerivativeProgram,
  kernels: CompiledKernels,
  point: EvalPoint,
  options: CompareOptions = {},
): Comparison {
  const tolerance = options.tolerance ?? F64_TOLERANCE;
  const layout = kernels.layout;
  const n = point.n;
  const P = layout.paramCount;
  const K = layout.outputSize;
  const params = layout.params.map((s) => s.name);
  const grads = params.map((p) => nth(program.grad, p));
  const hvps = params.map((p) => nth(program.hvp, p));

  const w = pack(layout.params, point.params, P);
  const dw = pack(layout.params, point.direction, P);
  const other =
    options.otherDirection ??
    Object.fromEntries(
      Object.entries(point.direction).map(([k, t]) => [k, { shape: t.shape, data: t.data.map((v) => -0.5 * v) }]),
    );
  const dw2 = pack(layout.params, other, P);
  kernels.setFixed(pack(layout.fixed, point.fixed, layout.fixedCount));
  const x = layout.inputs.map((slot) => packExamples(nth(point.inputs, slot.name), slot.size));
  const c = packExamples(point.cotangent, K);
  const yTensors = options.y ?? point.cotangent;
  const y = packExamples(yTensors, K);
  const bindings = (
    cotangent: Float64Array,
    direction: Readonly<Record<string, Tensor>> = point.direction,
  ): Bindings => ({
    n,
    params: point.params,
    fixed: point.fixed,
    inputs: point.inputs,
    tangents: direction,
    cotangent: Array.from({ length: n }, (_, j) =>
      tensor(program.model.outputShape, cotangent.subarray(j * K, (j + 1) * K)),
    ),
  });

  let entries = 0;
  let worst = 0;
  const failures: string[] = [];
  const compare = (
    quantity: string,
    actual: ArrayLike<number>,
    expected: ArrayLike<number>,
    scale: number,
    label: (i: number) => string,
  ) => {
    if (actual.length !== expected.length) {
      failures.push(`${quantity}: ${actual.length} entries, expected ${expected.length}`);
      return;
    }
    for (let i = 0; i < expected.length; i++) {
      entries++;
      const a = nth(actual, i);
      const e = nth(expected, i);
      const measure = a === e ? 0 : Math.abs(a - e) / Math.max(Math.abs(e), tolerance.floor * scale, 1e-300);
      worst = Math.max(worst, Number.isNaN(measure) ? Infinity : measure);
      if (!withinTolerance(a, e, scale, tolerance) && failures.length < 12)
        failures.push(`${quantity}[${label(i)}]: compiled ${a}, interpreter ${e} (scale ${scale.toExponential(2)})`);
    }
  };
  const exampleLabel = (i: number) => (K === 1 ? `example ${i}` : `example ${Math.floor(i / K)}, entry ${i % K}`);
  const paramLabel = (i: number) => {
    const slot = present(layout.params.find((s) => i >= s.offset && i < s.offset + s.size));
    return `${slot.name}, entry ${i - slot.offset}`;
  };
  const perExampleOut = () => new Float64Array(n * K).fill(Number.NaN);
  const perParamOut = () => new Float64Array(P).fill(Number.NaN);

  // f, jvp, quad, f_lin, f_quad, the gradient and the hvp at the point's cotangent.
  const base = bindings(c);
  const roots = [program.f, program.jvp, program.quad, program.fLin, program.fQuad];
  const reference = interpret([...roots, ...grads, ...hvps], base);
  const expectedOf = (i: number) => flatPerExample(nth(reference, i), n);
  const run = (name: string, call: (out: Float64Array) => void, i: number) => {
    const out = perExampleOut();
    call(out);
    compare(name, out, expectedOf(i), largestValue([nth(roots, i)], base), exampleLabel);
  };
  run("f", (out) => kernels.f(w, x, n, out), 0);
  run("jvp", (out) => kernels.jvp(w, dw, x, n, out), 1);
  run("quad", (out) => kernels.quad(w, dw, x, n, out), 2);
  run("fLin", (out) => kernels.fLin(w, dw, x, n, out), 3);
  run("fQuad", (out) => kernels.fQuad(w, dw, x, n, out), 4);
  const gradAt = (values: readonly Value[], offset: number) =>
    flatPerParam(values.slice(offset, offset + params.length), layout.params, P);
  {
    const out = perParamOut();
    kernels.vjp(w, x, c, n, out);
    compare("vjp", out, gradAt(reference, roots.length), largestValue(grads, base), paramLabel);
  }
  {
    const out = perParamOut();
    kernels.hvp(w, dw, x, c, n, out);
    compare("hvp", out, gradAt(reference, roots.length + params.length), largestValue(hvps, base), paramLabel);
  }

  // Losses: ½·scale·Σ(v − y)² and its gradient, whose cotangent is the scaled residual.
  const fValues = expectedOf(0);
  const lossOf = (values: Float64Array, mean: boolean) => {
    const s = mean ? 1 / n : 1;
    let loss = 0;
    let absolute = 0;
    const residual = new Float64Array(n * K);
    for (let q = 0; q < n * K; q++) {
      const r = nth(values, q) - nth(y, q);
      loss += r * r;
      absolute += nth(values, q) * nth(values, q) + nth(y, q) * nth(y, q);
      residual[q] = r * s;
    }
    return { loss: 0.5 * s * loss, scale: 0.5 * s * absolute, residual };
  };
  const checkLoss = (name: string, loss: number, expected: ReturnType<typeof lossOf>) =>
    compare(`${name} loss`, [loss], [expected.loss], expected.scale, () => "");
  for (const mean of options.means ?? [false, true]) {
    const tag = mean ? "mean" : "sum";
    const expected = lossOf(fValues, mean);
    const grad = perParamOut();
    const loss = kernels.lossAndGrad(w, x, y, n, grad, mean);
    checkLoss(`lossAndGrad(${tag})`, loss, expected);
    const at = bindings(expected.residual);
    compare(`lossAndGrad(${tag}) grad`, grad, gradAt(interpret(grads, at), 0), largestValue(grads, at), paramLabel);
    compare(
      `lossAndGrad(${tag}) outputs`,
      kernels.outputs.subarray(0, n * K),
      fValues,
      largestValue([program.f], base),
      exampleLabel,
    );
  }

  // The staged steps: prepare once at w0 = the point's params, then two displacements each.
  kernels.prepare(w, x, n);
  for (const [d, direction, which] of [
    [dw, point.direction, "Δ"],
    [dw2, other, "Δ′"],
  ] as const) {
    const at = bindings(c, direction);
    const models = interpret([program.fLin, program.fQuad], at);
    for (const mean of options.means ?? [false, true]) {
      const tag = `${mean ? "mean" : "sum"}, ${which}`;
      // f_lin: gradient in Δ is J(w0)ᵀ r.
      const lin = lossOf(flatPerExample(nth(models, 0), n), mean);
      const gradLin = perParamOut();
      checkLoss(`lossAndGradLin(${tag})`, kernels.lossAndGradLin(d, y, gradLin, mean), lin);
      compare(
        `lossAndGradLin(${tag}) outputs`,
        kernels.outputs.subarray(0, n * K),
        flatPerExample(nth(models, 0), n),
        largestValue([program.fLin], at),
        exampleLabel,
      );
      const linAt = bindings(lin.residual, direction);
      compare(
        `lossAndGradLin(${tag}) grad`,
        gradLin,
        gradAt(interpret(grads, linAt), 0),
        largestValue(grads, linAt),
        paramLabel,
      );
      // f_quad: gradient in Δ is J(w0)ᵀ r + H(w0)[r] Δ.
      const quad = lossOf(flatPerExample(nth(models, 1), n), mean);
      const gradQuad = perParamOut();
      checkLoss(`lossAndGradQuad(${tag})`, kernels.lossAndGradQuad(d, y, gradQuad, mean), quad);
      compare(
        `lossAndGradQuad(${tag}) outputs`,
        kernels.outputs.subarray(0, n * K),
        flatPerExample(nth(models, 1), n),
        largestValue([program.fQuad], at),
        exampleLabel,
      );
      const quadAt = bindings(quad.residual, direction);
      const both = interpret([...grads, ...hvps], quadAt);
      const g = gradAt(both, 0);
      const h = gradAt(both, params.length);
      // The sum of two interpreter values: its scale includes both terms.
      compare(
        `lossAndGradQuad(${tag}) grad`,
        gradQuad,
        g.map((v, i) => v + nth(h, i)),
        largestValue([...grads, ...hvps], quadAt),
        paramLabel,
      );
    }
  }

  // ntkMatVec: J (Jᵀ v) with v = the cotangent.
  {
    const jtv = gradAt(interpret(grads, base), 0);
    const direction = Object.fromEntries(
      layout.params.map((s) => [s.name, tensor(s.shape, jtv.subarray(s.offset, s.offset + s.size))]),
    );
    const at = bindings(c, direction);
    const out = perExampleOut();
    kernels.ntkMatVec(w, x, n, c, out);
    compare(
      "ntkMatVec",
      out,
      flatPerExample(nth(interpret([program.jvp], at), 0), n),
      Math.max(largestValue([program.jvp], at), largestValue(grads, base)),
      exampleLabel,
    );
  }

  // jacobianRows: row r is the gradient for the unit cotangent e_r.
  if (!options.skipJacobian) {
    const out = new Float64Array(n * K * P).fill(Number.NaN);
    kernels.jacobianRows(w, x, n, out);
    const expected = new Float64Array(n * K * P);
    let scale = 0;
    for (let row = 0; row < n * K; row++) {
      const unit = new Float64Array(n * K);
      unit[row] = 1;
      const at = bindings(unit);
      expected.set(gradAt(interpret(grads, at), 0), row * P);
      scale = Math.max(scale, largestValue(grads, at));
    }
    compare("jacobianRows", out, expected, scale, (i) => `row ${Math.floor(i / P)}, ${paramLabel(i % P)}`);
  }
  return { entries, worst, failures };
}

/** Asserts nested number arrays equal within 1e-12 relative (exactly equal shapes). */
export function assertNestedClose(actual: unknown, expected: unknown, path = "$"): void {
  if (typeof expected === "number") {
    assert.equal(typeof actual, "number", `${path}: ${JSON.stringify(actual)}`);
    const a = actual as number;
    assert.ok(
      a === expected || Math.abs(a - expected) <= 1e-12 * Math.max(Math.abs(expected), 1e-300),
      `${path}: ${a} vs ${expected}`,
    );
    return;
  }
  if (Array.isArray(expected)) {
    assert.ok(
      Array.isArray(actual) && actual.length === expected.length,
      `${path}: ${JSON.stringify(actual)} vs ${JSON.stringify(expected)}`,
    );
    expected.forEach((e, i) => assertNestedClose((actual as Nested[])[i], e, `${path}[${i}]`));
    return;
  }
  assert.ok(typeof expected === "object" && expected !== null);
  assert.ok(
    typeof actual === "object" && actual !== null && !Array.isArray(actual),
    `${path}: ${JSON.stringify(actual)}`,
  );
  assert.deepEqual(Object.keys(actual as object).sort(), Object.keys(expected as object).sort(), path);
  for (const key of Object.keys(expected as object)) {
    assertNestedClose(
      (actual as Record<string, unknown>)[key],
      (expected as Record<string, unknown>)[key],
      `${path}.${key}`,
    );
  }
}
