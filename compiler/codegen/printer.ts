/**
 * Printing of a kernel plan (plan.ts) as the statements of one TypeScript function. Loops,
 * reductions and fused elementwise expressions are printed as JavaScript with their sizes,
 * offsets and strides as literals; matrix products either as register-blocked JavaScript
 * (gemm.ts: the portable reference backend) or as calls into the WebAssembly GEMM (the fast
 * backend), which reads and writes the module's linear memory.
 */
import { literal } from "../ir/literal.ts";
import { OPS } from "../ir/ops.ts";
import { emitGemm, type View } from "./gemm.ts";
import type { Destination, Extent, Index, KernelPlan, MatrixView, Region, Scalar, Step } from "./plan.ts";
import type { WasmStep } from "./wasm/elementwise.ts";

export interface PrintOptions {
  /**
   * When set, matrix products across the batch call `gemm(...)` (the module's entry into the
   * WebAssembly GEMM); `memoryBase(array)` is the expression of the array's first element in
   * linear memory (every array a product touches lives there).
   */
  readonly wasm?: {
    readonly memoryBase: (array: string) => string;
    /** The WebAssembly function of an elementwise step (elementwise.ts), if it has one. */
    readonly elementwise?: (step: Step) => { readonly index: number; readonly step: WasmStep } | undefined;
  };
}

/** `a + b + …` of index terms, folding zeros. */
function sum(parts: readonly string[]): string {
  const nonZero = parts.filter((p) => p !== "0");
  return nonZero.length === 0 ? "0" : nonZero.join(" + ");
}

/** `i · stride` folded for the trivial cases. */
function times(i: string, stride: number): string {
  if (i === "0" || stride === 0) return "0";
  if (stride === 1) return i;
  if (i === "1") return String(stride);
  return `${i} * ${stride}`;
}

/** The flat index of entry `i` of example `j` in a region. */
function at(region: Region, i: string, j: string): string {
  return `${region.array}[${sum([String(region.offset), times(j, region.batchStride), region.size > 1 ? i : "0"])}]`;
}

function indexText(index: Index, i: string): string {
  switch (index.kind) {
    case "entry":
      return i;
    case "first":
      return "0";
    case "row":
      return `((${indexText(index.of, i)} / ${index.cols}) | 0)`;
    case "column":
      return `(${indexText(index.of, i)} % ${index.cols})`;
    case "transposed": {
      const of = indexText(index.of, i);
      return `((${of} % ${index.rows}) * ${index.cols} + ((${of} / ${index.rows}) | 0))`;
    }
  }
}

/** The JavaScript expression of a scalar at entry `i` of example `j`. */
function scalarText(value: Scalar, i: string, j: string): string {
  switch (value.kind) {
    case "const":
      return literal(value.value);
    case "local":
      return value.name;
    case "load": {
      const index = indexText(value.index, i);
      return at(value.region, value.region.size > 1 ? index : "0", j);
    }
    case "apply": {
      const form = OPS[value.op].kernel;
      if (form.kind !== "elementwise") throw new Error(`internal: ${value.op} is not elementwise`);
      return form.js(
        value.args.map((arg) => scalarText(arg, i, j)),
        value.attrs,
      );
    }
  }
}

const extentText = (extent: Extent) =>
  extent === "n" ? "n" : typeof extent === "number" ? String(extent) : `n * ${extent.perExample}`;

function viewText(view: MatrixView, j: string): View {
  return {
    array: view.array,
    offset: sum([String(view.offset), times(j, view.batchStride)]),
    rowStride: String(view.rowStride),
    colStride: String(view.colStride),
  };
}

/** A loop over entries (and examples, when batched) around `body(i, j)`. */
function loop(size: number, batched: boolean, body: (i: string, j: string) => string): string {
  const j = batched ? "j" : "0";
  const inner = size === 1 ? body("0", j) : `for (let i = 0; i < ${size}; i++) ${body("i", j)}`;
  return batched ? `for (let j = 0; j < n; j++) {\n${inner}\n}` : `{\n${inner}\n}`;
}

/** A call of an elementwise step's WebAssembly function, through the runtime's thread split. */
function printElementwiseCall(index: number, wasm: WasmStep): string {
  const { step, range, locals } = wasm;
  const inner = step.kind === "reduce" ? step.count : step.size;
  const call =
    range === "rows"
      ? ["n", "1", "0", `n * ${inner}`]
      : step.kind === "batchSum"
        ? [String(inner), "16", "n", `n * ${inner}`]
        : [String(inner), "16", "0", String(inner)];
  return `elementwise(${[String(index), ...call, ...locals].join(", ")});`;
}

function printStep(step: Step, options: PrintOptions): string {
  const wasmStep = options.wasm?.elementwise?.(step);
  if (wasmStep) return printElementwiseCall(wasmStep.index, wasmStep.step);
  switch (step.kind) {
    case "comment":
      // Any line terminator (a lone \r is whitespace in a model file) would end the `//` comment.
      return `// ${step.text.replace(/[\r\n\u2028\u2029]+/g, " ")}`;
    case "map":
      return printMap(step.dest, step.size, step.batched, step.value);
    case "reduce": {
      const term = (i: string, j: string) => scalarText(step.term, i, j);
      if (step.dest.kind === "local")
        return `let ${step.dest.name} = 0;\nfor (let i = 0; i < ${step.count}; i++) ${step.dest.name} += ${term("i", "0")};`;
      const j = step.batched ? "j" : "0";
      const body = `let acc = 0;\nfor (let i = 0; i < ${step.count}; i++) acc += ${term("i", j)};\n${at(step.dest.region, "0", j)} = acc;`;
      return step.batched ? `for (let j = 0; j < n; j++) {\n${body}\n}` : `{\n${body}\n}`;
    }
    case "batchSum": {
      if (step.dest.kind === "local")
        return `let ${step.dest.name} = 0;\nfor (let j = 0; j < n; j++) ${step.dest.name} += ${scalarText(step.term, "0", "j")};`;
      const dest = step.dest.region;
      const i = step.size === 1 ? "0" : "i";
      return [
        `for (let i = 0; i < ${step.size}; i++) ${at(dest, "i", "0")} = 0;`,
        `for (let j = 0; j < n; j++) {`,
        `  for (let i = 0; i < ${step.size}; i++) ${at(dest, "i", "0")} += ${scalarText(step.term, i, "j")};`,
        `}`,
      ].join("\n");
    }
    case "gemm":
      return printGemm(step, options);
    case "gather":
      return printGather(step);
    case "group":
      return printGroup(step);
    case "squaredLoss":
      return [
        `const scale = mean ? 1 / n : 1;`,
        `let loss = 0;`,
        `for (let q = 0; q < n * ${step.size}; q++) {`,
        `  const r = ${step.predictions}[q] - y[q];`,
        `  loss += r * r;`,
        `  ${step.residual}[q] = r * scale;`,
        `}`,
      ].join("\n");
  }
}

/** A loop over the examples (or one pass) with `s` and `d` the source's and destination's bases. */
function perExample(src: Region, dest: Region, batched: boolean, body: string): string {
  const j = batched ? "j" : "0";
  const bases = `const s = ${sum([String(src.offset), times(j, src.batchStride)])};\nconst d = ${sum([String(dest.offset), times(j, dest.batchStride)])};`;
  return batched ? `for (let j = 0; j < n; j++) {\n${bases}\n${body}\n}` : `{\n${bases}\n${body}\n}`;
}

function printGather(step: Extract<Step, { kind: "gather" }>): string {
  const { src, dest, table } = step;
  const body = `for (let i = 0; i < ${dest.size}; i++) {\nconst t = ${table.name}[i]!;\n${dest.array}[d + i] = t < 0 ? 0 : ${src.array}[s + t]!;\n}`;
  return perExample(src, dest, step.batched, body);
}

function printGroup(step: Extract<Step, { kind: "group" }>): string {
  const { src, dest, groups: G, count } = step;
  const g = G.name;
  const read = (p: string) => `${src.array}[s + ${g}[${p}]!]!`;
  if (step.reduce === "argmask") {
    const body = [
      `for (let i = 0; i < ${dest.size}; i++) ${dest.array}[d + i] = 0;`,
      `for (let k = 0; k < ${count}; k++) {`,
      `  const first = ${g}[k]!;`,
      `  const last = ${g}[k + 1]!;`,
      `  if (first === last) continue;`,
      `  let best = ${g}[first]!;`,
      `  for (let p = first + 1; p < last; p++) if (${read("p")} > ${src.array}[s + best]!) best = ${g}[p]!;`,
      `  ${dest.array}[d + best] = 1;`,
      `}`,
    ].join("\n");
    return perExample(src, dest, step.batched, body);
  }
  const [initial, accumulate] =
    step.reduce === "sum" ? ["0", `acc += ${read("p")};`] : ["-Infinity", `acc = Math.max(acc, ${read("p")});`];
  const body = [
    `for (let k = 0; k < ${count}; k++) {`,
    `  let acc = ${initial};`,
    `  for (let p = ${g}[k]!; p < ${g}[k + 1]!; p++) ${accumulate}`,
    `  ${dest.array}[d + k] = acc;`,
    `}`,
  ].join("\n");
  return perExample(src, dest, step.batched, body);
}

function printMap(dest: Destination, size: number, batched: boolean, value: Scalar): string {
  if (dest.kind === "local") return `const ${dest.name} = ${scalarText(value, "0", "0")};`;
  return loop(size, batched, (i, j) => `${at(dest.region, i, j)} = ${scalarText(value, i, j)};`);
}

function printGemm(step: Extract<Step, { kind: "gemm" }>, options: PrintOptions): string {
  if (options.wasm && !step.perExample) {
    const { memoryBase } = options.wasm;
    const base = (view: MatrixView) => sum([memoryBase(view.array), String(view.offset)]);
    const args = [
      extentText(step.rows),
      String(step.cols),
      extentText(step.depth),
      literal(step.scale),
      base(step.a),
      String(step.a.rowStride),
      String(step.a.colStride),
      base(step.b),
      String(step.b.rowStride),
      String(step.b.colStride),
      base(step.c),
      String(step.c.rowStride),
      step.accumulate ? "1" : "0",
    ];
    return `gemm(${args.join(", ")});`;
  }
  const j = step.perExample ? "j" : "0";
  const gemm = emitGemm({
    rows: extentText(step.rows),
    cols: String(step.cols),
    depth: extentText(step.depth),
    assign: step.accumulate ? "+=" : "=",
    ...(step.scale === 1 ? {} : { scale: literal(step.scale) }),
    a: viewText(step.a, j),
    b: viewText(step.b, j),
    c: viewText(step.c, j),
  });
  return step.perExample ? `for (let j = 0; j < n; j++) {\n${gemm}\n}` : `{\n${gemm}\n}`;
}

/** The statements of one kernel. */
export function printKernel(plan: KernelPlan, options: PrintOptions = {}): string {
  return plan.steps.map((step) => printStep(step, options)).join("\n");
}
