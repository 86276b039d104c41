/**
 * Lowering of IR roots to the plan of one kernel (plan.ts): loops over the batch of n examples
 * with the model's sizes, offsets and strides as numbers.
 * - Elementwise chains are fused: a single-use elementwise node becomes part of its
 *   consumer's loop expression instead of a buffer.
 * - Reductions (sum, dot, Σⱼ) read their fused argument directly, without temporaries.
 * - A matrix–vector product across the batch is one matrix–matrix product, and
 *   Σⱼ outer(a_j, b_j) (the gradient of a weight matrix) is the product Aᵀ B.
 * - Nothing is allocated: values live in the caller's arrays or in workspace buffers created
 *   once with the kernels.
 */
import { defined, lookup, one, two } from "../../foundation/defined.ts";
import { sizeOf } from "../../foundation/shape.ts";
import { isConst, topologicalOrder, type Node } from "../ir/node.ts";
import { isDot, OPS } from "../ir/ops.ts";
import type { Destination, Index, KernelPlan, MatrixView, Region, Scalar, Step, TableRef } from "./plan.ts";
import type { IndexTable } from "../ir/node.ts";
import { createHash } from "node:crypto";
import { printKernel, type PrintOptions } from "./printer.ts";

/** Where a node's value lives in a kernel. */
export type Storage =
  | ({ readonly kind: "buffer" } & Region)
  | { readonly kind: "local"; readonly name: string }
  | { readonly kind: "const"; readonly value: number }
  | { readonly kind: "inline" }
  /** Part of a Σⱼ outer(·,·) product, computed by the batch sum that consumes it. */
  | { readonly kind: "fused" };

export type BufferStorage = Extract<Storage, { kind: "buffer" }>;

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

/** A region of `array` for a value of `size` entries, per example when `batched`. */
export function region(array: string, offset: number, size: number, batched: boolean): BufferStorage {
  return { kind: "buffer", array, offset, size, batchStride: batched ? size : 0 };
}

/** Buffers handed out by node id, so kernels that compute the same node share its buffer. */
export class BufferPool {
  private readonly offsets = new Map<number, number>();
  private length = 0;

  constructor(
    readonly array: string,
    private readonly maxBatch: number,
  ) {}

  storage(node: Node): BufferStorage {
    const size = sizeOf(node.shape);
    let offset = this.offsets.get(node.id);
    if (offset === undefined) {
      offset = this.length;
      this.offsets.set(node.id, offset);
      this.length += node.batched ? size * this.maxBatch : size;
    }
    return region(this.array, offset, size, node.batched);
  }

  get size(): number {
    return this.length;
  }
}

export interface RootTarget {
  readonly node: Node;
  /** The buffer the root's value must end up in. */
  readonly target: BufferStorage;
}

export interface KernelInput {
  readonly phases: readonly (readonly RootTarget[])[];
  /** Steps between phases (e.g. the residual and loss after the model's value). */
  readonly between?: readonly (readonly Step[])[];
  readonly leaves: LeafArrays;
  /** Nodes whose values a prepare kernel already stored. */
  readonly prepared: ReadonlyMap<number, Storage>;
  readonly scratch: BufferPool;
  /** Source comments per node id (e.g. which model line it comes from). */
  readonly comments?: ReadonlyMap<number, string>;
}

/** The most ops one fused expression holds. */
const MAX_FUSED = 64;

const isElementwise = (node: Node) => OPS[node.op].kernel.kind === "elementwise";

/** The ops that read their operand through an index table (a `gather` or `group` step). */
const TABLE_OPS: ReadonlySet<string> = new Set(["gather", "scatter", "segmax", "argmask"]);

/** A table's name in the module: derived from its key, so kernels that use one table share it. */
function tableName(key: string, suffix: string): string {
  return `T${createHash("sha256").update(key).digest("hex").slice(0, 16)}${suffix}`;
}

/** Per table object (hash-consed nodes share it across a module's kernels) and group count. */
const groupCache = new WeakMap<IndexTable, Map<number, TableRef>>();

/**
 * A table's groups, as the `group` step reads them: count + 1 offsets (into the array itself),
 * then each group's members in ascending order.
 */
function groupsOf(table: IndexTable, count: number): TableRef {
  const byCount = groupCache.get(table) ?? new Map<number, TableRef>();
  groupCache.set(table, byCount);
  const cached = byCount.get(count);
  if (cached) return cached;
  const sizes = new Int32Array(count);
  for (const k of table.data) if (k >= 0) sizes[k] = (sizes[k] ?? 0) + 1;
  const data = new Int32Array(count + 1 + table.data.length - table.data.filter((k) => k < 0).length);
  let next = count + 1;
  for (let k = 0; k < count; k++) {
    data[k] = next;
    next += sizes[k] ?? 0;
  }
  data[count] = next;
  const fill = data.slice(0, count);
  table.data.forEach((k, i) => {
    if (k < 0) return;
    data[fill[k] ?? 0] = i;
    fill[k] = (fill[k] ?? 0) + 1;
  });
  const ref = { name: tableName(table.key, "g"), data };
  byCount.set(count, ref);
  return ref;
}
const isBatched = (s: BufferStorage) => s.batchStride !== 0;

/** The statements of one kernel (without the function header): the plan, printed. */
export function emitKernelBody(input: KernelInput, options?: PrintOptions): string {
  return printKernel(lowerKernel(input), options);
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
  if (node.op === "outer") {
    const [a, b] = two(node.inputs);
    if (a.batched && b.batched) return [{ sign, scale, left: a, right: b, parts: [node] }];
  }
  if (node.op === "mul") {
    const [factor, rest] = two(node.inputs);
    if (isConst(factor) && factor.shape.length === 0) {
      const inner = outerTerms(rest, uses, sign, scale * defined(factor.attrs.value, "a constant's value"));
      return inner?.map((t) => ({ ...t, parts: [node, ...t.parts] }));
    }
  }
  if (node.op === "add" || node.op === "sub") {
    const [a, b] = two(node.inputs);
    const left = outerTerms(a, uses, sign, scale);
    const right = outerTerms(b, uses, node.op === "sub" ? -sign : sign, scale);
    if (!left || !right) return undefined;
    return [...left, ...right].map((t, i) => (i === 0 ? { ...t, parts: [node, ...t.parts] } : t));
  }
  return undefined;
}

/** Lowers the roots of one kernel to its plan. */
export function lowerKernel(input: KernelInput): KernelPlan {
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
      const list = consumers.get(used.id);
      if (list) list.push(node);
      else consumers.set(used.id, [node]);
    }
  }
  for (const root of roots) uses.set(root.node.id, (uses.get(root.node.id) ?? 0) + 1);
  const rootTarget = new Map<number, BufferStorage>();
  for (const root of roots) if (!rootTarget.has(root.node.id)) rootTarget.set(root.node.id, root.target);

  // Σⱼ outer(a, b): the outer products (and the sums over them) are fused into the batch sum.
  const bsumTerms = new Map<number, OuterTerm[]>();
  const fused = new Set<number>();
  for (const node of order) {
    if (node.op !== "bsum" || stopAtPrepared(node)) continue;
    const terms = outerTerms(one(node.inputs), uses);
    if (!terms || terms.some((t) => t.parts.some((part) => rootTarget.has(part.id)))) continue;
    bsumTerms.set(node.id, terms);
    for (const term of terms) for (const part of term.parts) fused.add(part.id);
  }
  // Σⱼ A_jᵀ B_j of per-example matrices (a convolution kernel's gradient): one product whose depth
  // runs over the rows of every example, reading A_j itself (its transpose is not formed).
  const bsumMatrices = new Map<number, { readonly a: Node; readonly b: Node }>();
  for (const node of order) {
    if (node.op !== "bsum" || stopAtPrepared(node) || bsumTerms.has(node.id)) continue;
    const product = one(node.inputs);
    if (product.op !== "matmul" || (uses.get(product.id) ?? 0) !== 1 || rootTarget.has(product.id)) continue;
    const [t, b] = two(product.inputs);
    if (t.op !== "transpose" || !b.batched || b.shape.length !== 2 || stopAtPrepared(t)) continue;
    const a = one(t.inputs);
    if (!a.batched) continue;
    bsumMatrices.set(node.id, { a, b });
    fused.add(product.id);
    if ((uses.get(t.id) ?? 0) === 1 && !rootTarget.has(t.id)) fused.add(t.id);
  }
  // c · (a matrix product): the constant becomes the product's scale, so the product writes the
  // scaled value itself instead of a pass over its result (1/√d in NTK parameterization).
  const scaledProducts = new Map<number, { readonly product: Node; readonly factor: number }>();
  for (const node of order) {
    if (node.op !== "mul" || stopAtPrepared(node)) continue;
    const [factor, product] = node.inputs as [Node, Node];
    if (!isConst(factor) || factor.shape.length !== 0) continue;
    const isProduct =
      (product.op === "matmul" && !isDot(product)) ||
      (product.op === "bsum" && (bsumTerms.has(product.id) || bsumMatrices.has(product.id)));
    const alone = (uses.get(product.id) ?? 0) === 1 && !rootTarget.has(product.id) && !stopAtPrepared(product);
    if (!isProduct || !alone || product.batched !== node.batched) continue;
    scaledProducts.set(node.id, { product, factor: defined(factor.attrs.value, "a constant's value") });
    fused.add(product.id);
  }
  // Operands of matrix products, outer products and transposes are read from buffers.
  const needsBuffer = new Set<number>();
  for (const node of order) {
    if (
      (node.op === "matmul" && !isDot(node)) ||
      node.op === "outer" ||
      node.op === "transpose" ||
      TABLE_OPS.has(node.op)
    )
      for (const x of node.inputs) needsBuffer.add(x.id);
  }

  // Where each value lives; inputs are decided before their users.
  const storage = new Map<number, Storage>();
  // How many fused ops an inline value's expression holds: a chain is cut into a buffer past
  // MAX_FUSED, so that expressions stay short for V8 and their printing shallow (5,000 chained lets).
  const fusedDepth = new Map<number, number>();
  const depthOf = (node: Node) =>
    1 + node.inputs.reduce((deepest, x) => Math.max(deepest, fusedDepth.get(x.id) ?? 0), 0);
  const decide = (node: Node): Storage => {
    // A constant a matrix product reads (a broadcast the simplifier folded, such as tanh(a − a) + 0.7)
    // is filled into a buffer once per kernel; any other constant is read as a literal.
    if (node.op === "const" && !needsBuffer.has(node.id))
      return { kind: "const", value: defined(node.attrs.value, "a constant's value") };
    if (node.op === "const") return input.scratch.storage(node);
    const leaf = leafStorage(node, input.leaves);
    if (leaf) return leaf;
    if (stopAtPrepared(node)) return lookup(input.prepared, node.id, "a prepared value's storage");
    if (fused.has(node.id)) return { kind: "fused" };
    const target = rootTarget.get(node.id);
    const useCount = uses.get(node.id) ?? 0;
    // A root that does not vary per example but goes to a per-example output is copied out.
    if (target && isBatched(target) === node.batched) return target;
    // A table step reads and writes regions, scalars included.
    if (!node.batched && node.shape.length === 0 && !needsBuffer.has(node.id) && !TABLE_OPS.has(node.op))
      return { kind: "local", name: `s${node.id}` };
    if (target || scaledProducts.has(node.id)) return input.scratch.storage(node);
    if (isElementwise(node) && useCount === 1 && !needsBuffer.has(node.id)) {
      const consumer = one(lookup(consumers, node.id, "a node's consumers"), "a consumer");
      // Fusing a shared value into a per-example loop would recompute it n times.
      const sameDomain = node.batched || !consumer.batched;
      const sameSize = sizeOf(consumer.shape) === sizeOf(node.shape);
      const fusable =
        (isElementwise(consumer) && sameSize) || consumer.op === "sum" || consumer.op === "bsum" || isDot(consumer);
      if (sameDomain && fusable && depthOf(node) <= MAX_FUSED) {
        fusedDepth.set(node.id, depthOf(node));
        return { kind: "inline" };
      }
    }
    return input.scratch.storage(node);
  };
  for (const node of order) storage.set(node.id, decide(node));
  const storageOf = (node: Node): Storage => {
    const s = storage.get(node.id);
    if (s === undefined) throw new Error(`internal: node ${node.id} (${node.op}) has no storage`);
    return s;
  };
  const bufferOf = (node: Node): BufferStorage => {
    const s = storageOf(node);
    if (s.kind !== "buffer") throw new Error(`internal: ${node.op} operand not in a buffer`);
    return s;
  };

  /** The scalar expression of entry `index` of `node`. */
  const scalar = (node: Node, index: Index): Scalar => {
    const s = storageOf(node);
    const at: Index = node.shape.length === 0 ? { kind: "first" } : index;
    switch (s.kind) {
      case "const":
        return { kind: "const", value: s.value };
      case "local":
        return { kind: "local", name: s.name };
      case "buffer":
        return { kind: "load", region: s, index: at };
      case "inline":
        return { kind: "apply", op: node.op, attrs: node.attrs, args: node.inputs.map((x) => scalar(x, at)) };
      case "fused":
        throw new Error(`internal: fused node ${node.op} read directly`);
    }
  };
  const entry: Index = { kind: "entry" };
  const destination = (s: Storage): Destination => {
    if (s.kind === "local") return { kind: "local", name: s.name };
    if (s.kind === "buffer") return { kind: "region", region: s };
    throw new Error(`internal: ${s.kind} storage as a destination`);
  };
  const matrix = (s: BufferStorage, rowStride: number, colStride: number): MatrixView => ({
    array: s.array,
    offset: s.offset,
    rowStride,
    colStride,
    batchStride: s.batchStride,
  });

  const steps: Step[] = [];
  let lastComment: string | undefined;
  const emitted = new Set<number>();
  const emit = (node: Node): void => {
    if (emitted.has(node.id) || !inKernel.has(node.id)) return;
    emitted.add(node.id);
    const s = storageOf(node);
    if (node.op === "const" && s.kind === "buffer") {
      const value = defined(node.attrs.value, "a constant's value");
      steps.push({
        kind: "map",
        dest: destination(s),
        size: sizeOf(node.shape),
        batched: false,
        value: { kind: "const", value },
      });
      return;
    }
    if (s.kind === "const" || s.kind === "inline" || s.kind === "fused" || node.inputs.length === 0) return;
    if (stopAtPrepared(node)) return;
    const comment = input.comments?.get(node.id);
    if (comment && comment !== lastComment) steps.push({ kind: "comment", text: comment });
    lastComment = comment;
    steps.push(...lowerNode(node, s));
  };

  function lowerNode(node: Node, s: Storage): Step[] {
    const size = sizeOf(node.shape);
    const map = (value: Scalar): Step => ({ kind: "map", dest: destination(s), size, batched: node.batched, value });
    const reduce = (term: Scalar, count: number): Step => ({
      kind: "reduce",
      dest: destination(s),
      count,
      batched: node.batched,
      term,
    });
    const scaled = scaledProducts.get(node.id);
    if (scaled) {
      const { product, factor } = scaled;
      const steps =
        product.op === "bsum"
          ? lowerBatchSum(product, s)
          : [lowerMatmul(product, ...two(product.inputs), s as BufferStorage)];
      return steps.map((step) => (step.kind === "gemm" ? { ...step, scale: step.scale * factor } : step));
    }
    if (isElementwise(node))
      return [map({ kind: "apply", op: node.op, attrs: node.attrs, args: node.inputs.map((x) => scalar(x, entry)) })];
    switch (node.op) {
      case "sum": {
        const x = one(node.inputs);
        return [reduce(scalar(x, entry), sizeOf(x.shape))];
      }
      case "matmul": {
        const [a, b] = node.inputs as [Node, Node];
        if (isDot(node))
          return [
            reduce(
              { kind: "apply", op: "mul", attrs: {}, args: [scalar(a, entry), scalar(b, entry)] },
              defined(a.shape[0], "a dot operand's length"),
            ),
          ];
        return [lowerMatmul(node, a, b, s as BufferStorage)];
      }
      case "bsum":
        return lowerBatchSum(node, s);
      case "outer": {
        const [a, b] = node.inputs as [Node, Node];
        const cols = defined(b.shape[0], "an outer operand's length");
        return [
          map({
            kind: "apply",
            op: "mul",
            attrs: {},
            args: [scalar(a, { kind: "row", of: entry, cols }), scalar(b, { kind: "column", of: entry, cols })],
          }),
        ];
      }
      case "transpose": {
        const x = one(node.inputs);
        const [rows, cols] = x.shape as [number, number];
        return [map(scalar(x, { kind: "transposed", of: entry, rows, cols }))];
      }
      case "gather": {
        const table = defined(node.attrs.table, "a gather table");
        return [
          {
            kind: "gather",
            dest: bufferOf(node),
            src: bufferOf(one(node.inputs)),
            table: { name: tableName(table.key, ""), data: table.data },
            batched: node.batched,
          },
        ];
      }
      case "scatter":
      case "segmax":
      case "argmask": {
        const table = defined(node.attrs.table, "a group table");
        const count = node.op === "argmask" ? table.data.reduce((most, k) => Math.max(most, k + 1), 0) : size;
        return [
          {
            kind: "group",
            reduce: node.op === "scatter" ? "sum" : node.op === "segmax" ? "max" : "argmask",
            dest: bufferOf(node),
            src: bufferOf(one(node.inputs)),
            groups: groupsOf(table, count),
            count,
            batched: node.batched,
          },
        ];
      }
      default:
        throw new Error(`internal: no kernel lowering for ${node.op}`);
    }
  }

  function lowerMatmul(node: Node, a: Node, b: Node, target: BufferStorage): Step {
    const gemm = { kind: "gemm", accumulate: false, scale: 1 } as const;
    // y_j = A x_j for every example, A shared: Y[n×M] = X[n×K] · Aᵀ.
    if (a.shape.length === 2 && b.shape.length === 1 && !a.batched && b.batched) {
      const [m, k] = a.shape as [number, number];
      return {
        ...gemm,
        rows: "n",
        cols: m,
        depth: k,
        perExample: false,
        a: matrix(bufferOf(b), k, 1),
        b: matrix(bufferOf(a), 1, k),
        c: matrix(target, m, 1),
      };
    }
    // x_j B (a vector) or A_j B (a matrix [R×K]) for every example, B shared: the stacked rows
    // (n of them, or n·R) times B in one product.
    if (b.shape.length === 2 && a.batched && !b.batched) {
      const [k, cols] = b.shape as [number, number];
      return {
        ...gemm,
        rows: a.shape.length === 1 ? "n" : { perExample: defined(a.shape[0], "a matrix's rows") },
        cols,
        depth: k,
        perExample: false,
        a: matrix(bufferOf(a), k, 1),
        b: matrix(bufferOf(b), cols, 1),
        c: matrix(target, cols, 1),
      };
    }
    // Otherwise one product per example (or one in all, when nothing varies per example).
    const rows = a.shape.length === 2 ? defined(a.shape[0], "a matrix's rows") : 1;
    const depth = defined(b.shape[0], "a product's depth");
    const cols = b.shape.length === 2 ? defined(b.shape[1], "a matrix's columns") : 1;
    return {
      ...gemm,
      rows,
      cols,
      depth,
      perExample: node.batched,
      a: matrix(bufferOf(a), a.shape.length === 2 ? depth : 0, 1),
      b: matrix(bufferOf(b), cols, 1),
      c: matrix(target, cols, 1),
    };
  }

  function lowerBatchSum(node: Node, s: Storage): Step[] {
    const matrices = bsumMatrices.get(node.id);
    if (matrices && s.kind === "buffer") {
      // Σⱼ A_jᵀ B_j = AᵀB with A = [A_j] ((n·P)×K) and B = [B_j] ((n·P)×N).
      const [k, cols] = node.shape as [number, number];
      const rows = defined(matrices.a.shape[0], "a matrix's rows");
      return [
        {
          kind: "gemm",
          rows: k,
          cols,
          depth: { perExample: rows },
          accumulate: false,
          scale: 1,
          perExample: false,
          a: { ...matrix(bufferOf(matrices.a), 1, k), batchStride: 0 },
          b: { ...matrix(bufferOf(matrices.b), cols, 1), batchStride: 0 },
          c: matrix(s, cols, 1),
        },
      ];
    }
    const terms = bsumTerms.get(node.id);
    const [x] = node.inputs as [Node];
    if (terms && s.kind === "buffer") {
      // Σⱼ outer(a_j, b_j) = Aᵀ B with A = [a_j] (n×M) and B = [b_j] (n×N).
      const [m, cols] = node.shape as [number, number];
      return terms.map((term, t) => {
        const left = bufferOf(term.left);
        const right = bufferOf(term.right);
        return {
          kind: "gemm",
          rows: m,
          cols,
          depth: "n",
          accumulate: t > 0,
          scale: term.sign * term.scale,
          perExample: false,
          a: { ...matrix(left, 1, m), batchStride: 0 },
          b: { ...matrix(right, cols, 1), batchStride: 0 },
          c: matrix(s, cols, 1),
        };
      });
    }
    const size = sizeOf(node.shape);
    return [{ kind: "batchSum", dest: destination(s), size, term: scalar(x, size === 1 ? { kind: "first" } : entry) }];
  }

  input.phases.forEach((phase, p) => {
    for (const node of topologicalOrder(
      phase.map((r) => r.node),
      stopAtPrepared,
    ))
      emit(node);
    // Roots whose value lives elsewhere (a leaf, a constant, a shared buffer) are copied out.
    for (const root of phase) {
      if (storageOf(root.node) === root.target) continue;
      const size = sizeOf(root.node.shape);
      steps.push({
        kind: "map",
        dest: { kind: "region", region: root.target },
        size,
        batched: isBatched(root.target),
        value: scalar(root.node, entry),
      });
    }
    steps.push(...(input.between?.[p] ?? []));
  });
  return { steps };
}

function leafStorage(node: Node, leaves: LeafArrays): Storage | undefined {
  const size = sizeOf(node.shape);
  // Read only for the leaves that are named (a cotangent has no name).
  const name = (): string => defined(node.attrs.name, "a leaf's name");
  switch (node.op) {
    case "param":
      return region(leaves.param, leaves.paramOffset(name()), size, false);
    case "tangent":
      return region(leaves.tangent, leaves.paramOffset(name()), size, false);
    case "fixed":
      return region(leaves.fixed, leaves.fixedOffset(name()), size, false);
    case "input":
      return region(leaves.input(name()), 0, size, true);
    case "cotangent":
      return region(leaves.cotangent, 0, size, true);
    default:
      return undefined;
  }
}
