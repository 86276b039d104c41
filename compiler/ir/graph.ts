/**
 * The tensor IR: a hash-consed DAG. Every node is built by `Graph.make`, which returns the
 * existing node when one with the same op, attributes and inputs exists, so equal
 * subexpressions are one node (common-subexpression elimination for free).
 *
 * Semantics are per example. A node is `batched` when its value differs between examples
 * (it depends on an input or on the per-example cotangent); `bsum` sums a batched value over
 * the examples. Code generation adds the batch loop.
 */
import { FUNCTION_PARAMETERS } from "../math.ts";
import { OPS } from "./ops.ts";
import { type Attrs, GraphBuilder, type Node, type OpName } from "./node.ts";

function attrsKey(attrs: Attrs): string {
  return [
    attrs.name ?? "",
    attrs.value ?? "",
    attrs.exponent ?? "",
    ...FUNCTION_PARAMETERS.map((parameter) => attrs[parameter] ?? ""),
    attrs.shape?.join("x") ?? "",
    attrs.table?.key ?? "",
  ].join("|");
}

export class Graph extends GraphBuilder {
  private readonly table = new Map<string, Node>();
  private nextId = 0;

  /** The node for (op, inputs, attrs), created if new. Shapes are checked by the op's rule. */
  override make(op: OpName, inputs: readonly Node[], attrs: Attrs = {}): Node {
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
}
