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
 *
 * exp, sigmoid and tanh (float64 only) are not exactly rounded, here or in the engine's Math:
 * each is held to 2 ulp of the reference backend's value (Math.exp, Math.tanh, compiler/math.ts's
 * sigmoid) over 10⁶ points spread over their whole range, with NaN, ±0 and ±∞ exact.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import type { Attrs, OpName } from "../../../compiler/ir/node.ts";
import { OPS } from "../../../compiler/ir/ops.ts";
import { KERNEL_HELPERS } from "../../../compiler/math.ts";
import type { Dtype } from "../../../compiler/codegen/api.ts";
import type { Region, Scalar, Step } from "../../../compiler/codegen/plan.ts";
import { buildKernelModule, type WasmStep, wasmOps, wasmStep } from "../../../compiler/codegen/wasm/elementwise.ts";
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
  const pages = Math.ceil((3 * size * 8) / 65536) + 1;
  const memory = new webAssembly.Memory({ initial: pages, maximum: 65536, shared: true });
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

/** The distance between a and b in units in the last place of b (subnormal spacing below 2⁻¹⁰²²). */
function ulps(a: number, b: number): number {
  if (Object.is(a, b)) return 0;
  if (!Number.isFinite(a) || !Number.isFinite(b)) return Number.POSITIVE_INFINITY;
  const magnitude = Math.abs(b);
  const spacing = magnitude < 2 ** -1022 ? 2 ** -1074 : 2 ** (Math.floor(Math.log2(magnitude)) - 52);
  return Math.abs(a - b) / spacing;
}

const TRANSCENDENTAL: ReadonlySet<OpName> = new Set(["exp", "sigmoid", "tanh"]);

describe("WebAssembly elementwise forms", { skip: NO_SIMD }, () => {
  for (const dtype of ["f64", "f32"] as const)
    for (const op of wasmOps(dtype))
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
        const compiled = wasmStep(step, dtype, () => true);
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
          const actual = m.out[i] ?? Number.NaN;
          const close = TRANSCENDENTAL.has(op) && Number.isFinite(expected) && ulps(actual, expected) <= 2;
          assert.ok(
            Object.is(actual, expected) || close,
            `${op}(${m.a[i]}${arity > 1 ? `, ${m.b[i]}` : ""}) = ${actual}, the reference gives ${expected} (entry ${i})`,
          );
        }
      });
});

describe("WebAssembly exp, sigmoid and tanh (float64)", { skip: NO_SIMD }, () => {
  const COUNT = 1_000_000;
  // Points over each function's whole range: uniform on [−750, 715] for exp (both ends beyond
  // its finite range), uniform on [−40, 40] for sigmoid and tanh (where they saturate), and for
  // all three ±10^u with u uniform on [−300, 1] (tiny arguments, the small-|x| branch of tanh).
  const points = (low: number, high: number) =>
    Float64Array.from({ length: COUNT }, (_, i) => {
      const t = Math.sin(i * 12.9898 + 0.5) * 43758.5453;
      const u = t - Math.floor(t);
      if (i % 2 === 0) return low + (high - low) * u;
      return (i % 4 === 1 ? 1 : -1) * 10 ** (-300 + 301 * u);
    });
  for (const [op, low, high] of [
    ["exp", -750, 715],
    ["sigmoid", -40, 40],
    ["tanh", -40, 40],
  ] as const)
    test(`${op} within 2 ulp of the reference at 10⁶ points`, () => {
      const x = points(low, high);
      const step: Step = {
        kind: "map",
        dest: { kind: "region", region: region("out", 0, COUNT, 0) },
        size: COUNT,
        batched: false,
        value: { kind: "apply", op, attrs: {}, args: [load(region("a", 0, COUNT, 0))] },
      };
      const compiled = wasmStep(step, "f64", () => true);
      assert.ok(compiled);
      const m = instantiate("f64", [compiled], COUNT);
      m.a.set(x);
      m.fn(0)(0, COUNT, 0);
      const f = reference(op, {});
      let worst = 0;
      let at = 0;
      for (let i = 0; i < COUNT; i++) {
        const distance = ulps(m.out[i] ?? Number.NaN, f(x[i] ?? Number.NaN));
        if (distance > worst) {
          worst = distance;
          at = i;
        }
      }
      assert.ok(worst <= 2, `${op}(${x[at]}) = ${m.out[at]}, the reference gives ${f(x[at] ?? 0)}: ${worst} ulp`);
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
    const compiled = wasmStep(step, "f64", () => true);
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
    const compiled = wasmStep(step, "f64", () => true);
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
      const compiled = wasmStep(step, dtype, () => true);
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
      wasmStep(transcendental, "f32", () => true),
      undefined,
      "tanh has no float32 form",
    );
    assert.ok(
      wasmStep(transcendental, "f64", () => true),
      "tanh has a float64 form",
    );
    const logarithm: Step = {
      kind: "map",
      dest: { kind: "region", region: region("out", 0, SIZE, STRIDE) },
      size: SIZE,
      batched: true,
      value: { kind: "apply", op: "log", attrs: {}, args: [load(entries)] },
    };
    assert.equal(
      wasmStep(logarithm, "f64", () => true),
      undefined,
      "log has no form",
    );
    const copy: Step = {
      kind: "map",
      dest: { kind: "region", region: region("out", 0, SIZE, STRIDE) },
      size: SIZE,
      batched: true,
      value: load(entries),
    };
    assert.equal(
      wasmStep(copy, "f64", (x) => x !== "a"),
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
      wasmStep(strided, "f64", () => true),
      undefined,
      "a transposed read",
    );
    assert.equal(
      wasmStep(
        { kind: "reduce", dest: { kind: "local", name: "s1" }, count: SIZE, batched: false, term },
        "f64",
        () => true,
      ),
      undefined,
      "a result that is a shared scalar",
    );
  });
});
