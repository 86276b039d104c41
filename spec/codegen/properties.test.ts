/**
 * Compiled kernels against the reference interpreter (issue 4): every kernel of the API, on
 * generated programs (spec/support/models.ts) and on hand-written programs that pin down the
 * cases generation reaches only by chance. Each program is compiled once and checked at two
 * random points with different numbers of examples (so a kernel called with fewer examples
 * than the previous call must not read stale rows). The comparison rule, 1e-12 relative with
 * a floor for entries formed by cancellation (the same rule with float32's unit roundoff for f32
 * kernels), is stated in spec/support/kernel-check.ts.
 *
 * Every backend and dtype (spec/support/backends.ts) runs both parts: the default backend in f64
 * with the full number of cases, the other variants with a share of them. f32 kernels are
 * checked through the float64 adapter that compileModel puts around them, at points whose kink
 * arguments keep clear of float32 rounding (others are discarded).
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { compileModel } from "../../compiler/codegen/compile.ts";
import { deriveModel, type DerivativeProgram } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { kinkSafeForFloat32, VARIANTS, variantRuns, type Variant } from "../support/backends.ts";
import { compareWithInterpreter } from "../support/kernel-check.ts";
import { modelArbitrary, type GeneratedModel } from "../support/models.ts";
import { describeCase, pointArbitrary, type TestPoint } from "../support/points.ts";
import { topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth } from "../support/entries.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-properties-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

/** What a program exercises, for the coverage report of the generated run. */
function features(program: DerivativeProgram): string[] {
  const roots: Node[] = [
    program.f,
    program.jvp,
    program.quad,
    ...Object.values(program.grad),
    ...Object.values(program.hvp),
  ];
  const nodes = topologicalOrder(roots);
  const found = new Set<string>();
  if (!program.f.batched) found.add("output independent of the input");
  found.add(program.f.shape.length === 0 ? "scalar output" : "vector output");
  if (program.model.fixed.length > 0) found.add("fixed tensor");
  if (program.model.params.some((p) => p.shape.length === 2)) found.add("matrix param");
  for (const node of nodes) {
    if (node.op === "transpose") found.add("transpose");
    if (node.op === "outer") found.add("outer");
    if (node.op === "matmul" && nth(node.inputs, 0).shape.length === 2 && nth(node.inputs, 1).shape.length === 2)
      found.add("matrix product");
    if (node.op === "bsum" && (nth(node.inputs, 0).op === "add" || nth(node.inputs, 0).op === "sub")) {
      const outers = topologicalOrder([nth(node.inputs, 0)]).filter((x) => x.op === "outer" && x.batched).length;
      if (outers >= 2) found.add("Σⱼ of a sum of outer products");
    }
  }
  return [...found];
}

interface Checked {
  entries: number;
  worst: number;
  /** Points left out for being within float32 rounding of a kink. */
  nearKinks: number;
}

/** Whether `variant` can be compared with the interpreter at `point` (see kinkSafeForFloat32). */
function comparable(variant: Variant, program: DerivativeProgram, point: TestPoint): boolean {
  return variant.dtype === "f64" || kinkSafeForFloat32(program, point);
}

/** Compiles `model` and compares every kernel with the interpreter at each point. */
async function checkProgram(
  variant: Variant,
  model: GeneratedModel,
  points: readonly TestPoint[],
  maxBatch: number,
  stats: Checked,
): Promise<DerivativeProgram> {
  const program = deriveModel(model.checked);
  const { kernels } = await compileModel(model.checked, {
    source: model.source,
    maxBatch,
    cacheDir: CACHE,
    backend: variant.backend,
    dtype: variant.dtype,
  });
  for (const point of points) {
    if (!comparable(variant, program, point)) {
      stats.nearKinks++;
      continue;
    }
    const result = compareWithInterpreter(program, kernels, point, { tolerance: variant.tolerance });
    stats.entries += result.entries;
    stats.worst = Math.max(stats.worst, result.worst);
    assert.deepEqual(
      result.failures,
      [],
      `${variant.label} kernels differ from the interpreter:\n${result.failures.join("\n")}\n${describeCase(model.source, point)}`,
    );
  }
  kernels.dispose();
  return program;
}

for (const variant of VARIANTS)
  test(`compiled kernels equal the interpreter on generated programs: ${variant.label}`, {
    skip: variant.skip,
  }, async (t) => {
    const stats: Checked = { entries: 0, worst: 0, nearKinks: 0 };
    const coverage = new Map<string, number>();
    let programs = 0;
    // Depth 2 keeps each compile near 0.1 s; smooth and piecewise-smooth ops both.
    const modelArb = fc.oneof(
      { arbitrary: modelArbitrary({ maxDepth: 2 }), weight: 2 },
      { arbitrary: modelArbitrary({ maxDepth: 2, kinks: true }), weight: 1 },
    );
    const caseArb = modelArb.chain((model) =>
      fc.tuple(fc.constant(model), pointArbitrary(model.checked), pointArbitrary(model.checked)),
    );
    await fc.assert(
      fc.asyncProperty(caseArb, async ([model, first, second]) => {
        // maxBatch 3 = the largest n of the points: full and partial batches both occur.
        const program = await checkProgram(variant, model, [first, second], 3, stats);
        programs++;
        for (const feature of features(program)) coverage.set(feature, (coverage.get(feature) ?? 0) + 1);
      }),
      // The other variants get a fifth of the programs (each compile costs about 0.1 s of CPU).
      { numRuns: variantRuns(variant, 100, 0.2) },
    );
    t.diagnostic(
      `${programs} programs, ${stats.entries} entries compared, worst error ${(stats.worst / variant.tolerance.rtol).toExponential(2)} of the tolerance, ${stats.nearKinks} points within float32 rounding of a kink left out`,
    );
    t.diagnostic(
      `coverage: ${[...coverage]
        .sort()
        .map(([k, v]) => `${k} ${v}`)
        .join("; ")}`,
    );
    assert.ok(stats.worst <= variant.tolerance.rtol);
  });

/**
 * Programs generation reaches only by chance, or not at all (several inputs, matrix inputs,
 * [1]-sized dims, sizes that leave remainders in every register block).
 */
const HAND_WRITTEN: Record<string, string> = {
  "scalar output independent of the input": `
    model m { dim d = 3
      input x: [d]
      param w: [d] ~ normal(0, 1)
      output sum(w * w) + 0.5 }`,
  "vector output independent of the input": `
    model m { dim d = 3
      dim k = 2
      input x: [d]
      param a: [k, d] ~ normal(0, 1)
      param v: [d] ~ normal(0, 1)
      output tanh(a @ v) }`,
  "a constant output": `
    model m { dim d = 2
      input x: [d]
      param w: [d] ~ normal(0, 1)
      output 1.5 }`,
  "an output that simplifies to zero": `
    model m { dim d = 2
      input x: [d]
      param w: [d] ~ normal(0, 1)
      output dot(w, x) - dot(x, w) }`,
  "shared and per-example terms mixed": `
    model m { dim d = 3
      dim k = 4
      input x: [d]
      param u: [k, d] ~ normal(0, 1)
      param v: [k] ~ normal(0, 1)
      param b: [k] ~ normal(0, 1)
      output dot(v, tanh(u @ x)) + sum(square(b)) * dot(b, v) }`,
  "two inputs": `
    model m { dim d = 3
      dim k = 2
      input x: [d]
      input z: [k]
      param u: [k, d] ~ normal(0, 1)
      param b: [k] ~ normal(0, 1)
      output dot(z, tanh(u @ x)) + dot(z, b) * sum(x) }`,
  "a matrix input": `
    model m { dim d = 3
      dim k = 5
      input X: [d, k]
      param w: [k] ~ normal(0, 1)
      param a: [d] ~ normal(0, 1)
      output dot(a, tanh(X @ w)) + sum(transpose(X) @ a) }`,
  "a matrix input and a vector output": `
    model m { dim d = 2
      dim k = 3
      input X: [d, k]
      param a: [d] ~ normal(0, 1)
      param u: [k, k] ~ normal(0, 1)
      output u @ sigmoid(transpose(X) @ a) }`,
  "Σⱼ of a sum of scaled outer products": `
    model m { dim d = 3
      dim k = 5
      input x: [d]
      param u: [k, d] ~ normal(0, 1)
      param v: [k] ~ normal(0, 1)
      output dot(v, tanh(u @ x)) + dot(v, sigmoid(u @ (x * x))) - 0.5 * dot(v, u @ x) }`,
  transposes: `
    model m { dim d = 3
      dim k = 2
      input x: [d]
      param u: [k, d] ~ normal(0, 1)
      param v: [d, k] ~ normal(0, 1)
      output sum(transpose(transpose(u)) @ x) + dot(x @ transpose(u), tanh(transpose(v) @ x)) }`,
  "a per-example vector times a shared matrix": `
    model m { dim d = 5
      dim k = 7
      input x: [d]
      param u: [d, k] ~ normal(0, 1)
      param v: [k] ~ normal(0, 1)
      output dot(v, softplus(x @ u)) }`,
  "matrix products of params": `
    model m { dim d = 3
      dim k = 2
      input x: [d]
      param a: [k, d] ~ normal(0, 1)
      param b: [d, k] ~ normal(0, 1)
      param v: [k] ~ normal(0, 1)
      output dot(v @ (a @ b), tanh(a @ x)) }`,
  "a per-example matrix times a shared vector": `
    model m { dim d = 3
      input x: [d]
      param w: [d] ~ normal(0, 1)
      output sum(sin(outer(x, x) @ w)) }`,
  "fixed tensors": `
    model m { dim d = 3
      dim k = 4
      const gain = 0.7
      input x: [d]
      param u: [k, d] ~ normal(0, 1)
      param v: [k] ~ normal(0, 1)
      fixed s: [k, d] ~ uniform(-1, 1)
      fixed t: [k] ~ rademacher()
      output gain * dot(v * t, tanh((u + s) @ x)) }`,
  "a scalar param": `
    model m { dim d = 2
      input x: [d]
      param a: [] ~ normal(0, 1)
      output a * sum(x) + a ^ 3 }`,
  "a vector output with kinks": `
    model m { dim d = 3
      dim k = 4
      input x: [d]
      param u: [k, d] ~ normal(0, 1)
      param v: [k] ~ normal(0, 1)
      output v * relu(u @ x) + leaky_relu(u @ x, 0.1) - abs(v) }`,
  "dims of size 1": `
    model m { dim d = 1
      dim k = 1
      input x: [d]
      param u: [k, d] ~ normal(0, 1)
      param v: [k] ~ normal(0, 1)
      output v @ tanh(u @ x) }`,
  "sizes that leave remainders in every register block": `
    model m { dim d = 5
      dim k = 7
      input x: [d]
      param u: [k, d] ~ normal(0, 1)
      param w: [k, k] ~ normal(0, 1)
      output tanh(w @ swish(u @ x)) / sqrt(k) }`,
  "three layers": `
    model m { dim d = 2
      dim k = 6
      input x: [d]
      param u1: [k, d] ~ normal(0, 1)
      param u2: [k, k] ~ normal(0, 1)
      param v: [k] ~ rademacher()
      output dot(v, relu(u2 @ relu(u1 @ x / sqrt(d)) / sqrt(k))) / sqrt(k) }`,
  "a general quadratic model": `
    model m { dim d = 4
      const gamma = 0.3
      input x: [d]
      param w: [d] ~ normal(0, 1)
      fixed sigma: [d] ~ rademacher()
      output dot(w, x / norm(x)) + 0.5 * gamma * dot(w, sigma * w) }`,
};

/** What some of the hand-written programs must exercise (else the program no longer tests its case). */
const EXPECTED_FEATURES: Record<string, string[]> = {
  "scalar output independent of the input": ["output independent of the input", "scalar output"],
  "vector output independent of the input": ["output independent of the input", "vector output"],
  "Σⱼ of a sum of scaled outer products": ["Σⱼ of a sum of outer products"],
  transposes: ["transpose"],
  "matrix products of params": ["matrix product"],
  "fixed tensors": ["fixed tensor"],
};

for (const variant of VARIANTS)
  describe(`compiled kernels equal the interpreter on hand-written programs: ${variant.label}`, {
    concurrency: 2,
    skip: variant.skip,
  }, () => {
    for (const [name, text] of Object.entries(HAND_WRITTEN)) {
      test(name, async () => {
        const source = `${text.replace(/^ {4}/gm, "").trim()}\n`;
        const model: GeneratedModel = { source, checked: loadModel(source).model };
        const program = deriveModel(model.checked);
        for (const feature of EXPECTED_FEATURES[name] ?? [])
          assert.ok(features(program).includes(feature), `does not exercise ${feature}`);
        // maxBatch 5 > every point's n: only partial batches.
        const { kernels } = await compileModel(model.checked, {
          source,
          maxBatch: 5,
          cacheDir: CACHE,
          backend: variant.backend,
          dtype: variant.dtype,
        });
        fc.assert(
          fc.property(pointArbitrary(model.checked), (point) => {
            fc.pre(comparable(variant, program, point));
            const result = compareWithInterpreter(program, kernels, point, { tolerance: variant.tolerance });
            assert.deepEqual(
              result.failures,
              [],
              `${variant.label} kernels differ from the interpreter:\n${result.failures.join("\n")}\n${describeCase(source, point)}`,
            );
          }),
          { numRuns: variantRuns(variant, 6, 0.5) },
        );
        kernels.dispose();
      });
    }
  });
