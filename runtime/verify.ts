/**
 * `nqm verify`: property-based checks of a user's model with fast-check, on its compiled
 * kernels: gradient vs finite differences, adjointness of jvp and vjp, hvp vs finite
 * differences of gradients, hvp symmetry, the Taylor slopes of f_lin (2) and f_quad (3), and
 * compiled vs interpreter. Each tolerance is stated with its reason beside the property.
 */
import fc from "fast-check";
import type { CompiledKernels } from "../compiler/codegen/api.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import type { DerivativeProgram } from "../compiler/diff/programs.ts";
import { interpret, type Value } from "../compiler/ir/interpret.ts";
import type { Tensor } from "../compiler/ir/tensor.ts";
import { initializeFlat } from "./init.ts";
import { dot } from "./linalg/index.ts";
import { Rng } from "./rng.ts";
import { type Node, topologicalOrder } from "../compiler/ir/node.ts";

export interface VerifyOptions {
  readonly runs: number;
  readonly seed: number;
  /** The largest number of examples in a generated case (≤ the kernels' maxBatch). */
  readonly maxExamples?: number;
}

export interface PropertyOutcome {
  readonly property: string;
  /** Cases that ran (skipped ones, e.g. across a ReLU kink, are not counted). */
  readonly cases: number;
  readonly skipped: number;
  /** The worst error or the flattest fitted slope, as text. */
  readonly worst: string;
  readonly passed: boolean;
  /** The shrunk failing case and what went wrong. */
  readonly counterexample?: string;
}

interface Case {
  readonly seed: number;
  readonly n: number;
}

/** One generated point: params near initialization, inputs, a direction, a cotangent. */
interface Point {
  readonly n: number;
  readonly w: Float64Array;
  readonly dw: Float64Array;
  readonly u: Float64Array;
  readonly x: Float64Array[];
  readonly c: Float64Array;
  readonly fixed: Float64Array;
}

const NON_SMOOTH = new Set(["relu", "step", "abs", "sign", "leaky_relu", "leaky_step"]);

function absDot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(a[i]! * b[i]!);
  return s;
}

function axpy(w: Float64Array, t: number, d: Float64Array): Float64Array {
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i]! + t * d[i]!;
  return out;
}

/** Least-squares slope of log y against log t. */
function logLogSlope(ts: readonly number[], ys: readonly number[]): number {
  const lx = ts.map(Math.log);
  const ly = ys.map(Math.log);
  const mx = lx.reduce((a, b) => a + b, 0) / lx.length;
  const my = ly.reduce((a, b) => a + b, 0) / ly.length;
  let num = 0;
  let den = 0;
  for (let i = 0; i < lx.length; i++) {
    num += (lx[i]! - mx) * (ly[i]! - my);
    den += (lx[i]! - mx) ** 2;
  }
  return num / den;
}

/** Runs every property on `kernels` (compiled from `program`); returns one outcome each. */
export function verifyModel(
  model: CheckedModel,
  program: DerivativeProgram,
  kernels: CompiledKernels,
  options: VerifyOptions,
): PropertyOutcome[] {
  const layout = kernels.layout;
  const P = layout.paramCount;
  const K = layout.outputSize;
  const maxExamples = Math.min(options.maxExamples ?? 4, kernels.maxBatch);
  const nonSmooth = topologicalOrder([program.f]).some((node) => NON_SMOOTH.has(node.op));

  const pointOf = ({ seed, n }: Case): Point => {
    const { w, fixed } = initializeFlat(model, layout, seed);
    const rng = new Rng(seed ^ 0x5bd1e995);
    kernels.setFixed(fixed);
    const normal = (length: number) => Float64Array.from({ length }, () => rng.normal());
    return {
      n,
      w,
      dw: normal(P),
      u: normal(P),
      x: layout.inputs.map((slot) => normal(n * slot.size)),
      c: normal(n * K),
      fixed,
    };
  };
  const values = (kernel: "f" | "fLin" | "fQuad", p: Point, w: Float64Array, dw?: Float64Array): Float64Array => {
    const out = new Float64Array(p.n * K);
    if (kernel === "f") kernels.f(w, p.x, p.n, out);
    else kernels[kernel](w, dw!, p.x, p.n, out);
    return out;
  };
  const grad = (p: Point, w: Float64Array): Float64Array => {
    const g = new Float64Array(P);
    kernels.vjp(w, p.x, p.c, p.n, g);
    return g;
  };
  const hvp = (p: Point, d: Float64Array): Float64Array => {
    const h = new Float64Array(P);
    kernels.hvp(p.w, d, p.x, p.c, p.n, h);
    return h;
  };
  // A finite-difference step relative to the size of w: central differences have truncation
  // error O(h²) and rounding error O(ε/h), balanced near h ≈ ε^(1/3) ≈ 6e-6 (relative).
  const step = (p: Point, d: Float64Array) =>
    (6e-6 * Math.max(1, Math.sqrt(dot(p.w, p.w) / P))) / Math.max(1e-300, Math.sqrt(dot(d, d) / P));

  const outcomes: PropertyOutcome[] = [];
  const run = (
    property: string,
    worstLabel: (worst: number) => string,
    better: "low" | "high",
    check: (p: Point) => { measure: number; ok: boolean; skip?: boolean; detail?: string },
  ) => {
    let worst = better === "low" ? 0 : Infinity;
    let cases = 0;
    let skipped = 0;
    let lastDetail = "";
    const arbitrary = fc.record({
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
      n: fc.integer({ min: 1, max: maxExamples }),
    });
    const details = fc.check(
      fc.property(arbitrary, (c: Case) => {
        const result = check(pointOf(c));
        if (result.skip) {
          skipped++;
          fc.pre(false);
        }
        cases++;
        if (Number.isFinite(result.measure))
          worst = better === "low" ? Math.max(worst, result.measure) : Math.min(worst, result.measure);
        lastDetail = result.detail ?? worstLabel(result.measure);
        return result.ok;
      }),
      { seed: options.seed, numRuns: options.runs, maxSkipsPerRun: 10 },
    );
    outcomes.push({
      property,
      cases,
      skipped,
      worst: worstLabel(worst),
      passed: !details.failed,
      ...(details.failed
        ? {
            counterexample: details.counterexample
              ? `${JSON.stringify(details.counterexample[0])}: ${lastDetail}`
              : `too many skipped cases (${skipped})`,
          }
        : {}),
    });
  };
  const relative = (e: number) => `rel. error ${e.toExponential(1)}`;

  run("gradient vs finite differences", relative, "low", (p) => {
    const g = grad(p, p.w);
    const h = step(p, p.dw);
    const fd = (s: number) =>
      (dot(p.c, values("f", p, axpy(p.w, s, p.dw))) - dot(p.c, values("f", p, axpy(p.w, -s, p.dw)))) / (2 * s);
    const [coarse, fine] = [fd(h), fd(h / 2)];
    const exact = dot(g, p.dw);
    const scale = absDot(g, p.dw) + 1e-300;
    // Across a ReLU kink the two difference quotients disagree: not a smooth point, skip it.
    if (nonSmooth && Math.abs(coarse - fine) > 1e-4 * scale) return { measure: 0, ok: true, skip: true };
    // Truncation ~h²‖f'''‖ and rounding ~ε·|f|/h at this h leave about 1e-7 relative.
    const error = Math.abs(fine - exact) / scale;
    return {
      measure: error,
      ok: error <= 1e-5,
      detail: `directional derivative ${exact} vs finite difference ${fine}`,
    };
  });

  run("adjointness c·(JΔ) = (Jᵀc)·Δ", relative, "low", (p) => {
    const jv = new Float64Array(p.n * K);
    kernels.jvp(p.w, p.dw, p.x, p.n, jv);
    const g = grad(p, p.w);
    const left = dot(p.c, jv);
    const right = dot(g, p.dw);
    // Both sides sum the same products in different orders: rounding only, ~P·ε relative to Σ|terms|.
    const error = Math.abs(left - right) / (absDot(p.c, jv) + absDot(g, p.dw) + 1e-300);
    return { measure: error, ok: error <= 1e-11, detail: `c·(JΔ) = ${left}, (Jᵀc)·Δ = ${right}` };
  });

  run("hvp vs finite differences of gradients", relative, "low", (p) => {
    const hv = hvp(p, p.dw);
    const h = step(p, p.dw);
    const fd = (s: number) => {
      const plus = grad(p, axpy(p.w, s, p.dw));
      const minus = grad(p, axpy(p.w, -s, p.dw));
      return dot(
        p.u,
        plus.map((v, i) => (v - minus[i]!) / (2 * s)),
      );
    };
    const [coarse, fine] = [fd(h), fd(h / 2)];
    const exact = dot(p.u, hv);
    const scale = absDot(p.u, hv) + absDot(p.u, grad(p, p.w)) * 1e-6 + 1e-300;
    if (nonSmooth && Math.abs(coarse - fine) > 1e-4 * scale) return { measure: 0, ok: true, skip: true };
    const error = Math.abs(fine - exact) / scale;
    return { measure: error, ok: error <= 1e-5, detail: `uᵀHΔ = ${exact} vs finite difference ${fine}` };
  });

  run("hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)", relative, "low", (p) => {
    const hv = hvp(p, p.dw);
    const hu = hvp(p, p.u);
    const left = dot(p.u, hv);
    const right = dot(p.dw, hu);
    // Exact symmetry up to rounding of two different summation orders.
    const error = Math.abs(left - right) / (absDot(p.u, hv) + absDot(p.dw, hu) + 1e-300);
    return { measure: error, ok: error <= 1e-11, detail: `uᵀ(HΔ) = ${left}, Δᵀ(Hu) = ${right}` };
  });

  const taylor = (kernel: "fLin" | "fQuad", order: number) => (p: Point) => {
    const base = Math.sqrt(dot(p.w, p.w) / P) / Math.max(1e-300, Math.sqrt(dot(p.dw, p.dw) / P));
    // A ReLU model is piecewise quadratic: shrink t until no kink lies within reach.
    for (let shrink = 1; shrink >= 1e-6; shrink /= 1000) {
      const ts = [2 ** -3, 2 ** -4, 2 ** -5, 2 ** -6, 2 ** -7].map((t) => t * base * shrink * 0.1);
      const remainders = ts.map((t) => {
        const d = p.dw.map((v) => v * t);
        const exact = values("f", p, axpy(p.w, t, p.dw));
        const model = values(kernel, p, p.w, d);
        let r = 0;
        let size = 0;
        for (let i = 0; i < exact.length; i++) {
          r += Math.abs(exact[i]! - model[i]!);
          size += Math.abs(exact[i]!);
        }
        return { r, floor: 1e-13 * (size + 1e-300) };
      });
      const above = remainders.filter((x) => x.r > 100 * x.floor);
      // A remainder at rounding level everywhere: the model is exact at this order (e.g. f_quad of a quadratic).
      if (above.length < 3) return { measure: Infinity, ok: true };
      const slope = logLogSlope(
        ts.filter((_, i) => remainders[i]!.r > 100 * remainders[i]!.floor),
        above.map((x) => x.r),
      );
      // Over t spanning 16×, an O(t^order) remainder fits a slope within ±0.3 of order unless
      // the next term dominates by design, which the smallest t values rule out.
      if (slope >= order - 0.3) return { measure: slope, ok: true };
      if (!nonSmooth)
        return { measure: slope, ok: false, detail: `fitted slope ${slope.toFixed(2)}, expected ${order}` };
    }
    return { measure: 0, ok: true, skip: true };
  };
  const slopeLabel = (s: number) => (Number.isFinite(s) ? `slope ${s.toFixed(2)}` : "exact");
  run("Taylor remainder of f_lin ~ t²", slopeLabel, "high", taylor("fLin", 2));
  run("Taylor remainder of f_quad ~ t³", slopeLabel, "high", taylor("fQuad", 3));

  run("compiled vs interpreter", relative, "low", (p) => {
    const tensor = (shape: readonly number[], data: Float64Array): Tensor => ({ shape, data });
    const slices = (slots: typeof layout.params, flat: Float64Array) =>
      Object.fromEntries(slots.map((s) => [s.name, tensor(s.shape, flat.slice(s.offset, s.offset + s.size))]));
    const params = layout.params.map((slot) => slot.name);
    const bindings = {
      n: p.n,
      params: slices(layout.params, p.w),
      tangents: slices(layout.params, p.dw),
      fixed: slices(layout.fixed, p.fixed),
      inputs: Object.fromEntries(
        layout.inputs.map((slot, q) => [
          slot.name,
          Array.from({ length: p.n }, (_, j) => tensor(slot.shape, p.x[q]!.slice(j * slot.size, (j + 1) * slot.size))),
        ]),
      ),
      cotangent: Array.from({ length: p.n }, (_, j) => tensor(model.outputShape, p.c.slice(j * K, (j + 1) * K))),
    };
    const roots: Node[] = [
      program.f,
      program.jvp,
      ...params.map((name) => program.grad[name]!),
      ...params.map((name) => program.hvp[name]!),
    ];
    const reference = interpret(roots, bindings);
    const flatten = (v: Value, perExample: boolean): number[] =>
      Array.isArray(v)
        ? (v as Tensor[]).flatMap((t) => Array.from(t.data))
        : perExample
          ? Array.from({ length: p.n }, () => Array.from((v as Tensor).data)).flat()
          : Array.from((v as Tensor).data);
    const expected = [
      ...flatten(reference[0]!, true),
      ...flatten(reference[1]!, true),
      ...reference.slice(2).flatMap((v) => flatten(v, false)),
    ];
    const fOut = values("f", p, p.w);
    const jOut = new Float64Array(p.n * K);
    kernels.jvp(p.w, p.dw, p.x, p.n, jOut);
    const g = grad(p, p.w);
    const h = hvp(p, p.dw);
    const actual = [...fOut, ...jOut, ...g, ...h];
    // The kernels evaluate the same formulas in the same summation order as the interpreter,
    // so they agree to rounding; an entry that is near zero by cancellation is measured
    // against 1e-6 of the largest magnitude instead of its own.
    const peak = Math.max(...expected.map(Math.abs), 1e-300);
    let worst = 0;
    for (let i = 0; i < actual.length; i++)
      worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!) / Math.max(Math.abs(expected[i]!), 1e-6 * peak));
    return { measure: worst, ok: worst <= 1e-12, detail: `largest relative difference ${worst.toExponential(2)}` };
  });
  return outcomes;
}
