/**
 * `nqm verify`'s properties (runtime/verify.ts) catch wrong kernels: each deliberate mistake in
 * a wrapped CompiledKernels makes exactly the properties that can see it fail, with a shrunk
 * counterexample, while the correct kernels pass them all.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CompiledKernels } from "../../compiler/codegen/api.ts";
import { compileModel } from "../../compiler/codegen/compile.ts";
import type { CheckedModel } from "../../compiler/check/typed.ts";
import { deriveModel, type DerivativeProgram } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { verifyModel, type PropertyOutcome } from "../../runtime/verify.ts";
import { EXAMPLES_DIR } from "../support/examples.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-verify-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

const PROPERTIES = [
  "gradient vs finite differences",
  "adjointness c·(JΔ) = (Jᵀc)·Δ",
  "hvp vs finite differences of gradients",
  "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)",
  "Taylor remainder of f_lin ~ t²",
  "Taylor remainder of f_quad ~ t³",
  "compiled vs interpreter",
] as const;
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

const verify = (k: CompiledKernels): PropertyOutcome[] => verifyModel(model, program, k, { runs: 12, seed: 7 });

/** The properties that failed, after checking every outcome's form. */
function failed(outcomes: readonly PropertyOutcome[]): Property[] {
  assert.deepEqual(
    outcomes.map((o) => o.property),
    [...PROPERTIES],
  );
  for (const o of outcomes) {
    assert.ok(o.cases + o.skipped > 0, o.property);
    assert.equal(typeof o.worst, "string");
    if (o.passed) assert.equal(o.counterexample, undefined, o.property);
    // A failure names the shrunk case (its seed and number of examples) and what went wrong.
    else assert.match(o.counterexample ?? "", /^\{"seed":\d+,"n":[1-4]\}: \S/, `${o.property}: ${o.counterexample}`);
  }
  return outcomes.filter((o) => !o.passed).map((o) => o.property as Property);
}

/** The kernels with some methods replaced. */
const wrap = (
  over: Partial<Pick<CompiledKernels, "vjp" | "hvp" | "fLin" | "fQuad" | "f" | "jvp">>,
): CompiledKernels => ({ ...kernels, ...over });

test("the correct kernels pass every property", () => {
  assert.deepEqual(failed(verify(kernels)), []);
});

test("a gradient off by a constant: gradient, adjointness and compiled-vs-interpreter fail", () => {
  const outcomes = verify(
    wrap({
      vjp(w, x, c, n, grad) {
        kernels.vjp(w, x, c, n, grad);
        grad[1]! += 1e-3;
      },
    }),
  );
  // The finite differences of gradients are unchanged by a constant: the hvp checks still pass.
  assert.deepEqual(failed(outcomes), [
    "gradient vs finite differences",
    "adjointness c·(JΔ) = (Jᵀc)·Δ",
    "compiled vs interpreter",
  ]);
  const gradient = outcomes.find((o) => o.property === "gradient vs finite differences")!;
  assert.match(gradient.counterexample!, /directional derivative .* vs finite difference /);
});

test("an hvp scaled by 1.001: still symmetric, but finite differences and the interpreter disagree", () => {
  const outcomes = verify(
    wrap({
      hvp(w, dw, x, c, n, out) {
        kernels.hvp(w, dw, x, c, n, out);
        for (let i = 0; i < out.length; i++) out[i]! *= 1.001;
      },
    }),
  );
  assert.deepEqual(failed(outcomes), ["hvp vs finite differences of gradients", "compiled vs interpreter"]);
  assert.match(
    outcomes.find((o) => o.property === "compiled vs interpreter")!.counterexample!,
    /largest relative difference/,
  );
});

test("an hvp that is not symmetric: the symmetry check fails too", () => {
  const outcomes = verify(
    wrap({
      hvp(w, dw, x, c, n, out) {
        kernels.hvp(w, dw, x, c, n, out);
        // Adds a Δ-dependent, non-symmetric term: (HΔ)₀ += Δ₁.
        out[0]! += dw[1]!;
      },
    }),
  );
  assert.deepEqual(failed(outcomes), [
    "hvp vs finite differences of gradients",
    "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)",
    "compiled vs interpreter",
  ]);
  assert.match(
    outcomes.find((o) => o.property === "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)")!.counterexample!,
    /uᵀ\(HΔ\) = .*, Δᵀ\(Hu\) = /,
  );
});

test("f_quad without its quadratic term: only the f_quad Taylor slope fails (it measures 2, not 3)", () => {
  const outcomes = verify(wrap({ fQuad: (w, dw, x, n, out) => kernels.fLin(w, dw, x, n, out) }));
  assert.deepEqual(failed(outcomes), ["Taylor remainder of f_quad ~ t³"]);
  assert.match(outcomes.find((o) => !o.passed)!.counterexample!, /fitted slope 2\.\d\d, expected 3/);
});

test("f_lin without its linear term: only the f_lin Taylor slope fails", () => {
  const outcomes = verify(wrap({ fLin: (w, _dw, x, n, out) => kernels.f(w, x, n, out) }));
  assert.deepEqual(failed(outcomes), ["Taylor remainder of f_lin ~ t²"]);
  // Without its linear term, f_lin's remainder is O(t): a slope near 1 (the check's ±0.3), whatever the draw.
  const slope = /fitted slope (-?\d+\.\d\d), expected 2/.exec(outcomes.find((o) => !o.passed)!.counterexample!);
  assert.ok(slope && Math.abs(Number(slope[1]) - 1) < 0.3, String(slope?.[0]));
});

test("a jvp with the wrong sign: adjointness and compiled-vs-interpreter fail", () => {
  const outcomes = verify(
    wrap({
      jvp(w, dw, x, n, out) {
        kernels.jvp(w, dw, x, n, out);
        for (let i = 0; i < n; i++) out[i] = -out[i]!;
      },
    }),
  );
  assert.deepEqual(failed(outcomes), ["adjointness c·(JΔ) = (Jᵀc)·Δ", "compiled vs interpreter"]);
});
