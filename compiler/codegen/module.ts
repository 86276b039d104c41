/**
 * Assembly of one standalone TypeScript module per (model, sizes, batch, dtype, backend): the
 * kernels, each a plan lowered by kernel.ts and printed by printer.ts, inside a
 * `createKernels()` factory that owns every buffer, plus the parameter layout. Built with
 * ts-morph; it imports nothing, so it runs without nqm.
 *
 * Backends: "js" prints every step as JavaScript loops over typed arrays; "wasm" keeps the
 * loops but runs the matrix products across the batch in the WebAssembly SIMD GEMM
 * (wasm/gemm.ts), on several threads (wasm/pool.ts). Every array a product touches then lives
 * in one shared WebAssembly.Memory; a kernel argument that a product reads (w, x, c) is copied
 * into memory on entry, and one it writes (out, grad) is copied out on return.
 */
import {
  IndentationText,
  Project,
  StructureKind,
  VariableDeclarationKind,
  type FunctionDeclarationStructure,
} from "ts-morph";
import { defined } from "../../foundation/defined.ts";
import type { DerivativeProgram } from "../diff/programs.ts";
import type { Backend, Dtype } from "./api.ts";
import { topologicalOrder, type Node } from "../ir/node.ts";
import { KERNEL_HELPERS } from "../math.ts";
import { preparedFrontier } from "../stage/dependencies.ts";
import { COMPILER_VERSION } from "../version.ts";
import { resetGemmNames } from "./gemm.ts";
import { BufferPool, lowerKernel, region, type LeafArrays, type RootTarget, type Storage } from "./kernel.ts";
import type { Layout } from "./layout.ts";
import { layoutOf } from "./layout.ts";
import { gemmArrays, planTables, renameArrays, stepArrays, type KernelPlan, type Step } from "./plan.ts";
import { printKernel } from "./printer.ts";
import { keptRegions, preparedSetsSource, type PreparedSetsSource } from "./prepared-sets.ts";
import { buildKernelModule, type WasmStep, wasmStep } from "./wasm/elementwise.ts";
import { gemmScratchElements } from "./wasm/gemm.ts";
import { wasmRuntime } from "./wasm/runtime.ts";

export interface ModuleOptions {
  /** The largest batch the kernels accept; buffers are sized for it. */
  readonly maxBatch: number;
  /** A header line naming the source (file, model, sizes). */
  readonly header?: string;
  /** The model source, quoted at the top of the module. */
  readonly source?: string;
  readonly dtype?: Dtype;
  readonly backend?: Backend;
  /**
   * Called with the bytes of the buffers before any large structure is built (the WebAssembly
   * module's addresses, the text): a caller that refuses them (NQM3008) throws here.
   */
  readonly checkBytes?: (bytes: number) => void;
}

/**
 * The most bytes a WebAssembly (32-bit) memory holds: 65,536 pages of 64 KiB. A model whose
 * buffers need more cannot use the wasm backend.
 */
export const WASM_MEMORY_BYTES = 2 ** 32;

/**
 * The most elementwise steps one module computes in WebAssembly; past it (models of thousands
 * of lets), steps stay JavaScript loops, which keeps the module's bytes and build time bounded.
 */
const MAX_WASM_STEPS = 1024;

export interface GeneratedModule {
  readonly code: string;
  readonly layout: Layout;
  /** Bytes of buffers the kernels allocate when created (with one thread). */
  readonly workspaceBytes: number;
}

/** Source of the scalar helpers the kernels call (V8 inlines them): compiler/math.ts's own functions. */
function helpersSource(): string {
  const header = "// The scalar helpers: compiler/math.ts's KERNEL_HELPERS, as nqm was built.";
  return [
    header,
    ...Object.entries(KERNEL_HELPERS).map(([name, fn]) => {
      const type = fn.length === 1 ? "(x: number) => number" : "(x: number, slope: number) => number";
      return `const ${name}: ${type} = ${fn.toString()};`;
    }),
  ].join("\n");
}

/**
 * The index tables the kernels read (gathers and groups): little-endian int32 in base64, decoded
 * once by createKernels (a decoder of our own: the module needs no Buffer or atob).
 */
function tablesSource(tables: ReadonlyMap<string, Int32Array>): string[] {
  if (tables.size === 0) return [];
  const decoder = `/** An index table (compiler/ir/tables.ts) of \`length\` int32s from its little-endian base64 text. */
function indexTable(text: string, length: number): Int32Array {
  const table = new Int32Array(length);
  const bytes = new Uint8Array(table.buffer);
  let bits = 0;
  let count = 0;
  let at = 0;
  for (let i = 0; i < text.length && at < bytes.length; i++) {
    const c = text.charCodeAt(i);
    const digit = c >= 97 ? c - 71 : c >= 65 ? c - 65 : c >= 48 ? c + 4 : c === 43 ? 62 : 63;
    bits = ((bits << 6) | digit) & 0xffffff;
    count += 6;
    if (count >= 8) {
      count -= 8;
      bytes[at++] = (bits >> count) & 255;
    }
  }
  return table;
}`;
  return [
    decoder,
    ...[...tables].map(
      ([name, data]) =>
        `const ${name} = indexTable("${Buffer.from(data.buffer, data.byteOffset, data.byteLength).toString("base64")}", ${data.length});`,
    ),
  ];
}

/** The `Kernels` interface of a module whose arrays are `A` (Float64Array or Float32Array). */
function interfaceSource(A: string): string {
  return `
/** A data set prepared once by prepareSet (n examples); it belongs to the kernels that made it. */
export interface PreparedSet {
  readonly n: number;
}

/** Compiled kernels. Arrays are row-major ${A}s; n is the number of examples (≤ MAX_BATCH). */
export interface Kernels {
  readonly layout: typeof LAYOUT;
  readonly maxBatch: number;
  /** The element type of every array argument. */
  readonly dtype: "${A === "Float32Array" ? "f32" : "f64"}";
  /** Threads the kernels run on (1 for the JavaScript backend). */
  readonly threads: number;
  /** Model outputs of the last lossAndGrad* call, [n, outputSize]. */
  readonly outputs: ${A};
  /** Sets the fixed (non-trained) tensors, in LAYOUT.fixed order. */
  setFixed(values: ${A}): void;
  /** f(w; x_j) for each example into out [n, outputSize]. */
  f(w: ${A}, x: readonly ${A}[], n: number, out: ${A}): void;
  /** J(w; x_j) Δ into out [n, outputSize]. */
  jvp(w: ${A}, dw: ${A}, x: readonly ${A}[], n: number, out: ${A}): void;
  /** Δᵀ H_f(w; x_j) Δ into out [n, outputSize]. */
  quad(w: ${A}, dw: ${A}, x: readonly ${A}[], n: number, out: ${A}): void;
  /** f(w) + J(w) Δ into out. */
  fLin(w: ${A}, dw: ${A}, x: readonly ${A}[], n: number, out: ${A}): void;
  /** f(w) + J(w) Δ + ½ Δᵀ H(w) Δ into out. */
  fQuad(w: ${A}, dw: ${A}, x: readonly ${A}[], n: number, out: ${A}): void;
  /** Σ_j c_j ∇f(w; x_j) into grad [paramCount]. */
  vjp(w: ${A}, x: readonly ${A}[], c: ${A}, n: number, grad: ${A}): void;
  /** Σ_j c_j H_f(w; x_j) Δ into out [paramCount]. */
  hvp(w: ${A}, dw: ${A}, x: readonly ${A}[], c: ${A}, n: number, out: ${A}): void;
  /** Squared loss of f at w and its gradient; sum: ½Σ(f−y)², mean: that divided by n. */
  lossAndGrad(w: ${A}, x: readonly ${A}[], y: ${A}, n: number, grad: ${A}, mean: boolean): number;
  /** Computes everything that depends only on w0 and the inputs, for the f_lin and f_quad steps. */
  prepare(w0: ${A}, x: readonly ${A}[], n: number): void;
  /** Squared loss of f_lin at w0 + Δ and its gradient in Δ (after prepare). */
  lossAndGradLin(dw: ${A}, y: ${A}, grad: ${A}, mean: boolean): number;
  /** Squared loss of f_quad at w0 + Δ and its gradient in Δ (after prepare). */
  lossAndGradQuad(dw: ${A}, y: ${A}, grad: ${A}, mean: boolean): number;
  /**
   * Prepares a data set of any size once (prepare, in chunks of at most MAX_BATCH examples) and
   * keeps its w0-only state, for fLinPrepared, fQuadPrepared and loadPrepared; the set holds
   * copies of w0 and x, so later changes to them do not reach it; after setFixed, prepare the set again.
   */
  prepareSet(w0: ${A}, x: readonly ${A}[], n: number): PreparedSet;
  /** Bytes a prepared set of n examples holds (its memory, beyond the kernels' own buffers). */
  preparedSetBytes(n: number): number;
  /**
   * Makes rows of a prepared set (default: all of them) the prepared batch of lossAndGradLin and
   * lossAndGradQuad, as prepare(w0, those rows' x, rows.length) would, by copying, not recomputing.
   */
  loadPrepared(set: PreparedSet, rows?: ArrayLike<number>): void;
  /** f(w0) + J(w0) Δ for every example of a prepared set into out [set.n, outputSize]; replaces the prepared batch. */
  fLinPrepared(set: PreparedSet, dw: ${A}, out: ${A}): void;
  /** f(w0) + J(w0) Δ + ½ Δᵀ H(w0) Δ for every example of a prepared set into out [set.n, outputSize]; replaces the prepared batch. */
  fQuadPrepared(set: PreparedSet, dw: ${A}, out: ${A}): void;
  /** K v with K = J Jᵀ the tangent kernel at w ([n·outputSize]² never formed). */
  ntkMatVec(w: ${A}, x: readonly ${A}[], n: number, v: ${A}, out: ${A}): void;
  /** Computes the w-only part of K v at (w, x) once, for ntkMatVecPrepared (ntkMatVec calls it when w or x change). */
  ntkPrepare(w: ${A}, x: readonly ${A}[], n: number): void;
  /** K v at the point of the last ntkPrepare: one product each way, J then Jᵀ. */
  ntkMatVecPrepared(v: ${A}, out: ${A}): void;
  /** The Jacobian rows ∇f(w; x_j)ᵀ into out [n·outputSize, paramCount] (small models). */
  jacobianRows(w: ${A}, x: readonly ${A}[], n: number, out: ${A}): void;
  /** Stops the worker threads (the process can exit without it: they do not keep it alive). */
  dispose(): void;
}`;
}

/**
 * "line N: <declaration>" for each node lowered from a declaration, and "from line N: …" for
 * nodes derived from one (the input with a known origin that comes latest in the source).
 */
function sourceComments(program: DerivativeProgram, source: string | undefined): Map<number, string> {
  const comments = new Map<number, string>();
  if (source === undefined) return comments;
  const lineOf = (offset: number) => source.slice(0, offset).split("\n").length;
  const describe = (start: number, end: number) =>
    `line ${lineOf(start)}: ${(source.slice(start, end).split("\n")[0] ?? "").trim()}`;
  const direct = new Map<number, { start: number; text: string }>();
  for (const [id, span] of program.origins) direct.set(id, { start: span.start, text: describe(span.start, span.end) });
  const roots = [
    program.f,
    program.jvp,
    program.quad,
    program.fLin,
    program.fQuad,
    ...Object.values(program.grad),
    ...Object.values(program.hvp),
  ];
  const inherited = new Map<number, { start: number; text: string }>();
  for (const node of topologicalOrder(roots)) {
    const own = direct.get(node.id);
    if (own) {
      inherited.set(node.id, own);
      comments.set(node.id, own.text);
      continue;
    }
    const from = node.inputs
      .map((input) => inherited.get(input.id))
      .filter((o) => o !== undefined)
      .sort((a, b) => b.start - a.start)[0];
    if (from) {
      inherited.set(node.id, from);
      comments.set(node.id, `from ${from.text}`);
    }
  }
  return comments;
}

/**
 * Indents generated code by brace depth (its lines open blocks with a trailing `{` and close
 * them with a leading `}`); ts-morph's formatter would cost about a second per module.
 */
function reindent(code: string, depth: number): string {
  let level = depth;
  return code
    .split("\n")
    .map((raw) => {
      const line = raw.trim();
      if (line.startsWith("}")) level--;
      const text = line === "" ? "" : `${"  ".repeat(Math.max(level, 0))}${line}`;
      if (line.endsWith("{")) level++;
      return text;
    })
    .join("\n")
    .trimStart();
}

/** A kernel argument that is an array: its name and how many entries a call reads or writes. */
interface ArrayArgument {
  readonly name: string;
  /** Read by the kernel (copied into memory) or written (copied out). */
  readonly direction: "in" | "out";
  /** Entries used by a call, as an expression of n. */
  readonly extent: string;
  /** The most entries it can have (sizes the memory mirror). */
  readonly capacity: number;
}

interface KernelDef {
  readonly name: string;
  readonly parameters: readonly [string, string][];
  readonly returnType?: string;
  /** Statements before the plan (argument checks aside). */
  readonly prologue?: readonly string[];
  readonly plan: KernelPlan;
  /** The array arguments a matrix product may need in memory. */
  readonly arrays: readonly ArrayArgument[];
  /** The returned expression, if any. */
  readonly returns?: string;
  /** A function of the factory that other kernels call, not a method of the API. */
  readonly internal?: boolean;
}

/** Builds the module text for `program` with ts-morph. */
export function generateModule(program: DerivativeProgram, options: ModuleOptions): GeneratedModule {
  resetGemmNames();
  const dtype = options.dtype ?? "f64";
  const backend = options.backend ?? "js";
  const A = dtype === "f32" ? "Float32Array" : "Float64Array";
  const bytesPerElement = dtype === "f32" ? 4 : 8;
  const model = program.model;
  const layout = layoutOf(model);
  const N = options.maxBatch;
  const out = layout.outputSize;
  const P = layout.paramCount;
  const scratch = new BufferPool("ws", N);
  const persistent = new BufferPool("ps", N);
  const offsetIn = (slots: Layout["params"], name: string) => {
    const slot = slots.find((p) => p.name === name);
    if (!slot) throw new Error(`internal: no slot for ${name}`);
    return slot.offset;
  };
  const inputIndex = (name: string) => layout.inputs.findIndex((i) => i.name === name);
  const leaves = (over: Partial<LeafArrays>): LeafArrays => ({
    param: "w",
    tangent: "dw",
    fixed: "fx",
    input: (name) => `x${inputIndex(name)}`,
    cotangent: "c",
    paramOffset: (name) => offsetIn(layout.params, name),
    fixedOffset: (name) => offsetIn(layout.fixed, name),
    ...over,
  });
  const stagedLeaves = leaves({ param: "W0", input: (name) => `X0_${inputIndex(name)}`, cotangent: "R" });
  const toOutput = (node: Node, array = "out"): RootTarget => ({ node, target: region(array, 0, out, true) });
  const perParam = (table: Readonly<Record<string, Node>>, array: string): RootTarget[] =>
    layout.params.map((p) => {
      const node = table[p.name];
      if (!node) throw new Error(`internal: no program for param ${p.name}`);
      return { node, target: region(array, p.offset, p.size, false) };
    });
  const loss = (predictions: string): Step[] => [{ kind: "squaredLoss", predictions, residual: "R", size: out }];

  // Staging (compiler/stage): what the f_lin and f_quad steps read but do not change is computed by prepare.
  const params = model.params.map((p) => p.name);
  const stepRoots = [
    program.fLin,
    program.fQuad,
    ...params.map((p) => defined(program.grad[p], `the gradient of ${p}`)),
    ...params.map((p) => defined(program.quadGrad[p], `the f_quad gradient of ${p}`)),
  ];
  const frontier = preparedFrontier(stepRoots);
  const prepared = new Map<number, Storage>(frontier.map((node) => [node.id, persistent.storage(node)]));

  const comments = sourceComments(program, options.source);
  const plan = (phases: RootTarget[][], over: Partial<LeafArrays> = {}, between?: Step[][]) =>
    lowerKernel({
      phases,
      ...(between ? { between } : {}),
      leaves: leaves(over),
      prepared: new Map(),
      scratch,
      comments,
    });
  const staged = (phases: RootTarget[][], between: Step[][]) =>
    lowerKernel({ phases, between, leaves: stagedLeaves, prepared, scratch, comments });

  const W: [string, string] = ["w", A];
  const DW: [string, string] = ["dw", A];
  const X: [string, string] = ["x", `readonly ${A}[]`];
  const Nn: [string, string] = ["n", "number"];
  const OUT: [string, string] = ["out", A];
  const inputArrays: ArrayArgument[] = layout.inputs.map((input, k) => ({
    name: `x${k}`,
    direction: "in",
    extent: `n * ${input.size}`,
    capacity: N * input.size,
  }));
  const arg = (name: string, direction: "in" | "out", perExample: boolean): ArrayArgument => ({
    name,
    direction,
    extent: perExample ? `n * ${out}` : String(P),
    capacity: perExample ? N * out : P,
  });
  const withW = [arg("w", "in", false), ...inputArrays];
  const withDw = [...withW, arg("dw", "in", false)];
  const kernels: KernelDef[] = [
    {
      name: "f",
      parameters: [W, X, Nn, OUT],
      arrays: [...withW, arg("out", "out", true)],
      plan: plan([[toOutput(program.f)]]),
    },
    ...(["jvp", "quad", "fLin", "fQuad"] as const).map(
      (name): KernelDef => ({
        name,
        parameters: [W, DW, X, Nn, OUT],
        arrays: [...withDw, arg("out", "out", true)],
        plan: plan([[toOutput(program[name])]]),
      }),
    ),
    {
      name: "vjp",
      parameters: [W, X, ["c", A], Nn, ["grad", A]],
      arrays: [...withW, arg("c", "in", true), arg("grad", "out", false)],
      plan: plan([perParam(program.grad, "grad")]),
    },
    {
      name: "hvp",
      parameters: [W, DW, X, ["c", A], Nn, OUT],
      arrays: [...withDw, arg("c", "in", true), arg("out", "out", false)],
      plan: plan([perParam(program.hvp, "out")]),
    },
    {
      name: "lossAndGrad",
      parameters: [W, X, ["y", A], Nn, ["grad", A], ["mean", "boolean"]],
      returnType: "number",
      arrays: [...withW, arg("grad", "out", false)],
      plan: plan([[toOutput(program.f, "F")], perParam(program.grad, "grad")], { cotangent: "R" }, [loss("F")]),
      returns: "0.5 * scale * loss",
    },
    {
      name: "prepare",
      parameters: [["w0", A], X, Nn],
      returnType: "void",
      prologue: [
        `W0.set(w0.subarray(0, ${P}));`,
        ...layout.inputs.map((input, k) => `X0_${k}.set(x[${k}]!.subarray(0, n * ${input.size}));`),
        `preparedN = n;`,
        `sharedFrom = undefined;`,
        `rowsFrom = undefined;`,
      ],
      arrays: [],
      plan: lowerKernel({
        phases: [frontier.map((node) => ({ node, target: prepared.get(node.id) as RootTarget["target"] }))],
        leaves: leaves({ param: "W0", input: (name) => `X0_${inputIndex(name)}` }),
        prepared: new Map(),
        scratch,
        comments,
      }),
    },
    ...(
      [
        ["lossAndGradLin", program.fLin, program.grad],
        ["lossAndGradQuad", program.fQuad, program.quadGrad],
      ] as const
    ).map(
      ([name, model, gradient]): KernelDef => ({
        name,
        parameters: [DW, ["y", A], ["grad", A], ["mean", "boolean"]],
        returnType: "number",
        prologue: [`const n = preparedN;`, `if (n === 0) throw new Error("${name} before prepare");`],
        arrays: [arg("dw", "in", false), arg("grad", "out", false)],
        plan: staged([[toOutput(model, "F")], perParam(gradient, "grad")], [loss("F")]),
        returns: "0.5 * scale * loss",
      }),
    ),
    // The staged models' values alone (no loss, no gradient), for the chunks of a prepared set.
    ...(
      [
        ["fLinStaged", program.fLin],
        ["fQuadStaged", program.fQuad],
      ] as const
    ).map(
      ([name, value]): KernelDef => ({
        name,
        internal: true,
        parameters: [DW, OUT],
        prologue: [`const n = preparedN;`],
        arrays: [arg("dw", "in", false), arg("out", "out", true)],
        plan: staged([[toOutput(value)]], [[]]),
      }),
    ),
  ];

  // The tangent kernel at one point: Lanczos applies K = J Jᵀ many times at the same w, so the
  // w-only part of vjp and jvp (activations, patterns) is computed once by ntkPrepare into the
  // buffers `pk`, and each K v costs the products that involve v.
  const ntkRoots = [program.jvp, ...params.map((p) => defined(program.grad[p], `the gradient of ${p}`))];
  const ntkFrontier = preparedFrontier(ntkRoots);
  const kernelPoint = new BufferPool("pk", N);
  const ntkPrepared = new Map<number, Storage>(ntkFrontier.map((node) => [node.id, kernelPoint.storage(node)]));
  const ntkLeaves = leaves({ param: "Wk", input: (name) => `Xk_${inputIndex(name)}` });
  kernels.push(
    {
      name: "ntkPrepare",
      parameters: [W, X, Nn],
      returnType: "void",
      prologue: [
        `Wk.set(w.subarray(0, ${P}));`,
        ...layout.inputs.map((input, k) => `Xk_${k}.set(x[${k}]!.subarray(0, n * ${input.size}));`),
        `ntkN = n;`,
      ],
      arrays: [],
      plan: lowerKernel({
        phases: [ntkFrontier.map((node) => ({ node, target: ntkPrepared.get(node.id) as RootTarget["target"] }))],
        leaves: ntkLeaves,
        prepared: new Map(),
        scratch,
        comments,
      }),
    },
    {
      name: "ntkMatVecPrepared",
      parameters: [["v", A], OUT],
      returnType: "void",
      prologue: [`const n = ntkN;`, `if (n === 0) throw new Error("ntkMatVecPrepared before ntkPrepare");`],
      arrays: [arg("v", "in", true), arg("out", "out", true)],
      plan: lowerKernel({
        phases: [perParam(program.grad, "gradTemp"), [toOutput(program.jvp)]],
        leaves: { ...ntkLeaves, cotangent: "v", tangent: "gradTemp" },
        prepared: ntkPrepared,
        scratch,
        comments,
      }),
    },
  );

  // The module's own buffers (name, entries).
  const buffers: [string, number][] = [
    ["ws", scratch.size],
    ["ps", persistent.size],
    ["fx", layout.fixedCount],
    ["W0", P],
    ...layout.inputs.map((input, k): [string, number] => [`X0_${k}`, N * input.size]),
    ["F", N * out],
    ["R", N * out],
    ["gradTemp", P],
    ["unit", N * out],
    ["pk", kernelPoint.size],
    ["Wk", P],
    ...layout.inputs.map((input, k): [string, number] => [`Xk_${k}`, N * input.size]),
  ];
  const preparedSets = preparedSetsSource(keptRegions(frontier, prepared, layout), {
    A,
    P,
    N,
    out,
    bytesPerElement,
    inputSizes: layout.inputs.map((input) => input.size),
  });
  if (backend === "js") {
    const bodies = kernels.map((kernel) => ({ kernel, body: printKernel(kernel.plan), copyIn: [], copyOut: [] }));
    return assemble({ options, modelName: model.name, layout, A, bytesPerElement, buffers, bodies, preparedSets });
  }

  // The fast backend: every array that a product or a WebAssembly elementwise step touches lives
  // in the WebAssembly memory. Kernel arguments among them get a mirror there (one per name,
  // shared by the kernels), copied in before the kernel and out after it.
  const bufferNames = new Set(buffers.map(([name]) => name));
  const mirrored = kernels.map((kernel) => {
    const argument = new Set(kernel.arrays.map((a) => a.name));
    const reachable = (array: string) => bufferNames.has(array) || argument.has(array);
    const touched = gemmArrays(kernel.plan);
    for (const step of kernel.plan.steps)
      if (wasmStep(step, dtype, reachable)) for (const array of stepArrays(step)) touched.add(array);
    return kernel.arrays.filter((a) => touched.has(a.name));
  });
  const mirrors = new Map<string, number>();
  for (const a of mirrored.flat()) mirrors.set(`M_${a.name}`, Math.max(mirrors.get(`M_${a.name}`) ?? 0, a.capacity));
  const perLine = 64 / bytesPerElement;
  const memory = new Map<string, { offset: number; length: number }>();
  let end = 0;
  for (const [name, length] of [...buffers, ...mirrors]) {
    memory.set(name, { offset: end, length });
    end += Math.ceil(length / perLine) * perLine;
  }
  const scratchPerThread = gemmScratchElements(dtype);
  const wasmBytes = (end + scratchPerThread.packA + scratchPerThread.packB) * bytesPerElement;
  options.checkBytes?.(wasmBytes);
  if (wasmBytes > WASM_MEMORY_BYTES)
    throw new RangeError(
      `the wasm backend addresses at most 4 GiB and these kernels need ${wasmBytes} bytes: use the js backend`,
    );
  const placeOf = (array: string) => {
    const place = memory.get(array);
    if (!place) throw new Error(`internal: ${array} is not in the WebAssembly memory`);
    return place.offset;
  };
  const inMemory = (array: string) => memory.has(array);
  const elementwise: WasmStep[] = [];
  const bodies = kernels.map((kernel, k): PrintedKernel => {
    const own = defined(mirrored[k], "a kernel's mirrored arrays");
    const renamed = renameArrays(kernel.plan, new Map(own.map((a) => [a.name, `M_${a.name}`])));
    const indices = new Map<Step, { index: number; step: WasmStep }>();
    for (const step of renamed.steps) {
      const compiled = elementwise.length < MAX_WASM_STEPS ? wasmStep(step, dtype, inMemory) : undefined;
      if (!compiled) continue;
      indices.set(step, { index: elementwise.length, step: compiled });
      elementwise.push(compiled);
    }
    return {
      kernel,
      body: printKernel(renamed, {
        wasm: { memoryBase: (array) => String(placeOf(array)), elementwise: (step) => indices.get(step) },
      }),
      copyIn: own
        .filter((a) => a.direction === "in")
        .map((a) => `M_${a.name}.set(${a.name}.subarray(0, ${a.extent}));`),
      copyOut: own
        .filter((a) => a.direction === "out")
        .map((a) => `${a.name}.set(M_${a.name}.subarray(0, ${a.extent}));`),
    };
  });
  const bytes = buildKernelModule(dtype, elementwise, placeOf);
  return assemble({
    options,
    modelName: model.name,
    layout,
    A,
    bytesPerElement,
    buffers: [...buffers, ...mirrors],
    bodies,
    preparedSets,
    wasm: { dtype, memory, end, bytes, steps: elementwise.length },
  });
}

interface PrintedKernel {
  readonly kernel: KernelDef;
  readonly body: string;
  /** Statements copying arguments into memory before the body, and results out after it. */
  readonly copyIn: readonly string[];
  readonly copyOut: readonly string[];
}

interface Assembly {
  /** The fast backend's memory: each array's place (in elements) and the end of the arrays. */
  readonly wasm?: {
    readonly dtype: Dtype;
    readonly memory: ReadonlyMap<string, { readonly offset: number; readonly length: number }>;
    readonly end: number;
    /** The WebAssembly module (the GEMM and `steps` elementwise functions). */
    readonly bytes: Uint8Array;
    readonly steps: number;
  };
  readonly options: ModuleOptions;
  readonly modelName: string;
  readonly layout: Layout;
  readonly A: string;
  readonly bytesPerElement: number;
  readonly buffers: readonly [string, number][];
  readonly bodies: readonly PrintedKernel[];
  readonly preparedSets: PreparedSetsSource;
}

/** The module text: header, layout, helpers, interface and the createKernels factory. */
function assemble({
  options,
  modelName,
  layout,
  A,
  bytesPerElement,
  buffers,
  bodies,
  preparedSets,
  wasm,
}: Assembly): GeneratedModule {
  const N = options.maxBatch;
  const out = layout.outputSize;
  const P = layout.paramCount;
  const inputsPrologue = layout.inputs.map((_, k) => `const x${k} = x[${k}]!;`).join("\n");
  const printed = bodies.map(({ kernel, body, copyIn, copyOut }) => {
    const names = kernel.parameters.map(([name]) => name);
    const lines = [
      ...(names.includes("n") ? ["checkBatch(n);"] : []),
      ...(names.includes("x") ? [inputsPrologue] : []),
      ...(kernel.prologue ?? []),
      ...copyIn,
      body,
      ...copyOut,
      ...(kernel.returns ? [`return ${kernel.returns};`] : []),
    ];
    const signature = kernel.parameters.map(([name, type]) => `${name}: ${type}`).join(", ");
    const text = `${kernel.name}(${signature}): ${kernel.returnType ?? "void"} {\n${lines.join("\n")}\n}`;
    return { internal: kernel.internal === true, text };
  });
  const methods = [
    ...printed.filter((p) => !p.internal).map((p) => reindent(p.text, 1)),
    ...preparedSets.methods.map((text) => reindent(text, 1)),
  ];
  const internalFunctions = printed.filter((p) => p.internal).map((p) => reindent(`function ${p.text}`, 0));

  const project = new Project({
    useInMemoryFileSystem: true,
    manipulationSettings: { indentationText: IndentationText.TwoSpaces },
  });
  const file = project.createSourceFile("kernels.ts", "", { overwrite: true });
  // The header and the model source are quoted in a block comment: a `*/` in either (the file
  // name is the user's too) must not end the comment.
  const commentSafe = (text: string) => text.replaceAll("*/", "*\\/");
  const quoted = commentSafe(options.source ?? "")
    .split("\n")
    .map((line) => ` * ${line}`.trimEnd());
  file.addStatements([
    `/**\n * ${commentSafe(options.header ?? `Kernels for model ${modelName}`).replace(/[\r\n\u2028\u2029]+/g, " ")}\n * Generated by nqm ${COMPILER_VERSION}; do not edit. Model source:\n *\n${quoted.join("\n")}\n */`,
    `/* eslint-disable */`,
  ]);
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: "LAYOUT", initializer: `${JSON.stringify(layout, null, 2)} as const` }],
  });
  file.addVariableStatement({
    isExported: true,
    declarationKind: VariableDeclarationKind.Const,
    declarations: [{ name: "MAX_BATCH", initializer: String(N) }],
  });
  file.addStatements(helpersSource());
  file.addStatements(interfaceSource(A));
  const runtime = wasm ? wasmRuntime(wasm.dtype, wasm.bytes, wasm.steps) : undefined;
  if (runtime) file.addStatements(runtime.source);
  const allocations = wasm
    ? [
        `const threads = threadsWanted(options.threads);`,
        `const scratchBase = ${wasm.end};`,
        `const pages = Math.ceil(((scratchBase + threads * GEMM_SCRATCH) * ${bytesPerElement}) / 65536);`,
        `const memory = newSharedMemory(pages);`,
        ...[...wasm.memory].map(
          ([name, place]) =>
            `const ${name} = new ${A}(memory.buffer, ${place.offset * bytesPerElement}, ${place.length});`,
        ),
        `const runtime = startWasm(memory, scratchBase, threads);`,
        `const gemm = runtime.gemm;`,
        `const elementwise = runtime.elementwise;`,
      ]
    : buffers.map(([name, length]) => `const ${name} = new ${A}(${length});`);
  const factory: FunctionDeclarationStructure = {
    kind: StructureKind.Function,
    isExported: true,
    name: "createKernels",
    returnType: "Kernels",
    parameters: [{ name: wasm ? "options" : "_options", type: "{ readonly threads?: number }", initializer: "{}" }],
    docs: [
      wasm
        ? "Creates the kernels with their buffers in one shared WebAssembly memory (allocated here once, never inside a kernel), and the GEMM's threads (default: the machine's cores)."
        : "Creates the kernels with their buffers (allocated here once, never inside a kernel). This backend runs on one thread.",
    ],
    statements: [
      ...allocations,
      ...tablesSource(new Map(bodies.flatMap(({ kernel }) => [...planTables(kernel.plan)]))),
      `let preparedN = 0;`,
      `let ntkN = 0;`,
      `/** Whether the first count entries of a and b are equal (the point ntkPrepare last saw). */\nfunction sameEntries(a: ${A}, b: ${A}, count: number): boolean {\n  for (let i = 0; i < count; i++) if (a[i] !== b[i]) return false;\n  return true;\n}`,
      `function checkBatch(n: number): void {\n  if (!(Number.isInteger(n) && n >= 1 && n <= ${N})) throw new RangeError(\`n must be an integer in [1, ${N}], got \${n}\`);\n}`,
      ...preparedSets.statements.map((text) => reindent(text, 0)),
      ...internalFunctions,
      `const kernels: Kernels = {
  layout: LAYOUT,
  maxBatch: ${N},
  dtype: "${A === "Float32Array" ? "f32" : "f64"}",
  threads: ${wasm ? "runtime.threads" : "1"},
  outputs: F,
  setFixed(values: ${A}): void {
    fx.set(values.subarray(0, ${layout.fixedCount}));
  },
  ${methods.join(",\n")},
  ntkMatVec(w: ${A}, x: readonly ${A}[], n: number, v: ${A}, out: ${A}): void {
    checkBatch(n);
    const same = n === ntkN && sameEntries(Wk, w, ${P})${layout.inputs.map((input, k) => ` && sameEntries(Xk_${k}, x[${k}]!, n * ${input.size})`).join("")};
    if (!same) kernels.ntkPrepare(w, x, n);
    kernels.ntkMatVecPrepared(v, out);
  },
  jacobianRows(w: ${A}, x: readonly ${A}[], n: number, out: ${A}): void {
    checkBatch(n);
    unit.fill(0);
    for (let row = 0; row < n * ${out}; row++) {
      unit[row] = 1;
      kernels.vjp(w, x, unit, n, gradTemp);
      out.set(gradTemp, row * ${P});
      unit[row] = 0;
    }
  },
  dispose(): void {${wasm ? "\n    runtime.dispose();\n  " : ""}},
};`,
      `return kernels;`,
    ],
  };
  file.addFunction(factory);
  const workspaceBytes =
    (wasm ? wasm.end + (runtime?.scratchPerThread ?? 0) : buffers.reduce((total, [, length]) => total + length, 0)) *
    bytesPerElement;
  return { code: file.getFullText(), layout, workspaceBytes };
}
