/**
 * The WebAssembly side of a kernel module of the "wasm" backend, as TypeScript source text the
 * module embeds: the module's WebAssembly bytes (base64: the GEMM and the elementwise steps of
 * elementwise.ts), the thread pool (pool.ts) and `startWasm`, which splits each call across the
 * threads. A product is cut along its larger dimension of C into slices of whole micro-tiles;
 * each thread packs into its own scratch region, so threads share nothing but the operands they
 * read and disjoint parts of C they write. An elementwise step is cut by examples or by entries
 * (elementwise.ts), so threads again write disjoint parts of its result.
 */
import type { Dtype } from "../api.ts";
import { gemmScratchElements } from "./gemm.ts";
import { POOL_ARGS, POOL_SOURCE } from "./pool.ts";

/**
 * Products with fewer multiply-adds than this run on the calling thread alone: waking the
 * workers costs some microseconds, about what 10⁵ multiply-adds take.
 */
const PARALLEL_MIN = 1 << 17;

/**
 * Elementwise steps over fewer entries than this run on the calling thread alone (a pass over
 * 2¹⁵ entries takes some 10–30 µs, the order of a round trip to the workers).
 */
const PARALLEL_ELEMENTWISE_MIN = 1 << 15;

export interface WasmRuntime {
  /** Source text: the bytes, the pool and `startWasm(memory, scratchBase, threads)`. */
  readonly source: string;
  /** Elements of GEMM scratch each thread needs (packed panels of A and B). */
  readonly scratchPerThread: number;
}

/**
 * The embedded runtime for a module of `dtype` whose WebAssembly bytes (buildKernelModule)
 * export "gemm" and `steps` elementwise functions "e0", "e1", ….
 */
export function wasmRuntime(dtype: Dtype, bytes: Uint8Array, steps: number): WasmRuntime {
  const scratch = gemmScratchElements(dtype);
  const scratchPerThread = scratch.packA + scratch.packB;
  const base64 = Buffer.from(bytes).toString("base64");
  const source = `
${POOL_SOURCE}

// The global of every JavaScript runtime nqm targets (Node ≥ 16, browsers), declared here because the module's type check knows no DOM.
declare function atob(data: string): string;

/** The WebAssembly GEMM and elementwise steps (${dtype}): built by nqm's compiler/codegen/wasm/elementwise.ts. */
const KERNELS_WASM = "${base64}";
const GEMM_SCRATCH_A = ${scratch.packA};
const GEMM_SCRATCH = ${scratchPerThread};

/** The module's threads: asked for, else the machine's cores (1 where they cannot be known). */
function threadsWanted(asked: number | undefined): number {
  if (asked !== undefined) {
    if (!(Number.isInteger(asked) && asked >= 1)) throw new RangeError(\`threads must be a positive integer, got \${asked}\`);
    return asked;
  }
  return wasmPoolCores();
}

/** A shared WebAssembly memory of a fixed number of 64 KiB pages (never grown, so views stay valid). */
function newSharedMemory(pages: number): { readonly buffer: SharedArrayBuffer } {
  const api = (globalThis as unknown as {
    WebAssembly: { Memory: new (d: { initial: number; maximum: number; shared: boolean }) => { readonly buffer: SharedArrayBuffer } };
  }).WebAssembly;
  return new api.Memory({ initial: pages, maximum: pages, shared: true });
}

interface WasmRunner {
  readonly threads: number;
  /** C (=, or += when acc is 1) alpha · A · B; offsets and strides in elements of the memory. */
  gemm(m: number, n: number, k: number, alpha: number, a: number, ars: number, acs: number, b: number, brs: number, bcs: number, c: number, crs: number, acc: number): void;
  /**
   * Elementwise step k over [0, total) (examples or entries), cut into slices of whole multiples
   * of align; n is the batch size, work the entries the step touches, scalars its shared values.
   */
  elementwise(k: number, total: number, align: number, n: number, work: number, ...scalars: number[]): void;
  dispose(): void;
}

/**
 * The module's exports for up to \`threads\` threads; thread t packs GEMM panels into scratch at
 * scratchBase + t·GEMM_SCRATCH. The workers start at the first call large enough to share
 * (kernels of small models, and the many modules a test suite loads, never start any).
 */
function startWasm(memory: WasmPoolMemory, scratchBase: number, threads: number): WasmRunner {
  const text = atob(KERNELS_WASM);
  const bytes = new Uint8Array(text.length);
  for (let i = 0; i < text.length; i++) bytes[i] = text.charCodeAt(i);
  const names = ["gemm"];
  for (let k = 0; k < ${steps}; k++) names.push(\`e\${k}\`);
  const own = createWasmPool({ bytes, memory, names, threads: 1 }).exports;
  const single = own.gemm as (...args: number[]) => void;
  const steps = names.slice(1).map((name) => own[name] as (...args: number[]) => void);
  let shared: WasmPool | undefined;
  return {
    threads,
    elementwise(k, total, align, n, work, ...scalars) {
      if (threads === 1 || work < ${PARALLEL_ELEMENTWISE_MIN} || total < 2 * align) {
        steps[k]!(0, total, n, ...scalars);
        return;
      }
      shared ??= createWasmPool({ bytes, memory, names, threads }).pool;
      const args = shared.args;
      const count = shared.threads;
      const slice = Math.ceil(total / count / align) * align;
      let used = 0;
      for (let t = 0; t < count; t++) {
        const from = t * slice;
        if (from >= total) break;
        const at = t * ${POOL_ARGS};
        args[at] = from;
        args[at + 1] = Math.min(from + slice, total);
        args[at + 2] = n;
        for (let s = 0; s < scalars.length; s++) args[at + 3 + s] = scalars[s]!;
        used++;
      }
      shared.run(1 + k, 3 + scalars.length, used);
    },
    gemm(m, n, k, alpha, a, ars, acs, b, brs, bcs, c, crs, acc) {
      if (threads === 1 || m * n * k < ${PARALLEL_MIN}) {
        single(m, n, k, alpha, a, ars, acs, b, brs, bcs, c, crs, acc, scratchBase, scratchBase + GEMM_SCRATCH_A);
        return;
      }
      shared ??= createWasmPool({ bytes, memory, names, threads }).pool;
      const args = shared.args;
      const count = shared.threads;
      // Cut the larger side of C into slices of whole 8-wide tiles, one per thread.
      const alongColumns = n >= m;
      const side = alongColumns ? n : m;
      const slice = Math.ceil(side / count / 8) * 8;
      let used = 0;
      for (let t = 0; t < count; t++) {
        const start = t * slice;
        const length = Math.min(slice, side - start);
        if (length <= 0) break;
        const at = t * ${POOL_ARGS};
        const pack = scratchBase + t * GEMM_SCRATCH;
        args[at] = alongColumns ? m : length;
        args[at + 1] = alongColumns ? length : n;
        args[at + 2] = k;
        args[at + 3] = alpha;
        args[at + 4] = alongColumns ? a : a + start * ars;
        args[at + 5] = ars;
        args[at + 6] = acs;
        args[at + 7] = alongColumns ? b + start * bcs : b;
        args[at + 8] = brs;
        args[at + 9] = bcs;
        args[at + 10] = alongColumns ? c + start : c + start * crs;
        args[at + 11] = crs;
        args[at + 12] = acc;
        args[at + 13] = pack;
        args[at + 14] = pack + GEMM_SCRATCH_A;
        used++;
      }
      shared.run(0, 15, used);
    },
    dispose() {
      shared?.dispose();
      shared = undefined;
    },
  };
}
`;
  return { source, scratchPerThread };
}
