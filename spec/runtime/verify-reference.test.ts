/**
 * The bounded reference of `nqm verify` (runtime/verify-reference.ts): its magnitude is Σ|terms|
 * of a reduction, its bound k·u·M holds for a sum in any order and is not loose by more than the
 * rounding count, a kink argument decided by rounding is reported, and a held pattern evaluates
 * the smooth piece and counts the arguments that changed side.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import type { Tensor } from "../../compiler/ir/tensor.ts";
import { evaluateExample, type ExampleLeaves, UNIT_ROUNDOFF } from "../../runtime/verify-reference.ts";
import { propertyRuns } from "../support/runs.ts";
import { nth, present } from "../support/entries.ts";

const programOf = (output: string, d: number) =>
  deriveModel(
    loadModel(`model m {\n  dim d = ${d}\n  input x: [d]\n  param w: [d] ~ normal(0, 1)\n  output ${output}\n}\n`)
      .model,
  );

const leaves = (w: readonly number[], x: readonly number[]): ExampleLeaves => {
  const t = (data: readonly number[]): Tensor => ({ shape: [data.length], data: Float64Array.from(data) });
  return {
    params: { w: t(w) },
    fixed: {},
    tangents: { w: t(w.map(() => 1)) },
    inputs: { x: t(x) },
    cotangent: { shape: [], data: Float64Array.of(1) },
  };
};

test("a dot product's magnitude is Σ|wᵢxᵢ| and its rounding count its length", () => {
  const program = programOf("dot(w, x)", 3);
  const { roots } = evaluateExample([program.f], leaves([1, -1, 2], [3, 3, -0.5]));
  const f = nth(roots, 0);
  assert.equal(f.value.data[0], -1);
  assert.equal(f.magnitude[0], 3 + 3 + 1);
  assert.equal(f.roundings, 3);
});

test("k·u·M with M = Σ|terms| and k = the length bounds a long sum in any order", () => {
  const L = 2000;
  const program = programOf("dot(w, x)", L);
  fc.assert(
    fc.property(
      fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: L, maxLength: L }),
      fc.array(fc.double({ min: -1e3, max: 1e3, noNaN: true }), { minLength: L, maxLength: L }),
      (w, x) => {
        const f = nth(evaluateExample([program.f], leaves(w, x)).roots, 0);
        const bound = f.roundings * UNIT_ROUNDOFF * nth(f.magnitude, 0);
        // The same dot product summed backwards and pairwise: each within the bound of the exact
        // value, so within twice the bound of the reference.
        let backwards = 0;
        for (let i = L - 1; i >= 0; i--) backwards += nth(w, i) * nth(x, i);
        const pairwise = (lo: number, hi: number): number =>
          hi - lo === 1 ? nth(w, lo) * nth(x, lo) : pairwise(lo, (lo + hi) >> 1) + pairwise((lo + hi) >> 1, hi);
        for (const other of [backwards, pairwise(0, L)])
          assert.ok(
            Math.abs(other - nth(f.value.data, 0)) <= 2 * bound,
            `${other} vs ${f.value.data[0]}, bound ${bound}`,
          );
        let terms = 0;
        for (let i = 0; i < L; i++) terms += Math.abs(nth(w, i) * nth(x, i));
        assert.ok(Math.abs(nth(f.magnitude, 0) - terms) <= 1e-12 * terms, `${f.magnitude[0]} vs ${terms}`);
        assert.equal(f.roundings, L);
      },
    ),
    { numRuns: propertyRuns(20) },
  );
});

test("a kink argument that rounding could put on either side is reported; one clear of it is not", () => {
  const program = programOf("relu(dot(w, x))", 2);
  // 1·1 + (−1)·1 = 0 exactly, with magnitude 2: rounding decides the side.
  assert.equal(evaluateExample([program.f], leaves([1, -1], [1, 1])).nearKinks, 1);
  assert.equal(evaluateExample([program.f], leaves([1, -1], [1, 0.5])).nearKinks, 0);
  // An exact zero (magnitude 0) is no kink decided by rounding.
  assert.equal(evaluateExample([program.f], leaves([0, 0], [1, 1])).nearKinks, 0);
});

test("a held pattern evaluates the smooth piece and counts the arguments that changed side", () => {
  const program = programOf("relu(dot(w, x))", 2);
  const recorded = evaluateExample([program.f, present(program.grad.w)], leaves([1, 0], [2, 1]));
  assert.equal(nth(recorded.roots, 0).value.data[0], 2);
  // At w = (−1, 0) the argument is −2: relu gives 0, the held piece (slope 1) gives −2, and its gradient stays x.
  const held = evaluateExample([program.f, present(program.grad.w)], leaves([-1, 0], [2, 1]), recorded.pattern);
  assert.equal(nth(held.roots, 0).value.data[0], -2);
  assert.deepEqual(Array.from(nth(held.roots, 1).value.data), [2, 1]);
  assert.equal(held.crossings, 2);
  const free = evaluateExample([program.f, present(program.grad.w)], leaves([-1, 0], [2, 1]));
  assert.equal(nth(free.roots, 0).value.data[0], 0);
  assert.deepEqual(Array.from(nth(free.roots, 1).value.data), [0, 0]);
});
