/**
 * Assembly of one standalone TypeScript module per (model, sizes, batch): the kernel
 * functions of kernel.ts inside a `createKernels()` factory that owns every buffer, plus the
 * parameter layout. Built with ts-morph; it imports nothing, so it runs without nqm.
 */
import {
  IndentationText,
  Project,
  StructureKind,
  VariableDeclarationKind,
  type FunctionDeclarationStructure,
} from "ts-morph";
import type { DerivativeProgram } from "../diff/programs.ts";
import { simplify } from "../simplify/simplify.ts";
import { dependencies, stageOf } from "../stage/dependencies.ts";
import { resetGemmNames } from "./gemm.ts";
import { BufferPool, emitKernelBody, type LeafArrays, type RootTarget, type Storage } from "./kernel.ts";
import type { Layout } from "./layout.ts";
import { layoutOf } from "./layout.ts";

import { COMPILER_VERSION } from "../version.ts";
import { topologicalOrder, type Node } from "../ir/node.ts";

export interface ModuleOptions {
  /** The largest batch the kernels accept; buffers are sized for it. */
  readonly maxBatch: number;
  /** A header line naming the source (file, model, sizes). */
  readonly header?: string;
  /** The model source, quoted at the top of the module. */
  readonly source?: string;
}

export interface GeneratedModule {
  readonly code: string;
  readonly layout: Layout;
  /** Doubles of workspace the kernels allocate when created. */
  readonly workspaceDoubles: number;
}

/** Scalar helpers the kernels call; V8 inlines them. Must match compiler/math.ts exactly. */
const HELPERS = `
function relu(x: number): number {
  return x > 0 ? x : 0;
}
function step(x: number): number {
  return x > 0 ? 1 : 0;
}
function sign(x: number): number {
  return x > 0 ? 1 : x < 0 ? -1 : 0;
}
function square(x: number): number {
  return x * x;
}
function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}
function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}
function leakyRelu(x: number, slope: number): number {
  return x > 0 ? x : slope * x;
}
function leakyStep(x: number, slope: number): number {
  return x > 0 ? 1 : slope;
}`;

const INTERFACE = `
/** Compiled kernels. Arrays are row-major Float64Arrays; n is the number of examples (≤ MAX_BATCH). */
export interface Kernels {
  readonly layout: typeof LAYOUT;
  readonly maxBatch: number;
  /** Model outputs of the last lossAndGrad* call, [n, outputSize]. */
  readonly outputs: Float64Array;
  /** Sets the fixed (non-trained) tensors, in LAYOUT.fixed order. */
  setFixed(values: Float64Array): void;
  /** f(w; x_j) for each example into out [n, outputSize]. */
  f(w: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  /** J(w; x_j) Δ into out [n, outputSize]. */
  jvp(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  /** Δᵀ H_f(w; x_j) Δ into out [n, outputSize]. */
  quad(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  /** f(w) + J(w) Δ into out. */
  fLin(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  /** f(w) + J(w) Δ + ½ Δᵀ H(w) Δ into out. */
  fQuad(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
  /** Σ_j c_j ∇f(w; x_j) into grad [paramCount]. */
  vjp(w: Float64Array, x: readonly Float64Array[], c: Float64Array, n: number, grad: Float64Array): void;
  /** Σ_j c_j H_f(w; x_j) Δ into out [paramCount]. */
  hvp(w: Float64Array, dw: Float64Array, x: readonly Float64Array[], c: Float64Array, n: number, out: Float64Array): void;
  /** Squared loss of f at w and its gradient; sum: ½Σ(f−y)², mean: that divided by n. */
  lossAndGrad(w: Float64Array, x: readonly Float64Array[], y: Float64Array, n: number, grad: Float64Array, mean: boolean): number;
  /** Computes everything that depends only on w0 and the inputs, for the f_lin and f_quad steps. */
  prepare(w0: Float64Array, x: readonly Float64Array[], n: number): void;
  /** Squared loss of f_lin at w0 + Δ and its gradient in Δ (after prepare). */
  lossAndGradLin(dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean): number;
  /** Squared loss of f_quad at w0 + Δ and its gradient in Δ (after prepare). */
  lossAndGradQuad(dw: Float64Array, y: Float64Array, grad: Float64Array, mean: boolean): number;
  /** K v with K = J Jᵀ the tangent kernel at w ([n·outputSize]² never formed). */
  ntkMatVec(w: Float64Array, x: readonly Float64Array[], n: number, v: Float64Array, out: Float64Array): void;
  /** The Jacobian rows ∇f(w; x_j)ᵀ into out [n·outputSize, paramCount] (small models). */
  jacobianRows(w: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void;
}`;

/**
 * "line N: <declaration>" for each node lowered from a declaration, and "from line N: …" for
 * nodes derived from one (the input with a known origin that comes latest in the source).
 */
function sourceComments(program: DerivativeProgram, source: string | undefined): Map<number, string> {
  const comments = new Map<number, string>();
  if (source === undefined) return comments;
  const lineOf = (offset: number) => source.slice(0, offset).split("\n").length;
  const describe = (start: number, end: number) =>
    `line ${lineOf(start)}: ${source.slice(start, end).split("\n")[0]!.trim()}`;
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

interface KernelDef {
  readonly name: string;
  readonly parameters: readonly [string, string][];
  readonly returnType: string;
  readonly body: string;
}

/** Builds the module text for `program` with ts-morph. */
export function generateModule(program: DerivativeProgram, options: ModuleOptions): GeneratedModule {
  resetGemmNames();
  const model = program.model;
  const layout = layoutOf(model);
  const N = options.maxBatch;
  const out = layout.outputSize;
  const g = program.graph;
  const scratch = new BufferPool("ws", N);
  const persistent = new BufferPool("ps", N);
  const paramOffset = (name: string) => layout.params.find((p) => p.name === name)!.offset;
  const fixedOffset = (name: string) => layout.fixed.find((p) => p.name === name)!.offset;
  const inputIndex = (name: string) => layout.inputs.findIndex((i) => i.name === name);
  const leaves = (over: Partial<LeafArrays>): LeafArrays => ({
    param: "w",
    tangent: "dw",
    fixed: "fx",
    input: (name) => `x${inputIndex(name)}`,
    cotangent: "c",
    paramOffset,
    fixedOffset,
    ...over,
  });
  const stagedLeaves = leaves({ param: "W0", input: (name) => `X0_${inputIndex(name)}`, cotangent: "R" });
  const perExample = (array: string): RootTarget["target"] => ({
    kind: "buffer",
    array,
    offset: 0,
    batched: true,
    size: out,
  });
  const toOutput = (node: Node, array = "out"): RootTarget => ({ node, target: perExample(array) });
  const perParam = (table: Readonly<Record<string, Node>>, array: string): RootTarget[] =>
    layout.params.map((p) => ({
      node: table[p.name]!,
      target: { kind: "buffer", array, offset: p.offset, batched: false, size: p.size },
    }));

  const params = model.params.map((p) => p.name);
  const quadGrad = simplify(
    g,
    params.map((p) => g.add(program.grad[p]!, program.hvp[p]!)),
  );
  const quadGradTable = Object.fromEntries(params.map((p, i) => [p, quadGrad[i]!]));
  const residual = (into: string) =>
    [
      `const scale = mean ? 1 / n : 1;`,
      `let loss = 0;`,
      `for (let q = 0; q < n * ${out}; q++) {`,
      `  const r = ${into}[q] - y[q];`,
      `  loss += r * r;`,
      `  R[q] = r * scale;`,
      `}`,
    ].join("\n");

  // Staging: what the f_lin and f_quad steps read but do not change is computed by prepare.
  const stepRoots = [program.fLin, program.fQuad, ...params.map((p) => program.grad[p]!), ...quadGrad];
  const flags = dependencies(stepRoots);
  const frontier = new Map<number, Node>();
  const visit = (node: Node, seen = new Set<number>()): void => {
    if (seen.has(node.id)) return;
    seen.add(node.id);
    const stage = stageOf(flags.get(node.id)!);
    if (stage !== "step") {
      if (node.inputs.length > 0) frontier.set(node.id, node);
      return;
    }
    for (const input of node.inputs) visit(input, seen);
  };
  const seen = new Set<number>();
  for (const root of stepRoots) visit(root, seen);
  const prepared = new Map<number, Storage>([...frontier.values()].map((node) => [node.id, persistent.storage(node)]));

  const comments = sourceComments(program, options.source);
  const unstaged = (phases: RootTarget[][], between?: string[], cotangent = "c") =>
    emitKernelBody({
      phases,
      ...(between ? { between } : {}),
      leaves: leaves({ cotangent }),
      prepared: new Map(),
      scratch,
      comments,
    });
  const staged = (phases: RootTarget[][], between: string[]) =>
    emitKernelBody({ phases, between, leaves: stagedLeaves, prepared, scratch, comments });

  const W = ["w", "Float64Array"] as [string, string];
  const DW = ["dw", "Float64Array"] as [string, string];
  const X = ["x", "readonly Float64Array[]"] as [string, string];
  const Nn = ["n", "number"] as [string, string];
  const inputsPrologue = layout.inputs.map((_, k) => `const x${k} = x[${k}]!;`).join("\n");
  const kernels: KernelDef[] = [
    {
      name: "f",
      parameters: [W, X, Nn, ["out", "Float64Array"]],
      returnType: "void",
      body: unstaged([[toOutput(program.f)]]),
    },
    {
      name: "jvp",
      parameters: [W, DW, X, Nn, ["out", "Float64Array"]],
      returnType: "void",
      body: unstaged([[toOutput(program.jvp)]]),
    },
    {
      name: "quad",
      parameters: [W, DW, X, Nn, ["out", "Float64Array"]],
      returnType: "void",
      body: unstaged([[toOutput(program.quad)]]),
    },
    {
      name: "fLin",
      parameters: [W, DW, X, Nn, ["out", "Float64Array"]],
      returnType: "void",
      body: unstaged([[toOutput(program.fLin)]]),
    },
    {
      name: "fQuad",
      parameters: [W, DW, X, Nn, ["out", "Float64Array"]],
      returnType: "void",
      body: unstaged([[toOutput(program.fQuad)]]),
    },
    {
      name: "vjp",
      parameters: [W, X, ["c", "Float64Array"], Nn, ["grad", "Float64Array"]],
      returnType: "void",
      body: unstaged([perParam(program.grad, "grad")]),
    },
    {
      name: "hvp",
      parameters: [W, DW, X, ["c", "Float64Array"], Nn, ["out", "Float64Array"]],
      returnType: "void",
      body: unstaged([perParam(program.hvp, "out")]),
    },
    {
      name: "lossAndGrad",
      parameters: [W, X, ["y", "Float64Array"], Nn, ["grad", "Float64Array"], ["mean", "boolean"]],
      returnType: "number",
      body: `${unstaged([[toOutput(program.f, "F")], perParam(program.grad, "grad")], [residual("F")], "R")}\nreturn 0.5 * scale * loss;`,
    },
    {
      name: "prepare",
      parameters: [["w0", "Float64Array"], X, Nn],
      returnType: "void",
      body: [
        `W0.set(w0.subarray(0, ${layout.paramCount}));`,
        ...layout.inputs.map((input, k) => `X0_${k}.set(x[${k}]!.subarray(0, n * ${input.size}));`),
        `preparedN = n;`,
        emitKernelBody({
          phases: [
            [...frontier.values()].map((node) => ({ node, target: prepared.get(node.id) as RootTarget["target"] })),
          ],
          leaves: leaves({ param: "W0", input: (name) => `X0_${inputIndex(name)}` }),
          prepared: new Map(),
          scratch,
          comments,
        }),
      ].join("\n"),
    },
    {
      name: "lossAndGradLin",
      parameters: [DW, ["y", "Float64Array"], ["grad", "Float64Array"], ["mean", "boolean"]],
      returnType: "number",
      body: `const n = preparedN;\nif (n === 0) throw new Error("lossAndGradLin before prepare");\n${staged([[toOutput(program.fLin, "F")], perParam(program.grad, "grad")], [residual("F")])}\nreturn 0.5 * scale * loss;`,
    },
    {
      name: "lossAndGradQuad",
      parameters: [DW, ["y", "Float64Array"], ["grad", "Float64Array"], ["mean", "boolean"]],
      returnType: "number",
      body: `const n = preparedN;\nif (n === 0) throw new Error("lossAndGradQuad before prepare");\n${staged([[toOutput(program.fQuad, "F")], perParam(quadGradTable, "grad")], [residual("F")])}\nreturn 0.5 * scale * loss;`,
    },
  ];

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
    `/**\n * ${commentSafe(options.header ?? `Kernels for model ${model.name}`).replace(/[\r\n\u2028\u2029]+/g, " ")}\n * Generated by nqm ${COMPILER_VERSION}; do not edit. Model source:\n *\n${quoted.join("\n")}\n */`,
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
  file.addStatements(HELPERS);
  file.addStatements(INTERFACE);
  const methods = kernels.map((k) => {
    const checks = k.parameters.some(([name]) => name === "n") ? `checkBatch(n);\n` : "";
    const prologue = k.parameters.some(([name]) => name === "x") ? `${inputsPrologue}\n` : "";
    return reindent(
      `${k.name}(${k.parameters.map(([name, type]) => `${name}: ${type}`).join(", ")}): ${k.returnType} {\n${checks}${prologue}${k.body}\n}`,
      1,
    );
  });
  const factory: FunctionDeclarationStructure = {
    kind: StructureKind.Function,
    isExported: true,
    name: "createKernels",
    returnType: "Kernels",
    docs: ["Creates the kernels with their buffers (allocated here once, never inside a kernel)."],
    statements: [
      `const ws = new Float64Array(${scratch.size});`,
      `const ps = new Float64Array(${persistent.size});`,
      `const fx = new Float64Array(${layout.fixedCount});`,
      `const W0 = new Float64Array(${layout.paramCount});`,
      ...layout.inputs.map((input, k) => `const X0_${k} = new Float64Array(${N * input.size});`),
      `const F = new Float64Array(${N * out});`,
      `const R = new Float64Array(${N * out});`,
      `const gradTemp = new Float64Array(${layout.paramCount});`,
      `const unit = new Float64Array(${N * out});`,
      `let preparedN = 0;`,
      `function checkBatch(n: number): void {\n  if (!(Number.isInteger(n) && n >= 1 && n <= ${N})) throw new RangeError(\`n must be an integer in [1, ${N}], got \${n}\`);\n}`,
      `const kernels: Kernels = {
  layout: LAYOUT,
  maxBatch: ${N},
  outputs: F,
  setFixed(values: Float64Array): void {
    fx.set(values.subarray(0, ${layout.fixedCount}));
  },
  ${methods.join(",\n")},
  ntkMatVec(w: Float64Array, x: readonly Float64Array[], n: number, v: Float64Array, out: Float64Array): void {
    kernels.vjp(w, x, v, n, gradTemp);
    kernels.jvp(w, gradTemp, x, n, out);
  },
  jacobianRows(w: Float64Array, x: readonly Float64Array[], n: number, out: Float64Array): void {
    checkBatch(n);
    unit.fill(0);
    for (let row = 0; row < n * ${out}; row++) {
      unit[row] = 1;
      kernels.vjp(w, x, unit, n, gradTemp);
      out.set(gradTemp, row * ${layout.paramCount});
      unit[row] = 0;
    }
  },
};`,
      `return kernels;`,
    ],
  };
  file.addFunction(factory);
  const code = file.getFullText();
  const workspaceDoubles =
    scratch.size +
    persistent.size +
    layout.fixedCount +
    layout.paramCount * 2 +
    N * (3 * out + layout.inputs.reduce((a, i) => a + i.size, 0));
  return { code, layout, workspaceDoubles };
}
