/**
 * The two backends and two dtypes beyond what the property suites cover (issue 11):
 *   - every example, on every backend and dtype, against the interpreter (f32 through the
 *     float64 adapter, to its own tolerance: spec/support/kernel-check.ts);
 *   - threads: products large enough to be split across threads (m·n·k ≥ 2¹⁷, along rows and
 *     along columns, with a partial last slice) give results bit-identical to one thread. Why
 *     bit-identical: wasm/runtime.ts hands each thread whole rows or whole columns of C with
 *     the full depth, and wasm/gemm.ts computes each entry of C the same way wherever it lies in
 *     the matrix (its depth in blocks of kc from 0, each block summed in order in its own
 *     accumulator lane, then scaled and stored or added; edge tiles are computed in full through
 *     zero-padded panels). Every other step (elementwise loops, batch sums) runs on the calling
 *     thread in both cases;
 *   - the raw Float32Array API of an f32 module (`module.createKernels()`), which the adapter hides;
 *   - dispose() stops a module's worker threads, and a process that never calls it still exits.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import * as workerThreads from "node:worker_threads";
import fc from "fast-check";
import type { CompiledKernels, KernelArray } from "../../compiler/codegen/api.ts";
import { compileModel, wasmAvailable } from "../../compiler/codegen/compile.ts";
import type { Dtype } from "../../compiler/codegen/api.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { interpret } from "../../compiler/ir/interpret.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import type { EvalPoint } from "../../runtime/point.ts";
import { kinkSafeForFloat32, VARIANTS, variantRuns } from "../support/backends.ts";
import { largestIntermediate } from "../support/cases.ts";
import { runNode } from "../support/cli.ts";
import { examples } from "../support/examples.ts";
import { compareWithInterpreter, F32_TOLERANCE, pack, packExamples, withinTolerance } from "../support/kernel-check.ts";
import { bindingsOf, describeCase, pointArbitrary } from "../support/points.ts";
import { nth, present } from "../support/entries.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-backends-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

const NO_WASM = wasmAvailable() ? undefined : "this Node has no WebAssembly SIMD or no SharedArrayBuffer";

describe("every example against the interpreter", () => {
  for (const variant of VARIANTS)
    test(variant.label, { skip: variant.skip }, async () => {
      for (const example of examples()) {
        const { model } = loadModel(example.source, { file: example.path, set: example.set });
        const program = deriveModel(model);
        const { kernels } = await compileModel(model, {
          source: example.source,
          file: example.path,
          maxBatch: 3,
          cacheDir: CACHE,
          backend: variant.backend,
          dtype: variant.dtype,
        });
        fc.assert(
          fc.property(pointArbitrary(model), (point) => {
            fc.pre(variant.dtype === "f64" || kinkSafeForFloat32(program, point));
            const result = compareWithInterpreter(program, kernels, point, { tolerance: variant.tolerance });
            assert.deepEqual(
              result.failures,
              [],
              `${example.file}, ${variant.label}:\n${result.failures.join("\n")}\n${describeCase(example.source, point)}`,
            );
          }),
          { numRuns: variantRuns(variant, 2, 1) },
        );
        kernels.dispose();
      }
    });
});

/**
 * X·Uᵀ is [n, k] at depth d: 61·44·60 = 161040 ≥ 2¹⁷, split along rows (n > k). Gᵀ·X is [k, d] at
 * depth n: 44·60·61, split along columns, 32 + 28 (a partial last slice).
 */
/**
 * A net wide enough that its products are split across threads; with relu (k = 600) its
 * elementwise steps run in WebAssembly and are split too (n·k = 36,600 entries), with tanh
 * (k = 44) they stay in JavaScript.
 */
function wideModel(activation: "tanh" | "relu", k: number): string {
  return `model wide {
  dim d = 60
  dim k = ${k}
  input x: [d]
  param u: [k, d] ~ normal(0, 1)
  param v: [k] ~ normal(0, 1)
  output dot(v, ${activation}(u @ x / sqrt(d))) / sqrt(k)
}
`;
}
const WIDE = wideModel("tanh", 44);
const WIDE_N = 61;

/** A deterministic point of a wideModel of width k with WIDE_N examples. */
function widePoint(k = 44): EvalPoint {
  const d = 60;
  const values = (count: number, seed: number) =>
    Array.from({ length: count }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
  return {
    n: WIDE_N,
    params: { u: tensor([k, d], values(k * d, 1)), v: tensor([k], values(k, 2)) },
    fixed: {},
    inputs: { x: Array.from({ length: WIDE_N }, (_, j) => tensor([d], values(d, 10 + j))) },
    direction: { u: tensor([k, d], values(k * d, 3)), v: tensor([k], values(k, 4)) },
    cotangent: Array.from({ length: WIDE_N }, (_, j) => tensor([], [Math.cos(j)])),
  };
}

/** Every kernel of `kernels` at `point`, its results by name (arrays of A's element type). */
function runEveryKernel<A extends KernelArray>(
  kernels: CompiledKernels<A>,
  point: EvalPoint,
  array: (values: ArrayLike<number>) => A,
  empty: (length: number) => A,
): Record<string, A | number> {
  const { layout } = kernels;
  const { n } = point;
  const P = layout.paramCount;
  const K = layout.outputSize;
  const w = array(pack(layout.params, point.params, P));
  const dw = array(pack(layout.params, point.direction, P));
  const x = layout.inputs.map((slot) => array(packExamples(nth(point.inputs, slot.name), slot.size)));
  const c = array(packExamples(point.cotangent, K));
  kernels.setFixed(empty(layout.fixedCount));
  const results: Record<string, A | number> = {};
  const perExample = (name: string, call: (out: A) => void) => {
    const out = empty(n * K);
    call(out);
    results[name] = out;
  };
  const perParam = (name: string, call: (out: A) => void) => {
    const out = empty(P);
    call(out);
    results[name] = out;
  };
  const lossAnd = (name: string, call: (out: A) => number) =>
    perParam(name, (out) => {
      results[`${name} loss`] = call(out);
    });
  perExample("f", (out) => kernels.f(w, x, n, out));
  perExample("jvp", (out) => kernels.jvp(w, dw, x, n, out));
  perExample("quad", (out) => kernels.quad(w, dw, x, n, out));
  perExample("fLin", (out) => kernels.fLin(w, dw, x, n, out));
  perExample("fQuad", (out) => kernels.fQuad(w, dw, x, n, out));
  perParam("vjp", (out) => kernels.vjp(w, x, c, n, out));
  perParam("hvp", (out) => kernels.hvp(w, dw, x, c, n, out));
  lossAnd("lossAndGrad", (out) => kernels.lossAndGrad(w, x, c, n, out, true));
  kernels.prepare(w, x, n);
  lossAnd("lossAndGradLin", (out) => kernels.lossAndGradLin(dw, c, out, false));
  lossAnd("lossAndGradQuad", (out) => kernels.lossAndGradQuad(dw, c, out, true));
  perExample("ntkMatVec", (out) => kernels.ntkMatVec(w, x, n, c, out));
  const rows = empty(n * K * P);
  kernels.jacobianRows(w, x, n, rows);
  results.jacobianRows = rows;
  return results;
}

/**
 * Counts the worker threads that generated modules start, and those that ended: the pool
 * reaches worker_threads through process.getBuiltinModule, so a wrapped Worker class sees them.
 */
function watchWorkers(): { started: () => number; exited: () => number; restore: () => void } {
  const original = process.getBuiltinModule;
  const realGet = original.bind(process) as (id: string) => object | undefined;
  let started = 0;
  let exited = 0;
  class CountedWorker extends workerThreads.Worker {
    constructor(...args: ConstructorParameters<typeof workerThreads.Worker>) {
      super(...args);
      started++;
      this.once("exit", () => exited++);
    }
  }
  const wrapped = { ...workerThreads, Worker: CountedWorker };
  process.getBuiltinModule = ((id: string) =>
    id === "node:worker_threads" || id === "worker_threads" ? wrapped : realGet(id)) as typeof original;
  return {
    started: () => started,
    exited: () => exited,
    restore: () => {
      process.getBuiltinModule = original;
    },
  };
}

/** Resolves once `condition` holds, or rejects after `ms`. */
async function eventually(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

describe("threads", { skip: NO_WASM }, () => {
  for (const [activation, k] of [
    ["tanh", 44],
    ["relu", 600],
  ] as const)
    for (const dtype of ["f64", "f32"] as const satisfies readonly Dtype[])
      test(`${dtype}, ${activation}: kernels split over 2 threads equal 1 thread bit for bit, and the interpreter; dispose stops the workers`, async () => {
        const source = wideModel(activation, k);
        const { model } = loadModel(source);
        const program = deriveModel(model);
        const point = widePoint(k);
        const compiled = await compileModel(model, {
          source,
          maxBatch: 64,
          cacheDir: CACHE,
          backend: "wasm",
          dtype,
          threads: 1,
        });
        const watch = watchWorkers();
        try {
          const array = (values: ArrayLike<number>) =>
            dtype === "f32" ? Float32Array.from(values) : Float64Array.from(values);
          const empty = (length: number) =>
            (dtype === "f32" ? new Float32Array(length) : new Float64Array(length)).fill(Number.NaN);
          const one = compiled.module.createKernels({ threads: 1 });
          const two = compiled.module.createKernels({ threads: 2 });
          assert.equal(one.threads, 1);
          assert.equal(two.threads, 2);
          const single = runEveryKernel(one, point, array, empty);
          assert.equal(watch.started(), 0, "one thread started a worker");
          const split = runEveryKernel(two, point, array, empty);
          assert.equal(watch.started(), 1, "the products were not split (no worker started)");
          for (const [name, expected] of Object.entries(single)) {
            const actual = nth(split, name);
            if (typeof expected === "number") {
              assert.ok(Object.is(actual, expected), `${name}: 2 threads ${actual}, 1 thread ${expected}`);
              continue;
            }
            const values = actual as KernelArray;
            assert.equal(values.length, expected.length, name);
            const differing = expected.findIndex((e, i) => !Object.is(values[i], e));
            assert.equal(
              differing,
              -1,
              `${name}[${differing}]: 2 threads ${values[differing]}, 1 thread ${expected[differing]}`,
            );
          }
          // The threaded kernels, through the float64 API, against the interpreter.
          const widened = await compileModel(model, {
            source,
            maxBatch: 64,
            cacheDir: CACHE,
            backend: "wasm",
            dtype,
            threads: 2,
          });
          const result = compareWithInterpreter(program, widened.kernels, point, {
            skipJacobian: true,
            means: [true],
            tolerance: present(VARIANTS.find((v) => v.dtype === dtype)).tolerance,
          });
          assert.deepEqual(result.failures, []);
          widened.kernels.dispose();
          one.dispose();
          two.dispose();
          await eventually(() => watch.exited() === watch.started(), 10_000, "every worker exited after dispose()");
          assert.ok(watch.started() >= 2, "the adapter's kernels started no worker");
        } finally {
          watch.restore();
        }
      });

  test("a process that never calls dispose() exits by itself", async () => {
    const { model } = loadModel(WIDE);
    const compiled = await compileModel(model, { source: WIDE, maxBatch: 64, cacheDir: CACHE, backend: "wasm" });
    assert.notEqual(compiled.javascriptPath, "");
    const dir = mkdtempSync(join(CACHE, "child-"));
    const script = join(dir, "never-disposed.mjs");
    // Counts workers as the test above does, runs f on 61 examples (a split product) on 2 threads, and returns.
    writeFileSync(
      script,
      `import { createKernels, LAYOUT } from ${JSON.stringify(pathToFileURL(compiled.javascriptPath).href)};
const realGet = process.getBuiltinModule.bind(process);
let started = 0;
const threads = realGet("node:worker_threads");
class CountedWorker extends threads.Worker {
  constructor(...args) { super(...args); started++; }
}
process.getBuiltinModule = (id) => (id === "node:worker_threads" ? { ...threads, Worker: CountedWorker } : realGet(id));
const kernels = createKernels({ threads: 2 });
const n = ${WIDE_N};
const w = Float64Array.from({ length: LAYOUT.paramCount }, (_, i) => Math.sin(i));
const x = [Float64Array.from({ length: n * LAYOUT.inputs[0].size }, (_, i) => Math.cos(i))];
const out = new Float64Array(n);
kernels.f(w, x, n, out);
console.log(JSON.stringify({ threads: kernels.threads, started, finite: out.every(Number.isFinite) }));
`,
    );
    const started = Date.now();
    const run = await runNode([script], { cwd: dir, timeout: 30_000 });
    assert.equal(run.code, 0, `exit ${run.code} after ${Date.now() - started} ms\n${run.stderr}`);
    assert.deepEqual(JSON.parse(run.stdout), { threads: 2, started: 1, finite: true });
  });
});

describe("the raw Float32Array API of an f32 module", () => {
  for (const backend of ["js", "wasm"] as const)
    test(backend, { skip: backend === "wasm" ? NO_WASM : undefined }, async () => {
      const source = `model m {
  dim d = 3
  dim k = 5
  input x: [d]
  param u: [k, d] ~ normal(0, 1)
  param v: [k] ~ normal(0, 1)
  output dot(v, tanh(u @ x))
}
`;
      const { model } = loadModel(source);
      const program = deriveModel(model);
      const compiled = await compileModel(model, { source, maxBatch: 4, cacheDir: CACHE, backend, dtype: "f32" });
      const raw = compiled.module.createKernels() as CompiledKernels<Float32Array>;
      assert.equal(raw.dtype, "f32");
      assert.ok(raw.outputs instanceof Float32Array);
      // Entries of float32 precision, so the interpreter and the kernels read the same numbers.
      const values = (count: number, seed: number) =>
        Float32Array.from({ length: count }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
      const n = 4;
      const w = values(20, 1);
      const dw = values(20, 2);
      const x = [values(n * 3, 3)];
      const c = values(n, 4);
      const f = new Float32Array(n);
      raw.f(w, x, n, f);
      const grad = new Float32Array(20);
      raw.vjp(w, x, c, n, grad);
      const loss = raw.lossAndGrad(w, x, c, n, new Float32Array(20), false);
      // The adapter narrows float64 arguments into the same kernels: on float32 values, bit for bit.
      const widened = compiled.kernels;
      const f64 = new Float64Array(n);
      widened.f(Float64Array.from(w), [Float64Array.from(nth(x, 0))], n, f64);
      assert.deepEqual(Array.from(f64), Array.from(f));
      const at: EvalPoint = {
        n,
        params: {
          u: tensor([5, 3], Float64Array.from(w.subarray(0, 15))),
          v: tensor([5], Float64Array.from(w.subarray(15))),
        },
        fixed: {},
        inputs: {
          x: Array.from({ length: n }, (_, j) => tensor([3], Float64Array.from(nth(x, 0).subarray(3 * j, 3 * j + 3)))),
        },
        direction: {
          u: tensor([5, 3], Float64Array.from(dw.subarray(0, 15))),
          v: tensor([5], Float64Array.from(dw.subarray(15))),
        },
        cotangent: Array.from({ length: n }, (_, j): Tensor => tensor([], [nth(c, j)])),
      };
      const bindings = bindingsOf(at);
      const [fValues, gu, gv] = interpret([program.f, present(program.grad.u), present(program.grad.v)], bindings);
      // The rule's scale: the largest magnitude the interpreter met on the way (kernel-check.ts).
      const fScale = largestIntermediate([program.f], bindings);
      (fValues as Tensor[]).forEach((t, j) =>
        assert.ok(
          withinTolerance(nth(f, j), nth(t.data, 0), fScale, F32_TOLERANCE),
          `f[${j}]: ${f[j]} vs ${t.data[0]}`,
        ),
      );
      const gradScale = largestIntermediate([present(program.grad.u), present(program.grad.v)], bindings);
      const expectedGrad = [...(gu as Tensor).data, ...(gv as Tensor).data];
      expectedGrad.forEach((e, i) =>
        assert.ok(withinTolerance(nth(grad, i), e, gradScale, F32_TOLERANCE), `grad[${i}]: ${grad[i]} vs ${e}`),
      );
      let expectedLoss = 0;
      let lossScale = 0;
      (fValues as Tensor[]).forEach((t, j) => {
        expectedLoss += 0.5 * (nth(t.data, 0) - nth(c, j)) ** 2;
        lossScale += 0.5 * (nth(t.data, 0) ** 2 + nth(c, j) ** 2);
      });
      assert.ok(withinTolerance(loss, expectedLoss, lossScale, F32_TOLERANCE), `loss ${loss} vs ${expectedLoss}`);
      raw.dispose();
      widened.dispose();
    });
});

describe("a constant that a matrix product reads", () => {
  // tanh(w·x − w·x) + 0.7 simplifies to the constant 0.7 broadcast to [k]: lowering once failed
  // with "const operand not in a buffer" (found by the generated-programs property).
  const SOURCE = `model folded {
  input x: [2]
  param w: [4, 2] ~ normal(0, 1)
  param u: [4, 3] ~ normal(0, 1)
  output (tanh(w @ x - w @ x) + 0.7) @ (u + 0.7)
}
`;
  for (const variant of VARIANTS)
    test(`is filled into a buffer: ${variant.label}`, { skip: variant.skip }, async () => {
      const { model } = loadModel(SOURCE);
      const program = deriveModel(model);
      const values = (count: number, seed: number) =>
        Array.from({ length: count }, (_, i) => Math.sin(seed * 12.9898 + i * 78.233));
      const point: EvalPoint = {
        n: 2,
        params: { w: tensor([4, 2], values(8, 1)), u: tensor([4, 3], values(12, 2)) },
        fixed: {},
        inputs: { x: [tensor([2], values(2, 3)), tensor([2], values(2, 4))] },
        direction: { w: tensor([4, 2], values(8, 5)), u: tensor([4, 3], values(12, 6)) },
        cotangent: [tensor([3], values(3, 7)), tensor([3], values(3, 8))],
      };
      const { kernels } = await compileModel(model, {
        source: SOURCE,
        maxBatch: 2,
        cacheDir: CACHE,
        backend: variant.backend,
        dtype: variant.dtype,
      });
      const result = compareWithInterpreter(program, kernels, point, { tolerance: variant.tolerance });
      assert.deepEqual(result.failures, []);
      assert.ok(result.entries > 0);
      kernels.dispose();
    });
});
