/**
 * Single-thread GFLOP/s of the WebAssembly SIMD matrix products (compiler/codegen/wasm/gemm.ts):
 * 1024³ and the two products of a full-batch step of the two-layer net (n = 256 examples,
 * d = 64, m = 2048), in f64 and f32.
 *
 *   node --import tsx bench/gemm.ts            the table
 *   node --import tsx bench/gemm.ts --shapes   also compare micro-tile shapes (how GEMM_SHAPES was chosen)
 *
 * Each figure is the best of REPEATS runs after a warm-up run (which also lets V8 tier the
 * module up from Liftoff to TurboFan). Two clocks: wall time, and this process's CPU time
 * (user + system), which on a shared machine excludes the time other processes held the core;
 * both are printed, and the CPU-time figure is the one to compare with the core's ceiling.
 * The ceiling without FMA: 2 vector multiplies + 2 vector adds per cycle (Zen 3's four FP
 * pipes), i.e. 2 × lanes × 2 flops per cycle: 19.6 GFLOP/s in f64 and 39.2 in f32 at 2.45 GHz.
 */
import { cpus } from "node:os";
import { fileURLToPath } from "node:url";
import { webAssembly } from "../compiler/codegen/wasm/encoder.ts";
import { defined } from "../foundation/defined.ts";
import {
  buildGemmModule,
  GEMM_SHAPES,
  type GemmDtype,
  type GemmShape,
  gemmScratchElements,
  shapeScratchElements,
} from "../compiler/codegen/wasm/gemm.ts";

const REPEATS = Number(process.env.NQM_BENCH_REPEATS ?? 7);

type Gemm = (...args: number[]) => void;

interface Product {
  readonly name: string;
  readonly short: string;
  readonly m: number;
  readonly n: number;
  readonly k: number;
  /** Strides in elements: A(i,p) = a[i·aRow + p·aCol], B(p,j) = b[p·bRow + j·bCol]. */
  readonly aRow: number;
  readonly aCol: number;
  readonly bRow: number;
  readonly bCol: number;
}

/** The products measured: 1024³ and the two of the two-layer net's step. */
export const PRODUCTS: Product[] = [
  {
    name: "1024³ (A, B row-major)",
    short: "1024³",
    m: 1024,
    n: 1024,
    k: 1024,
    aRow: 1024,
    aCol: 1,
    bRow: 1024,
    bCol: 1,
  },
  // Forward: Z[256×2048] = X[256×64]·Uᵀ, U [2048×64] row-major, so B(p,j) = U[j,p].
  { name: "net X·Uᵀ 256×2048×64", short: "X·Uᵀ", m: 256, n: 2048, k: 64, aRow: 64, aCol: 1, bRow: 1, bCol: 64 },
  // Weight gradient: dU[2048×64] = Gᵀ·X, G [256×2048] row-major, so A(i,p) = G[p,i].
  { name: "net Gᵀ·X 2048×64×256", short: "Gᵀ·X", m: 2048, n: 64, k: 256, aRow: 1, aCol: 2048, bRow: 64, bCol: 1 },
];

const memory = new webAssembly.Memory({ initial: 1024, maximum: 65536, shared: true });

function instantiate(bytes: Uint8Array): Gemm {
  const instance = new webAssembly.Instance(new webAssembly.Module(bytes), { env: { memory } });
  return instance.exports.gemm as Gemm;
}

/** Best wall and CPU GFLOP/s of one product. */
function measure(
  gemm: Gemm,
  dtype: GemmDtype,
  scratch: { packA: number; packB: number },
  p: Product,
  repeats = REPEATS,
): { wall: number; cpu: number } {
  const elements = dtype === "f64" ? new Float64Array(memory.buffer) : new Float32Array(memory.buffer);
  const a = 0;
  const b = a + p.m * p.k;
  const c = b + p.k * p.n;
  // Scratch regions 64-byte aligned (16 elements covers both dtypes).
  const packA = Math.ceil((c + p.m * p.n) / 16) * 16;
  const packB = Math.ceil((packA + scratch.packA) / 16) * 16;
  if ((packB + scratch.packB) * elements.BYTES_PER_ELEMENT > memory.buffer.byteLength) throw new Error("memory");
  for (let i = 0; i < c; i++) elements[i] = Math.random() - 0.5;
  const run = () => gemm(p.m, p.n, p.k, 1, a, p.aRow, p.aCol, b, p.bRow, p.bCol, c, p.n, 0, packA, packB);
  run();
  let wall = Number.POSITIVE_INFINITY;
  let cpu = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    run();
    wall = Math.min(wall, performance.now() - t0);
    const used = process.cpuUsage(cpu0);
    cpu = Math.min(cpu, (used.user + used.system) / 1000);
  }
  const flops = 2 * p.m * p.n * p.k;
  return { wall: flops / wall / 1e6, cpu: flops / cpu / 1e6 };
}

function row(cells: string[], widths: number[]): string {
  return cells
    .map((cell, i) => {
      const width = defined(widths[i], "a column's width");
      return i === 0 ? cell.padEnd(width) : cell.padStart(width);
    })
    .join("  ");
}

/** One product's single-thread GFLOP/s: best wall clock and best CPU time. */
interface GemmRate {
  readonly product: string;
  readonly dtype: GemmDtype;
  readonly wall: number;
  readonly cpu: number;
}

/** Single-thread GFLOP/s of each product in f64 and f32, each the best of `repeats` runs. */
export function gemmRates(repeats = REPEATS): GemmRate[] {
  const rates: GemmRate[] = [];
  for (const dtype of ["f64", "f32"] as const) {
    const gemm = instantiate(buildGemmModule(GEMM_SHAPES[dtype]));
    for (const product of PRODUCTS)
      rates.push({
        product: product.name,
        dtype,
        ...measure(gemm, dtype, gemmScratchElements(dtype), product, repeats),
      });
  }
  return rates;
}

function main(): void {
  console.log(`${cpus()[0]?.model ?? "unknown CPU"}, Node ${process.version}, best of ${REPEATS}, one thread`);
  console.log("GFLOP/s (wall clock / CPU time)\n");
  const widths = [26, 16, 16];
  console.log(row(["product", "f64", "f32"], widths));
  const modules = (["f64", "f32"] as const).map((dtype) => ({
    dtype,
    gemm: instantiate(buildGemmModule(GEMM_SHAPES[dtype])),
  }));
  for (const product of PRODUCTS) {
    const cells = [product.name];
    for (const { dtype, gemm } of modules) {
      const r = measure(gemm, dtype, gemmScratchElements(dtype), product);
      cells.push(`${r.wall.toFixed(1)} / ${r.cpu.toFixed(1)}`);
    }
    console.log(row(cells, widths));
  }
  console.log("\nceiling without FMA at 2.45 GHz: f64 19.6, f32 39.2 (2 vector mul + 2 vector add per cycle)");

  if (process.argv.includes("--shapes")) {
    const candidates: Record<GemmDtype, [number, number][]> = {
      f64: [
        [4, 4],
        [2, 8],
        [3, 4],
        [4, 6],
        [6, 4],
        [8, 4],
      ],
      f32: [
        [4, 8],
        [2, 16],
        [3, 8],
        [6, 8],
        [4, 12],
      ],
    };
    console.log("\nmicro-tile shapes (mr×nr), GFLOP/s wall / CPU");
    console.log(row(["shape", ...PRODUCTS.map((p) => p.short)], [10, 14, 14, 14]));
    for (const dtype of ["f64", "f32"] as const) {
      for (const [mr, nr] of candidates[dtype]) {
        const base = GEMM_SHAPES[dtype];
        // Keep mc and nc multiples of the tile.
        const shape: GemmShape = {
          ...base,
          mr,
          nr,
          mc: Math.floor(base.mc / mr) * mr,
          nc: Math.floor(base.nc / nr) * nr,
        };
        const gemm = instantiate(buildGemmModule(shape));
        const scratch = shapeScratchElements(shape);
        const cells = [`${dtype} ${mr}×${nr}`];
        for (const product of PRODUCTS) {
          const r = measure(gemm, dtype, scratch, product);
          cells.push(`${r.wall.toFixed(1)} / ${r.cpu.toFixed(1)}`);
        }
        console.log(row(cells, [10, 14, 14, 14]));
      }
    }
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
