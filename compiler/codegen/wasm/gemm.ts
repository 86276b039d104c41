/**
 * Matrix products in WebAssembly SIMD, in the GotoBLAS/BLIS design: five loops around one
 * register-blocked micro-kernel.
 *
 *   for jc in 0..n step NC            B's columns in blocks of NC (the packed B block, kc×NC, lives in L2/L3)
 *     for pc in 0..k step KC          the depth in blocks of KC; pack B[pc.., jc..] into NR-wide panels
 *       for ic in 0..m step MC        A's rows in blocks of MC; pack A[ic.., pc..] into MR-tall panels (L2)
 *         for jr in 0..nb step NR     one B micro-panel (KC×NR, stays in L1) …
 *           for ir in 0..mb step MR   … against every A micro-panel: the micro-kernel
 *
 * Packing makes every load of the micro-kernel contiguous and its panels zero-padded to full MR
 * rows and NR columns, so the micro-kernel has no edge cases: a tile that hangs over C's edge is
 * computed in full and written back through a small scratch tile, element by element. The
 * micro-kernel keeps the MR×NR block of C in MR·NR/L v128 accumulators (L = 2 lanes of f64 or
 * 4 of f32) across the whole depth: each depth step loads NR/L vectors of B, broadcasts MR
 * elements of A (v128.load64_splat/load32_splat) and does MR·NR/L multiplies and adds.
 *
 * No fused multiply-add: it is in relaxed SIMD, which Node 20 does not enable by default. Zen 3
 * has four FP pipes (two for multiplies, two for adds), so a separate mul and add still retire
 * one mul+add pair per pipe pair per cycle: the ceiling at 2.45 GHz is 2 pairs/cycle × 2 lanes ×
 * 2 flops = 19.6 GFLOP/s per core in f64 and 39.2 in f32. What keeps us below it is the
 * instruction count: a 4×4 f64 depth step is 16 FP instructions among 29 (6 loads, two index
 * zero-extensions, two pointer increments, V8's loop stack check and the loop branch), and
 * Zen 3 dispatches 6 per cycle, so about 4.8 cycles per 32 flops, 16 GFLOP/s at best.
 *
 * Why a 4×4 tile (4×8 in f32) and no unrolling: V8 keeps xmm15 as a scratch register, leaving
 * 15, and its scheduler places all of a loop body's loads (which are on the effect chain) before
 * the arithmetic (which floats to its use). So a depth step needs accumulators + B vectors + A
 * broadcasts + one product register at once: 8 + 2 + 4 + 1 = 15 for 4×4. Larger tiles (4×6,
 * 6×4, 8×4) or a body unrolled over two depth steps spill to the stack and lose 20–35%; the
 * measurements are at GEMM_SHAPES.
 *
 * Strides and offsets at the API are in elements; inside the module everything is in bytes.
 * The module has no globals and no data: instances in several workers over one shared memory
 * may run at once on disjoint slices of C, each with its own scratch regions.
 */
import { defined } from "../../../foundation/defined.ts";
import { type FunctionBuilder, type Local, ModuleBuilder, webAssembly } from "./encoder.ts";

/** The element types of the two modules. */
export type GemmDtype = "f64" | "f32";

/** Register and cache blocking of one module. */
export interface GemmShape {
  readonly dtype: GemmDtype;
  /** Rows of the micro-tile (broadcast elements of A per depth step). */
  readonly mr: number;
  /** Columns of the micro-tile, a multiple of the lanes per vector. */
  readonly nr: number;
  /** Depth block. */
  readonly kc: number;
  /** Row block, a multiple of mr. */
  readonly mc: number;
  /** Column block, a multiple of nr. */
  readonly nc: number;
}

/**
 * The shapes in use. kc·mc (A block, 256 KiB in f64) fits the 512 KiB L2, a kc×nr B micro-panel
 * (8 KiB) stays in the 32 KiB L1 while every A micro-panel streams past it. Single-thread
 * GFLOP/s by CPU time (bench/gemm.ts --shapes; 1024³ / the net's X·Uᵀ / Gᵀ·X; AMD EPYC
 * 2.45 GHz, Node 20.20, best of 7; the block sizes kc 128–512, mc 64–256 and nc 1024–4096
 * changed 1024³ by less than 5%):
 *   f64  4×4 14.6 / 14.3 / 14.0   2×8 15.2 / 15.1 / 13.1   3×4 15.1 / 14.6 / 13.8
 *        4×6 11.7 / 10.7 / 10.6   6×4 11.9 / 11.4 / 11.3   8×4 10.5 / 10.2 / 10.3
 *        4×4 with the body unrolled over 2 / 4 depth steps: 11.2 / 9.2 (1024³)
 *   f32  4×8 29.3 / 29.7 / 25.7   2×16 30.6 / 31.1 / 23.3  3×8 30.4 / 29.9 / 25.8
 *        6×8 23.5 / 23.7 / 22.0   4×12 23.0 / 21.0 / 19.0
 * 4×4 and 4×8 are the most even across the three.
 */
export const GEMM_SHAPES: Record<GemmDtype, GemmShape> = {
  f64: { dtype: "f64", mr: 4, nr: 4, kc: 256, mc: 128, nc: 1024 },
  f32: { dtype: "f32", mr: 4, nr: 8, kc: 256, mc: 128, nc: 1024 },
};

interface DtypeOps {
  readonly bytes: number;
  readonly shift: number;
  readonly lanes: number;
  readonly scalar: "f64" | "f32";
  readonly load: "f64.load" | "f32.load";
  readonly store: "f64.store" | "f32.store";
  readonly loadSplat: "v128.load64_splat" | "v128.load32_splat";
  readonly splat: "f64x2.splat" | "f32x4.splat";
  readonly add: "f64x2.add" | "f32x4.add";
  readonly mul: "f64x2.mul" | "f32x4.mul";
  readonly scalarAdd: "f64.add" | "f32.add";
}

const OPS: Record<GemmDtype, DtypeOps> = {
  f64: {
    bytes: 8,
    shift: 3,
    lanes: 2,
    scalar: "f64",
    load: "f64.load",
    store: "f64.store",
    loadSplat: "v128.load64_splat",
    splat: "f64x2.splat",
    add: "f64x2.add",
    mul: "f64x2.mul",
    scalarAdd: "f64.add",
  },
  f32: {
    bytes: 4,
    shift: 2,
    lanes: 4,
    scalar: "f32",
    load: "f32.load",
    store: "f32.store",
    loadSplat: "v128.load32_splat",
    splat: "f32x4.splat",
    add: "f32x4.add",
    mul: "f32x4.mul",
    scalarAdd: "f32.add",
  },
};

/**
 * Elements of scratch each gemm call needs: packA (A block and the edge tile) and packB (B
 * block). Any element offset works; 64-byte aligned regions keep the panels' vector loads
 * within cache lines.
 */
export function gemmScratchElements(dtype: GemmDtype): { packA: number; packB: number } {
  return shapeScratchElements(GEMM_SHAPES[dtype]);
}

/** The same for any blocking shape (for the benchmark's shape comparison). */
export function shapeScratchElements(shape: GemmShape): { packA: number; packB: number } {
  return { packA: shape.mc * shape.kc + shape.mr * shape.nr, packB: shape.kc * shape.nc };
}

const cache = new Map<GemmDtype, Uint8Array>();

/**
 * The gemm module's bytes for a dtype (deterministic). It imports `env.memory` (shared, 1 to
 * 65536 pages) and exports `gemm(m, n, k, alpha, a, aRowStride, aColStride, b, bRowStride,
 * bColStride, c, cRowStride, accumulate, packA, packB)`: C = alpha·A·B, or C += alpha·A·B when
 * accumulate ≠ 0, with A(i,p) = mem[a + i·aRowStride + p·aColStride], B(p,j) = mem[b +
 * p·bRowStride + j·bColStride], C(i,j) = mem[c + i·cRowStride + j], all in elements; packA and
 * packB are element offsets of scratch regions of gemmScratchElements(dtype) elements.
 */
export function gemmModuleBytes(dtype: GemmDtype): Uint8Array {
  let bytes = cache.get(dtype);
  if (bytes === undefined) {
    bytes = buildGemmModule(GEMM_SHAPES[dtype]);
    cache.set(dtype, bytes);
  }
  return bytes.slice();
}

/** Whether the engine accepts WebAssembly SIMD128 (a tiny module using f64x2.add). */
export function simdSupported(): boolean {
  try {
    return webAssembly.validate(simdProbe());
  } catch {
    return false; // no WebAssembly at all
  }
}

function simdProbe(): Uint8Array {
  const module = new ModuleBuilder();
  const body = module.function(["f64"], ["f64"]).body;
  const [x] = body.parameters(1);
  body.get(x).op("f64x2.splat").get(x).op("f64x2.splat", "f64x2.add").lane("f64x2.extract_lane", 0);
  return module.encode();
}

/** The module for any blocking shape (exported for the benchmark's shape comparison). */
export function buildGemmModule(shape: GemmShape): Uint8Array {
  const module = new ModuleBuilder().importMemory("env", "memory", {
    minimumPages: 1,
    maximumPages: 65536,
    shared: true,
  });
  addGemm(module, shape, "gemm");
  return module.encode();
}

/**
 * Declares the GEMM's functions in `module` (which must import the memory) and exports the entry
 * point as `exportName`, with the signature of gemmModuleBytes; returns its function index.
 */
export function addGemm(module: ModuleBuilder, shape: GemmShape, exportName: string): number {
  validateShape(shape);
  const ops = OPS[shape.dtype];
  const kernel = module.function(["i32", "i32", "i32", "i32", "i32", ops.scalar, "i32", "i32", "i32", "i32"], []);
  emitMicroKernel(kernel.body, shape, ops);
  const packA = module.function(["i32", "i32", "i32", "i32", "i32", "i32"], []);
  emitPack(packA.body, shape.mr, ops);
  const packB = module.function(["i32", "i32", "i32", "i32", "i32", "i32"], []);
  emitPack(packB.body, shape.nr, ops);
  const gemm = module.function(
    [
      "i32", // m
      "i32", // n
      "i32", // k
      ops.scalar, // alpha
      "i32", // a
      "i32", // aRowStride
      "i32", // aColStride
      "i32", // b
      "i32", // bRowStride
      "i32", // bColStride
      "i32", // c
      "i32", // cRowStride
      "i32", // accumulate
      "i32", // packA
      "i32", // packB
    ],
    [],
    exportName,
  );
  emitGemm(gemm.body, shape, ops, { kernel: kernel.index, packA: packA.index, packB: packB.index });
  return gemm.index;
}

function validateShape(shape: GemmShape): void {
  const lanes = OPS[shape.dtype].lanes;
  const positive = [shape.mr, shape.nr, shape.kc, shape.mc, shape.nc];
  if (!positive.every((v) => Number.isInteger(v) && v > 0)) throw new RangeError("gemm shape: sizes must be positive");
  if (shape.nr % lanes !== 0) throw new RangeError(`gemm shape: nr must be a multiple of ${lanes} for ${shape.dtype}`);
  if (shape.mc % shape.mr !== 0 || shape.nc % shape.nr !== 0) {
    throw new RangeError("gemm shape: mc must be a multiple of mr and nc of nr");
  }
}

// ---------------------------------------------------------------------------------------------
// Small control-flow helpers over the builder

/** `for (i = from; i < limit; i += step) body()`, with the test first (limit may be ≤ from). */
function forLoop(f: FunctionBuilder, i: Local, from: () => void, limit: () => void, step: number, body: () => void) {
  from();
  f.set(i);
  f.block((exit) => {
    f.get(i);
    limit();
    f.op("i32.ge_s").brIf(exit);
    f.loop((again) => {
      body();
      f.get(i).i32(step).op("i32.add").tee(i);
      limit();
      f.op("i32.lt_s").brIf(again);
    });
  });
}

/** Pushes min(x, y) of two signed i32 (x and y are pushed by the callbacks, each twice). */
function minI32(f: FunctionBuilder, x: () => void, y: () => void) {
  x();
  y();
  x();
  y();
  f.op("i32.lt_s", "select");
}

/** Pushes a zero of the element type. */
function pushZero(f: FunctionBuilder, ops: DtypeOps) {
  if (ops.scalar === "f64") f.f64(0);
  else f.f32(0);
}

/** `target += value`, the value pushed by the callback. */
function addTo(f: FunctionBuilder, target: Local, value: () => void) {
  f.get(target);
  value();
  f.op("i32.add").set(target);
}

// ---------------------------------------------------------------------------------------------
// Packing

/**
 * pack(src, alongStride, depthStride, count, depth, dst): copies `count` vectors of `depth`
 * elements (src + t·alongStride + p·depthStride, byte strides) into panels of `width`: panel q
 * holds elements t in [q·width, q·width + width) for every p, as depth rows of `width`
 * contiguous elements, zero-padded past `count`. Called with width = mr for A (along = A's
 * row stride) and width = nr for B (along = B's column stride).
 */
function emitPack(f: FunctionBuilder, width: number, ops: DtypeOps) {
  const [src, along, depthStride, count, depth, dst] = f.parameters(6);
  const full = f.local("i32"); // elements in full panels
  const panelBytes = f.local("i32");
  const q = f.local("i32"); // first element of a panel
  const p = f.local("i32");
  const s = f.local("i32"); // source pointer
  const d = f.local("i32"); // destination pointer
  const t = f.local("i32");
  const e = f.local("i32");
  const vectors = width % ops.lanes === 0 ? width / ops.lanes : 0;

  f.get(count).get(count).i32(width).op("i32.rem_s", "i32.sub").set(full);
  f.get(depth)
    .i32(width * ops.bytes)
    .op("i32.mul")
    .set(panelBytes);
  f.get(along).i32(ops.bytes).op("i32.eq");
  f.if(
    () => {
      // Contiguous along (a transposed A, a row-major B): depth rows outer, panels inner, so each
      // source row is read front to back, and `group` depth rows at a time, so that each visit
      // of a panel writes whole 64-byte cache lines. Panels outer would read `width` elements
      // from every row in turn, and rows one at a time would write a line in pieces; with
      // power-of-two strides (2048 columns of G in Gᵀ·X; 8 KiB panels) both map every access
      // to the same cache set and were measured 1.5–2× slower.
      const group = Math.max(1, Math.floor(64 / (width * ops.bytes)));
      const grouped = f.local("i32"); // depth rows handled in groups
      f.get(depth).get(depth).i32(group).op("i32.rem_s", "i32.sub").set(grouped);
      const rows = (count: number) => () => {
        f.get(src).get(p).get(depthStride).op("i32.mul", "i32.add").set(s);
        f.get(dst)
          .get(p)
          .i32(width * ops.bytes)
          .op("i32.mul", "i32.add")
          .set(d);
        forLoop(
          f,
          q,
          () => f.i32(0),
          () => f.get(full),
          width,
          () => {
            for (let r = 0; r < count; r++) {
              f.get(s);
              if (r > 0) f.get(depthStride).i32(r).op("i32.mul", "i32.add");
              f.set(t);
              const base = r * width * ops.bytes;
              if (vectors > 0) {
                for (let v = 0; v < vectors; v++) {
                  f.get(d)
                    .get(t)
                    .memory("v128.load", v * 16)
                    .memory("v128.store", base + v * 16);
                }
              } else {
                for (let i = 0; i < width; i++) {
                  f.get(d)
                    .get(t)
                    .memory(ops.load, i * ops.bytes)
                    .memory(ops.store, base + i * ops.bytes);
                }
              }
            }
            addTo(f, s, () => f.i32(width * ops.bytes));
            addTo(f, d, () => f.get(panelBytes));
          },
        );
      };
      forLoop(
        f,
        p,
        () => f.i32(0),
        () => f.get(grouped),
        group,
        rows(group),
      );
      forLoop(
        f,
        p,
        () => f.get(grouped),
        () => f.get(depth),
        1,
        rows(1),
      );
    },
    () => {
      // Strided along: one panel at a time, `width` strided loads per depth row.
      forLoop(
        f,
        q,
        () => f.i32(0),
        () => f.get(full),
        width,
        () => {
          f.get(src).get(q).get(along).op("i32.mul", "i32.add").set(s);
          f.get(dst).get(q).get(depth).op("i32.mul").i32(ops.shift).op("i32.shl", "i32.add").set(d);
          forLoop(
            f,
            p,
            () => f.i32(0),
            () => f.get(depth),
            1,
            () => {
              f.get(s).set(t);
              for (let i = 0; i < width; i++) {
                f.get(d)
                  .get(t)
                  .memory(ops.load)
                  .memory(ops.store, i * ops.bytes);
                if (i < width - 1) addTo(f, t, () => f.get(along));
              }
              addTo(f, s, () => f.get(depthStride));
              addTo(f, d, () => f.i32(width * ops.bytes));
            },
          );
        },
      );
    },
  );

  // The last, partial panel: count − full elements, then zeros (any stride).
  f.get(count).get(full).op("i32.gt_s");
  f.if(() => {
    f.get(src).get(full).get(along).op("i32.mul", "i32.add").set(s);
    f.get(dst).get(full).get(depth).op("i32.mul").i32(ops.shift).op("i32.shl", "i32.add").set(d);
    forLoop(
      f,
      p,
      () => f.i32(0),
      () => f.get(depth),
      1,
      () => {
        f.get(s).set(t);
        forLoop(
          f,
          e,
          () => f.i32(0),
          () => f.i32(width),
          1,
          () => {
            const target = () => f.get(d).get(e).i32(ops.shift).op("i32.shl", "i32.add");
            f.get(full).get(e).op("i32.add").get(count).op("i32.lt_s");
            f.if(
              () => {
                target();
                f.get(t).memory(ops.load).memory(ops.store);
                addTo(f, t, () => f.get(along));
              },
              () => {
                target();
                pushZero(f, ops);
                f.memory(ops.store);
              },
            );
          },
        );
        addTo(f, s, () => f.get(depthStride));
        addTo(f, d, () => f.i32(width * ops.bytes));
      },
    );
  });
}

// ---------------------------------------------------------------------------------------------
// The micro-kernel

/**
 * kernel(depth, pa, pb, c, cRowStride, alpha, overwrite, rows, cols, tile): the mr×nr tile
 * acc = Σ_p A_panel(:, p) B_panel(p, :) over `depth` steps, then C = alpha·acc (overwrite ≠ 0)
 * or C += alpha·acc on the rows × cols corner of the tile that lies inside C.
 */
function emitMicroKernel(f: FunctionBuilder, shape: GemmShape, ops: DtypeOps) {
  const [depth, pa, pb, c, cRowStride, alpha, overwrite, rows, cols, tile] = f.parameters(10);
  const { mr, nr } = shape;
  const vectors = nr / ops.lanes;
  // Locals start at zero (the core spec's function entry), so the accumulators need no setup.
  const acc: Local[][] = Array.from({ length: mr }, () => Array.from({ length: vectors }, () => f.local("v128")));
  const b: Local[] = [];
  for (let v = 0; v < vectors; v++) b.push(f.local("v128"));
  const a = f.local("v128");

  /** One depth step: the rank-1 update of the tile by a column of the A panel and a row of the B panel. */
  const step = () => {
    for (const [v, bv] of b.entries())
      f.get(pb)
        .memory("v128.load", v * ops.lanes * ops.bytes)
        .set(bv);
    for (const [i, accRow] of acc.entries()) {
      f.get(pa)
        .memory(ops.loadSplat, i * ops.bytes)
        .set(a);
      for (const [v, accumulator] of accRow.entries()) {
        f.get(accumulator).get(a).get(defined(b[v], "a B vector")).op(ops.mul, ops.add).set(accumulator);
      }
    }
  };
  // The loop ends on B's pointer reaching its end (one compare, no counter to update).
  const end = f.local("i32");
  f.get(pb)
    .get(depth)
    .i32(nr * ops.bytes)
    .op("i32.mul", "i32.add")
    .set(end);
  f.get(depth).i32(0).op("i32.gt_s");
  f.if(() => {
    f.loop((again) => {
      step();
      addTo(f, pa, () => f.i32(mr * ops.bytes));
      addTo(f, pb, () => f.i32(nr * ops.bytes));
      f.get(pb).get(end).op("i32.ne").brIf(again);
    });
  });

  // Write-back. A full tile goes straight to C with vector loads and stores; a tile over C's
  // edge is spilled to `tile` (mr×nr, row-major) and its valid corner copied element by element.
  const alphaVector = f.local("v128");
  const row = f.local("i32");
  f.get(alpha).op(ops.splat).set(alphaVector);
  const scaled = (accumulator: Local) => f.get(alphaVector).get(accumulator).op(ops.mul);
  f.get(rows).i32(mr).op("i32.eq").get(cols).i32(nr).op("i32.eq").op("i32.and");
  f.if(
    () => {
      f.get(c).set(row);
      const fullTile = (accumulate: boolean) => {
        for (const [i, accRow] of acc.entries()) {
          for (const [v, accumulator] of accRow.entries()) {
            const offset = v * ops.lanes * ops.bytes;
            f.get(row);
            if (accumulate) f.get(row).memory("v128.load", offset);
            scaled(accumulator);
            if (accumulate) f.op(ops.add);
            f.memory("v128.store", offset);
          }
          if (i < mr - 1) addTo(f, row, () => f.get(cRowStride));
        }
      };
      f.get(overwrite);
      f.if(
        () => fullTile(false),
        () => fullTile(true),
      );
    },
    () => {
      for (const [i, accRow] of acc.entries()) {
        for (const [v, accumulator] of accRow.entries()) {
          f.get(tile);
          scaled(accumulator);
          f.memory("v128.store", (i * nr + v * ops.lanes) * ops.bytes);
        }
      }
      const i = f.local("i32");
      const j = f.local("i32");
      const cell = f.local("i32");
      const value = f.local(ops.scalar);
      f.get(c).set(row);
      forLoop(
        f,
        i,
        () => f.i32(0),
        () => f.get(rows),
        1,
        () => {
          forLoop(
            f,
            j,
            () => f.i32(0),
            () => f.get(cols),
            1,
            () => {
              f.get(row).get(j).i32(ops.shift).op("i32.shl", "i32.add").set(cell);
              // value = tile[i·nr + j] (already scaled by alpha), plus C's element when accumulating
              f.get(tile).get(i).i32(nr).op("i32.mul").get(j).op("i32.add").i32(ops.shift).op("i32.shl", "i32.add");
              f.memory(ops.load).set(value);
              f.get(overwrite).op("i32.eqz");
              f.if(() => {
                f.get(cell).memory(ops.load).get(value).op(ops.scalarAdd).set(value);
              });
              f.get(cell).get(value).memory(ops.store);
            },
          );
          addTo(f, row, () => f.get(cRowStride));
        },
      );
    },
  );
}

// ---------------------------------------------------------------------------------------------
// The loops around the micro-kernel

function emitGemm(
  f: FunctionBuilder,
  shape: GemmShape,
  ops: DtypeOps,
  callees: { kernel: number; packA: number; packB: number },
) {
  const [
    m,
    n,
    k,
    alpha,
    a,
    aRowStride,
    aColStride,
    b,
    bRowStride,
    bColStride,
    c,
    cRowStride,
    accumulate,
    packA,
    packB,
  ] = f.parameters(15);
  const { mr, nr, kc, mc, nc } = shape;

  f.block((exit) => {
    f.get(m).i32(1).op("i32.lt_s").get(n).i32(1).op("i32.lt_s").op("i32.or").brIf(exit);
    // Element offsets and strides to bytes, once.
    for (const local of [a, aRowStride, aColStride, b, bRowStride, bColStride, c, cRowStride, packA, packB]) {
      f.get(local).i32(ops.shift).op("i32.shl").set(local);
    }

    // k ≤ 0: the product is the zero matrix.
    f.get(k).i32(1).op("i32.lt_s");
    f.if(() => {
      f.get(accumulate).brIf(exit);
      const i = f.local("i32");
      const j = f.local("i32");
      const row = f.local("i32");
      f.get(c).set(row);
      forLoop(
        f,
        i,
        () => f.i32(0),
        () => f.get(m),
        1,
        () => {
          forLoop(
            f,
            j,
            () => f.i32(0),
            () => f.get(n),
            1,
            () => {
              f.get(row).get(j).i32(ops.shift).op("i32.shl", "i32.add");
              pushZero(f, ops);
              f.memory(ops.store);
            },
          );
          addTo(f, row, () => f.get(cRowStride));
        },
      );
      f.br(exit);
    });

    const tile = f.local("i32");
    f.get(packA)
      .i32(mc * kc * ops.bytes)
      .op("i32.add")
      .set(tile);
    const jc = f.local("i32");
    const pc = f.local("i32");
    const ic = f.local("i32");
    const jr = f.local("i32");
    const ir = f.local("i32");
    const nb = f.local("i32");
    const kb = f.local("i32");
    const mb = f.local("i32");
    const overwrite = f.local("i32");
    const elementBytes = () => f.i32(ops.shift).op("i32.shl");

    forLoop(
      f,
      jc,
      () => f.i32(0),
      () => f.get(n),
      nc,
      () => {
        minI32(
          f,
          () => f.i32(nc),
          () => f.get(n).get(jc).op("i32.sub"),
        );
        f.set(nb);
        forLoop(
          f,
          pc,
          () => f.i32(0),
          () => f.get(k),
          kc,
          () => {
            minI32(
              f,
              () => f.i32(kc),
              () => f.get(k).get(pc).op("i32.sub"),
            );
            f.set(kb);
            // The first depth block overwrites C unless the caller accumulates.
            f.get(pc).op("i32.eqz").get(accumulate).op("i32.eqz", "i32.and").set(overwrite);
            // packB(b + pc·bRowStride + jc·bColStride, along = bColStride, depth = bRowStride, nb, kb)
            f.get(b).get(pc).get(bRowStride).op("i32.mul", "i32.add").get(jc).get(bColStride).op("i32.mul", "i32.add");
            f.get(bColStride).get(bRowStride).get(nb).get(kb).get(packB).call(callees.packB);
            forLoop(
              f,
              ic,
              () => f.i32(0),
              () => f.get(m),
              mc,
              () => {
                minI32(
                  f,
                  () => f.i32(mc),
                  () => f.get(m).get(ic).op("i32.sub"),
                );
                f.set(mb);
                f.get(a).get(ic).get(aRowStride).op("i32.mul", "i32.add").get(pc).get(aColStride);
                f.op("i32.mul", "i32.add");
                f.get(aRowStride).get(aColStride).get(mb).get(kb).get(packA).call(callees.packA);
                forLoop(
                  f,
                  jr,
                  () => f.i32(0),
                  () => f.get(nb),
                  nr,
                  () => {
                    forLoop(
                      f,
                      ir,
                      () => f.i32(0),
                      () => f.get(mb),
                      mr,
                      () => {
                        f.get(kb);
                        f.get(packA).get(ir).get(kb).op("i32.mul");
                        elementBytes();
                        f.op("i32.add");
                        f.get(packB).get(jr).get(kb).op("i32.mul");
                        elementBytes();
                        f.op("i32.add");
                        // c + (ic + ir)·cRowStride + (jc + jr)·bytes
                        f.get(c).get(ic).get(ir).op("i32.add").get(cRowStride).op("i32.mul", "i32.add");
                        f.get(jc).get(jr).op("i32.add");
                        elementBytes();
                        f.op("i32.add");
                        f.get(cRowStride).get(alpha).get(overwrite);
                        minI32(
                          f,
                          () => f.i32(mr),
                          () => f.get(mb).get(ir).op("i32.sub"),
                        );
                        minI32(
                          f,
                          () => f.i32(nr),
                          () => f.get(nb).get(jr).op("i32.sub"),
                        );
                        f.get(tile).call(callees.kernel);
                      },
                    );
                  },
                );
              },
            );
          },
        );
      },
    );
  });
}
