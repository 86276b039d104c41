/**
 * Prepared sets (compiler/codegen/prepared-sets.ts), on every backend and dtype:
 *   - fLinPrepared / fQuadPrepared on a set of more examples than the buffers hold give the
 *     values of the unprepared fLin / fQuad run chunk by chunk, to the kernel suites' tolerance;
 *   - a mini-batch gathered by loadPrepared (rows of a larger set, out of order, from several
 *     chunks) drives lossAndGradLin / lossAndGradQuad as prepare on those examples does: the
 *     interpreter comparison of spec/support/kernel-check.ts runs with `prepare` replaced by
 *     prepareSet + loadPrepared and fLin / fQuad by their prepared-set forms;
 *   - the module's record of what its buffers hold survives any order of calls;
 *   - misuse is refused with a clear error.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import type { CompiledKernels } from "../../compiler/codegen/api.ts";
import { compileModel } from "../../compiler/codegen/compile.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import type { EvalPoint } from "../../runtime/point.ts";
import { kinkSafeForFloat32, VARIANTS, variantRuns } from "../support/backends.ts";
import { largestIntermediate } from "../support/cases.ts";
import { nth, present } from "../support/entries.ts";
import { examples } from "../support/examples.ts";
import { compareWithInterpreter, pack, packExamples, withinTolerance } from "../support/kernel-check.ts";
import { bindingsOf, describeCase, pointArbitrary } from "../support/points.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-prepared-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

/** The buffers hold 3 examples; sets hold more, so that they are prepared and evaluated in chunks. */
const MAX_BATCH = 3;

/** Several random points of a model merged into one of 4–12 examples, with the first point's params and direction. */
function setPointArbitrary(model: Parameters<typeof pointArbitrary>[0]): fc.Arbitrary<EvalPoint> {
  return fc.array(pointArbitrary(model), { minLength: 4, maxLength: 4 }).map((points) => {
    const first = nth(points, 0);
    const inputs = Object.fromEntries(
      Object.keys(first.inputs).map((name) => [name, points.flatMap((p) => nth(p.inputs, name))]),
    );
    return {
      ...first,
      n: points.reduce((total, p) => total + p.n, 0),
      inputs,
      cotangent: points.flatMap((p) => p.cotangent),
    };
  });
}

async function compiled(example: ReturnType<typeof examples>[number], variant: (typeof VARIANTS)[number]) {
  const { model } = loadModel(example.source, { file: example.path, set: example.set });
  const { kernels } = await compileModel(model, {
    source: example.source,
    file: example.path,
    maxBatch: MAX_BATCH,
    cacheDir: CACHE,
    backend: variant.backend,
    dtype: variant.dtype,
  });
  return { model, program: deriveModel(model), kernels };
}

/** The unprepared kernel on chunks of at most MAX_BATCH examples. */
function unprepared(
  kernels: CompiledKernels,
  kind: "fLin" | "fQuad",
  w0: Float64Array,
  dw: Float64Array,
  x: readonly Float64Array[],
  n: number,
): Float64Array {
  const K = kernels.layout.outputSize;
  const result = new Float64Array(n * K);
  const chunk = new Float64Array(MAX_BATCH * K);
  for (let start = 0; start < n; start += MAX_BATCH) {
    const rows = Math.min(MAX_BATCH, n - start);
    const part = kernels.layout.inputs.map((slot, k) =>
      nth(x, k).subarray(start * slot.size, (start + rows) * slot.size),
    );
    kernels[kind](w0, dw, part, rows, chunk);
    result.set(chunk.subarray(0, rows * K), start * K);
  }
  return result;
}

describe("fLinPrepared and fQuadPrepared equal the unprepared kernels, chunk by chunk", () => {
  for (const variant of VARIANTS)
    test(variant.label, { skip: variant.skip }, async () => {
      for (const example of examples()) {
        const { model, program, kernels } = await compiled(example, variant);
        const layout = kernels.layout;
        const K = layout.outputSize;
        fc.assert(
          fc.property(setPointArbitrary(model), (point) => {
            fc.pre(variant.dtype === "f64" || kinkSafeForFloat32(program, point));
            kernels.setFixed(pack(layout.fixed, point.fixed, layout.fixedCount));
            const w0 = pack(layout.params, point.params, layout.paramCount);
            const dw = pack(layout.params, point.direction, layout.paramCount);
            const x = layout.inputs.map((slot) => packExamples(nth(point.inputs, slot.name), slot.size));
            const set = kernels.prepareSet(w0, x, point.n);
            assert.equal(set.n, point.n);
            for (const [kind, root] of [
              ["fLin", program.fLin],
              ["fQuad", program.fQuad],
            ] as const) {
              const expected = unprepared(kernels, kind, w0, dw, x, point.n);
              const actual = new Float64Array(point.n * K).fill(Number.NaN);
              kernels[`${kind}Prepared`](set, dw, actual);
              const scale = largestIntermediate([root], bindingsOf(point));
              actual.forEach((a, i) =>
                assert.ok(
                  withinTolerance(a, nth(expected, i), scale, variant.tolerance),
                  `${example.file}, ${variant.label}, ${kind}Prepared[${i}]: ${a}, unprepared ${expected[i]} (scale ${scale})\n${describeCase(example.source, point)}`,
                ),
              );
            }
          }),
          { numRuns: variantRuns(variant, 3, 1) },
        );
        kernels.dispose();
      }
    });
});

/**
 * The kernels with `prepare` done through a prepared set: the point's examples are rows of a
 * larger set in reverse order, with decoy examples between them (so that the rows come from
 * several chunks and none is where the batch wants it), and loadPrepared gathers them back into
 * the point's order; fLin and fQuad run on a prepared set of the point's examples.
 */
function throughPreparedSets(kernels: CompiledKernels): CompiledKernels {
  const decoy = (value: number, i: number) => 0.5 - 0.7 * value + 0.01 * i;
  /** Example b of the batch is row 2(n − 1 − b) + 1 of the set. */
  const rowOf = (b: number, n: number) => 2 * (n - 1 - b) + 1;
  return {
    ...kernels,
    prepare(w0, x, n) {
      const inputs = kernels.layout.inputs.map((slot, k) => {
        const example = (b: number) => nth(x, k).subarray(b * slot.size, (b + 1) * slot.size);
        const all = new Float64Array((2 * n + 1) * slot.size);
        for (let j = 0; j <= 2 * n; j++) all.set(example(Math.min(j >> 1, n - 1)).map(decoy), j * slot.size);
        for (let b = 0; b < n; b++) all.set(example(b), rowOf(b, n) * slot.size);
        return all;
      });
      const set = kernels.prepareSet(w0, inputs, 2 * n + 1);
      kernels.loadPrepared(
        set,
        Array.from({ length: n }, (_, b) => rowOf(b, n)),
      );
    },
    fLin: (w0, dw, x, n, out) => kernels.fLinPrepared(kernels.prepareSet(w0, x, n), dw, out),
    fQuad: (w0, dw, x, n, out) => kernels.fQuadPrepared(kernels.prepareSet(w0, x, n), dw, out),
  };
}

describe("a mini-batch gathered from a prepared set steps as prepare on its examples (against the interpreter)", () => {
  for (const variant of VARIANTS)
    test(variant.label, { skip: variant.skip }, async () => {
      for (const example of examples()) {
        const { model, program, kernels } = await compiled(example, variant);
        const staged = throughPreparedSets(kernels);
        fc.assert(
          fc.property(pointArbitrary(model), (point) => {
            fc.pre(variant.dtype === "f64" || kinkSafeForFloat32(program, point));
            const result = compareWithInterpreter(program, staged, point, {
              tolerance: variant.tolerance,
              skipJacobian: true,
            });
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

describe("state and misuse", () => {
  const example = present(
    examples().find((e) => e.file === "two_layer_relu.nqm"),
    "the example two_layer_relu.nqm",
  );
  const f64 = present(
    VARIANTS.find((v) => v.dtype === "f64" && v.primary),
    "the primary f64 variant",
  );
  const f32 = present(
    VARIANTS.find((v) => v.dtype === "f32" && v.backend === f64.backend),
    "its f32 variant",
  );

  test("a set's values do not depend on what the buffers held before (other sets, prepare, gathers)", async () => {
    for (const variant of [f64, f32]) {
      const { kernels } = await compiled(example, variant);
      const { paramCount: P, outputSize: K, inputs } = kernels.layout;
      const d = nth(inputs, 0).size;
      const w0 = Float64Array.from({ length: P }, (_, i) => Math.sin(i + 1));
      const w1 = Float64Array.from({ length: P }, (_, i) => Math.cos(3 * i + 2));
      const dw = Float64Array.from({ length: P }, (_, i) => 0.2 * Math.sin(7 * i));
      const xa = [Float64Array.from({ length: 7 * d }, (_, i) => Math.cos(0.9 * i))];
      const xb = [Float64Array.from({ length: 5 * d }, (_, i) => Math.sin(1.3 * i))];
      const a = kernels.prepareSet(w0, xa, 7);
      const quad = (set: typeof a, n: number) => {
        const out = new Float64Array(n * K);
        kernels.fQuadPrepared(set, dw, out);
        return out;
      };
      const baseline = quad(a, 7);
      const b = kernels.prepareSet(w1, xb, 5);
      const other = quad(b, 5);
      assert.notDeepEqual(other.subarray(0, 5), baseline.subarray(0, 5), "another set, other values");
      assert.deepEqual(quad(a, 7), baseline, `${variant.label}: after another set`);
      kernels.prepare(w1, xb, 2);
      assert.deepEqual(quad(a, 7), baseline, `${variant.label}: after prepare`);
      kernels.loadPrepared(b, [4, 0, 3]);
      assert.deepEqual(quad(a, 7), baseline, `${variant.label}: after a gather of another set`);
      kernels.loadPrepared(a, [6, 1]);
      assert.deepEqual(quad(a, 7), baseline, `${variant.label}: after a gather of the same set`);
      assert.deepEqual(quad(b, 5), other, `${variant.label}: the other set again`);
      kernels.dispose();
    }
  });

  test("misuse is refused", async () => {
    const { kernels } = await compiled(example, f64);
    const { kernels: others } = await compiled(example, f32);
    const { paramCount: P, outputSize: K, inputs } = kernels.layout;
    const w0 = new Float64Array(P).fill(0.5);
    const x = [new Float64Array(5 * nth(inputs, 0).size).fill(0.25)];
    const set = kernels.prepareSet(w0, x, 5);
    assert.equal(
      kernels.preparedSetBytes(5) - kernels.preparedSetBytes(4),
      kernels.preparedSetBytes(1) - kernels.preparedSetBytes(0),
    );
    assert.throws(() => others.loadPrepared(set), /not a prepared set of these kernels/);
    assert.throws(
      () => kernels.fLinPrepared(others.prepareSet(w0, x, 5), w0, new Float64Array(5 * K)),
      /not a prepared set/,
    );
    assert.throws(() => kernels.loadPrepared(set), /n must be an integer in \[1, 3\], got 5/);
    assert.throws(() => kernels.loadPrepared(set, [0, 5]), /row 5 is not an example of the set \(0 to 4\)/);
    assert.throws(() => kernels.lossAndGradLin(w0, new Float64Array(K), new Float64Array(P), false), /before prepare/);
    assert.throws(() => kernels.fLinPrepared(set, w0, new Float64Array(4 * K)), /out holds 4 entries/);
    assert.throws(() => kernels.prepareSet(w0, x, 0), /n must be a positive integer, got 0/);
    kernels.dispose();
    others.dispose();
  });
});
