/**
 * Prepared sets: the staged state (compiler/stage's prepared frontier, W0 and the inputs) of a
 * whole data set, computed once by `prepareSet` and kept outside the kernels' buffers, so that
 * evaluating f_lin or f_quad on a test set, or a mini-batch step on a training set, copies rows
 * of it back instead of recomputing f(w0) and the J(w0)-side factors.
 *
 * The generated code is backend-neutral: it only copies between a set's arrays and the module's
 * buffers (`ps`, `W0`, `X0_k`), which on the wasm backend are views of the WebAssembly memory,
 * and calls `prepare` and the staged value kernels, which do their own copies in and out.
 */
import { sizeOf } from "../../foundation/shape.ts";
import { topologicalOrder, type Node } from "../ir/node.ts";
import type { Storage } from "./kernel.ts";
import type { Layout } from "./layout.ts";

/** A region of the module's buffers that a prepared set keeps. */
export interface KeptRegion {
  readonly array: string;
  readonly offset: number;
  /** Entries per example (per-example regions) or in all (shared ones). */
  readonly size: number;
}

/** What a prepared set keeps: rows of each per-example region, and the shared regions once. */
export interface KeptRegions {
  readonly perExample: readonly KeptRegion[];
  readonly shared: readonly KeptRegion[];
}

/** The factory statements and API methods of prepared sets, as TypeScript text. */
export interface PreparedSetsSource {
  readonly statements: readonly string[];
  readonly methods: readonly string[];
}

/**
 * The regions of the prepared state: each prepared node's buffer (per example when it is
 * batched) and each input's copy `X0_k`. A prepared value shared by all examples must not
 * depend on the inputs (it would be a sum over the batch, which a chunk or a gather of rows
 * cannot reproduce); derivative programs never make one (every Σⱼ is linear in the cotangent).
 */
export function keptRegions(
  frontier: readonly Node[],
  prepared: ReadonlyMap<number, Storage>,
  layout: Layout,
): KeptRegions {
  const perExample: KeptRegion[] = [];
  const shared: KeptRegion[] = [];
  for (const node of frontier) {
    const storage = prepared.get(node.id);
    if (storage?.kind !== "buffer") throw new Error(`internal: prepared node ${node.id} has no buffer`);
    const region = { array: storage.array, offset: storage.offset, size: sizeOf(node.shape) };
    if (node.batched) perExample.push(region);
    else if (topologicalOrder([node]).some((below) => below.op === "input"))
      throw new Error(`internal: prepared node ${node.id} (${node.op}) is shared by the examples but reads inputs`);
    else shared.push(region);
  }
  layout.inputs.forEach((input, k) => perExample.push({ array: `X0_${k}`, offset: 0, size: input.size }));
  return { perExample, shared };
}

interface Sizes {
  /** The module's array type: Float64Array or Float32Array. */
  readonly A: string;
  readonly P: number;
  /** MAX_BATCH. */
  readonly N: number;
  /** Outputs per example. */
  readonly out: number;
  readonly bytesPerElement: number;
  /** Entries per example of each input. */
  readonly inputSizes: readonly number[];
}

/** The prepared-set section of the `createKernels` factory (see the file comment). */
export function preparedSetsSource({ perExample, shared }: KeptRegions, sizes: Sizes): PreparedSetsSource {
  const { A, P, N, out, bytesPerElement, inputSizes } = sizes;
  const perExampleEntries = perExample.reduce((total, r) => total + r.size, 0);
  const sharedOffsets: number[] = [];
  let sharedEntries = 0;
  for (const region of shared) {
    sharedOffsets.push(sharedEntries);
    sharedEntries += region.size;
  }
  const rowsOf = (k: number) => `state.rows[${k}]!`;
  const statements = [
    `/** A prepared set's state: its w0, its shared prepared values, and each per-example region's rows [n, size]. */
interface SetState {
  readonly n: number;
  readonly w0: ${A};
  readonly shared: ${A};
  readonly rows: readonly ${A}[];
}`,
    `const SET_SHARED_ENTRIES = ${sharedEntries};`,
    `/** A set's arrays: its own memory (preparedSetBytes), allocated by prepareSet, never by a kernel. */
function newSetState(w0: ${A}, n: number): SetState {
  return {
    n,
    w0: w0.slice(0, ${P}),
    shared: new ${A}(SET_SHARED_ENTRIES),
    rows: [${perExample.map((r) => `new ${A}(n * ${r.size})`).join(", ")}],
  };
}`,
    `const sets = new WeakMap<PreparedSet, SetState>();`,
    `const INPUT_SIZES: readonly number[] = [${inputSizes.join(", ")}];`,
    `// Whose state the prepared buffers hold, so that loading it again copies nothing: W0 and the
// shared values of one set, and rows [rowsStart, rowsStart + rowsCount) of one set.
let sharedFrom: SetState | undefined;
let rowsFrom: SetState | undefined;
let rowsStart = 0;
let rowsCount = 0;`,
    `function stateOf(set: PreparedSet): SetState {
  const state = sets.get(set);
  if (state === undefined) throw new TypeError("not a prepared set of these kernels (prepareSet makes one)");
  return state;
}`,
    `function loadShared(state: SetState): void {
  if (sharedFrom === state) return;
  W0.set(state.w0);
  ${shared.map((r, k) => `${r.array}.set(state.shared.subarray(${sharedOffsets[k]}, ${(sharedOffsets[k] ?? 0) + r.size}), ${r.offset});`).join("\n")}
  sharedFrom = state;
}`,
    `function loadRange(state: SetState, start: number, count: number): void {
  loadShared(state);
  if (rowsFrom !== state || rowsStart !== start || rowsCount !== count) {
    ${perExample.map((r, k) => `${r.array}.set(${rowsOf(k)}.subarray(start * ${r.size}, (start + count) * ${r.size}), ${r.offset});`).join("\n")}
    rowsFrom = state;
    rowsStart = start;
    rowsCount = count;
  }
  preparedN = count;
}`,
    `function gatherRows(state: SetState, rows: ArrayLike<number>): void {
  const count = rows.length;
  checkBatch(count);
  rowsFrom = undefined;
  preparedN = 0;
  loadShared(state);
  ${perExample.map((_, k) => `const from${k} = ${rowsOf(k)};`).join("\n")}
  for (let b = 0; b < count; b++) {
    const j = rows[b]!;
    if (!(Number.isInteger(j) && j >= 0 && j < state.n)) throw new RangeError(\`row \${j} is not an example of the set (0 to \${state.n - 1})\`);
    ${perExample.map((r, k) => `for (let i = 0; i < ${r.size}; i++) ${r.array}[${r.offset} + b * ${r.size} + i] = from${k}[j * ${r.size} + i];`).join("\n")}
  }
  preparedN = count;
}`,
    `/** Runs a staged value kernel on every chunk of a set, starting with the chunk already loaded. */
function overChunks(state: SetState, dw: ${A}, out: ${A}, kernel: (dw: ${A}, out: ${A}) => void): void {
  if (out.length < state.n * ${out}) throw new RangeError(\`out holds \${out.length} entries, fewer than the set's \${state.n} × ${out}\`);
  const chunks = Math.ceil(state.n / ${N});
  const first = rowsFrom === state && rowsStart % ${N} === 0 ? rowsStart / ${N} : 0;
  for (let c = 0; c < chunks; c++) {
    const start = ((first + c) % chunks) * ${N};
    const count = Math.min(${N}, state.n - start);
    loadRange(state, start, count);
    kernel(dw, out.subarray(start * ${out}, (start + count) * ${out}));
  }
}`,
  ];
  const methods = [
    `prepareSet(w0: ${A}, x: readonly ${A}[], n: number): PreparedSet {
  if (!(Number.isInteger(n) && n >= 1)) throw new RangeError(\`n must be a positive integer, got \${n}\`);
  const state = newSetState(w0, n);
  for (let start = 0; start < n; start += ${N}) {
    const count = Math.min(${N}, n - start);
    kernels.prepare(w0, x.map((xk, k) => xk.subarray(start * INPUT_SIZES[k]!, (start + count) * INPUT_SIZES[k]!)), count);
    ${perExample.map((r, k) => `${rowsOf(k)}.set(${r.array}.subarray(${r.offset}, ${r.offset} + count * ${r.size}), start * ${r.size});`).join("\n")}
    rowsStart = start;
    rowsCount = count;
  }
  ${shared.map((r, k) => `state.shared.set(${r.array}.subarray(${r.offset}, ${r.offset + r.size}), ${sharedOffsets[k]});`).join("\n")}
  sharedFrom = state;
  rowsFrom = state;
  const set: PreparedSet = Object.freeze({ n });
  sets.set(set, state);
  return set;
}`,
    `preparedSetBytes(n: number): number {
  return (n * ${perExampleEntries} + ${sharedEntries + P}) * ${bytesPerElement};
}`,
    `loadPrepared(set: PreparedSet, rows?: ArrayLike<number>): void {
  const state = stateOf(set);
  if (rows !== undefined) return gatherRows(state, rows);
  checkBatch(state.n);
  loadRange(state, 0, state.n);
}`,
    `fLinPrepared(set: PreparedSet, dw: ${A}, out: ${A}): void {
  overChunks(stateOf(set), dw, out, fLinStaged);
}`,
    `fQuadPrepared(set: PreparedSet, dw: ${A}, out: ${A}): void {
  overChunks(stateOf(set), dw, out, fQuadStaged);
}`,
  ];
  return { statements, methods };
}
