/**
 * The WebAssembly SIMD matrix products against a naive triple loop in f64, on generated shapes
 * (zero, one, primes, and sizes on either side of every blocking boundary: mr, nr, mc, kc, nc),
 * operand layouts (row-major, transposed, padded, strided, a zero stride), offsets, alpha and
 * accumulate. Every element of memory outside C's m×n cells and the scratch regions must be
 * left bit for bit as it was, including C's row padding.
 *
 * Error bound. Inputs, alpha and C's initial values are exactly representable in the dtype, so
 * the only errors are roundings inside gemm. Each term a·b of an element of C goes through at
 * most k + 3 roundings: its product (1), the additions of its depth block's running sum (≤ kc,
 * ≤ k), alpha times the block's sum (1), and the additions of the blocks' contributions into C
 * (≤ ⌈k/kc⌉, which together with the block's additions is ≤ k + 1). By the standard bound for
 * sums of rounded terms (Higham, Accuracy and Stability of Numerical Algorithms, §3.1),
 *   |computed − exact| ≤ γ(k+3) · (|alpha|·Σ_p |a_ip||b_pj| + |C0_ij|),  γ(n) = n·u / (1 − n·u),
 * with u the unit roundoff (2^-53 for f64, 2^-24 for f32), i.e. about k·eps·Σ|a||b| (eps = 2u).
 * The f64 reference obeys the same bound with u = 2^-53; the test allows the sum of both, plus
 * (k+3) times the smallest subnormal for underflow. With integer-valued data (a second mode) every
 * intermediate is exact in both dtypes and the result must be exactly the reference.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { webAssembly } from "../../../compiler/codegen/wasm/encoder.ts";
import {
  buildGemmModule,
  GEMM_SHAPES,
  type GemmDtype,
  type GemmShape,
  gemmModuleBytes,
  gemmScratchElements,
  shapeScratchElements,
  simdSupported,
} from "../../../compiler/codegen/wasm/gemm.ts";
import { Rng } from "../../../runtime/rng.ts";
import { propertyRuns } from "../../support/runs.ts";
import { nth } from "../../support/entries.ts";

const PAGE = 65536;
const memory = new webAssembly.Memory({ initial: 64, maximum: 65536, shared: true });

type Gemm = (...args: number[]) => void;
const gemms: Record<GemmDtype, Gemm> = {
  f64: instantiate("f64"),
  f32: instantiate("f32"),
};

function instantiate(dtype: GemmDtype): Gemm {
  return instantiateBytes(gemmModuleBytes(dtype));
}

function instantiateBytes(bytes: Uint8Array): Gemm {
  const instance = new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory } });
  return instance.exports.gemm as Gemm;
}

/** Modules for other blocking shapes (the benchmark's comparison), by shape. */
const shapeModules = new Map<string, Gemm>();

/** The gemm function and scratch sizes a case runs with. */
function moduleFor(c: Case): { gemm: Gemm; scratch: { packA: number; packB: number } } {
  if (c.shape === undefined) return { gemm: gemms[c.dtype], scratch: gemmScratchElements(c.dtype) };
  const key = JSON.stringify(c.shape);
  let gemm = shapeModules.get(key);
  if (gemm === undefined) {
    gemm = instantiateBytes(buildGemmModule(c.shape));
    shapeModules.set(key, gemm);
  }
  return { gemm, scratch: shapeScratchElements(c.shape) };
}

/** A view of the memory as elements of the dtype, after growing it to hold `elements`. */
function elementsView(dtype: GemmDtype, elements: number): Float64Array | Float32Array {
  const bytes = elements * (dtype === "f64" ? 8 : 4);
  if (bytes > memory.buffer.byteLength) memory.grow(Math.ceil((bytes - memory.buffer.byteLength) / PAGE));
  return dtype === "f64" ? new Float64Array(memory.buffer) : new Float32Array(memory.buffer);
}

type LayoutKind = "row-major" | "transposed" | "strided" | "zero column stride";

interface Layout {
  readonly kind: LayoutKind;
  /** Extra elements between rows (or columns, when transposed). */
  readonly pad: number;
}

/** Element strides of a rows×cols operand in a layout. */
function strides(layout: Layout, rows: number, cols: number): { row: number; col: number } {
  switch (layout.kind) {
    case "row-major":
      return { row: cols + layout.pad, col: 1 };
    case "transposed":
      return { row: 1, col: rows + layout.pad };
    case "strided":
      return { row: 3 * cols + layout.pad, col: 3 };
    case "zero column stride":
      return { row: 1 + layout.pad, col: 0 };
  }
}

/** Elements spanned by a strided operand (0 when it is empty). */
function extent(rows: number, cols: number, s: { row: number; col: number }): number {
  return rows === 0 || cols === 0 ? 0 : (rows - 1) * s.row + (cols - 1) * s.col + 1;
}

interface Case {
  readonly dtype: GemmDtype;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  readonly a: Layout;
  readonly b: Layout;
  readonly cPad: number;
  /** Elements left free before each region (A, B, C, packA, packB, end): odd gaps misalign vectors. */
  readonly gaps: readonly number[];
  readonly alpha: number;
  readonly accumulate: boolean;
  /** Small integers, for which the result must be exact. */
  readonly integers: boolean;
  readonly seed: number;
  /** A blocking shape other than the dtype's default. */
  readonly shape?: GemmShape;
}

/** Where each region of a case lives, in elements. */
function placement(c: Case) {
  const sa = strides(c.a, c.m, c.k);
  const sb = strides(c.b, c.k, c.n);
  const cRow = c.n + c.cPad;
  const { scratch } = moduleFor(c);
  let next = 0;
  const region = (gap: number, size: number) => {
    const start = next + gap;
    next = start + size;
    return start;
  };
  const a = region(nth(c.gaps, 0), extent(c.m, c.k, sa));
  const b = region(nth(c.gaps, 1), extent(c.k, c.n, sb));
  const cOffset = region(nth(c.gaps, 2), c.m === 0 ? 0 : (c.m - 1) * cRow + c.n);
  const packA = region(nth(c.gaps, 3), scratch.packA);
  const packB = region(nth(c.gaps, 4), scratch.packB);
  const end = next + nth(c.gaps, 5);
  return { sa, sb, cRow, a, b, c: cOffset, packA, packB, scratch, end };
}

/**
 * Runs one case; returns C's m×n values (row-major) after checking that nothing else changed
 * and that each element is within the bound of (or, for integer data, equal to) the reference.
 */
function runCase(c: Case): Float64Array {
  const at = placement(c);
  const mem = elementsView(c.dtype, at.end);
  fill(c, at, mem);
  const before = mem.slice(0, at.end); // the dtype's values, exactly as gemm sees them
  const alpha = c.dtype === "f32" ? Math.fround(c.alpha) : c.alpha;
  callGemm(c, at, 0);

  const isCell = (index: number) => {
    const offset = index - at.c;
    if (offset < 0 || c.m === 0) return false;
    const row = Math.floor(offset / at.cRow);
    return row < c.m && offset - row * at.cRow < c.n;
  };
  const inScratch = (index: number) =>
    (index >= at.packA && index < at.packA + at.scratch.packA) ||
    (index >= at.packB && index < at.packB + at.scratch.packB);
  const beforeBits = new Uint8Array(before.buffer);
  const afterBits = new Uint8Array(mem.buffer, 0, before.byteLength);
  const size = mem.BYTES_PER_ELEMENT;
  for (let index = 0; index < at.end; index++) {
    if (isCell(index) || inScratch(index)) continue;
    for (let byte = index * size; byte < (index + 1) * size; byte++) {
      if (beforeBits[byte] !== afterBits[byte]) assert.fail(`element ${index} outside C was changed`);
    }
  }

  const unit = c.dtype === "f64" ? 2 ** -53 : 2 ** -24;
  const tiny = c.dtype === "f64" ? 2 ** -1074 : 2 ** -149;
  const gamma = (u: number) => ((c.k + 3) * u) / (1 - (c.k + 3) * u);
  const result = new Float64Array(c.m * c.n);
  for (let i = 0; i < c.m; i++) {
    for (let j = 0; j < c.n; j++) {
      let sum = 0;
      let magnitude = 0;
      for (let p = 0; p < c.k; p++) {
        const x = nth(before, at.a + i * at.sa.row + p * at.sa.col);
        const y = nth(before, at.b + p * at.sb.row + j * at.sb.col);
        sum += x * y;
        magnitude += Math.abs(x * y);
      }
      const cell = at.c + i * at.cRow + j;
      const initial = c.accumulate ? nth(before, cell) : 0;
      const expected = initial + alpha * sum;
      const computed = nth(mem, cell);
      result[i * c.n + j] = computed;
      const where = `C(${i}, ${j})`;
      if (c.integers) {
        assert.ok(computed === expected, `${where}: ${computed}, expected exactly ${expected}`);
      } else {
        const scale = Math.abs(alpha) * magnitude + Math.abs(initial);
        const bound = (gamma(unit) + gamma(2 ** -53)) * scale + (c.k + 3) * tiny;
        assert.ok(Math.abs(computed - expected) <= bound, `${where}: ${computed}, expected ${expected} ± ${bound}`);
      }
    }
  }
  return result;
}

/** Sizes: small ones (every micro-tile remainder), primes, and both sides of mc, kc and nc. */
function boundaries(dtype: GemmDtype): number[] {
  const { mc, kc, nc } = GEMM_SHAPES[dtype];
  return [mc - 1, mc, mc + 1, kc - 1, kc, kc + 1, 2 * kc + 1, nc - 1, nc, nc + 1];
}
const dimension = (dtype: GemmDtype) =>
  fc.oneof(
    { weight: 4, arbitrary: fc.integer({ min: 1, max: 13 }) },
    { weight: 2, arbitrary: fc.constantFrom(0, 1, 2, 3, 5, 7, 17, 31, 61) },
    { weight: 2, arbitrary: fc.constantFrom(...boundaries(dtype)) },
  );
const layout: fc.Arbitrary<Layout> = fc.record({
  kind: fc.constantFrom<LayoutKind>("row-major", "transposed", "strided", "zero column stride"),
  pad: fc.integer({ min: 0, max: 3 }),
});
/** Keeps each case to a few million multiply-adds for the naive reference. */
const MAX_WORK = 3_000_000;

function caseArbitrary(dtype: GemmDtype): fc.Arbitrary<Case> {
  return fc
    .record({
      dtype: fc.constant(dtype),
      m: dimension(dtype),
      n: dimension(dtype),
      k: dimension(dtype),
      a: layout,
      b: layout,
      cPad: fc.integer({ min: 0, max: 3 }),
      gaps: fc.array(fc.integer({ min: 0, max: 5 }), { minLength: 6, maxLength: 6 }),
      alpha: fc.constantFrom(1, -1, 0.5, 2, 0, 0.7, -1.3),
      accumulate: fc.boolean(),
      integers: fc.boolean(),
      seed: fc.integer({ min: 0, max: 2 ** 31 - 1 }),
    })
    .filter((c) => c.m * c.n * Math.max(c.k, 1) <= MAX_WORK)
    .map((c) => (c.integers && ![1, -1, 0.5, 2, 0].includes(c.alpha) ? { ...c, alpha: 0.5 } : c));
}

const describeCase = (c: Case) =>
  `${c.dtype} ${c.m}×${c.n}×${c.k}, A ${c.a.kind}+${c.a.pad}, B ${c.b.kind}+${c.b.pad}, alpha ${c.alpha}, ` +
  `${c.accumulate ? "accumulate" : "overwrite"}, ${c.integers ? "integers" : "reals"}`;

describe("gemm in WebAssembly SIMD", () => {
  test("SIMD is available on this engine (Node 20), and the modules are deterministic and valid", () => {
    assert.equal(simdSupported(), true);
    for (const dtype of ["f64", "f32"] as const) {
      const bytes = gemmModuleBytes(dtype);
      assert.deepEqual(bytes, gemmModuleBytes(dtype));
      assert.ok(webAssembly.validate(bytes));
    }
    assert.notDeepEqual(gemmModuleBytes("f64"), gemmModuleBytes("f32"));
  });

  test("the module needs a shared memory", () => {
    const unshared = new webAssembly.Memory({ initial: 1, maximum: 1 });
    assert.throws(
      () => new webAssembly.Instance(new webAssembly.Module(gemmModuleBytes("f64")), { env: { memory: unshared } }),
    );
  });

  for (const dtype of ["f64", "f32"] as const) {
    test(`${dtype}: named cases`, () => {
      const base: Case = {
        dtype,
        m: 1,
        n: 1,
        k: 1,
        a: { kind: "row-major", pad: 0 },
        b: { kind: "row-major", pad: 0 },
        cPad: 0,
        gaps: [0, 0, 0, 0, 0, 0],
        alpha: 1,
        accumulate: false,
        integers: false,
        seed: 1,
      };
      const cases: Partial<Case>[] = [
        {},
        { m: 5, n: 7, k: 3, integers: true },
        { k: 0 },
        { m: 9, n: 6, k: 0, accumulate: true, cPad: 2 },
        { m: 0, n: 5, k: 3 },
        { m: 5, n: 0, k: 3, accumulate: true },
        // The two-layer net's products, small: X·Uᵀ and Gᵀ·X.
        { m: 32, n: 40, k: 16, b: { kind: "transposed", pad: 0 } },
        { m: 40, n: 16, k: 32, a: { kind: "transposed", pad: 0 }, accumulate: true, alpha: -0.5 },
        // Several blocks in every dimension, misaligned.
        { m: 131, n: 70, k: 515, gaps: [1, 3, 1, 1, 3, 2], cPad: 1, integers: true, alpha: -1 },
        { m: 3, n: GEMM_SHAPES[dtype].nc + 5, k: 9, a: { kind: "strided", pad: 1 } },
      ];
      for (const overrides of cases) runCase({ ...base, ...overrides });
    });

    test(`${dtype}: the other micro-tile shapes of the benchmark's comparison`, () => {
      const tiles: [number, number][] =
        dtype === "f64"
          ? [
              [2, 8],
              [3, 4],
              [4, 6],
              [6, 4],
              [8, 4],
            ]
          : [
              [2, 16],
              [3, 8],
              [6, 8],
              [4, 12],
            ];
      fc.assert(
        fc.property(caseArbitrary(dtype), fc.constantFrom(...tiles), (c, [mr, nr]) => {
          const base = GEMM_SHAPES[dtype];
          const shape = { ...base, mr, nr, mc: Math.floor(base.mc / mr) * mr, nc: Math.floor(base.nc / nr) * nr };
          runCase({ ...c, shape });
        }),
        { numRuns: propertyRuns(20) },
      );
    });

    test(`${dtype}: generated shapes, layouts and modes against the naive product`, () => {
      fc.assert(
        fc.property(caseArbitrary(dtype), (c) => {
          runCase(c);
        }),
        { numRuns: propertyRuns(60) },
      );
    });

    test(`${dtype}: a column slice computed alone equals the same columns of the whole product, bit for bit`, () => {
      // Threads split C's columns: each calls gemm on B's and C's column slice with its own scratch.
      fc.assert(
        fc.property(
          caseArbitrary(dtype).filter((c) => c.n >= 2),
          fc.double({ min: 0, max: 1, noNaN: true }),
          (c, fraction) => {
            const split = 1 + Math.floor(fraction * (c.n - 1));
            const whole = runCase(c);
            const right = sliceCase(c, split);
            for (let i = 0; i < c.m; i++) {
              for (let j = split; j < c.n; j++) {
                assert.ok(
                  Object.is(nth(right, i)[j - split], whole[i * c.n + j]),
                  `${describeCase(c)}: C(${i}, ${j}) differs between the slice and the whole`,
                );
              }
            }
          },
        ),
        { numRuns: propertyRuns(25) },
      );
    });
  }
});

/** Recomputes columns [split, n) of a case's product through offsets; returns C's rows. */
function sliceCase(c: Case, split: number): Float64Array[] {
  const at = placement(c);
  const mem = elementsView(c.dtype, at.end);
  fill(c, at, mem);
  callGemm(c, at, split);
  const rows: Float64Array[] = [];
  for (let i = 0; i < c.m; i++) {
    rows.push(Float64Array.from(mem.subarray(at.c + i * at.cRow + split, at.c + i * at.cRow + c.n)));
  }
  return rows;
}

/**
 * Gives every element a value, the same for the same case: inputs (including the holes of
 * strided layouts) random, C random when accumulating and NaN otherwise (so that reading it
 * would show), gaps and scratch NaN.
 */
function fill(c: Case, at: ReturnType<typeof placement>, mem: Float64Array | Float32Array) {
  const rng = new Rng(c.seed);
  const value = () => (c.integers ? rng.int(17) - 8 : rng.uniform() * 2 - 1);
  mem.fill(Number.NaN, 0, at.end);
  for (let i = at.a; i < at.c; i++) mem[i] = value();
  const cRegionEnd = at.c + (c.m === 0 ? 0 : (c.m - 1) * at.cRow + c.n);
  if (c.accumulate) for (let i = at.c; i < cRegionEnd; i++) mem[i] = value();
}

/** gemm on the case's columns [firstColumn, n): B and C start that many columns later. */
function callGemm(c: Case, at: ReturnType<typeof placement>, firstColumn: number) {
  moduleFor(c).gemm(
    c.m,
    c.n - firstColumn,
    c.k,
    c.dtype === "f32" ? Math.fround(c.alpha) : c.alpha,
    at.a,
    at.sa.row,
    at.sa.col,
    at.b + firstColumn * at.sb.col,
    at.sb.row,
    at.sb.col,
    at.c + firstColumn,
    at.cRow,
    c.accumulate ? 1 : 0,
    at.packA,
    at.packB,
  );
}
