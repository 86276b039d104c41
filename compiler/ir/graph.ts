/**
 * The tensor IR: a hash-consed DAG. Every node is built by `Graph.make`, which returns the
 * existing node when one with the same op, attributes and inputs exists, so equal
 * subexpressions are one node (common-subexpression elimination for free).
 *
 * Semantics are per example. A node is `batched` when its value differs between examples
 * (it depends on an input or on the per-example cotangent); `bsum` sums a batched value over
 * the examples. Code generation adds the batch loop.
 */
import { type Shape, sameShape } from "../../foundation/shape.ts";
import { OPS, type OpName } from "./ops.ts";

/** Op attributes; which ones an op uses is given in its OPS entry. */
export interface Attrs {
  /** Leaves: the tensor's name in the model. */
  readonly name?: string;
  /** `const`: the value of every entry. */
  readonly value?: number;
  /** `pow`: the constant exponent. */
  readonly exponent?: number;
  /** `leaky_relu`, `leaky_step`: the slope for negative arguments. */
  readonly slope?: number;
  /** Leaves, `const` and `broadcast`: the result shape. */
  readonly shape?: Shape;
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

function attrsKey(attrs: Attrs): string {
  return [
    attrs.name ?? "",
    attrs.value ?? "",
    attrs.exponent ?? "",
    attrs.slope ?? "",
    attrs.shape?.join("x") ?? "",
  ].join("|");
}

export class Graph {
  private readonly table = new Map<string, Node>();
  private nextId = 0;

  /** The node for (op, inputs, attrs), created if new. Shapes are checked by the op's rule. */
  make(op: OpName, inputs: readonly Node[], attrs: Attrs = {}): Node {
    const key = `${op}(${inputs.map((n) => n.id).join(",")})${attrsKey(attrs)}`;
    const existing = this.table.get(key);
    if (existing) return existing;
    const rule = OPS[op];
    if (inputs.length !== rule.arity)
      throw new Error(`internal: ${op} takes ${rule.arity} inputs, got ${inputs.length}`);
    const shape = rule.shape(
      inputs.map((n) => n.shape),
      attrs,
    );
    const batched = rule.batched ? rule.batched(inputs) : inputs.some((n) => n.batched);
    const node: Node = { id: this.nextId++, op, inputs, attrs, shape, batched };
    this.table.set(key, node);
    return node;
  }

  get size(): number {
    return this.table.size;
  }

  // Builders, so rules read like the math they implement.
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
  while (stack.length > 0) {
    const top = stack.pop()!;
    if (top.expanded) {
      order.push(top.node);
      continue;
    }
    if (seen.has(top.node.id)) continue;
    seen.add(top.node.id);
    stack.push({ node: top.node, expanded: true });
    if (stop?.(top.node)) continue;
    for (let i = top.node.inputs.length - 1; i >= 0; i--)
      if (!seen.has(top.node.inputs[i]!.id)) stack.push({ node: top.node.inputs[i]!, expanded: false });
  }
  return order;
}

/** True for a `const` node whose entries are all `value`. */
export function isConst(node: Node, value?: number): boolean {
  return node.op === "const" && (value === undefined || node.attrs.value === value);
}
