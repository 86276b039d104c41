/**
 * Lowering of IR roots to the body of one kernel function: loops over the batch of n
 * examples with the model's sizes as literals.
 * - Elementwise chains are fused: a single-use elementwise node becomes part of its
 *   consumer's loop expression instead of a buffer.
 * - Reductions (sum, dot, Σⱼ) read their fused argument directly, without temporaries.
 * - A matrix–vector product across the batch is one matrix–matrix product (see gemm.ts), and
 *   Σⱼ outer(a_j, b_j) (the gradient of a weight matrix) is the product Aᵀ B.
 * - Nothing is allocated: values live in the caller's arrays or in workspace buffers created
 *   once with the kernels.
 */
import { isDot } from "../ir/ops.ts";
import { emitGemm, type View } from "./gemm.ts";
import { sizeOf } from "../../foundation/shape.ts";
import { isConst, topologicalOrder, type Node, type OpName } from "../ir/node.ts";

/** Where a node's value lives in generated code. */
export type Storage =
  | {
      readonly kind: "buffer";
      readonly array: string;
      readonly offset: number;
      readonly batched: boolean;
      readonly size: number;
    }
  | { readonly kind: "local"; readonly name: string }
  | { readonly kind: "const"; readonly value: number }
  | { readonly kind: "inline" }
  /** Part of a Σⱼ outer(·,·) product, computed by the batch sum that consumes it. */
  | { readonly kind: "fused" };

/** Names of the arrays that hold each kind of leaf in one kernel. */
export interface LeafArrays {
  readonly param: string;
  readonly tangent: string;
  readonly fixed: string;
  readonly input: (name: string) => string;
  readonly cotangent: string;
  /** Offsets of params (and tangents) and of fixed tensors in their flat arrays. */
  readonly paramOffset: (name: string) => number;
  readonly fixedOffset: (name: string) => number;
}

/** Buffers handed out by node id, so kernels that compute the same node share its buffer. */
export class BufferPool {
  private readonly offsets = new Map<number, number>();
  private length = 0;

  constructor(
    readonly array: string,
    private readonly maxBatch: number,
  ) {}

  storage(node: Node): Storage {
    const size = sizeOf(node.shape);
    let offset = this.offsets.get(node.id);
    if (offset === undefined) {
      offset = this.length;
      this.offsets.set(node.id, offset);
      this.length += node.batched ? size * this.maxBatch : size;
    }
    return { kind: "buffer", array: this.array, offset, batched: node.batched, size };
  }

  get size(): number {
    return this.length;
  }
}

export interface RootTarget {
  readonly node: Node;
  /** The buffer the root's value must end up in. */
  readonly target: Extract<Storage, { kind: "buffer" }>;
}

export interface KernelInput {
  readonly phases: readonly (readonly RootTarget[])[];
  /** Code between phases (e.g. the residual and loss after the model's value). */
  readonly between?: readonly string[];
  readonly leaves: LeafArrays;
  /** Nodes whose values a prepare kernel already stored. */
  readonly prepared: ReadonlyMap<number, Storage>;
  readonly scratch: BufferPool;
  /** Source comments per node id (e.g. which model line it comes from). */
  readonly comments?: ReadonlyMap<number, string>;
}

const ELEMENTWISE = new Set<OpName>([
  "add",
  "sub",
  "mul",
  "div",
  "neg",
  "pow",
  "relu",
  "step",
  "tanh",
  "sigmoid",
  "softplus",
  "exp",
  "log",
  "sqrt",
  "abs",
  "sign",
  "sin",
  "cos",
  "square",
  "leaky_relu",
  "leaky_step",
  "broadcast",
]);

/** The JavaScript expression of an elementwise op applied to argument expressions. */
function elementwiseExpression(node: Node, [a, b]: readonly string[]): string {
  switch (node.op) {
    case "add":
      return `(${a} + ${b})`;
    case "sub":
      return `(${a} - ${b})`;
    case "mul":
      return `(${a} * ${b})`;
    case "div":
      return `(${a} / ${b})`;
    case "neg":
      return `(-${a})`;
    case "pow":
      return `Math.pow(${a}, ${literal(node.attrs.exponent!)})`;
    case "tanh":
    case "exp":
    case "log":
    case "sqrt":
    case "abs":
    case "sin":
    case "cos":
      return `Math.${node.op}(${a})`;
    case "leaky_relu":
      return `leakyRelu(${a}, ${literal(node.attrs.slope!)})`;
    case "leaky_step":
      return `leakyStep(${a}, ${literal(node.attrs.slope!)})`;
    case "broadcast":
      return a!;
    default:
      return `${node.op}(${a})`;
  }
}

/** A number as a JavaScript literal that reads back as the same double. */
export function literal(value: number): string {
  // Only a number may become code: a value from elsewhere (say a function found on a prototype) must not.
  if (typeof value !== "number") throw new Error(`internal: ${typeof value} used as a number literal`);
  // String(-0) is "0", which reads back as +0.
  if (Object.is(value, -0)) return "(-0)";
  const text = String(value);
  return value < 0 ? `(${text})` : text;
}

/** The flat-index expression `base + j·size + i` of a buffer, folding zeros. */
function at(storage: Extract<Storage, { kind: "buffer" }>, i: string, j: string): string {
  const parts = [String(storage.offset)];
  if (storage.batched) parts.push(storage.size === 1 ? j : `${j} * ${storage.size}`);
  if (storage.size > 1) parts.push(i);
  const nonZero = parts.filter((p) => p !== "0");
  return `${storage.array}[${nonZero.length === 0 ? "0" : nonZero.join(" + ")}]`;
}

interface OuterTerm {
  readonly sign: number;
  readonly scale: number;
  readonly left: Node;
  readonly right: Node;
  /** The nodes folded into this term (the outer and the adds above it). */
  readonly parts: readonly Node[];
}

/** The terms of a sum of (scaled) outer products of batched vectors, or undefined. */
function outerTerms(node: Node, uses: ReadonlyMap<number, number>, sign = 1, scale = 1): OuterTerm[] | undefined {
  if ((uses.get(node.id) ?? 0) !== 1) return undefined;
  if (node.op === "outer" && node.inputs[0]!.batched && node.inputs[1]!.batched) {
    return [{ sign, scale, left: node.inputs[0]!, right: node.inputs[1]!, parts: [node] }];
  }
  if (node.op === "mul" && isConst(node.inputs[0]!) && node.inputs[0]!.shape.length === 0) {
    const inner = outerTerms(node.inputs[1]!, uses, sign, scale * node.inputs[0]!.attrs.value!);
    return inner?.map((t) => ({ ...t, parts: [node, ...t.parts] }));
  }
  if (node.op === "add" || node.op === "sub") {
    const left = outerTerms(node.inputs[0]!, uses, sign, scale);
    const right = outerTerms(node.inputs[1]!, uses, node.op === "sub" ? -sign : sign, scale);
    if (!left || !right) return undefined;
    return [...left, ...right].map((t, i) => (i === 0 ? { ...t, parts: [node, ...t.parts] } : t));
  }
  return undefined;
}

/** Emits the statements of one kernel (without the function header). */
export function emitKernelBody(input: KernelInput): string {
  const roots = input.phases.flat();
  const isRoot = new Set(roots.map((r) => r.node.id));
  // A prepared value is read, not recomputed: the walk stops there (unless it is a root).
  const stopAtPrepared = (node: Node) => input.prepared.has(node.id) && !isRoot.has(node.id);
  const order = topologicalOrder(
    roots.map((r) => r.node),
    stopAtPrepared,
  );
  const inKernel = new Set(order.map((n) => n.id));
  const uses = new Map<number, number>();
  const consumers = new Map<number, Node[]>();
  for (const node of order) {
    if (stopAtPrepared(node)) continue;
    for (const used of node.inputs) {
      uses.set(used.id, (uses.get(used.id) ?? 0) + 1);
      consumers.set(used.id, [...(consumers.get(used.id) ?? []), node]);
    }
  }
  for (const root of roots) uses.set(root.node.id, (uses.get(root.node.id) ?? 0) + 1);
  const rootTarget = new Map<number, RootTarget["target"]>();
  for (const root of roots) if (!rootTarget.has(root.node.id)) rootTarget.set(root.node.id, root.target);

  // Σⱼ outer(a, b): the outer products (and the sums over them) are fused into the batch sum.
  const bsumTerms = new Map<number, OuterTerm[]>();
  const fused = new Set<number>();
  for (const node of order) {
    if (node.op !== "bsum" || stopAtPrepared(node)) continue;
    const terms = outerTerms(node.inputs[0]!, uses);
    if (!terms || terms.some((t) => t.parts.some((part) => rootTarget.has(part.id)))) continue;
    bsumTerms.set(node.id, terms);
    for (const term of terms) for (const part of term.parts) fused.add(part.id);
  }
  // Operands of matrix products, outer products and transposes are read from buffers.
  const needsBuffer = new Set<number>();
  for (const node of order) {
    if ((node.op === "matmul" && !isDot(node)) || node.op === "outer" || node.op === "transpose")
      node.inputs.forEach((x) => needsBuffer.add(x.id));
  }

  // Where each value lives; inputs are decided before their users.
  const storage = new Map<number, Storage>();
  const decide = (node: Node): Storage => {
    if (node.op === "const") return { kind: "const", value: node.attrs.value! };
    const leaf = leafStorage(node, input.leaves);
    if (leaf) return leaf;
    if (stopAtPrepared(node)) return input.prepared.get(node.id)!;
    if (fused.has(node.id)) return { kind: "fused" };
    const target = rootTarget.get(node.id);
    const useCount = uses.get(node.id) ?? 0;
    // A root that does not vary per example but goes to a per-example output is copied out.
    if (target && target.batched === node.batched) return target;
    if (!node.batched && node.shape.length === 0) return { kind: "local", name: `s${node.id}` };
    if (target) return input.scratch.storage(node);
    if (ELEMENTWISE.has(node.op) && useCount === 1 && !needsBuffer.has(node.id)) {
      const consumer = consumers.get(node.id)![0]!;
      // Fusing a shared value into a per-example loop would recompute it n times.
      const sameDomain = node.batched || !consumer.batched;
      const sameSize = sizeOf(consumer.shape) === sizeOf(node.shape);
      const fusable =
        (ELEMENTWISE.has(consumer.op) && sameSize) ||
        consumer.op === "sum" ||
        consumer.op === "bsum" ||
        isDot(consumer);
      if (sameDomain && fusable) return { kind: "inline" };
    }
    return input.scratch.storage(node);
  };
  for (const node of order) storage.set(node.id, decide(node));

  const expr = (node: Node, i: string, j: string): string => {
    const s = storage.get(node.id)!;
    const flat = node.shape.length === 0 ? "0" : i;
    switch (s.kind) {
      case "const":
        return literal(s.value);
      case "local":
        return s.name;
      case "buffer":
        return at(s, flat, j);
      case "inline":
        return elementwiseExpression(
          node,
          node.inputs.map((x) => expr(x, flat, j)),
        );
      case "fused":
        throw new Error(`internal: fused node ${node.op} read directly`);
    }
  };
  const view = (node: Node, j: string): View => {
    const s = storage.get(node.id)!;
    if (s.kind !== "buffer") throw new Error(`internal: ${node.op} operand not in a buffer`);
    const cols = node.shape.length === 2 ? node.shape[1]! : 1;
    const offset =
      [String(s.offset), s.batched && j !== "0" ? `${j} * ${s.size}` : "0"].filter((p) => p !== "0").join(" + ") || "0";
    return { array: s.array, offset, rowStride: String(cols), colStride: "1" };
  };

  const lines: string[] = [];
  let lastComment: string | undefined;
  const emitted = new Set<number>();
  const emit = (node: Node): void => {
    if (emitted.has(node.id) || !inKernel.has(node.id)) return;
    emitted.add(node.id);
    const s = storage.get(node.id)!;
    if (
      s.kind === "const" ||
      s.kind === "inline" ||
      s.kind === "fused" ||
      node.inputs.length === 0 ||
      stopAtPrepared(node)
    )
      return;
    const comment = input.comments?.get(node.id);
    // Any line terminator (a lone \r is whitespace in a model file) would end the `//` comment.
    if (comment && comment !== lastComment) lines.push(`// ${comment.replace(/[\r\n\u2028\u2029]+/g, " ")}`);
    lastComment = comment;
    lines.push(emitNode(node, s));
  };

  /** A loop over the node's entries (and examples, when batched) around `body(i, j)`. */
  const loopOver = (node: Node, body: (i: string, j: string) => string): string => {
    const size = sizeOf(node.shape);
    const j = node.batched ? "j" : "0";
    const inner = size === 1 ? body("0", j) : `for (let i = 0; i < ${size}; i++) ${body("i", j)}`;
    return node.batched ? `for (let j = 0; j < n; j++) {\n${inner}\n}` : inner;
  };

  function emitNode(node: Node, s: Storage): string {
    const target = s.kind === "buffer" ? s : undefined;
    const assignTo = (value: (i: string, j: string) => string) => {
      if (s.kind === "local") return `const ${s.name} = ${value("0", "0")};`;
      return `{\n${loopOver(node, (i, j) => `${at(target!, i, j)} = ${value(i, j)};`)}\n}`;
    };
    const reduce = (term: (i: string, j: string) => string, count: number) => {
      if (s.kind === "local")
        return `let ${s.name} = 0;\nfor (let i = 0; i < ${count}; i++) ${s.name} += ${term("i", "0")};`;
      const j = node.batched ? "j" : "0";
      const body = `let acc = 0;\nfor (let i = 0; i < ${count}; i++) acc += ${term("i", j)};\n${at(target!, "0", j)} = acc;`;
      return node.batched ? `for (let j = 0; j < n; j++) {\n${body}\n}` : `{\n${body}\n}`;
    };
    if (ELEMENTWISE.has(node.op))
      return assignTo((i, j) =>
        elementwiseExpression(
          node,
          node.inputs.map((x) => expr(x, x.shape.length === 0 ? "0" : i, j)),
        ),
      );
    switch (node.op) {
      case "sum":
        return reduce((i, j) => expr(node.inputs[0]!, i, j), sizeOf(node.inputs[0]!.shape));
      case "matmul":
        if (isDot(node))
          return reduce(
            (i, j) => `${expr(node.inputs[0]!, i, j)} * ${expr(node.inputs[1]!, i, j)}`,
            node.inputs[0]!.shape[0]!,
          );
        return emitMatmul(node, target!);
      case "bsum":
        return emitBatchSum(node, s);
      case "outer": {
        const [a, b] = node.inputs as [Node, Node];
        const cols = b.shape[0]!;
        return `{\n${loopOver(node, (i, j) => `${at(target!, i, j)} = ${expr(a, `((${i} / ${cols}) | 0)`, j)} * ${expr(b, `(${i} % ${cols})`, j)};`)}\n}`;
      }
      case "transpose": {
        const [rows, cols] = node.inputs[0]!.shape as [number, number];
        return `{\n${loopOver(node, (i, j) => `${at(target!, i, j)} = ${expr(node.inputs[0]!, `((${i} % ${rows}) * ${cols} + ((${i} / ${rows}) | 0))`, j)};`)}\n}`;
      }
      default:
        throw new Error(`internal: no code generation for ${node.op}`);
    }
  }

  function emitMatmul(node: Node, target: Extract<Storage, { kind: "buffer" }>): string {
    const [a, b] = node.inputs as [Node, Node];
    const out: View = { array: target.array, offset: String(target.offset), rowStride: "?", colStride: "1" };
    // y_j = A x_j for every example, A shared: Y[n×M] = X[n×K] · Aᵀ.
    if (a.shape.length === 2 && b.shape.length === 1 && !a.batched && b.batched) {
      const [m, k] = a.shape as [number, number];
      const av = view(a, "0");
      const bv = view(b, "0");
      return emitGemm({
        rows: "n",
        cols: String(m),
        depth: String(k),
        assign: "=",
        a: { ...bv, rowStride: String(k), colStride: "1" },
        b: { ...av, rowStride: "1", colStride: String(k) },
        c: { ...out, rowStride: String(m) },
      });
    }
    // y_j = x_j B for every example, B shared: Y[n×N] = X[n×K] · B.
    if (a.shape.length === 1 && b.shape.length === 2 && a.batched && !b.batched) {
      const [k, cols] = b.shape as [number, number];
      return emitGemm({
        rows: "n",
        cols: String(cols),
        depth: String(k),
        assign: "=",
        a: { ...view(a, "0"), rowStride: String(k), colStride: "1" },
        b: { ...view(b, "0"), rowStride: String(cols), colStride: "1" },
        c: { ...out, rowStride: String(cols) },
      });
    }
    // Otherwise one product per example (or one in all, when nothing varies per example).
    const rows = a.shape.length === 2 ? a.shape[0]! : 1;
    const depth = b.shape[0]!;
    const cols = b.shape.length === 2 ? b.shape[1]! : 1;
    const j = node.batched ? "j" : "0";
    const av = view(a, j);
    const bv = view(b, j);
    const size = sizeOf(node.shape);
    const gemm = emitGemm({
      rows: String(rows),
      cols: String(cols),
      depth: String(depth),
      assign: "=",
      a: { ...av, rowStride: a.shape.length === 2 ? String(depth) : "0", colStride: "1" },
      b: { ...bv, rowStride: String(cols), colStride: "1" },
      c: {
        array: target.array,
        offset:
          [String(target.offset), target.batched ? `j * ${size}` : "0"].filter((p) => p !== "0").join(" + ") || "0",
        rowStride: String(cols),
        colStride: "1",
      },
    });
    return node.batched ? `for (let j = 0; j < n; j++) {\n${gemm}\n}` : `{\n${gemm}\n}`;
  }

  function emitBatchSum(node: Node, s: Storage): string {
    const terms = bsumTerms.get(node.id);
    const [x] = node.inputs as [Node];
    if (terms && s.kind === "buffer") {
      // Σⱼ outer(a_j, b_j) = Aᵀ B with A = [a_j] (n×M) and B = [b_j] (n×N).
      const [m, cols] = node.shape as [number, number];
      return terms
        .map((term, t) => {
          const factor = term.sign * term.scale;
          const la = storage.get(term.left.id) as Extract<Storage, { kind: "buffer" }>;
          const rb = storage.get(term.right.id) as Extract<Storage, { kind: "buffer" }>;
          return emitGemm({
            rows: String(m),
            cols: String(cols),
            depth: "n",
            assign: t === 0 ? "=" : "+=",
            ...(factor === 1 ? {} : { scale: literal(factor) }),
            a: { array: la.array, offset: String(la.offset), rowStride: "1", colStride: String(m) },
            b: { array: rb.array, offset: String(rb.offset), rowStride: String(cols), colStride: "1" },
            c: { array: s.array, offset: String(s.offset), rowStride: String(cols), colStride: "1" },
          });
        })
        .join("\n");
    }
    const size = sizeOf(node.shape);
    if (s.kind === "local") return `let ${s.name} = 0;\nfor (let j = 0; j < n; j++) ${s.name} += ${expr(x, "0", "j")};`;
    const target = s as Extract<Storage, { kind: "buffer" }>;
    return [
      `for (let i = 0; i < ${size}; i++) ${at(target, "i", "0")} = 0;`,
      `for (let j = 0; j < n; j++) {`,
      `  for (let i = 0; i < ${size}; i++) ${at(target, "i", "0")} += ${expr(x, size === 1 ? "0" : "i", "j")};`,
      `}`,
    ].join("\n");
  }

  input.phases.forEach((phase, p) => {
    for (const node of topologicalOrder(
      phase.map((r) => r.node),
      stopAtPrepared,
    ))
      emit(node);
    // Roots whose value lives elsewhere (a leaf, a constant, a shared buffer) are copied out.
    for (const root of phase) {
      const s = storage.get(root.node.id)!;
      if (s === root.target) continue;
      const target = root.target;
      const copy = loopOver(root.node, (i, j) => `${at(target, i, j)} = ${expr(root.node, i, j)};`);
      const broadcast = target.batched && !root.node.batched;
      lines.push(
        broadcast
          ? `for (let j = 0; j < n; j++) {\n${loopOver(root.node, (i) => `${at(target, i, "j")} = ${expr(root.node, i, "0")};`)}\n}`
          : `{\n${copy}\n}`,
      );
    }
    const between = input.between?.[p];
    if (between) lines.push(between);
  });
  return lines.join("\n");
}

function leafStorage(node: Node, leaves: LeafArrays): Storage | undefined {
  const size = sizeOf(node.shape);
  const name = node.attrs.name!;
  switch (node.op) {
    case "param":
      return { kind: "buffer", array: leaves.param, offset: leaves.paramOffset(name), batched: false, size };
    case "tangent":
      return { kind: "buffer", array: leaves.tangent, offset: leaves.paramOffset(name), batched: false, size };
    case "fixed":
      return { kind: "buffer", array: leaves.fixed, offset: leaves.fixedOffset(name), batched: false, size };
    case "input":
      return { kind: "buffer", array: leaves.input(name), offset: 0, batched: true, size };
    case "cotangent":
      return { kind: "buffer", array: leaves.cotangent, offset: 0, batched: true, size };
    default:
      return undefined;
  }
}
