/**
 * The generated module on its own (issue 13): `initialize(seed)` draws the w0 and fixed tensors
 * that nqm's runtime draws for the same seed (runtime/init.ts), for every example and both
 * dtypes, so a user of the standalone module starts where `nqm train --seed` starts; and every
 * kernel refuses an array that is too short with a RangeError naming the kernel and the array,
 * instead of reading past its end.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { KernelArray, KernelsModule } from "../../compiler/codegen/api.ts";
import { compileModel } from "../../compiler/codegen/compile.ts";
import { layoutOf } from "../../compiler/codegen/layout.ts";
import { loadModel } from "../../compiler/frontend.ts";
import type { CheckedModel } from "../../compiler/check/typed.ts";
import { initializeFlat } from "../../runtime/init.ts";
import { examples } from "../support/examples.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-initialize-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

interface Loaded {
  readonly file: string;
  readonly model: CheckedModel;
  readonly module: KernelsModule<KernelArray>;
  readonly dtype: "f64" | "f32";
}

/** Every initializer kind, a param without one (normal(0, 1)) and a fixed tensor. */
const EVERY_INITIALIZER = {
  file: "every-initializer.nqm",
  path: "every-initializer.nqm",
  set: {},
  source: `model inits {
  dim d = 3
  input x: [d]
  param a: [d] ~ normal(0.5, 2)
  param b: [d] ~ uniform(-1, 3)
  param c: [d] ~ rademacher()
  param z: [d] ~ zeros()
  param o: [d] ~ ones()
  param k: [d] ~ constant(0.25)
  param n: [d]
  fixed s: [d] ~ uniform(0, 1)
  output dot(a, x) + dot(b, x) + dot(c, x) + dot(z, x) + dot(o, x) + dot(k, x) + dot(n, s * x)
}
`,
};

const loaded: Loaded[] = [];
before(async () => {
  for (const example of [...examples(), EVERY_INITIALIZER])
    for (const dtype of ["f64", "f32"] as const) {
      const { model } = loadModel(example.source, { file: example.path, set: example.set });
      const result = await compileModel(model, {
        source: example.source,
        file: example.path,
        maxBatch: 3,
        cacheDir: CACHE,
        backend: "js",
        dtype,
      });
      loaded.push({ file: example.file, model, module: result.module, dtype });
    }
});

describe("initialize(seed) of the generated module", () => {
  test("draws exactly the runtime's w0 and fixed tensors, for several seeds, every example and dtype", () => {
    assert.ok(loaded.length >= 14);
    for (const { file, model, module, dtype } of loaded)
      for (const seed of [0, 1, 7, 2 ** 33 + 5]) {
        const expected = initializeFlat(model, layoutOf(model), seed);
        const drawn = module.initialize(seed);
        // An f32 module holds the runtime's float64 draws rounded to float32.
        const Typed = dtype === "f32" ? Float32Array : Float64Array;
        assert.ok(drawn.w instanceof Typed, `${file} ${dtype}: w is a ${Typed.name}`);
        assert.deepEqual([...drawn.w], [...Typed.from(expected.w)], `${file} ${dtype} seed ${seed}: w`);
        assert.deepEqual([...drawn.fixed], [...Typed.from(expected.fixed)], `${file} ${dtype} seed ${seed}: fixed`);
      }
  });

  test("each kind draws what it says (a model with every initializer)", () => {
    const every = loaded.find((l) => l.file === EVERY_INITIALIZER.file && l.dtype === "f64");
    assert.ok(every);
    const { w, fixed } = every.module.initialize(3);
    const slice = (name: string) => {
      const slot = layoutOf(every.model).params.find((p) => p.name === name) ?? assert.fail(name);
      return [...w.subarray(slot.offset, slot.offset + slot.size)];
    };
    assert.deepEqual(slice("z"), [0, 0, 0]);
    assert.deepEqual(slice("o"), [1, 1, 1]);
    assert.deepEqual(slice("k"), [0.25, 0.25, 0.25]);
    for (const value of slice("c")) assert.ok(value === 1 || value === -1);
    for (const value of slice("b")) assert.ok(value >= -1 && value < 3);
    for (const value of fixed) assert.ok(value >= 0 && value < 1);
    assert.equal(fixed.length, 3);
  });

  test("the default seed is 0; other seeds give other draws; a non-finite seed is a RangeError", () => {
    const { module } = loaded[0] ?? assert.fail("no example compiled");
    assert.deepEqual(module.initialize().w, module.initialize(0).w);
    assert.notDeepEqual(module.initialize(1).w, module.initialize(0).w);
    assert.throws(() => module.initialize(Number.NaN), RangeError);
  });
});

describe("array lengths", () => {
  test("a too-short w, dw, out, grad, y or input is a RangeError naming the kernel and the array", () => {
    for (const { file, model, module, dtype } of loaded.filter((l) => l.dtype === "f64")) {
      const k = module.createKernels();
      const layout = layoutOf(model);
      const P = layout.paramCount;
      const out = layout.outputSize;
      const n = 2;
      const { w } = module.initialize(0);
      const x = layout.inputs.map((input) => new Float64Array(n * input.size).fill(0.5));
      const short = (length: number) => new Float64Array(Math.max(0, length - 1));
      const refused = (run: () => unknown, pattern: RegExp, what: string) =>
        assert.throws(
          run,
          (error: unknown) => error instanceof RangeError && pattern.test(error.message),
          `${file}: ${what}`,
        );
      // The same calls with full-length arrays run.
      k.f(w, x, n, new Float64Array(n * out));
      refused(
        () => k.f(short(P), x, n, new Float64Array(n * out)),
        /^f: w has \d+ entries; it needs at least \d+/,
        "f w",
      );
      refused(() => k.f(w, x, n, short(n * out)), /^f: out has/, "f out");
      refused(() => k.f(w, [], n, new Float64Array(n * out)), /^f: x holds 0 input arrays/, "f x");
      const firstInput = layout.inputs[0];
      if (firstInput && firstInput.size * n > 0)
        refused(
          () => k.f(w, [short(n * firstInput.size), ...x.slice(1)], n, new Float64Array(n * out)),
          /^f: x\[0\]/,
          "f x[0]",
        );
      refused(() => k.jvp(w, short(P), x, n, new Float64Array(n * out)), /^jvp: dw has/, "jvp dw");
      refused(() => k.vjp(w, x, new Float64Array(n * out), n, short(P)), /^vjp: grad has/, "vjp grad");
      refused(() => k.vjp(w, x, short(n * out), n, new Float64Array(P)), /^vjp: c has/, "vjp c");
      refused(() => k.lossAndGrad(w, x, short(n * out), n, new Float64Array(P), false), /^lossAndGrad: y has/, "y");
      refused(() => k.prepare(short(P), x, n), /^prepare: w0 has/, "prepare w0");
      k.prepare(w, x, n);
      refused(
        () => k.lossAndGradLin(short(P), new Float64Array(n * out), new Float64Array(P), false),
        /dw has/,
        "lin dw",
      );
      refused(
        () => k.lossAndGradQuad(new Float64Array(P), short(n * out), new Float64Array(P), false),
        /y has/,
        "quad y",
      );
      refused(() => k.ntkMatVec(w, x, n, short(n * out), new Float64Array(n * out)), /v has/, "ntk v");
      if (layout.fixedCount > 0) refused(() => k.setFixed(short(layout.fixedCount)), /^setFixed: values/, "fixed");
      k.dispose();
      assert.equal(dtype, "f64");
    }
  });
});
