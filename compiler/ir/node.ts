/**
 * IR nodes and what can be said about them without the op table: the op names, the node and
 * attribute types, the builder vocabulary that derivative and rewrite rules use, and graph walks.
 * `graph.ts` (the hash-consing Graph) and `ops.ts` (the op table) both build on this file, so
 * neither imports the other's module in a cycle.
 */
import { defined } from "../../foundation/defined.ts";
import { type Shape, sameShape } from "../../foundation/shape.ts";
import { type Algebra, FUNCTION_NAMES, type FunctionName, type FunctionParameter, functionRow } from "../math.ts";

/** The ops that are not elementwise functions: leaves, arithmetic, reductions, linear algebra. */
export const STRUCTURAL_OPS = [
  "input",
  "param",
  "fixed",
  "tangent",
  "cotangent",
  "const",
  "add",
  "sub",
  "mul",
  "div",
  "neg",
  "pow",
  "sum",
  "matmul",
  "outer",
  "transpose",
  "broadcast",
  "bsum",
  "reshape",
  "gather",
  "scatter",
  "segmax",
  "argmask",
  "maximum",
  "minimum",
  "nograd",
] as const;

export type StructuralOp = (typeof STRUCTURAL_OPS)[number];

/**
 * Every op of the IR: the structural ones and one per elementwise function of compiler/math.ts;
 * OPS (ops.ts) must give each one a full rule (the type check enforces it).
 */
export const OP_NAMES: readonly OpName[] = [...STRUCTURAL_OPS, ...FUNCTION_NAMES];

export type OpName = StructuralOp | FunctionName;

/**
 * A constant index table of the structural ops `gather`, `scatter`, `segmax` and `argmask`
 * (indexing, slicing, axis permutations, reductions over an axis, pooling, image-to-column).
 * `key` names its content (equal keys, equal tables): it is what hash-consing compares.
 */
export interface IndexTable {
  readonly key: string;
  /** `gather`: the source entry of each result entry (−1: zero). The others: the group of each source entry (−1: none). */
  readonly data: Int32Array;
}

/**
 * Op attributes; which ones an op uses is given in its OPS entry. An elementwise function's
 * constant parameter (leaky_relu's `slope`) is the attribute of its name.
 */
export interface Attrs extends Readonly<Partial<Record<FunctionParameter, number>>> {
  /** Leaves: the tensor's name in the model. */
  readonly name?: string;
  /** `const`: the value of every entry. */
  readonly value?: number;
  /** `pow`: the constant exponent. */
  readonly exponent?: number;
  /** Leaves, `const`, `broadcast` and the table ops: the result shape. */
  readonly shape?: Shape;
  /** `gather`, `scatter`, `segmax`, `argmask`: the index table. */
  readonly table?: IndexTable;
}

export interface Node {
  /** Creation order: inputs always have smaller ids than their users. */
  readonly id: number;
  readonly op: OpName;
  readonly inputs: readonly Node[];
  readonly attrs: Attrs;
  readonly shape: Shape;
  readonly batched: boolean;
}

/**
 * The builders rules use, so they read like the math they implement; `Graph.make` (graph.ts)
 * supplies hash-consing and the op table's shape rules. As an `Algebra`, it builds the
 * derivatives of compiler/math.ts's functions as graphs.
 */
export abstract class GraphBuilder implements Algebra<Node> {
  /** The node for (op, inputs, attrs), created if new. */
  abstract make(op: OpName, inputs: readonly Node[], attrs?: Attrs): Node;

  constant(value: number, shape: Shape = []): Node {
    return this.make("const", [], { value: value === 0 ? 0 : value, shape });
  }
  zerosLike(node: Node): Node {
    return this.constant(0, node.shape);
  }
  leaf(op: "input" | "param" | "fixed" | "tangent" | "cotangent", name: string, shape: Shape): Node {
    return this.make(op, [], { name, shape });
  }
  add(a: Node, b: Node): Node {
    return this.make("add", [a, b]);
  }
  sub(a: Node, b: Node): Node {
    return this.make("sub", [a, b]);
  }
  mul(a: Node, b: Node): Node {
    return this.make("mul", [a, b]);
  }
  div(a: Node, b: Node): Node {
    return this.make("div", [a, b]);
  }
  neg(a: Node): Node {
    return this.make("neg", [a]);
  }
  unary(op: OpName, a: Node, attrs: Attrs = {}): Node {
    return this.make(op, [a], attrs);
  }
  /** The elementwise function `fn` of `x`, with its constant parameter when it takes one. */
  apply(fn: FunctionName, x: Node, parameter?: number): Node {
    const name = functionRow(fn).parameter;
    if ((name === undefined) !== (parameter === undefined)) throw new Error(`internal: the parameter of ${fn}`);
    return this.make(fn, [x], name === undefined || parameter === undefined ? {} : { [name]: parameter });
  }
  sum(a: Node): Node {
    return this.make("sum", [a]);
  }
  matmul(a: Node, b: Node): Node {
    return this.make("matmul", [a, b]);
  }
  outer(a: Node, b: Node): Node {
    return this.make("outer", [a, b]);
  }
  transpose(a: Node): Node {
    return this.make("transpose", [a]);
  }
  broadcast(a: Node, shape: Shape): Node {
    return sameShape(a.shape, shape) ? a : this.make("broadcast", [a], { shape });
  }
  bsum(a: Node): Node {
    return this.make("bsum", [a]);
  }
  /** The entries of `a` in row-major order, as a tensor of `shape` (same size). */
  reshape(a: Node, shape: Shape): Node {
    return sameShape(a.shape, shape) ? a : this.make("reshape", [a], { shape });
  }
  /** result[i] = a[table[i]] (0 where table[i] is −1), of `shape`. */
  gather(a: Node, table: IndexTable, shape: Shape): Node {
    return this.make("gather", [a], { table, shape });
  }
  /** result[k] = Σ a[i] over the i with table[i] = k: the adjoint of `gather` with the same table. */
  scatter(a: Node, table: IndexTable, shape: Shape): Node {
    return this.make("scatter", [a], { table, shape });
  }
  /** result[k] = max a[i] over the i with table[i] = k. */
  segmax(a: Node, table: IndexTable, shape: Shape): Node {
    return this.make("segmax", [a], { table, shape });
  }
  /** 1 at the first entry of each group of `table` where `a` is largest, 0 elsewhere (derivative 0). */
  argmask(a: Node, table: IndexTable): Node {
    return this.make("argmask", [a], { table });
  }
  /** The value of `a`, through which no derivative flows (for shifts that cancel, as in logsumexp). */
  nograd(a: Node): Node {
    return this.make("nograd", [a]);
  }
  /** Reduces a value to `shape` by summing broadcast axes (the adjoint of scalar broadcasting). */
  unbroadcast(a: Node, shape: Shape): Node {
    return sameShape(a.shape, shape) ? a : this.sum(a);
  }
}

/**
 * Every node reachable from `roots`, inputs before users. With `stop`, the inputs of nodes for
 * which it returns true are not visited (the node itself is).
 */
export function topologicalOrder(roots: readonly Node[], stop?: (node: Node) => boolean): Node[] {
  const seen = new Set<number>();
  const order: Node[] = [];
  const stack: { node: Node; expanded: boolean }[] = roots.map((node) => ({ node, expanded: false })).reverse();
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    if (top.expanded) {
      order.push(top.node);
      continue;
    }
    if (seen.has(top.node.id)) continue;
    seen.add(top.node.id);
    stack.push({ node: top.node, expanded: true });
    if (stop?.(top.node)) continue;
    const inputs = top.node.inputs;
    for (let i = inputs.length - 1; i >= 0; i--) {
      const input = inputs[i];
      if (input !== undefined && !seen.has(input.id)) stack.push({ node: input, expanded: false });
    }
  }
  return order;
}

/** True for a `const` node whose entries are all `value`. */
export function isConst(node: Node, value?: number): boolean {
  return node.op === "const" && (value === undefined || node.attrs.value === value);
}

/** The first input of `node` (an internal error if its op takes none). */
export function first(node: Node): Node {
  return defined(node.inputs[0], `the first input of ${node.op}`);
}

/** The second input of `node` (an internal error if its op takes fewer than two). */
export function second(node: Node): Node {
  return defined(node.inputs[1], `the second input of ${node.op}`);
}

/** The value of a `const` node. */
export function constValue(node: Node): number {
  return defined(node.attrs.value, `the value of ${node.op}`);
}
