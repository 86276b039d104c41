/**
 * The WebAssembly elementwise steps (compiler/codegen/wasm/elementwise.ts) against the
 * JavaScript reference backend's forms of the same ops (the op table's `kernel.js`, evaluated
 * with the helpers of compiler/math.ts), on values that tell implementations apart: NaN, ±0,
 * ±∞, subnormals, numbers either side of 0.
 *
 * Exactness. Every op with a WebAssembly form is exactly rounded (IEEE +, −, ×, ÷, √, negation,
 * |x|, comparisons and selects), so an f64 map must equal the JavaScript value bit for bit, and
 * an f32 map must equal the float32 rounding of the f64 value of the float32 inputs (for +, −, ×,
 * ÷ and √, rounding the exact result to 53 bits and then to 24 gives the same as rounding it to
 * 24 directly, since 53 ≥ 2·24 + 2), with the op's constants (leaky_relu's slope) in float32 as
 * the float32 module holds them. Batch sums add in example order, as the reference loop
 * does, so they are exact too; reductions keep `lanes` partial sums and are held to the
 * standard bound for a sum of count terms, count·u·Σ|term|.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Attrs, OpName } from "../../../compiler/ir/node.ts";
import { OPS } from "../../../compiler/ir/ops.ts";
import { KERNEL_HELPERS } from "../../../compiler/math.ts";
import type { Dtype } from "../../../compiler/codegen/api.ts";
import type { Region, Scalar, Step } from "../../../compiler/codegen/plan.ts";
import { buildKernelModule, WASM_OPS, type WasmStep, wasmStep } from "../../../compiler/codegen/wasm/elementwise.ts";
import { webAssembly } from "../../../compiler/codegen/wasm/encoder.ts";
import { simdSupported } from "../../../compiler/codegen/wasm/gemm.ts";

const NO_SIMD = simdSupported() ? undefined : "this engine has no WebAssembly SIMD";

const SPECIAL = [
  Number.NaN,
  -0,
  0,
  Number.POSITIVE_INFINITY,
  Number.NEGATIVE_INFINITY,
  5e-324,
  -1e-310,
  1.5,
  -2.25,
  3,
  1e300,
  -7e-5,
  0.1,
];

type Kernel = (...args: number[]) => void;

/** The module of `steps` instantiated over a fresh memory whose arrays are `a`, `b`, `out` (in that order, `size` elements each). */
function instantiate(dtype: Dtype, steps: readonly WasmStep[], size: number) {
  const memory = new webAssembly.Memory({ initial: 64, maximum: 65536, shared: true });
  const places: Record<string, number> = { a: 0, b: size, out: 2 * size };
  const bytes = buildKernelModule(dtype, steps, (array) => {
    const place = places[array];
    if (place === undefined) throw new Error(`no array ${array}`);
    return place;
  });
  const instance = new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory } });
  const view = new (dtype === "f64" ? Float64Array : Float32Array)(memory.buffer as ArrayBuffer, 0, 3 * size);
  const fn = (k: number) => instance.exports[`e${k}`] as Kernel;
  return { view, fn, a: view.subarray(0, size), b: view.subarray(size, 2 * size), out: view.subarray(2 * size) };
}

const region = (array: string, offset: number, size: number, batchStride: number): Region => ({
  array,
  offset,
  size,
  batchStride,
});
const load = (r: Region): Scalar => ({ kind: "load", region: r, index: { kind: "entry" } });

/** The reference backend's scalar function of `op`. */
function reference(op: OpName, attrs: Attrs): (...args: number[]) => number {
  const form = OPS[op].kernel;
  if (form.kind !== "elementwise") throw new Error(`${op} is not elementwise`);
  const names = Array.from({ length: OPS[op].arity }, (_, i) => `p${i}`);
  const helpers = Object.keys(KERNEL_HELPERS);
  const make = new Function(...helpers, `return (${names.join(", ")}) => ${form.js(names, attrs)};`);
  return make(...Object.values(KERNEL_HELPERS)) as (...args: number[]) => number;
}

const ATTRS: Partial<Record<OpName, Attrs>> = {
  leaky_relu: { slope: 0.01 },
  leaky_step: { slope: -0.3 },
  broadcast: { shape: [] },
};

describe("WebAssembly elementwise forms", { skip: NO_SIMD }, () => {
  for (const dtype of ["f64", "f32"] as const)
    for (const op of WASM_OPS)
      test(`${dtype} ${op}: every pair of special values, vector lanes and the scalar tail, as the reference`, () => {
        const arity = OPS[op].arity;
        const attrs = ATTRS[op] ?? {};
        const f = reference(
          op,
          dtype === "f32" && attrs.slope !== undefined ? { ...attrs, slope: Math.fround(attrs.slope) } : attrs,
        );
        // Every pair (a, b), with an odd count so that the last entry goes through the scalar tail.
        const pairs = SPECIAL.flatMap((a) => SPECIAL.map((b) => [a, b] as const));
        const size = pairs.length % 2 === 0 ? pairs.length + 1 : pairs.length;
        const step: Step = {
          kind: "map",
          dest: { kind: "region", region: region("out", 0, size, 0) },
          size,
          batched: false,
          value: {
            kind: "apply",
            op,
            attrs,
            args: [load(region("a", 0, size, 0)), load(region("b", 0, size, 0))].slice(0, arity),
          },
        };
        const compiled = wasmStep(step, () => true);
        assert.ok(compiled, `${op} has no WebAssembly step`);
        const m = instantiate(dtype, [compiled], size);
        pairs.forEach(([a, b], i) => {
          m.a[i] = a;
          m.b[i] = b;
        });
        m.fn(0)(0, size, 0);
        const round = dtype === "f32" ? Math.fround : (x: number) => x;
        for (let i = 0; i < size; i++) {
          const expected = round(f(m.a[i] ?? Number.NaN, m.b[i] ?? Number.NaN));
          const actual = m.out[i];
          assert.ok(
            Object.is(actual, expected),
            `${op}(${m.a[i]}${arity > 1 ? `, ${m.b[i]}` : ""}) = ${actual}, the reference gives ${expected} (entry ${i})`,
          );
        }
      });
});

describe("WebAssembly elementwise steps", { skip: NO_SIMD }, () => {
  // relu(a_j[i]) · b[i] + s, per example, with a per-example stride wider than a row (padding)
  // and an odd row (vector lanes and a scalar tail in every row); s is a shared scalar.
  const SIZE = 37;
  const STRIDE = 40;
  const N = 5;
  const term: Scalar = {
    kind: "apply",
    op: "add",
    attrs: {},
    args: [
      {
        kind: "apply",
        op: "mul",
        attrs: {},
        args: [
          { kind: "apply", op: "relu", attrs: {}, args: [load(region("a", 0, SIZE, STRIDE))] },
          load(region("b", 3, SIZE, 0)),
        ],
      },
      { kind: "local", name: "s7" },
    ],
  };
  const s7 = 0.375;
  const a = (j: number, i: number) => Math.sin(1 + 13 * j + i) * 4;
  const b = (i: number) => Math.cos(i) + 0.5;
  const value = (j: number, i: number) => Math.max(a(j, i), 0) * b(i) + s7;
  const fill = (m: ReturnType<typeof instantiate>) => {
    for (let j = 0; j < N; j++) for (let i = 0; i < SIZE; i++) m.a[j * STRIDE + i] = a(j, i);
    for (let i = 0; i < SIZE; i++) m.b[3 + i] = b(i);
    m.out.fill(Number.NaN);
  };
  const SPACE = N * STRIDE;

  test("a map per example: every entry exact, padding untouched, any cut of the examples the same", () => {
    const step: Step = {
      kind: "map",
      dest: { kind: "region", region: region("out", 1, SIZE, STRIDE) },
      size: SIZE,
      batched: true,
      value: term,
    };
    const compiled = wasmStep(step, () => true);
    assert.equal(compiled?.range, "rows");
    assert.deepEqual(compiled?.locals, ["s7"]);
    const m = instantiate("f64", [compiled as WasmStep], SPACE);
    fill(m);
    m.fn(0)(0, 2, 0, s7);
    m.fn(0)(2, N, 0, s7);
    for (let j = 0; j < N; j++)
      for (let i = -1; i < STRIDE - 1; i++) {
        const actual = m.out[1 + j * STRIDE + i];
        if (i < 0 || i >= SIZE) assert.ok(Number.isNaN(actual), `padding at example ${j}, entry ${i} was written`);
        else assert.ok(Object.is(actual, value(j, i)), `example ${j}, entry ${i}: ${actual} vs ${value(j, i)}`);
      }
  });

  test("a reduction per example within count·u·Σ|term| of the exact sum", () => {
    const step: Step = {
      kind: "reduce",
      dest: { kind: "region", region: region("out", 0, 1, 1) },
      count: SIZE,
      batched: true,
      term,
    };
    const compiled = wasmStep(step, () => true);
    assert.equal(compiled?.range, "rows");
    const m = instantiate("f64", [compiled as WasmStep], SPACE);
    fill(m);
    m.fn(0)(0, N, 0, s7);
    for (let j = 0; j < N; j++) {
      let sum = 0;
      let magnitude = 0;
      for (let i = 0; i < SIZE; i++) {
        sum += value(j, i);
        magnitude += Math.abs(value(j, i));
      }
      const bound = 2 * SIZE * 2 ** -53 * magnitude;
      const actual = m.out[j] ?? Number.NaN;
      assert.ok(Math.abs(actual - sum) <= bound, `example ${j}: ${actual} vs ${sum} (bound ${bound})`);
    }
  });

  for (const dtype of ["f64", "f32"] as const)
    test(`${dtype}: a batch sum adds the examples in order, and slices of entries give the same`, () => {
      const step: Step = {
        kind: "batchSum",
        dest: { kind: "region", region: region("out", 2, SIZE, 0) },
        size: SIZE,
        term,
      };
      const compiled = wasmStep(step, () => true);
      assert.equal(compiled?.range, "entries");
      const m = instantiate(dtype, [compiled as WasmStep], SPACE);
      fill(m);
      const round = dtype === "f32" ? Math.fround : (x: number) => x;
      const expected = Array.from({ length: SIZE }, (_, i) => {
        let sum = 0;
        const bi = round(b(i));
        for (let j = 0; j < N; j++) sum = round(sum + round(round(Math.max(round(a(j, i)), 0) * bi) + round(s7)));
        return sum;
      });
      m.fn(0)(0, 16, N, s7);
      m.fn(0)(16, SIZE, N, s7);
      assert.ok(Number.isNaN(m.out[1]) && Number.isNaN(m.out[2 + SIZE]), "a batch sum wrote outside its entries");
      for (let i = 0; i < SIZE; i++)
        assert.ok(Object.is(m.out[2 + i], expected[i]), `entry ${i}: ${m.out[2 + i]} vs ${expected[i]}`);
    });

  test("steps stay in JavaScript when they cannot be computed here", () => {
    const entries = region("a", 0, SIZE, STRIDE);
    const transcendental: Step = {
      kind: "map",
      dest: { kind: "region", region: region("out", 0, SIZE, STRIDE) },
      size: SIZE,
      batched: true,
      value: { kind: "apply", op: "tanh", attrs: {}, args: [load(entries)] },
    };
    assert.equal(
      wasmStep(transcendental, () => true),
      undefined,
      "tanh has no exactly rounded form",
    );
    assert.equal(
      wasmStep(
        transcendental.kind === "map" ? { ...transcendental, value: load(entries) } : transcendental,
        (x) => x !== "a",
      ),
      undefined,
      "an array outside the memory",
    );
    const strided: Step = {
      kind: "map",
      dest: { kind: "region", region: region("out", 0, SIZE, STRIDE) },
      size: SIZE,
      batched: true,
      value: {
        kind: "load",
        region: entries,
        index: { kind: "transposed", of: { kind: "entry" }, rows: 1, cols: SIZE },
      },
    };
    assert.equal(
      wasmStep(strided, () => true),
      undefined,
      "a transposed read",
    );
    assert.equal(
      wasmStep({ kind: "reduce", dest: { kind: "local", name: "s1" }, count: SIZE, batched: false, term }, () => true),
      undefined,
      "a result that is a shared scalar",
    );
  });
});
