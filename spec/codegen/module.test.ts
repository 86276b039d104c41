/**
 * The generated module (issue 4): every example compiles and loads; its TypeScript type-checks
 * under strict settings on its own (it imports nothing) and against the CompiledKernels and
 * KernelsModule types of compiler/codegen/api.ts (for both backends and both dtypes), so the
 * two cannot drift apart; its text is
 * deterministic, quotes the model source safely, allocates only in createKernels, and its
 * memory estimate is what createKernels allocates.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import type { CompiledKernels } from "../../compiler/codegen/api.ts";
import { compileModel, generateChecked } from "../../compiler/codegen/compile.ts";
import { layoutOf } from "../../compiler/codegen/layout.ts";
import { literal } from "../../compiler/ir/literal.ts";
import { loadModel } from "../../compiler/frontend.ts";
import type { Dtype } from "../../compiler/codegen/api.ts";
import { DEFAULT_BACKEND, VARIANTS } from "../support/backends.ts";
import { examples, type Example } from "../support/examples.ts";
import { nth, present } from "../support/entries.ts";
import { typeCheck } from "../support/typecheck.ts";

const ROOT = join(import.meta.dirname, "../..");
const CACHE = mkdtempSync(join(tmpdir(), "nqm-codegen-module-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

interface Compiled {
  readonly example: Example;
  readonly name: string;
  readonly typescript: string;
  readonly kernels: CompiledKernels;
}

const compiled: Compiled[] = [];
before(async () => {
  for (const example of examples()) {
    const { model } = loadModel(example.source, { file: example.path, set: example.set });
    const result = await compileModel(model, {
      source: example.source,
      file: example.path,
      maxBatch: 4,
      cacheDir: CACHE,
    });
    assert.equal(result.fromCache, false);
    compiled.push({ example, name: model.name, typescript: present(result.typescript), kernels: result.kernels });
  }
});

// ---------------------------------------------------------------- type checking

/** Type-checks in-memory files under spec/codegen/.virtual, so they can import the real api.ts by a relative path. */
const typeCheckVirtual = (files: Readonly<Record<string, string>>) =>
  typeCheck(join(ROOT, "spec/codegen/.virtual"), files);

/** Asserts that the generated Kernels interface and api.ts's CompiledKernels<A> agree. */
const API_CHECK = (module: string, dtype: Dtype) => {
  const A = dtype === "f32" ? "CompiledKernels<Float32Array>" : "CompiledKernels<Float64Array>";
  const M = dtype === "f32" ? "KernelsModule<Float32Array>" : "KernelsModule<Float64Array>";
  return `
import type { CompiledKernels, KernelsModule } from "../../../compiler/codegen/api.ts";
import * as generated from "./${module}.ts";
import { createKernels, type Kernels } from "./${module}.ts";

export const kernels: ${A} = createKernels();
export const threaded: ${A} = createKernels({ threads: 2 });
export const asModule: ${M} = generated;
// The same members on both sides, and every method assignable both ways.
type SameKeys<A, B> = [keyof A] extends [keyof B] ? ([keyof B] extends [keyof A] ? true : false) : false;
export const sameKeys: SameKeys<Kernels, ${A}> = true;
type Methods<T> = Omit<T, "layout">;
export const forward: Methods<${A}> = null! as Methods<Kernels>;
export const backward: Methods<Kernels> = null! as Methods<${A}>;
`;
};

describe("generated modules", () => {
  test("every example compiles, loads and runs", () => {
    assert.ok(compiled.length >= 7, `${compiled.length} examples`);
    for (const { example, kernels } of compiled) {
      const layout = kernels.layout;
      const w = Float64Array.from({ length: layout.paramCount }, (_, i) => Math.sin(i + 1));
      const x = layout.inputs.map((slot) => Float64Array.from({ length: 2 * slot.size }, (_, i) => Math.cos(i + 1)));
      kernels.setFixed(Float64Array.from({ length: layout.fixedCount }, (_, i) => (i % 2 ? 1 : -1)));
      const out = new Float64Array(2 * layout.outputSize).fill(Number.NaN);
      kernels.f(w, x, 2, out);
      assert.ok(out.every(Number.isFinite), `${example.file}: f gave ${out}`);
    }
  });

  test("the generated TypeScript type-checks under strict settings, and against api.ts: every backend and dtype", async () => {
    const files: Record<string, string> = {};
    const variants = VARIANTS.filter((v) => v.skip === undefined);
    // An f32 module is its f64 twin with other array types, offsets and GEMM bytes: two examples
    // (a scalar and a vector output) check it on each backend; each module costs the checker ~0.4 s.
    const f32Examples = new Set(["two_layer_relu.nqm", "mnist_multiclass.nqm"]);
    for (const file of f32Examples)
      assert.ok(
        compiled.some((c) => c.example.file === file),
        `no example ${file}`,
      );
    for (const { example, name, typescript } of compiled) {
      for (const { backend, dtype } of variants) {
        if (dtype === "f32" && !f32Examples.has(example.file)) continue;
        const module = `${name}-${backend}-${dtype}`;
        const { model } = loadModel(example.source, { file: example.path, set: example.set });
        files[`${module}.ts`] =
          backend === DEFAULT_BACKEND && dtype === "f64"
            ? typescript
            : (await generateChecked(model, { source: example.source, maxBatch: 4, backend, dtype })).code;
        files[`${module}.check.ts`] = API_CHECK(module, dtype);
      }
    }
    // Controls: the same checker must reject a module that does not meet the interface, and a
    // float64 module where a float32 one is expected.
    const first = `${nth(compiled, 0).name}-${nth(variants, 0).backend}-f64`;
    files["control.check.ts"] =
      `import type { CompiledKernels } from "../../../compiler/codegen/api.ts";\nexport const k: CompiledKernels = { maxBatch: 1 };\n`;
    files["control-dtype.check.ts"] =
      `import type { CompiledKernels } from "../../../compiler/codegen/api.ts";\nimport { createKernels } from "./${first}.ts";\nexport const k: CompiledKernels<Float32Array> = createKernels();\n`;
    const diagnostics = typeCheckVirtual(files);
    for (const control of ["control.check.ts", "control-dtype.check.ts"]) {
      assert.ok(present(diagnostics.get(control)).length > 0, `${control} type-checked: the check is vacuous`);
      diagnostics.delete(control);
    }
    const errors = [...diagnostics]
      .filter(([, list]) => list.length > 0)
      .map(([name, list]) => `${name}:\n  ${list.slice(0, 5).join("\n  ")}`);
    assert.deepEqual(errors, []);
  });

  test("the module's LAYOUT is the layout of the model, packed in declaration order", () => {
    for (const { example, kernels } of compiled) {
      const { model } = loadModel(example.source, { set: example.set });
      assert.deepEqual(JSON.parse(JSON.stringify(kernels.layout)), JSON.parse(JSON.stringify(layoutOf(model))));
      let offset = 0;
      for (const slot of kernels.layout.params) {
        assert.equal(slot.offset, offset, `${example.file}: ${slot.name}`);
        offset += slot.size;
      }
      assert.equal(kernels.layout.paramCount, offset);
      assert.equal(kernels.maxBatch, 4);
    }
  });

  test("generation is deterministic", async () => {
    const { example, typescript } = nth(compiled, 0);
    const { model } = loadModel(example.source, { file: example.path, set: example.set });
    assert.equal(
      (await generateChecked(model, { source: example.source, file: example.path, maxBatch: 4 })).code,
      typescript,
    );
  });

  test("buffers are allocated in createKernels only, and the memory estimate is what it allocates", async () => {
    for (const { example } of compiled) {
      const { model } = loadModel(example.source, { set: example.set });
      for (const backend of ["js", "wasm"] as const) {
        const generated = await generateChecked(model, { source: example.source, maxBatch: 4, backend });
        const factory = generated.code.slice(generated.code.indexOf("export function createKernels"));
        const kernelsStart = factory.indexOf("const kernels: Kernels = {");
        assert.ok(kernelsStart > 0);
        // Every `new` of a kernel's data is in the factory's prologue, none inside a kernel.
        assert.doesNotMatch(
          factory.slice(kernelsStart),
          /\bnew\s+(?!RangeError|Error)/,
          `${example.file}: allocation inside a kernel`,
        );
        const prologue = factory.slice(0, kernelsStart);
        if (backend === "js") {
          // initialize(seed) allocates the arrays it returns; nothing else outside createKernels does.
          const before = generated.code
            .slice(0, generated.code.indexOf("export function createKernels"))
            .replace(/^export function initialize\([\s\S]*?^}$/m, "");
          assert.match(generated.code, /^export function initialize\(/m);
          assert.doesNotMatch(before, /\bnew\s/, `${example.file}: allocation outside createKernels`);
          const allocated = [...prologue.matchAll(/new Float64Array\((\d+)\)/g)].reduce(
            (sum, m) => sum + Number(m[1]),
            0,
          );
          assert.equal(allocated * 8, generated.workspaceBytes, example.file);
          continue;
        }
        // wasm: views of one memory, disjoint, below the GEMM scratch that follows them.
        const views = [...prologue.matchAll(/new Float64Array\(memory\.buffer, (\d+), (\d+)\)/g)].map((m) => ({
          start: Number(m[1]),
          end: Number(m[1]) + 8 * Number(m[2]),
        }));
        assert.ok(views.length >= 9, `${example.file}: ${views.length} views`);
        views.sort((a, b) => a.start - b.start);
        views.forEach((v, i) =>
          assert.ok(i === 0 || nth(views, i - 1).end <= v.start, `${example.file}: views overlap`),
        );
        const scratchBase = Number(/const scratchBase = (\d+);/.exec(prologue)?.[1]);
        const perThread = Number(/const GEMM_SCRATCH = (\d+);/.exec(generated.code)?.[1]);
        assert.ok(
          present(views.at(-1)).end <= scratchBase * 8,
          `${example.file}: a view reaches into the GEMM scratch`,
        );
        assert.equal(generated.workspaceBytes, (scratchBase + perThread) * 8, example.file);
      }
    }
  });
});

describe("kernel calls", () => {
  test("the batch size is checked", () => {
    const { kernels } = nth(compiled, 0);
    const layout = kernels.layout;
    const w = new Float64Array(layout.paramCount);
    const x = layout.inputs.map((slot) => new Float64Array(8 * slot.size));
    const out = new Float64Array(8 * layout.outputSize);
    for (const n of [0, -1, 1.5, 5, Number.NaN]) assert.throws(() => kernels.f(w, x, n, out), RangeError, `n = ${n}`);
    for (const n of [1, 4]) kernels.f(w, x, n, out);
  });

  test("every kernel also works detached from the object (destructured)", () => {
    for (const { example, kernels } of compiled) {
      const { f, jvp, vjp, ntkMatVec, jacobianRows, lossAndGrad, prepare, lossAndGradLin, lossAndGradQuad } = kernels;
      const { paramCount: P, outputSize: K } = kernels.layout;
      const w = Float64Array.from({ length: P }, (_, i) => Math.sin(i + 1));
      const x = kernels.layout.inputs.map((slot) =>
        Float64Array.from({ length: 2 * slot.size }, (_, i) => Math.cos(i + 1)),
      );
      const v = Float64Array.from({ length: 2 * K }, (_, i) => i - 1.5);
      const out = new Float64Array(2 * K);
      f(w, x, 2, out);
      ntkMatVec(w, x, 2, v, out);
      // K v = J (Jᵀ v), from the Jacobian rows.
      const rows = new Float64Array(2 * K * P);
      jacobianRows(w, x, 2, rows);
      const jtv = new Float64Array(P);
      vjp(w, x, v, 2, jtv);
      const expected = new Float64Array(2 * K);
      jvp(w, jtv, x, 2, expected);
      for (let r = 0; r < 2 * K; r++) {
        let dot = 0;
        for (let p = 0; p < P; p++) dot += nth(rows, r * P + p) * nth(jtv, p);
        assert.ok(
          Math.abs(dot - nth(expected, r)) <= 1e-12 * (Math.abs(nth(expected, r)) + 1),
          `${example.file}: row ${r}`,
        );
        assert.ok(
          Math.abs(nth(out, r) - nth(expected, r)) <= 1e-12 * (Math.abs(nth(expected, r)) + 1),
          `${example.file}: ntkMatVec ${r}`,
        );
      }
      lossAndGrad(w, x, v, 2, new Float64Array(P), true);
      prepare(w, x, 2);
      lossAndGradLin(jtv, v, new Float64Array(P), false);
      lossAndGradQuad(jtv, v, new Float64Array(P), false);
    }
  });

  test("ntkMatVec reuses its prepared point only while w, x and n are unchanged (in place edits included)", () => {
    for (const { example, kernels } of compiled) {
      const { paramCount: P, outputSize: K } = kernels.layout;
      const w = Float64Array.from({ length: P }, (_, i) => Math.sin(i + 1));
      const x = kernels.layout.inputs.map((slot) =>
        Float64Array.from({ length: 3 * slot.size }, (_, i) => Math.cos(i + 1)),
      );
      const v = Float64Array.from({ length: 3 * K }, (_, i) => i - 1.5);
      /** J (Jᵀ v) through vjp and jvp, which prepare nothing. */
      const composed = (n: number) => {
        const jtv = new Float64Array(P);
        kernels.vjp(w, x, v, n, jtv);
        const out = new Float64Array(n * K);
        kernels.jvp(w, jtv, x, n, out);
        return out;
      };
      const check = (n: number, what: string) => {
        const out = new Float64Array(n * K);
        kernels.ntkMatVec(w, x, n, v, out);
        const expected = composed(n);
        assert.equal(out.length, expected.length);
        for (const [r, got] of out.entries()) {
          const want = nth(expected, r);
          assert.ok(
            Math.abs(got - want) <= 1e-12 * (Math.abs(want) + 1),
            `${example.file}, ${what}: entry ${r} is ${got}, J Jᵀ v gives ${want}`,
          );
        }
      };
      check(3, "first call");
      check(3, "same point");
      w[P - 1] = nth(w, P - 1) + 0.75;
      w[0] = -nth(w, 0);
      check(3, "w edited in place");
      const input = nth(x, 0);
      input[input.length - 1] = 2.5;
      check(3, "x edited in place");
      check(2, "fewer examples");
    }
  });

  test("a staged step before prepare is an error, not a silent zero", async () => {
    const { example } = nth(compiled, 0);
    const { model } = loadModel(example.source, { set: example.set });
    const fresh = (await compileModel(model, { source: example.source, maxBatch: 4, cacheDir: CACHE })).kernels;
    const dw = new Float64Array(fresh.layout.paramCount);
    const y = new Float64Array(4 * fresh.layout.outputSize);
    assert.throws(() => fresh.lossAndGradLin(dw, y, new Float64Array(dw.length), false), /before prepare/);
    assert.throws(() => fresh.lossAndGradQuad(dw, y, new Float64Array(dw.length), false), /before prepare/);
  });
});

describe("model text in the generated module", () => {
  const SOURCE = `# a comment with a comment terminator */ and an opener /* in it
model commented {
  dim d = 2
  input x: [d]     # */ throw new Error("escaped the comment") /*
  param w: [d] ~ normal(0, 1)
  output dot(w, x)
}
`;

  test("a `*/` in the model source stays inside the quoting comment", async () => {
    const { model } = loadModel(SOURCE);
    const result = await compileModel(model, { source: SOURCE, maxBatch: 2, cacheDir: CACHE });
    const out = new Float64Array(1);
    result.kernels.f(Float64Array.of(2, 3), [Float64Array.of(5, 7)], 1, out);
    assert.equal(out[0], 31);
    // The quoted source is still readable, line by line.
    assert.match(present(result.typescript), /^ \* model commented \{$/m);
    assert.match(present(result.typescript), /^ \* {3}param w: \[d\] ~ normal\(0, 1\)$/m);
  });

  test("a `*/` in the file name stays inside the header comment", async () => {
    const { model } = loadModel(SOURCE);
    // A cache folder of its own: a module already imported from the same path would not be evaluated again.
    const cacheDir = mkdtempSync(join(CACHE, "header-"));
    const result = await compileModel(model, {
      source: SOURCE,
      file: `odd*/ throw new Error("escaped"); /*.nqm`,
      maxBatch: 2,
      cacheDir,
    });
    assert.equal(result.fromCache, false);
    assert.match(present(result.typescript), /^ \* Kernels for model commented of odd\*\\\/ throw/m);
    const out = new Float64Array(1);
    result.kernels.f(Float64Array.of(1, 1), [Float64Array.of(1, 2)], 1, out);
    assert.equal(out[0], 3);
  });

  test("comments point back to the model's source lines", () => {
    const example = present(compiled.find((c) => c.example.file === "two_layer_relu.nqm"));
    const lines = example.example.source.split("\n");
    for (const text of ["let z = u @ x / sqrt(d)", "output dot(v, relu(z)) / sqrt(m)"]) {
      const line = lines.findIndex((l) => l.includes(text)) + 1;
      const declaration = text.startsWith("output") ? text.slice("output ".length) : text;
      assert.ok(line > 0);
      assert.match(
        example.typescript,
        new RegExp(`^\\s*// (from )?line ${line}: ${declaration.replace(/[()@/*+?.^$|[\]\\]/g, "\\$&")}$`, "m"),
        text,
      );
    }
  });

  test("a lone carriage return in the model (whitespace to nqm, a line end to JavaScript) stays inside the line comments", async () => {
    const source =
      "model cr {\n  dim d = 2\n  input x: [d]\n  param w: [d] ~ normal(0, 1)\n  let z = dot(w, x)\r/ 2\n  output z * z\n}\n";
    const { model } = loadModel(source);
    const result = await compileModel(model, { source, maxBatch: 1, cacheDir: CACHE });
    const out = new Float64Array(1);
    result.kernels.f(Float64Array.of(1, 2), [Float64Array.of(3, 4)], 1, out);
    assert.equal(out[0], 30.25);
  });

  test("number literals read back as the same double, and nothing else becomes a literal", () => {
    for (const value of [0, -0, 1, -1.5, 1e-300, -1e300, 5e-324, 0.1 + 0.2, Math.PI, 2 ** 53 + 2]) {
      const text = literal(value);
      assert.ok(Object.is(Function(`return ${text};`)(), value), `${value} → ${text}`);
      assert.ok(Object.is(Function(`return -${text};`)(), -value), `-${text}`);
    }
    assert.throws(() => literal(Object.prototype.valueOf as unknown as number), /internal/);
  });
});
