/**
 * The derivative properties of issue 3 on generated programs (spec/support/models.ts) at random
 * points (spec/support/points.ts):
 *   1. the gradient equals central finite differences of f;
 *   2. adjointness: c·(JΔ) = (Jᵀc)·Δ;
 *   3. the hvp equals the central finite difference of the gradient;
 *   4. symmetry: uᵀ(Hv) = vᵀ(Hu);
 *   5. Taylor remainders: |f(w0+tΔ) − f_lin| ~ t² and |f(w0+tΔ) − f_quad| ~ t³.
 * (Property 6, the simplifier, is in spec/simplify.) Each runs on smooth programs and, with
 * relu, abs and leaky_relu added, on piecewise-smooth programs at points away from the kinks.
 *
 * Throughout, "the gradient" is that of L(w) = Σ_j ⟨c_j, f(w; x_j)⟩ (c = the cotangent), which is
 * what the program's `grad` computes; for a scalar output it is Σ_j c_j ∇f_j.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import type { DerivativeProgram } from "../../compiler/diff/programs.ts";
import type { Tensor } from "../../compiler/ir/tensor.ts";
import { propertyRuns } from "../support/runs.ts";
import {
  caseArbitrary,
  kinkArguments,
  largestIntermediate,
  kinkMargin,
  kinkPattern,
  programOf,
  type Case,
} from "../support/cases.ts";
import {
  absDotMaps,
  basisDirection,
  bindingsOf,
  contract,
  describeCase,
  dotMaps,
  evaluatePerExample,
  evaluateShared,
  maxAbs,
  moved,
  scaled,
  type TensorMap,
} from "../support/points.ts";
import { nth, present } from "../support/entries.ts";

// ---------------------------------------------------------------- tolerances
//
// Central differences. D(h) = (L(w+he) − L(w−he)) / 2h = L'(w)·e + (h²/6) L''' + O(h⁴) + ρ/h,
// where ρ is the rounding error of evaluating L (a few hundred ulps of the magnitude S of the
// values involved, so ρ/h ≲ 1e-13·S/h). h = 1e-5 balances the two error terms for third
// derivatives of moderate size: (h²/6)·|L'''| = 1.7e-11·|L'''| and ρ/h ≲ 1e-8·S.
//
// The generated programs compose up to a dozen ops, so |L'''| has no useful a-priori bound
// (sin of a degree-6 polynomial, say). Rather than a fixed tolerance that some programs'
// curvature would exceed, the truncation error is estimated from the same data by Richardson:
// D(2h) − D(h) = 3·(h²/6)·L''' + O(h⁴), so the truncation error of D(h) is |D(2h) − D(h)| / 3.
// The check is
//     |exact − D(h)| ≤ 2·|D(2h) − D(h)| + 1e-8·S,
// i.e. six times the estimated truncation error plus the rounding bound. A wrong derivative
// rule gives an error of the order of the derivative itself, which exceeds this by orders of
// magnitude except where the finite difference cannot resolve the derivative at all; the
// tests also report (and bound, below) how often the truncation term is what made a check pass.
const H = 1e-5;
const TRUNCATION_SAFETY = 2;
const ROUNDING = 1e-8;
// Symbolic identities (adjointness, symmetry) hold to rounding only. Each side is a dot product
// Σ aᵢbᵢ of computed values; a computed value carries an error of at most K·ε·M, where M is the
// largest intermediate value in its graph (cancellation can leave a result far smaller than
// its intermediates: the forward side may compute a − a as 1e-35 where the simplifier folded
// the reverse side to an exact 0). So the error of Σ aᵢbᵢ is at most
// ε·(K·Σ|aᵢbᵢ| + K·M_a·Σ|bᵢ|) with b the exactly known vector (c, Δ, u or v). With K ≤ 4.5·10⁵
// (the graphs have at most a few hundred nodes, each adding a few ulps) that is
// IDENTITY_RTOL = 1e-10 times (Σ|aᵢbᵢ| + M_a·Σ|bᵢ|); a wrong rule gives an error of the order of
// the terms themselves. The absolute floor only matters when everything is 0.
const IDENTITY_RTOL = 1e-10;
const IDENTITY_ATOL = 1e-200;
/** The largest intermediate value of f at a point the tests accept (see prepare). */
const MODERATE = 1e3;

/** What made each finite-difference check pass, for the report. */
interface FdStats {
  checks: number;
  /** Checks whose error exceeded the rounding bound alone (the truncation estimate was needed). */
  neededTruncation: number;
  /** Cases with at least one such check. */
  casesNeedingTruncation: Set<number>;
  cases: Set<number>;
  /** The largest error / tolerance seen. */
  worst: number;
}
const newStats = (): FdStats => ({
  checks: 0,
  neededTruncation: 0,
  casesNeedingTruncation: new Set(),
  cases: new Set(),
  worst: 0,
});

const caseIds = new WeakMap<Case, number>();
let nextCaseId = 0;
const caseId = (c: Case): number => {
  let id = caseIds.get(c);
  if (id === undefined) {
    id = nextCaseId++;
    caseIds.set(c, id);
  }
  return id;
};

function fdCheck(stats: FdStats, c: Case, what: string, exact: number, dh: number, d2h: number, scale: number): void {
  const error = Math.abs(exact - dh);
  const rounding = ROUNDING * scale;
  const tolerance = TRUNCATION_SAFETY * Math.abs(d2h - dh) + rounding;
  const key = caseId(c);
  stats.checks++;
  stats.cases.add(key);
  if (error > rounding) {
    stats.neededTruncation++;
    stats.casesNeedingTruncation.add(key);
  }
  stats.worst = Math.max(stats.worst, error / tolerance);
  if (!(error <= tolerance)) {
    assert.fail(
      `${what}: exact ${exact}, central difference ${dh} (2h: ${d2h}), error ${error} > tolerance ${tolerance}\n${describeCase(c.model.source, c.point)}`,
    );
  }
}

function report(t: TestContext, stats: FdStats): void {
  const cases = stats.cases.size;
  const needing = stats.casesNeedingTruncation.size;
  t.diagnostic(
    `${stats.checks} finite-difference checks in ${cases} cases; worst error/tolerance ${stats.worst.toExponential(2)}; ${stats.neededTruncation} checks in ${needing} cases needed the truncation estimate`,
  );
  // The truncation estimate must stay the exception, or the check would be vacuous: for most
  // generated programs every check passes on the rounding bound alone (in runs of 1000 cases,
  // under 1% of cases have curvature large enough to need it).
  assert.ok(needing <= 0.1 * cases, `${needing} of ${cases} cases needed the truncation estimate`);
}

// ---------------------------------------------------------------- helpers

interface Prepared {
  readonly program: DerivativeProgram;
  readonly names: readonly string[];
  /** The kink arguments (empty for smooth programs) and their sign pattern at the point. */
  readonly kinks: ReturnType<typeof kinkArguments>;
  readonly pattern: string;
}

/**
 * Derives the programs of a case. Rejects points where some intermediate value of f exceeds
 * MODERATE in magnitude (sin(10⁴·w) oscillates on the scale of the finite-difference steps: no
 * finite difference resolves it) and, for kink models, points within 1e-3 of a kink.
 */
function prepare(c: Case, kinked: boolean): Prepared {
  const program = programOf(c);
  const kinks = kinked ? kinkArguments([program.f]) : [];
  const bindings = bindingsOf(c.point);
  fc.pre(largestIntermediate([program.f], bindings) <= MODERATE);
  if (kinked) fc.pre(kinkMargin(kinks, bindings) > 1e-3);
  return { program, names: c.model.checked.params.map((p) => p.name), kinks, pattern: kinkPattern(kinks, bindings) };
}

/** L(w) = Σ_j ⟨c_j, f(w; x_j)⟩ with its rounding scale; null when w lies on another smooth piece than the point. */
function objective(c: Case, p: Prepared, params: TensorMap): { value: number; scale: number } | null {
  const bindings = bindingsOf(c.point, params);
  if (p.kinks.length > 0 && kinkPattern(p.kinks, bindings) !== p.pattern) return null;
  return contract(c.point.cotangent, nth(evaluatePerExample([p.program.f], bindings), 0));
}

function gradients(
  c: Case,
  p: Prepared,
  params: TensorMap = c.point.params,
  direction: TensorMap = c.point.direction,
): TensorMap {
  const values = evaluateShared(
    p.names.map((n) => nth(p.program.grad, n)),
    bindingsOf(c.point, params, direction),
  );
  return Object.fromEntries(p.names.map((n, i) => [n, nth(values, i)]));
}

function hvps(c: Case, p: Prepared, direction: TensorMap): TensorMap {
  const values = evaluateShared(
    p.names.map((n) => nth(p.program.hvp, n)),
    bindingsOf(c.point, c.point.params, direction),
  );
  return Object.fromEntries(p.names.map((n, i) => [n, nth(values, i)]));
}

const flat = (m: TensorMap): Float64Array[] => Object.values(m).map((t) => t.data);

// ---------------------------------------------------------------- 1. gradient vs finite differences

function checkGradient(c: Case, kinked: boolean, stats: FdStats): void {
  const p = prepare(c, kinked);
  const grad = gradients(c, p);
  const base = present(objective(c, p, c.point.params));
  const scale = 1 + base.scale + maxAbs(...flat(grad));
  for (const name of p.names) {
    for (let i = 0; i < nth(grad, name).data.length; i++) {
      const e = basisDirection(c.point.params, name, i);
      const values = [H, -H, 2 * H, -2 * H].map((s) => objective(c, p, moved(c.point.params, e, s)));
      if (values.some((v) => v === null)) continue; // a kink within 2h: no finite difference
      const [plus, minus, plus2, minus2] = values.map((v) => present(v).value) as [number, number, number, number];
      fdCheck(
        stats,
        c,
        `∂L/∂${name}[${i}]`,
        nth(nth(grad, name).data, i),
        (plus - minus) / (2 * H),
        (plus2 - minus2) / (4 * H),
        scale,
      );
    }
  }
}

// ---------------------------------------------------------------- 2. adjointness

function checkAdjointness(c: Case, kinked: boolean): void {
  const p = prepare(c, kinked);
  const bindings = bindingsOf(c.point);
  const jvp = contract(c.point.cotangent, nth(evaluatePerExample([p.program.jvp], bindings), 0));
  const grad = gradients(c, p);
  const reverse = dotMaps(grad, c.point.direction);
  const cNorm = c.point.cotangent.reduce((s, t) => s + absSum([t]), 0);
  const rounding =
    jvp.scale +
    absDotMaps(grad, c.point.direction) +
    largestIntermediate([p.program.jvp], bindings) * cNorm +
    largestIntermediate(Object.values(p.program.grad), bindings) * absSum(Object.values(c.point.direction));
  const tolerance = IDENTITY_RTOL * rounding + IDENTITY_ATOL;
  assert.ok(
    Math.abs(jvp.value - reverse) <= tolerance,
    `c·(JΔ) = ${jvp.value} but (Jᵀc)·Δ = ${reverse}\n${describeCase(c.model.source, c.point)}`,
  );
}

// ---------------------------------------------------------------- 3. hvp vs finite differences of the gradient

function checkHvp(c: Case, kinked: boolean, stats: FdStats): void {
  const p = prepare(c, kinked);
  const hvp = hvps(c, p, c.point.direction);
  const steps = [H, -H, 2 * H, -2 * H];
  if (steps.some((s) => objective(c, p, moved(c.point.params, c.point.direction, s)) === null)) return;
  const [plus, minus, plus2, minus2] = steps.map((s) =>
    gradients(c, p, moved(c.point.params, c.point.direction, s)),
  ) as [TensorMap, TensorMap, TensorMap, TensorMap];
  const grad = gradients(c, p);
  const scale = 1 + maxAbs(...flat(grad)) + maxAbs(...flat(hvp));
  for (const name of p.names) {
    for (let i = 0; i < nth(hvp, name).data.length; i++) {
      const dh = (nth(nth(plus, name).data, i) - nth(nth(minus, name).data, i)) / (2 * H);
      const d2h = (nth(nth(plus2, name).data, i) - nth(nth(minus2, name).data, i)) / (4 * H);
      fdCheck(stats, c, `(HΔ)[${name}][${i}]`, nth(nth(hvp, name).data, i), dh, d2h, scale);
    }
  }
}

// ---------------------------------------------------------------- 4. symmetry of the Hessian

function checkSymmetry(c: Case, kinked: boolean): void {
  const p = prepare(c, kinked);
  const u = c.point.direction;
  const v = c.point.other;
  const hv = hvps(c, p, v);
  const hu = hvps(c, p, u);
  const left = dotMaps(u, hv);
  const right = dotMaps(v, hu);
  const largestHvp = (direction: TensorMap) =>
    largestIntermediate(Object.values(p.program.hvp), bindingsOf(c.point, c.point.params, direction));
  const rounding =
    absDotMaps(u, hv) +
    absDotMaps(v, hu) +
    largestHvp(v) * absSum(Object.values(u)) +
    largestHvp(u) * absSum(Object.values(v));
  const tolerance = IDENTITY_RTOL * rounding + IDENTITY_ATOL;
  assert.ok(
    Math.abs(left - right) <= tolerance,
    `uᵀ(Hv) = ${left} but vᵀ(Hu) = ${right}\n${describeCase(c.model.source, c.point)}`,
  );
}

// ---------------------------------------------------------------- 5. Taylor remainders

// The remainders e_lin(t) = f(w0+tΔ) − f_lin and e_quad(t) = f(w0+tΔ) − f_quad are a·t² + O(t³)
// and b·t³ + O(t⁴) (summed in absolute value over examples and outputs: r(t)). A wrong JΔ would
// leave an O(t) term in e_lin, a wrong ΔᵀHΔ an O(t²) term in e_quad.
//
// t = 2^-4 … 2^-14. The slope of log r against log t is fitted by least squares over the four
// smallest usable t (the most asymptotic ones). A t is usable when r(t) > NOISE·S with
// S = Σ(1 + |f| + |JΔ| + |ΔᵀHΔ|) over examples and outputs: f(w0+tΔ) and f_quad are computed to
// ~100 ulps of S, so above 1e-12·S (~4500 ulps) rounding moves log2 r by < 0.03. The fitted
// slope must be ≥ order − 0.5: it may be larger (a zero leading coefficient, e.g. f exactly
// quadratic along Δ), and the wrong lower-order term of a bug makes it order − 1; the
// threshold is the midpoint. Where the leading coefficient nearly cancels (b = Σᵢ… of terms of
// both signs), the resolvable t are pre-asymptotic and the next term of opposite sign can pull
// the local slope arbitrarily low; that is a property of the direction, not of the program, so
// each case tries three directions (Δ, the second direction, and their sum) and passes when one
// of them shows the order: a wrong rule breaks the order along every generic direction. With
// fewer than three usable t along a direction, its remainder is at rounding level for
// t ≤ 2^-6 or so (f_lin or f_quad exact along it): nothing to fit.
const TAYLOR_TS = Array.from({ length: 11 }, (_, i) => 2 ** -(i + 4));
const NOISE = 1e-12;
const SLOPE_SLACK = 0.5;

interface TaylorStats {
  cases: number;
  /** Cases with a fitted slope, per order. */
  fitted: [number, number];
  /** The smallest best-of-three slope, per order. */
  minSlope: [number, number];
  /** Directions whose own slope was below the threshold (rescued by another direction). */
  preAsymptotic: number;
}

function slope(points: readonly { t: number; r: number }[]): number {
  const xs = points.map((p) => Math.log2(p.t));
  const ys = points.map((p) => Math.log2(p.r));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let num = 0;
  let den = 0;
  xs.forEach((x, i) => {
    num += (x - mx) * (nth(ys, i) - my);
    den += (x - mx) ** 2;
  });
  return num / den;
}

const absSum = (values: readonly Tensor[]) =>
  values.reduce((s, t) => s + t.data.reduce((a, v) => a + Math.abs(v), 0), 0);

/** The fitted slopes of the f_lin and f_quad remainders along `direction` (null: nothing to fit), with the data for messages. */
function taylorSlopes(
  c: Case,
  p: Prepared,
  direction: TensorMap,
): { slopes: [number | null, number | null]; data: string } {
  const { program } = p;
  const [f0, jvp0, quad0] = evaluatePerExample(
    [program.f, program.jvp, program.quad],
    bindingsOf(c.point, c.point.params, direction),
  );
  const components = present(f0).reduce((s, t) => s + t.data.length, 0);
  const scale = components + absSum(present(f0)) + absSum(present(jvp0)) + absSum(present(quad0));
  const remainders: { t: number; r: [number, number] }[] = [];
  for (const t of TAYLOR_TS) {
    const displaced = moved(c.point.params, direction, t);
    if (p.kinks.length > 0 && kinkPattern(p.kinks, bindingsOf(c.point, displaced)) !== p.pattern) continue; // another smooth piece
    const [exact] = evaluatePerExample([program.f], bindingsOf(c.point, displaced));
    const [lin, quad] = evaluatePerExample(
      [program.fLin, program.fQuad],
      bindingsOf(c.point, c.point.params, scaled(direction, t)),
    );
    const r = (model: Tensor[]) =>
      present(exact).reduce(
        (s, e, j) => s + e.data.reduce((a, v, i) => a + Math.abs(v - nth(nth(model, j).data, i)), 0),
        0,
      );
    remainders.push({ t, r: [r(present(lin)), r(present(quad))] });
  }
  const slopes = ([0, 1] as const).map((k) => {
    const usable = remainders.filter((x) => x.r[k] > NOISE * scale).map((x) => ({ t: x.t, r: x.r[k] }));
    return usable.length < 3 ? null : slope(usable.slice(-4));
  }) as [number | null, number | null];
  return { slopes, data: `S = ${scale}, (t, r_lin, r_quad): ${JSON.stringify(remainders.map((x) => [x.t, ...x.r]))}` };
}

function checkTaylor(c: Case, kinked: boolean, stats: TaylorStats): void {
  const p = prepare(c, kinked);
  const sum = Object.fromEntries(
    Object.entries(c.point.direction).map(([n, d]) => [
      n,
      { shape: d.shape, data: d.data.map((v, i) => v + nth(nth(c.point.other, n).data, i)) },
    ]),
  );
  const along = [c.point.direction, c.point.other, sum].map((direction) => taylorSlopes(c, p, direction));
  stats.cases++;
  for (const k of [0, 1] as const) {
    const order = k + 2;
    const slopes = along.map((a) => a.slopes[k]).filter((x): x is number => x !== null);
    if (slopes.length === 0) continue; // exact to rounding along every direction
    const best = slopes.reduce((a, b) => Math.max(a, b), -Infinity);
    stats.fitted[k]++;
    stats.minSlope[k] = Math.min(stats.minSlope[k], best);
    stats.preAsymptotic += slopes.filter((x) => x < order - SLOPE_SLACK).length;
    assert.ok(
      best >= order - SLOPE_SLACK,
      `the remainder of ${k === 0 ? "f_lin" : "f_quad"} shrinks like t^${best.toFixed(3)} at best, expected t^${order}:\n${along.map((a) => a.data).join("\n")}\n${describeCase(c.model.source, c.point)}`,
    );
  }
}

// ---------------------------------------------------------------- the tests

const RUNS = propertyRuns(200);
const KINK_RUNS = propertyRuns(100);
const smooth = caseArbitrary();
const kinked = caseArbitrary({ kinks: true });

for (const [label, arbitrary, runs, isKinked] of [
  ["smooth programs", smooth, RUNS, false],
  ["programs with relu, abs, leaky_relu away from kinks", kinked, KINK_RUNS, true],
] as const) {
  test(`1. the gradient equals central finite differences (${label})`, (t) => {
    const stats = newStats();
    fc.assert(
      fc.property(arbitrary, (c) => checkGradient(c, isKinked, stats)),
      { numRuns: runs, includeErrorInReport: true },
    );
    report(t, stats);
  });

  test(`2. adjointness c·(JΔ) = (Jᵀc)·Δ (${label})`, () => {
    fc.assert(
      fc.property(arbitrary, (c) => checkAdjointness(c, isKinked)),
      { numRuns: runs, includeErrorInReport: true },
    );
  });

  test(`3. the hvp equals the finite difference of the gradient (${label})`, (t) => {
    const stats = newStats();
    fc.assert(
      fc.property(arbitrary, (c) => checkHvp(c, isKinked, stats)),
      { numRuns: runs, includeErrorInReport: true },
    );
    report(t, stats);
  });

  test(`4. symmetry uᵀ(Hv) = vᵀ(Hu) (${label})`, () => {
    fc.assert(
      fc.property(arbitrary, (c) => checkSymmetry(c, isKinked)),
      { numRuns: runs, includeErrorInReport: true },
    );
  });

  test(`5. Taylor remainders shrink like t² (f_lin) and t³ (f_quad) (${label})`, (t) => {
    const stats: TaylorStats = { cases: 0, fitted: [0, 0], minSlope: [Infinity, Infinity], preAsymptotic: 0 };
    fc.assert(
      fc.property(arbitrary, (c) => checkTaylor(c, isKinked, stats)),
      { numRuns: runs, includeErrorInReport: true },
    );
    t.diagnostic(
      `${stats.cases} cases; slopes fitted ${stats.fitted.join(" / ")} times, smallest ${stats.minSlope.map((s) => s.toFixed(3)).join(" / ")} (f_lin / f_quad); ${stats.preAsymptotic} pre-asymptotic directions`,
    );
    // Most generated programs are not exactly quadratic along Δ: the fits must not all be skipped.
    assert.ok(stats.fitted[1] >= 0.5 * stats.cases);
  });
}
