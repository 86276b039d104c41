/**
 * Names from a model file never reach generated code as code (issue 4, Safety): params, inputs,
 * fixed tensors and models called `class`, `constructor`, `__proto__`, `toString`,
 * `prototype` (names that are special to JavaScript objects), or like the generated code's own
 * identifiers, compile, run and match the interpreter, also through the `nqm eval` JSON
 * contract (evaluateWithKernels against evaluateWithInterpreter). On every backend and dtype
 * (spec/support/backends.ts); the JSON contract on both backends in f64, the dtype it prints.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { compileModel } from "../../compiler/codegen/compile.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { evaluateWithInterpreter, evaluateWithKernels } from "../../runtime/evaluate.ts";
import { parsePointJson, resolvePoint } from "../../runtime/point.ts";
import { assertNestedClose, compareWithInterpreter } from "../support/kernel-check.ts";
import { DATA_MODEL, PARAMS_MODEL } from "../support/names.ts";
import { describeCase, pointArbitrary } from "../support/points.ts";
import { kinkSafeForFloat32, VARIANTS, variantRuns } from "../support/backends.ts";
import { present } from "../support/entries.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-names-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

/** Names the generated code uses for its own variables, arrays and functions. */
const GENERATED_NAMES_MODEL = `model kernels {
  dim d = 2
  input x0: [d]
  input out: [d]
  param ws: [d, d] ~ normal(0, 1)
  param ps: [d] ~ normal(0, 1)
  param W0: [d] ~ normal(0, 1)
  param F: [] ~ normal(0, 1)
  param R: [d] ~ normal(0, 1)
  param Math: [d] ~ normal(0, 1)
  param LAYOUT: [d] ~ normal(0, 1)
  fixed fx: [d] ~ uniform(-1, 1)
  fixed createKernels: [d] ~ uniform(-1, 1)
  fixed checkBatch: [d] ~ uniform(-1, 1)
  let acc = tanh(ws @ x0 + ps * fx) * W0
  let s0 = dot(acc, R) + F * dot(Math, out) + dot(LAYOUT, createKernels * checkBatch)
  output s0
}
`;

for (const [name, source] of [
  ["params named class, constructor, __proto__, toString, prototype", PARAMS_MODEL],
  ["inputs and fixed tensors named class, __proto__, constructor, prototype, toString", DATA_MODEL],
  ["names the generated code uses itself", GENERATED_NAMES_MODEL],
] as const)
  for (const variant of VARIANTS)
    test(`${name}: compiled kernels equal the interpreter, ${variant.label}`, { skip: variant.skip }, async () => {
      const { model } = loadModel(source);
      const program = deriveModel(model);
      const { kernels, typescript } = await compileModel(model, {
        source,
        maxBatch: 3,
        cacheDir: CACHE,
        backend: variant.backend,
        dtype: variant.dtype,
      });
      // The names appear in the module only as data (LAYOUT) and in the quoted source.
      for (const decl of [...model.params, ...model.inputs, ...model.fixed])
        assert.ok(present(typescript).includes(`"name": ${JSON.stringify(decl.name)}`), decl.name);
      assert.deepEqual(
        kernels.layout.params.map((s) => s.name),
        model.params.map((p) => p.name),
      );
      fc.assert(
        fc.property(pointArbitrary(model), (point) => {
          fc.pre(variant.dtype === "f64" || kinkSafeForFloat32(program, point));
          const result = compareWithInterpreter(program, kernels, point, { tolerance: variant.tolerance });
          assert.deepEqual(result.failures, [], `${result.failures.join("\n")}\n${describeCase(source, point)}`);
        }),
        { numRuns: variantRuns(variant, 10, 0.3) },
      );
      kernels.dispose();
    });

for (const variant of VARIANTS.filter((v) => v.dtype === "f64"))
  test(`the eval JSON contract: a point file naming __proto__ and constructor, the interpreter and ${variant.label} kernels`, {
    skip: variant.skip,
  }, async () => {
    const { model } = loadModel(DATA_MODEL);
    // As `nqm eval` reads it: JSON text, so "__proto__" is an own key, not the prototype.
    const text = JSON.stringify({
      params: { w: [0.5, -1.25], n: [0.75, 0.3] },
      fixed: {
        prototype: [0.2, -0.4],
        toString: [
          [0.1, 0.2],
          [-0.3, 0.4],
        ],
      },
      // A computed key: `__proto__: …` in an object literal would set the prototype instead.
      inputs: {
        class: [
          [1, 2],
          [-0.5, 0.25],
        ],
        ["__proto__"]: [
          [
            [1, 0],
            [0, 1],
          ],
          [
            [0.5, -1],
            [2, 0.125],
          ],
        ],
        constructor: [3, -2],
      },
      direction: { w: [0.1, 0.2], n: [-0.3, 0.05] },
      cotangent: [1.5, -0.75],
    });
    assert.match(text, /"__proto__":\[\[\[/);
    const point = resolvePoint(parsePointJson(text), model, 0);
    // An own property named __proto__, not the prototype: read it as one.
    assert.equal(Object.getOwnPropertyDescriptor(point.inputs, "__proto__")?.value.length, 2);
    const program = deriveModel(model);
    const interpreted = evaluateWithInterpreter(program, point);
    const { kernels } = await compileModel(model, {
      source: DATA_MODEL,
      maxBatch: point.n,
      cacheDir: CACHE,
      backend: variant.backend,
    });
    const compiled = evaluateWithKernels(kernels, point, model.outputShape);
    kernels.dispose();
    const roundTrip = (value: unknown) => JSON.parse(JSON.stringify(value)) as unknown;
    assertNestedClose(roundTrip(compiled), roundTrip(interpreted));
    assert.deepEqual(Object.keys(roundTrip(compiled) as object).sort(), ["f", "f_lin", "f_quad", "grad", "hvp", "jvp"]);
  });

for (const variant of VARIANTS)
  test(`a dim or const named like an Object.prototype member (toString, valueOf, constructor) takes its declared value, ${variant.label}`, {
    skip: variant.skip,
  }, async () => {
    const source = `model m {
  dim toString = 2
  const valueOf = 0.5
  input x: [toString]
  param w: [toString] ~ normal(0, 1)
  output valueOf * dot(w, x)
}
`;
    const { model } = loadModel(source);
    assert.deepEqual(model.dims, { toString: 2 });
    assert.deepEqual(model.consts, { valueOf: 0.5 });
    const { kernels } = await compileModel(model, {
      source,
      maxBatch: 1,
      cacheDir: CACHE,
      backend: variant.backend,
      dtype: variant.dtype,
    });
    const out = new Float64Array(1);
    kernels.f(Float64Array.of(1, 2), [Float64Array.of(3, 4)], 1, out);
    // Exact in float32 too: 0.5 · (1·3 + 2·4).
    assert.equal(out[0], 5.5);
    kernels.dispose();
  });
