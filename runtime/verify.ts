/**
 * `nqm verify`: property-based checks of a model's compiled kernels against the bounded reference
 * (runtime/verify-reference.ts) and against finite differences: the gradient, adjointness of jvp
 * and vjp, the hvp and its symmetry, the Taylor slopes of f_lin (2) and f_quad (3), and every
 * kernel against the interpreter. Every comparison is held to a bound computed from the
 * arithmetic of the case itself (docs/verify.md derives each one), never to a fixed constant.
 *
 * The kernels under test are any CompiledKernels; the cases are drawn once by fast-check and each
 * case's point and reference are shared by all properties; a failing property is re-checked
 * from its first failing case by fast-check, which shrinks it.
 */
import fc from "fast-check";
import type { CompiledKernels } from "../compiler/codegen/api.ts";
import type { Slot } from "../compiler/codegen/layout.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import type { DerivativeProgram } from "../compiler/diff/programs.ts";
import type { Node } from "../compiler/ir/node.ts";
import type { Tensor } from "../compiler/ir/tensor.ts";
import { initializeFlat } from "./init.ts";
import { dot, plusScaled, subtract, sumAbsProduct } from "./linalg/index.ts";
import { defined } from "../foundation/defined.ts";
import { Rng } from "./rng.ts";
import {
  type BatchLeaves,
  type BatchReference,
  evaluateBatch,
  hasKinks,
  type KinkPattern,
  UNIT_ROUNDOFF as u,
} from "./verify-reference.ts";

/** verifyModel's options (exported as part of the verification API). */
export interface VerifyOptions {
  readonly runs: number;
  readonly seed: number;
  /** The largest number of examples in a generated case (≤ the kernels' maxBatch). */
  readonly maxExamples?: number;
  /** Check exactly these cases instead of drawing `runs` (to reproduce a reported one). */
  readonly cases?: readonly Case[];
  /** Called after each case, for a progress line. */
  readonly onCase?: (done: number, total: number) => void;
}

/** The names of the properties, in the order they are checked and reported. */
export const PROPERTY_NAMES = [
  "gradient vs finite differences",
  "adjointness c·(JΔ) = (Jᵀc)·Δ",
  "hvp vs finite differences of jvp",
  "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)",
  "Taylor remainder of f_lin ~ t²",
  "Taylor remainder of f_quad ~ t³",
  "compiled vs interpreter",
] as const;

/** One checked case of a property: its inputs, the two values compared and the bound they were held to. */
export interface CaseReport {
  readonly seed: number;
  /** The number of examples. */
  readonly n: number;
  /** Which entry was worst, e.g. `hvp u[3, 1]` or `f example 2` (empty for a whole-case scalar). */
  readonly where: string;
  readonly left: number;
  readonly right: number;
  /** The largest |left − right| allowed (for slopes: the lowest slope allowed). */
  readonly bound: number;
  /** How much of its allowance the case used: above 1 fails. */
  readonly ratio: number;
  /** The comparison in words. */
  readonly detail: string;
  /** Taylor properties: the fitted slope and the range of relative displacements ‖tΔ‖/‖w‖ it was fitted over. */
  readonly slope?: number;
  readonly range?: readonly [number, number];
}

type PropertyStatus = "passed" | "failed" | "error";

export interface PropertyOutcome {
  readonly property: string;
  readonly status: PropertyStatus;
  readonly passed: boolean;
  /** Cases checked (an internal error in a case does not count). */
  readonly cases: number;
  /** Cases whose point was moved away from a kink (or a singularity) because rounding decided a side there. */
  readonly moved: number;
  /** Of those, cases still at a kink after MAX_MOVES draws (an argument exactly at it for every draw, say): checked on the piece held there. */
  readonly atKink: number;
  /** The case that used most of its allowance. */
  readonly worst?: CaseReport;
  /** For a failed property: the failing case shrunk by fast-check. */
  readonly counterexample?: CaseReport;
  /** For an internal error: its message (the property is then neither passed nor failed). */
  readonly error?: string;
  /** Time spent in this property's checks (the shared point and reference of each case not counted). */
  readonly seconds: number;
}

/** A case: the seed of its point and its number of examples. */
export interface Case {
  readonly seed: number;
  readonly n: number;
}

type Measurement = Omit<CaseReport, "seed" | "n">;

/**
 * First-order rounding bounds neglect terms of order (k·u)² and take library functions at 2 ulps;
 * every rounding bound is doubled for that.
 */
const SAFETY = 2;
/** A Taylor remainder counts only when it is this many times above its rounding floor (then rounding moves a log-log slope by < 0.07). */
const FLOOR_MARGIN = 10;
/**
 * Finite differences take the rounding bound of the reference at w ± sΔ from the one at w, with
 * this margin: magnitudes are continuous in w, and s ≤ 1/64 of the function's scale.
 */
const PERTURBED = 1.25;
/**
 * The Taylor floors decide only which points a slope is fitted over, and there the worst case
 * k·u·M (γ_L grows as L) would push the fit up to large t for long sums: they use the probable
 * rounding λ·√k·u·M instead (Higham and Mary, "A new approach to probabilistic rounding error
 * analysis", 2019: for independent rounding errors it holds with probability ≥ 1 − 2·exp(−λ²/2)),
 * with λ = 8 (≥ 1 − 3·10⁻¹⁴). The pass/fail bounds of the other properties stay worst case.
 */
const PROBABLE_LAMBDA = 8;
const probableRounding = (magnitude: number, roundings: number): number =>
  PROBABLE_LAMBDA * Math.sqrt(roundings) * u * magnitude;

/** Attempts to move a point off a kink before checking it where it is. */
const MAX_MOVES = 4;
/** Finite-difference steps: s₀, s₀/4, …, s₀/4⁷ with s₀ a displacement 1/32 the size of w, down to 2·10⁻⁶ of it (near u^⅓, the best step of a central difference of a function of unit scale). */
const FD_STEPS = 8;

/** Σ |a_i|·k·u·M_i: the rounding of a·(computed x) from x's bound k·u·M. */
const weightedBound = (a: Float64Array, magnitude: Float64Array, roundings: number): number =>
  sumAbsProduct(a, magnitude) * roundings * u;

/** |difference| / bound, 0 for equal values even at a zero bound, Infinity for NaN. */
const ratioOf = (difference: number, bound: number): number => {
  if (difference === 0) return 0;
  const ratio = difference / bound;
  return Number.isNaN(ratio) ? Infinity : ratio;
};

/** Root `index` of a batch reference: its values, their magnitudes M and its rounding count k. */
const rootValue = (ref: BatchReference, index = 0): Float64Array => defined(ref.values[index], "a reference root");
const rootMagnitude = (ref: BatchReference, index: number): Float64Array =>
  defined(ref.magnitudes[index], "a reference root's magnitudes");
const rootRoundings = (ref: BatchReference, index: number): number =>
  defined(ref.roundings[index], "a reference root's rounding count");

/** Σ |a_i|·k·u·M_i for root `index` of `ref`. */
const rootBound = (a: Float64Array, ref: BatchReference, index: number): number =>
  weightedBound(a, rootMagnitude(ref, index), rootRoundings(ref, index));

/**
 * c·(a − b) for two evaluations a, b of a per-example output at w ± sΔ, and its rounding: each
 * side's (`bound`, already weighted by |c|), then the n·K terms of the dot product.
 */
const cotangentDifference = (c: Float64Array, a: Float64Array, b: Float64Array, bound: number) => {
  const difference = subtract(a, b);
  return { value: dot(c, difference), rounding: 2 * bound + (c.length + 1) * u * sumAbsProduct(c, difference) };
};

/** A whole-case comparison of `left` and `right` against `bound`, described by `detail(|left − right|)`. */
const measured = (
  { left, right, bound }: { readonly left: number; readonly right: number; readonly bound: number },
  detail: (difference: number) => string,
): Measurement => {
  const difference = Math.abs(left - right);
  return { where: "", left, right, bound, ratio: ratioOf(difference, bound), detail: detail(difference) };
};

/**
 * Two dot products that must agree, a·b and a′·b′. Each side's rounding: its kernel's (k·u·M of
 * the kernel output among its factors, weighted by the other factor: `kernelBound`) and its dot
 * product's own, length·u·Σ|aᵢbᵢ|.
 */
const dotsAgree = (
  [a, b, kernelBound]: readonly [Float64Array, Float64Array, number],
  [a2, b2, kernelBound2]: readonly [Float64Array, Float64Array, number],
  detail: (left: number, right: number, difference: number, bound: number) => string,
): Measurement => {
  const left = dot(a, b);
  const right = dot(a2, b2);
  const bound =
    SAFETY * (kernelBound + a.length * u * sumAbsProduct(a, b) + kernelBound2 + a2.length * u * sumAbsProduct(a2, b2));
  return measured({ left, right, bound }, (difference) => detail(left, right, difference, bound));
};

const rms = (a: Float64Array): number => Math.sqrt(dot(a, a) / Math.max(1, a.length));

/** Least-squares slope of log y against log t over the points (t, y). */
function logLogSlope(points: readonly { readonly t: number; readonly y: number }[]): number {
  const logs = points.map((p) => ({ x: Math.log(p.t), y: Math.log(p.y) }));
  const mx = logs.reduce((a, p) => a + p.x, 0) / logs.length;
  const my = logs.reduce((a, p) => a + p.y, 0) / logs.length;
  let num = 0;
  let den = 0;
  for (const p of logs) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return num / den;
}

/** `w + t·d`, rounded, and the displacement actually applied, (w + t·d) − w. */
function displaced(w: Float64Array, t: number, d: Float64Array): { point: Float64Array; applied: Float64Array } {
  const point = plusScaled(w, t, d);
  return { point, applied: subtract(point, w) };
}

/** `name[i, j]` for the flat index `index` of a tensor of `shape`. */
function entryName(name: string, shape: readonly number[], index: number): string {
  if (shape.length === 0) return name;
  const indices: number[] = [];
  let rest = index;
  for (const size of [...shape].reverse()) {
    indices.unshift(rest % size);
    rest = Math.floor(rest / size);
  }
  return `${name}[${indices.join(", ")}]`;
}

const g = (x: number) => x.toPrecision(6);
const e = (x: number) => x.toExponential(2);

/** The generated point of a case: params near initialization, inputs, a direction Δ, a second direction u, a cotangent. */
interface Point {
  readonly n: number;
  readonly w: Float64Array;
  readonly dw: Float64Array;
  readonly u: Float64Array;
  readonly x: Float64Array[];
  readonly c: Float64Array;
  readonly fixed: Float64Array;
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
  const params = layout.params.map((slot) => slot.name);
  const gradRoots = params.map((name) => defined(program.grad[name], `grad[${name}]`));
  const hvpRoots = params.map((name) => defined(program.hvp[name], `hvp[${name}]`));
  // The base reference: every kernel's formula at (w, Δ), in this order.
  const BASE = { f: 0, jvp: 1, quad: 2, fLin: 3, fQuad: 4, grad: 5, hvp: 5 + params.length } as const;
  const kinked = hasKinks([program.f]);
  // The roots the kernels write per example, [n, outputSize].
  const perExample = new Set<Node>([program.f, program.jvp, program.quad, program.fLin, program.fQuad]);
  const baseRoots: Node[] = [
    program.f,
    program.jvp,
    program.quad,
    program.fLin,
    program.fQuad,
    ...gradRoots,
    ...hvpRoots,
  ];

  const tensorsOf = (slots: readonly Slot[], flat: Float64Array): Record<string, Tensor> =>
    Object.fromEntries(
      slots.map((s) => [s.name, { shape: s.shape, data: flat.subarray(s.offset, s.offset + s.size) } satisfies Tensor]),
    );
  const leavesOf = (p: Point, w: Float64Array, tangent: Float64Array): BatchLeaves => ({
    n: p.n,
    params: tensorsOf(layout.params, w),
    fixed: tensorsOf(layout.fixed, p.fixed),
    tangents: tensorsOf(layout.params, tangent),
    inputs: layout.inputs.map((slot, q) => ({
      name: slot.name,
      shape: slot.shape,
      data: defined(p.x[q], `input ${slot.name}`),
    })),
    outputShape: model.outputShape,
    cotangent: p.c,
  });

  const pointOf = (c: Case, attempt: number): Point => {
    // A moved point is a fresh draw from a seed derived from the case's.
    const seed = attempt === 0 ? c.seed : (c.seed ^ Math.imul(attempt, 0x9e3779b9)) >>> 1;
    const { w, fixed } = initializeFlat(model, layout, seed);
    const rng = new Rng(seed ^ 0x5bd1e995);
    const normal = (length: number) => {
      const out = new Float64Array(length);
      for (let i = 0; i < length; i++) out[i] = rng.normal();
      return out;
    };
    const dw = normal(P);
    // u = ±Δ entrywise with random signs: a second direction whose entries have Δ's magnitudes,
    // so that Hu shares HΔ's rounding bound.
    const u = dw.map((v) => (rng.normal() < 0 ? -v : v));
    return {
      n: c.n,
      w,
      dw,
      u,
      x: layout.inputs.map((slot) => normal(c.n * slot.size)),
      c: normal(c.n * K),
      fixed,
    };
  };

  /** Everything the properties share about one case, computed on first use. */
  class Context {
    readonly point: Point;
    readonly base: BatchReference;
    readonly moved: boolean;
    readonly atKink: boolean;
    private cache = new Map<string, unknown>();

    constructor(readonly spec: Case) {
      let attempt = 0;
      let point = pointOf(spec, 0);
      let base = evaluateBatch(baseRoots, leavesOf(point, point.w, point.dw), undefined, true, perExample);
      while ((base.nearKinks > 0 || base.singular > 0) && attempt < MAX_MOVES) {
        attempt++;
        point = pointOf(spec, attempt);
        base = evaluateBatch(baseRoots, leavesOf(point, point.w, point.dw), undefined, true, perExample);
      }
      this.point = point;
      this.base = base;
      this.moved = attempt > 0;
      this.atKink = base.nearKinks > 0 || base.singular > 0;
      kernels.setFixed(point.fixed);
    }

    private memo<T>(key: string, compute: () => T): T {
      if (!this.cache.has(key)) this.cache.set(key, compute());
      return this.cache.get(key) as T;
    }

    get patterns(): KinkPattern[] {
      return this.base.patterns;
    }

    /** Kernel vjp at w with the case's cotangent. */
    get grad(): Float64Array {
      return this.memo("grad", () => {
        const out = new Float64Array(P);
        kernels.vjp(this.point.w, this.point.x, this.point.c, this.point.n, out);
        return out;
      });
    }

    /** Kernel jvp at w along Δ. */
    get jvp(): Float64Array {
      return this.memo("jvp", () => {
        const out = new Float64Array(this.point.n * K);
        kernels.jvp(this.point.w, this.point.dw, this.point.x, this.point.n, out);
        return out;
      });
    }

    /**
     * f on the smooth piece at a point near w, for finite differences: the kernel where no kink
     * argument has changed side since w (always, for a model without kinks), else the reference.
     */
    fAt(w: Float64Array): Float64Array {
      if (!kinked) return this.outputs("f", w, this.point.dw);
      return rootValue(this.reference([program.f], w, undefined, false));
    }

    /** Kernel hvp at w along Δ. */
    get hvpAlongDelta(): Float64Array {
      return this.memo("hvp", () => this.hvp(this.point.dw));
    }

    /** Kernel hvp at w along u. */
    get hvpAlongU(): Float64Array {
      return this.memo("hvpU", () => this.hvp(this.point.u));
    }

    /** Kernel hvp at w along `direction`. */
    hvp(direction: Float64Array): Float64Array {
      const out = new Float64Array(P);
      kernels.hvp(this.point.w, direction, this.point.x, this.point.c, this.point.n, out);
      return out;
    }

    /** A per-example kernel at (w, dw). */
    outputs(kernel: "f" | "jvp" | "quad" | "fLin" | "fQuad", w: Float64Array, dw: Float64Array): Float64Array {
      const out = new Float64Array(this.point.n * K);
      if (kernel === "f") kernels.f(w, this.point.x, this.point.n, out);
      else kernels[kernel](w, dw, this.point.x, this.point.n, out);
      return out;
    }

    /** The reference of `roots` at `w` on the smooth piece of the case's point. */
    reference(roots: readonly Node[], w: Float64Array, tangent?: Float64Array, withMagnitudes = true): BatchReference {
      return evaluateBatch(
        roots,
        leavesOf(this.point, w, tangent ?? this.point.dw),
        this.patterns,
        withMagnitudes,
        perExample,
      );
    }

    /** The t at which tΔ is as large as w (RMS): the scale of every step along Δ. */
    get scales(): { unit: number } {
      return this.memo("scales", () => {
        const size = rms(this.point.w);
        return { unit: (size > 0 ? size : 1) / rms(this.point.dw) };
      });
    }
  }

  // ------------------------------------------------------------------ properties

  /**
   * A central difference D(s) = (φ(w + s·Δ) − φ(w − s·Δ)) / 2s of a smooth φ has truncation error
   * a·s² + O(s⁴) and rounding error R(s) ≤ (E₊ + E₋)/2s. Over s = s₀·4⁻ⁱ the truncation at sᵢ is
   * estimated from both neighbours, (Dᵢ₋₁ − Dᵢ)/15 and 16(Dᵢ − Dᵢ₊₁)/15, doubled; the step with the
   * smallest total bound is the one compared. The exact side is taken along the displacement
   * actually applied, (w₊ − w₋)/2s, so the rounding of w ± sΔ does not count against it.
   */
  const finiteDifference = (
    ctx: Context,
    difference: (plus: Float64Array, minus: Float64Array) => { value: number; rounding: number },
    exactRounding: number,
    exact: (applied: Float64Array) => { value: number; rounding: number },
  ): { left: number; right: number; bound: number; step: number } => {
    const { w, dw } = ctx.point;
    const s0 = ctx.scales.unit / 32;
    const steps: { s: number; d: number; rounding: number }[] = [];
    for (let i = 0; i < FD_STEPS; i++) {
      const s = s0 / 4 ** i;
      const diff = difference(displaced(w, s, dw).point, displaced(w, -s, dw).point);
      steps.push({ s, d: diff.value / (2 * s), rounding: diff.rounding / (2 * s) });
    }
    let best = { index: 1, bound: Infinity };
    steps.forEach((here, i) => {
      const [before, after] = [steps[i - 1], steps[i + 1]];
      if (before === undefined || after === undefined) return;
      const truncation = 2 * Math.max(Math.abs(before.d - here.d) / 15, (16 * Math.abs(here.d - after.d)) / 15);
      const bound = truncation + SAFETY * (here.rounding + exactRounding);
      if (!(bound >= best.bound)) best = { index: i, bound };
    });
    const chosen = defined(steps[best.index], "the chosen step");
    const plus = displaced(w, chosen.s, dw).point;
    const minus = displaced(w, -chosen.s, dw).point;
    const applied = subtract(plus, minus).map((v) => v / (2 * chosen.s));
    const { value, rounding } = exact(applied);
    return { left: value, right: chosen.d, bound: best.bound + SAFETY * rounding, step: chosen.s };
  };

  const relativeStep = (ctx: Context, s: number) => (s * rms(ctx.point.dw)) / Math.max(rms(ctx.point.w), 1e-300);

  const gradientCheck = (ctx: Context): Measurement => {
    const { c } = ctx.point;
    const base = ctx.base;
    const f = (w: Float64Array) => ctx.fAt(w);
    const fBound = PERTURBED * rootBound(c, base, BASE.f);
    const grad = ctx.grad;
    const result = finiteDifference(
      ctx,
      (plus, minus) => cotangentDifference(c, f(plus), f(minus), fBound),
      P * u * sumAbsProduct(grad, ctx.point.dw) + paramBound(ctx.point.dw, base, BASE.grad),
      (applied) => ({ value: dot(grad, applied), rounding: 0 }),
    );
    return measured(
      result,
      (difference) =>
        `directional derivative (Jᵀc)·Δ = ${g(result.left)} vs finite difference ${g(result.right)} at step ${e(relativeStep(ctx, result.step))} of ‖w‖: |difference| ${e(difference)}, bound ${e(result.bound)}`,
    );
  };

  /** Σ_p |a_p|·k·u·M_p over the params of a per-param reference result starting at `first`. */
  const paramBound = (a: Float64Array, ref: BatchReference, first: number) => {
    let total = 0;
    layout.params.forEach((slot, gi) => {
      total += rootBound(a.subarray(slot.offset, slot.offset + slot.size), ref, first + gi);
    });
    return total;
  };

  const adjointnessCheck = (ctx: Context): Measurement => {
    const { c, dw } = ctx.point;
    return dotsAgree(
      [c, ctx.jvp, rootBound(c, ctx.base, BASE.jvp)],
      [ctx.grad, dw, paramBound(dw, ctx.base, BASE.grad)],
      (left, right, difference, bound) =>
        `c·(JΔ) = ${g(left)}, (Jᵀc)·Δ = ${g(right)}: |difference| ${e(difference)}, bound ${e(bound)}`,
    );
  };

  const hvpCheck = (ctx: Context): Measurement => {
    const { u: direction, dw } = ctx.point;
    const { c } = ctx.point;
    // d/ds c·J(w + sΔ)u = Σⱼ cⱼ uᵀHⱼΔ: central differences of the reference jvp along u, on the
    // smooth piece, whose bound involves n·K outputs rather than P gradient entries. Since
    // |u| = |Δ| entrywise, the jvp along u has Δ's magnitudes.
    const jvpAt = (w: Float64Array) => rootValue(ctx.reference([program.jvp], w, direction, false));
    const jvpBound = PERTURBED * rootBound(c, ctx.base, BASE.jvp);
    const result = finiteDifference(
      ctx,
      (plus, minus) => cotangentDifference(c, jvpAt(plus), jvpAt(minus), jvpBound),
      paramBound(direction, ctx.base, BASE.hvp) + P * u * sumAbsProduct(direction, ctx.hvpAlongDelta),
      (applied) => {
        // uᵀH(applied) = uᵀHΔ + (Hu)ᵀ(applied − Δ) for a symmetric H: the rounding of w ± sΔ
        // moves the exact side by at most Σ|Hu|ᵢ|appliedᵢ − Δᵢ|.
        const drift = sumAbsProduct(ctx.hvpAlongU, subtract(applied, dw));
        return { value: dot(direction, ctx.hvpAlongDelta), rounding: drift };
      },
    );
    return measured(
      result,
      (difference) =>
        `uᵀHΔ = ${g(result.left)} vs finite difference of c·J(w ± sΔ)u ${g(result.right)} at step ${e(relativeStep(ctx, result.step))} of ‖w‖: |difference| ${e(difference)}, bound ${e(result.bound)}`,
    );
  };

  const symmetryCheck = (ctx: Context): Measurement => {
    const { u: direction, dw } = ctx.point;
    return dotsAgree(
      [direction, ctx.hvpAlongDelta, paramBound(direction, ctx.base, BASE.hvp)],
      // |u| = |Δ| entrywise, so Hu has the same magnitudes as HΔ.
      [dw, ctx.hvpAlongU, paramBound(dw, ctx.base, BASE.hvp)],
      (left, right, difference, bound) =>
        `uᵀ(HΔ) = ${g(left)}, Δᵀ(Hu) = ${g(right)}: |difference| ${e(difference)}, bound ${e(bound)}`,
    );
  };

  /**
   * The remainder r(t) = Σ |f(w + tΔ) − model(w, tΔ)| of a model of order p − 1 is a·tᵖ for small t,
   * until rounding takes over. A grid by 4× from where r would reach FLOOR_MARGIN times its rounding
   * floor (predicted from a displacement a quarter the size of w) goes down while r is above the
   * floor, then up to the lowest three consecutive points above it; the slope is fitted over
   * those (16×). A correct model gives p (up to O(t), and < 0.07 from rounding); one wrong at order
   * p − 1 gives p − 1; the pass line p − ½ lies between.
   */
  const taylorCheck =
    (kernel: "fLin" | "fQuad", order: number) =>
    (ctx: Context): Measurement => {
      const { w, dw } = ctx.point;
      const base = ctx.base;
      const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
      // Σ over outputs of the probable rounding of f(w), of JΔ (scaled by t) and of ΔᵀHΔ (by t²).
      const rounding = (ref: BatchReference, index: number) =>
        probableRounding(sum(rootMagnitude(ref, index)), rootRoundings(ref, index));
      const fBound = rounding(base, BASE.f);
      const jvpBound = rounding(base, BASE.jvp);
      const quadBound = rounding(base, BASE.quad);
      const sample = (t: number) => {
        const { point, applied } = displaced(w, t, dw);
        const ref = ctx.reference([program.f], point);
        const model = ctx.outputs(kernel, w, applied);
        const remainder = subtract(rootValue(ref), model).reduce((total, v) => total + Math.abs(v), 0);
        const at = Math.abs(t);
        // The model's rounding from the base point's bounds (jvp is linear in Δ, ΔᵀHΔ quadratic), plus f's at w + tΔ.
        const floor =
          SAFETY * (rounding(ref, 0) + fBound + at * jvpBound + (kernel === "fQuad" ? 0.5 * at * at * quadBound : 0));
        return { t, remainder, floor };
      };
      // A zero remainder is exact, never "above" a zero floor (a ReLU net whose units are all
      // off at the point: f and its models are all 0 on the piece held there).
      const above = (s: { remainder: number; floor: number }) =>
        s.remainder > 0 && s.remainder >= FLOOR_MARGIN * s.floor;
      const unit = ctx.scales.unit;
      const top = unit / 4;
      /** A pass without a fitted slope: the remainder is at rounding level. */
      const noSlope = (detail: string, range: [number, number]): Measurement => ({
        where: "",
        left: order,
        right: order,
        bound: order - 0.5,
        ratio: 0,
        detail,
        range,
      });
      const first = sample(top);
      if (!above(first)) {
        // At rounding level for a displacement a quarter the size of w: exact at this order (f_quad of a quadratic).
        return noSlope(`remainder at rounding level up to ‖tΔ‖/‖w‖ = ${e(top / unit)}: exact at this order`, [
          top / unit,
          top / unit,
        ]);
      }
      // A grid t_k = base·4^k from 4× above where r would reach the floor if it fell as tᵖ from the
      // top; down while above the floor, then up to the lowest three consecutive points above it.
      const predicted = top * ((FLOOR_MARGIN * first.floor) / first.remainder) ** (1 / order);
      const origin = Math.min(4 * predicted, top / 16);
      const grid = new Map<number, ReturnType<typeof sample>>();
      const at = (k: number) => {
        let point = grid.get(k);
        if (point === undefined) {
          point = sample(origin * 4 ** k);
          grid.set(k, point);
        }
        return point;
      };
      let low = 0;
      while (above(at(low)) && low > -8) low--;
      let fitted: ReturnType<typeof sample>[] = [];
      for (let k = low + 1; origin * 4 ** k < top; k++) {
        const window = [at(k), ...(origin * 4 ** (k + 2) < top ? [at(k + 1), at(k + 2)] : [])];
        if (window.length === 3 && window.every(above)) {
          fitted = window;
          break;
        }
      }
      if (fitted.length === 0) {
        // r is within 4ᵖ·FLOOR_MARGIN of its floor at the top: add displacements as large as w and 4w.
        const wider = [first, sample(4 * top), sample(16 * top)];
        fitted = [...[...grid.values()].filter(above).sort((a, b) => a.t - b.t), ...wider.filter(above)].slice(0, 3);
      }
      if (fitted.length < 2)
        return noSlope(
          `remainder above its rounding floor at fewer than two of ‖tΔ‖/‖w‖ ≤ ${e((16 * top) / unit)}: no slope measurable`,
          [fitted[0]?.t ?? top / unit, (16 * top) / unit],
        );
      // Over 16× rounding moves the slope least; over the lowest 4× the next order of t (which can
      // cancel the leading one where ΔᵀHΔ is small) moves it least: either estimate near p passes.
      const slopeOver = (points: readonly { t: number; remainder: number }[]) =>
        logLogSlope(points.map((s) => ({ t: s.t, y: s.remainder })));
      if (fitted.length === 3 && slopeOver(fitted.slice(0, 2)) > slopeOver(fitted)) fitted = fitted.slice(0, 2);
      const slope = slopeOver(fitted);
      const range: [number, number] = [
        defined(fitted[0], "a fitted point").t / unit,
        defined(fitted.at(-1), "a fitted point").t / unit,
      ];
      return {
        where: "",
        left: slope,
        right: order,
        bound: order - 0.5,
        ratio: Number.isNaN(slope) ? Infinity : Math.max(0, (order - slope) / 0.5),
        detail: `fitted slope ${slope.toFixed(2)}, expected ${order}, over ‖tΔ‖/‖w‖ ∈ [${e(range[0])}, ${e(range[1])}] (${fitted.length} points above the rounding floor)`,
        slope,
        range,
      };
    };

  const compiledCheck = (ctx: Context): Measurement => {
    const { w, dw } = ctx.point;
    const base = ctx.base;
    let worst: Measurement | undefined;
    const compare = (label: string, actual: Float64Array, index: number, name: (i: number) => string) => {
      const expected = rootValue(base, index);
      const magnitude = rootMagnitude(base, index);
      // Both sides are within k·u·M of the exact value.
      const scale = SAFETY * 2 * rootRoundings(base, index) * u;
      actual.forEach((left, i) => {
        const right = defined(expected[i], "an interpreter entry");
        const bound = scale * defined(magnitude[i], "an entry's magnitude");
        const difference = Math.abs(left - right);
        const ratio = ratioOf(difference, bound);
        if (worst === undefined || !(ratio <= worst.ratio)) {
          worst = {
            where: `${label} ${name(i)}`,
            left,
            right,
            bound,
            ratio: Number.isNaN(ratio) ? Infinity : ratio,
            detail: `${label} ${name(i)}: kernel ${left} vs interpreter ${right}, |difference| ${e(difference)}, bound ${e(bound)}`,
          };
        }
      });
    };
    const perExample = (i: number) => (K === 1 ? `example ${i}` : `example ${Math.floor(i / K)}, output ${i % K}`);
    compare("f", ctx.outputs("f", w, dw), BASE.f, perExample);
    compare("jvp", ctx.jvp, BASE.jvp, perExample);
    compare("quad", ctx.outputs("quad", w, dw), BASE.quad, perExample);
    compare("fLin", ctx.outputs("fLin", w, dw), BASE.fLin, perExample);
    compare("fQuad", ctx.outputs("fQuad", w, dw), BASE.fQuad, perExample);
    const grad = ctx.grad;
    const hv = ctx.hvpAlongDelta;
    layout.params.forEach((slot, gi) => {
      const name = (i: number) => entryName(slot.name, slot.shape, i);
      compare("grad", grad.subarray(slot.offset, slot.offset + slot.size), BASE.grad + gi, name);
      compare("hvp", hv.subarray(slot.offset, slot.offset + slot.size), BASE.hvp + gi, name);
    });
    return defined(worst, "a compared entry");
  };

  const checks: Record<(typeof PROPERTY_NAMES)[number], (ctx: Context) => Measurement> = {
    "gradient vs finite differences": gradientCheck,
    "adjointness c·(JΔ) = (Jᵀc)·Δ": adjointnessCheck,
    "hvp vs finite differences of jvp": hvpCheck,
    "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)": symmetryCheck,
    "Taylor remainder of f_lin ~ t²": taylorCheck("fLin", 2),
    "Taylor remainder of f_quad ~ t³": taylorCheck("fQuad", 3),
    "compiled vs interpreter": compiledCheck,
  };

  // ------------------------------------------------------------------ running

  const arbitrary = fc.record({
    seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    n: fc.integer({ min: 1, max: maxExamples }),
  });
  const cases: readonly Case[] = options.cases ?? fc.sample(arbitrary, { seed: options.seed, numRuns: options.runs });
  const report = (c: Case, m: Measurement): CaseReport => ({ seed: c.seed, n: c.n, ...m });
  const passes = (m: Measurement) => m.ratio <= 1;
  const message = (error: unknown) => (error instanceof Error ? error.message : String(error));

  const state = PROPERTY_NAMES.map((property) => ({
    property,
    cases: 0,
    worst: undefined as CaseReport | undefined,
    firstFailure: undefined as Case | undefined,
    error: undefined as string | undefined,
    seconds: 0,
  }));
  let moved = 0;
  let atKink = 0;
  cases.forEach((c, done) => {
    let ctx: Context;
    try {
      ctx = new Context(c);
    } catch (error) {
      for (const s of state) s.error ??= `case ${JSON.stringify(c)}: ${message(error)}`;
      options.onCase?.(done + 1, cases.length);
      return;
    }
    if (ctx.moved) moved++;
    if (ctx.atKink) atKink++;
    for (const s of state) {
      const property = s.property;
      const started = performance.now();
      try {
        const m = checks[property](ctx);
        s.seconds += (performance.now() - started) / 1000;
        s.cases++;
        if (s.worst === undefined || !(m.ratio <= s.worst.ratio)) s.worst = report(c, m);
        if (!passes(m)) s.firstFailure ??= c;
      } catch (error) {
        s.error ??= `case ${JSON.stringify(c)}: ${message(error)}`;
      }
    }
    options.onCase?.(done + 1, cases.length);
  });

  return state.map((s): PropertyOutcome => {
    const property = s.property;
    const common = {
      property,
      cases: s.cases,
      moved,
      atKink,
      seconds: s.seconds,
      ...(s.worst ? { worst: s.worst } : {}),
    };
    if (s.error !== undefined) return { ...common, status: "error", passed: false, error: s.error };
    if (s.firstFailure === undefined) return { ...common, status: "passed", passed: true };
    // Shrink from the first failing case; a case that throws is not a failure of the property.
    const check = checks[property];
    const shrunk = fc.check(
      fc.property(arbitrary, (c: Case) => {
        try {
          return passes(check(new Context(c)));
        } catch {
          return true;
        }
      }),
      { seed: options.seed, numRuns: 1, examples: [[s.firstFailure]] },
    );
    const failing = shrunk.counterexample?.[0] ?? s.firstFailure;
    try {
      return {
        ...common,
        status: "failed",
        passed: false,
        counterexample: report(failing, check(new Context(failing))),
      };
    } catch (error) {
      return { ...common, status: "error", passed: false, error: `case ${JSON.stringify(failing)}: ${message(error)}` };
    }
  });
}
