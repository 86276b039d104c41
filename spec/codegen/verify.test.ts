/**
 * `nqm verify`'s properties (runtime/verify.ts) catch wrong kernels: each deliberate mistake in
 * a wrapped CompiledKernels makes exactly the properties that can see it fail, with the failing
 * case shrunk by fast-check and the values and bound it failed, while the correct kernels pass
 * them all; an exception is reported as an internal error, never as a failed property.
 */
import { after, before, test } from "node:test";
import fc from "fast-check";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CompiledKernels } from "../../compiler/codegen/api.ts";
import { compileModel } from "../../compiler/codegen/compile.ts";
import { type CheckedModel, parameterCount } from "../../compiler/check/typed.ts";
import { sizeOf } from "../../foundation/shape.ts";
import { type Node, topologicalOrder } from "../../compiler/ir/node.ts";
import { deriveModel, type DerivativeProgram } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { PROPERTY_NAMES, verifyModel, type PropertyOutcome } from "../../runtime/verify.ts";
import { propertyRuns } from "../support/runs.ts";
import { EXAMPLES_DIR } from "../support/examples.ts";
import { modelArbitrary } from "../support/models.ts";
import { nth, present } from "../support/entries.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-verify-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

const PROPERTIES = PROPERTY_NAMES;
type Property = (typeof PROPERTIES)[number];

let model: CheckedModel;
let program: DerivativeProgram;
let kernels: CompiledKernels;
before(async () => {
  // tanh: smooth, with a third derivative (so f_quad is not exact and every slope is measured).
  const source = readFileSync(join(EXAMPLES_DIR, "two_layer_tanh.nqm"), "utf8");
  model = loadModel(source, { set: { d: 2, m: 5 } }).model;
  program = deriveModel(model);
  kernels = (await compileModel(model, { source, maxBatch: 4, cacheDir: CACHE })).kernels;
});

const verify = (k: CompiledKernels, runs = 12): PropertyOutcome[] =>
  verifyModel(model, program, k, { runs: propertyRuns(runs), seed: 7 });

/** The properties that failed, after checking every outcome's form. */
function failed(outcomes: readonly PropertyOutcome[]): Property[] {
  assert.deepEqual(
    outcomes.map((o) => o.property),
    [...PROPERTIES],
  );
  for (const o of outcomes) {
    assert.notEqual(o.status, "error", `${o.property}: ${o.error}`);
    assert.ok(o.cases > 0, o.property);
    // The worst case names its inputs, both values and the bound it was held to.
    const worst = present(o.worst);
    assert.ok(Number.isInteger(worst.seed) && worst.n >= 1 && worst.n <= 4, o.property);
    assert.ok(Number.isFinite(worst.left) && Number.isFinite(worst.bound), `${o.property}: ${worst.detail}`);
    assert.match(worst.detail, /\S/);
    if (o.passed) assert.equal(o.counterexample, undefined, o.property);
    else {
      // A failure reports the shrunk failing case: it fails its bound.
      const c = present(o.counterexample);
      assert.ok(c.ratio > 1, `${o.property}: ${c.detail}`);
      assert.ok(c.n >= 1 && c.n <= 4);
    }
  }
  return outcomes.filter((o) => !o.passed).map((o) => o.property as Property);
}

/** The kernels with some methods replaced. */
const wrap = (over: Partial<CompiledKernels>): CompiledKernels => ({ ...kernels, ...over });

test("the correct kernels pass every property", () => {
  assert.deepEqual(failed(verify(kernels)), []);
});

test("a gradient off by a constant: gradient, adjointness and compiled-vs-interpreter fail", () => {
  const outcomes = verify(
    wrap({
      vjp(w, x, c, n, grad) {
        kernels.vjp(w, x, c, n, grad);
        grad[1] = nth(grad, 1) + 1e-3;
      },
    }),
  );
  // The hvp checks do not use the vjp kernel: they still pass.
  assert.deepEqual(failed(outcomes), [
    "gradient vs finite differences",
    "adjointness c·(JΔ) = (Jᵀc)·Δ",
    "compiled vs interpreter",
  ]);
  const gradient = present(outcomes.find((o) => o.property === "gradient vs finite differences"));
  assert.match(present(gradient.counterexample).detail, /directional derivative .* vs finite difference .* bound /);
  const compiled = present(outcomes.find((o) => o.property === "compiled vs interpreter"));
  // The entry that is off, named by param and index: u[0, 1] is flat entry 1 of u: [5, 2].
  assert.equal(present(compiled.counterexample).where, "grad u[0, 1]");
  assert.ok(Math.abs(present(compiled.counterexample).left - present(compiled.counterexample).right - 1e-3) < 1e-12);
});

test("an hvp scaled by 1.001: still symmetric, but finite differences and the interpreter disagree", () => {
  const outcomes = verify(
    wrap({
      hvp(w, dw, x, c, n, out) {
        kernels.hvp(w, dw, x, c, n, out);
        for (let i = 0; i < out.length; i++) out[i] = nth(out, i) * 1.001;
      },
    }),
  );
  assert.deepEqual(failed(outcomes), ["hvp vs finite differences of jvp", "compiled vs interpreter"]);
  assert.match(
    present(present(outcomes.find((o) => o.property === "compiled vs interpreter")).counterexample).where,
    /^hvp /,
  );
});

test("an hvp that is not symmetric: the symmetry check fails too", () => {
  const outcomes = verify(
    wrap({
      hvp(w, dw, x, c, n, out) {
        kernels.hvp(w, dw, x, c, n, out);
        // Adds a Δ-dependent, non-symmetric term: (HΔ)₀ += Δ₁.
        out[0] = nth(out, 0) + nth(dw, 1);
      },
    }),
  );
  assert.deepEqual(failed(outcomes), [
    "hvp vs finite differences of jvp",
    "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)",
    "compiled vs interpreter",
  ]);
  assert.match(
    present(present(outcomes.find((o) => o.property === "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)")).counterexample).detail,
    /uᵀ\(HΔ\) = .*, Δᵀ\(Hu\) = .*bound /,
  );
});

test("f_quad without its quadratic term: the f_quad Taylor slope measures 2, not 3", () => {
  const outcomes = verify(wrap({ fQuad: (w, dw, x, n, out) => kernels.fLin(w, dw, x, n, out) }));
  assert.deepEqual(failed(outcomes), ["Taylor remainder of f_quad ~ t³", "compiled vs interpreter"]);
  const taylor = present(
    present(outcomes.find((o) => o.property === "Taylor remainder of f_quad ~ t³")).counterexample,
  );
  assert.match(taylor.detail, /fitted slope 2\.\d\d, expected 3, over ‖tΔ‖\/‖w‖ ∈ \[\S+, \S+\]/);
  assert.ok(
    Math.abs(present(taylor.slope) - 2) < 0.1 && present(taylor.range)[0] < present(taylor.range)[1],
    taylor.detail,
  );
});

test("f_lin without its linear term: the f_lin Taylor slope measures 1", () => {
  const outcomes = verify(wrap({ fLin: (w, _dw, x, n, out) => kernels.f(w, x, n, out) }));
  assert.deepEqual(failed(outcomes), ["Taylor remainder of f_lin ~ t²", "compiled vs interpreter"]);
  const taylor = present(present(outcomes.find((o) => o.property === "Taylor remainder of f_lin ~ t²")).counterexample);
  assert.match(taylor.detail, /fitted slope 1\.\d\d, expected 2/);
});

test("a jvp with the wrong sign: adjointness and compiled-vs-interpreter fail", () => {
  const outcomes = verify(
    wrap({
      jvp(w, dw, x, n, out) {
        kernels.jvp(w, dw, x, n, out);
        for (let i = 0; i < n; i++) out[i] = -nth(out, i);
      },
    }),
  );
  assert.deepEqual(failed(outcomes), ["adjointness c·(JΔ) = (Jᵀc)·Δ", "compiled vs interpreter"]);
});

test("a quad kernel off by 1e-9 relative is caught by compiled vs interpreter alone", () => {
  const outcomes = verify(
    wrap({
      quad(w, dw, x, n, out) {
        kernels.quad(w, dw, x, n, out);
        for (let i = 0; i < n; i++) out[i] = nth(out, i) * (1 + 1e-9);
      },
    }),
  );
  assert.deepEqual(failed(outcomes), ["compiled vs interpreter"]);
  assert.match(present(present(outcomes.at(-1)).counterexample).where, /^quad example \d$/);
});

test("the counterexample is the failing case shrunk, not the last case run", () => {
  // f is wrong only for the second example: every case with n ≥ 2 fails, whatever its seed.
  const outcomes = verify(
    wrap({
      f(w, x, n, out) {
        kernels.f(w, x, n, out);
        if (n >= 2) out[1] = nth(out, 1) + 1;
      },
    }),
  );
  const compiled = present(outcomes.find((o) => o.property === "compiled vs interpreter"));
  assert.equal(compiled.status, "failed");
  assert.deepEqual(
    { seed: present(compiled.counterexample).seed, n: present(compiled.counterexample).n },
    { seed: 0, n: 2 },
  );
  assert.equal(present(compiled.counterexample).where, "f example 1");
});

test("an exception in a kernel is an internal error of the properties that call it, not a failure", () => {
  const outcomes = verify(
    wrap({
      hvp() {
        throw new RangeError("Maximum call stack size exceeded");
      },
    }),
    3,
  );
  const byStatus = (status: string) => outcomes.filter((o) => o.status === status).map((o) => o.property);
  assert.deepEqual(byStatus("error"), [
    "hvp vs finite differences of jvp",
    "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)",
    "compiled vs interpreter",
  ]);
  assert.deepEqual(byStatus("failed"), []);
  for (const o of outcomes.filter((o) => o.status === "error")) {
    assert.equal(o.passed, false);
    assert.match(present(o.error), /^case \{"seed":\d+,"n":\d\}: Maximum call stack size exceeded$/);
  }
});

test("a kink that rounding decides at every point: the points are moved, counted, and checked on the held piece", async () => {
  // ‖w‖ − √(w·w) is 0 up to rounding for every w, so relu's side is decided by rounding.
  const source = `model kinky {
  dim d = 3
  input x: [d]
  param w: [d] ~ normal(0, 1)
  output relu(norm(w) - sqrt(dot(w, w))) + tanh(dot(w, x))
}
`;
  const kinky = loadModel(source).model;
  const compiled = await compileModel(kinky, { source, maxBatch: 4, cacheDir: CACHE });
  const outcomes = verifyModel(kinky, deriveModel(kinky), compiled.kernels, { runs: 4, seed: 1 });
  for (const o of outcomes) {
    assert.equal(o.status, "passed", `${o.property}: ${o.counterexample?.detail ?? o.error}`);
    assert.equal(o.moved, 4);
    assert.equal(o.atKink, 4);
  }
  // Without the kink term no point moves.
  assert.deepEqual(
    verify(kernels, 4).map((o) => [o.moved, o.atKink]),
    PROPERTIES.map(() => [0, 0]),
  );
});

// ---------------------------------------------------------------- random models at realistic sizes

/** Widths to try, widest first: one wide dim (up to 4096), the others narrower. */
const SIZE_CANDIDATES: readonly Record<"d" | "k" | "j", number>[] = [4096, 1024, 512, 256].flatMap((wide) =>
  [128, 64, 32, 16, 8].flatMap((narrow) => [
    { d: wide, k: narrow, j: narrow },
    { d: narrow, k: wide, j: narrow },
    { d: narrow, k: narrow, j: wide },
    { d: wide, k: wide, j: narrow },
  ]),
);

/**
 * The reference's cost limits: by default intermediates up to 2.5·10⁵ entries and products up to
 * 4·10⁶ multiplications (a few seconds per model); with NQM_PROPERTY_RUNS above 1, 10⁶ and 3·10⁷.
 */
const THOROUGH = propertyRuns(1) > 1;
const LIMITS = THOROUGH ? { entries: 1e6, products: 3e7 } : { entries: 2.5e5, products: 4e6 };

/** The first size (from `offset`, cyclically) at which `source` has 10⁴–10⁶ params within LIMITS. */
function realisticSize(
  source: string,
  offset: number,
): { model: CheckedModel; set: Record<string, number> } | undefined {
  for (let i = 0; i < SIZE_CANDIDATES.length; i++) {
    const set = nth(SIZE_CANDIDATES, (offset + i) % SIZE_CANDIDATES.length);
    const { model } = loadModel(source, { set });
    const params = parameterCount(model);
    if (params < 1e4 || params > 1e6) continue;
    const program = deriveModel(model);
    const roots = [program.f, program.jvp, program.quad, ...Object.values(program.grad), ...Object.values(program.hvp)];
    const cheap = topologicalOrder(roots).every((node) => {
      if (sizeOf(node.shape) > LIMITS.entries) return false;
      if (node.op !== "matmul" && node.op !== "outer") return true;
      const [a, b] = node.inputs as [Node, Node];
      return sizeOf(a.shape) * (b.shape.length === 2 ? nth(b.shape, 1) : 1) <= LIMITS.products;
    });
    if (cheap) return { model, set };
  }
  return undefined;
}

test("random models at realistic sizes (10⁴–10⁶ params, widths up to 4096) pass every property", async (t) => {
  const arbitrary = fc.tuple(
    fc.oneof(
      { arbitrary: modelArbitrary({ maxDepth: 2 }), weight: 2 },
      { arbitrary: modelArbitrary({ maxDepth: 2, kinks: true }), weight: 1 },
    ),
    fc.nat(),
  );
  const checked: string[] = [];
  await fc.assert(
    fc.asyncProperty(arbitrary, async ([generated, offset]) => {
      const sized = realisticSize(generated.source, offset);
      fc.pre(sized !== undefined);
      const { model, set } = present(sized);
      const compiled = await compileModel(model, { source: generated.source, maxBatch: 4, cacheDir: CACHE });
      const outcomes = verifyModel(model, deriveModel(model), compiled.kernels, {
        runs: THOROUGH ? 3 : 1,
        seed: offset,
      });
      const label = `${JSON.stringify(set)}, ${parameterCount(model)} params`;
      checked.push(label);
      for (const o of outcomes)
        assert.equal(
          o.status,
          "passed",
          `${o.property} on ${label}: ${o.error ?? o.counterexample?.detail}\n${generated.source}`,
        );
    }),
    { numRuns: propertyRuns(2), seed: 11 },
  );
  t.diagnostic(`checked: ${checked.join("; ")}`);
});
