/**
 * The reference interpreter: evaluates IR nodes tensor by tensor with the op table's
 * `evaluate`. Slow and simple on purpose: it is the contract the compiled kernels must meet.
 */
import { OPS } from "./ops.ts";
import type { Tensor } from "./tensor.ts";
import { defined, lookup } from "../../foundation/defined.ts";
import { first, topologicalOrder, type Node } from "./node.ts";

export interface Bindings {
  /** The number of examples. */
  readonly n: number;
  readonly params: Readonly<Record<string, Tensor>>;
  readonly fixed: Readonly<Record<string, Tensor>>;
  /** Per input name, one tensor per example. */
  readonly inputs: Readonly<Record<string, readonly Tensor[]>>;
  /** The displacement Δ per param (missing: zeros are not assumed; every tangent leaf must be bound). */
  readonly tangents: Readonly<Record<string, Tensor>>;
  /** One cotangent per example. */
  readonly cotangent: readonly Tensor[];
}

/** A value that varies per example is a list of n tensors; a shared value is one tensor. */
export type Value = Tensor | readonly Tensor[];

/** Evaluates `roots` under `bindings`. */
export function interpret(roots: readonly Node[], bindings: Bindings): Value[] {
  const values = new Map<number, Value>();
  for (const node of topologicalOrder(roots)) values.set(node.id, evaluateNode(node, values, bindings));
  return roots.map((root) => lookup(values, root.id, "a root's value"));
}

function bound<T>(table: Readonly<Record<string, T>>, kind: string, name: string): T {
  const value = Object.hasOwn(table, name) ? table[name] : undefined;
  if (value === undefined) throw new Error(`internal: no value bound for ${kind} ${name}`);
  return value;
}

function evaluateNode(node: Node, values: ReadonlyMap<number, Value>, bindings: Bindings): Value {
  const name = node.attrs.name ?? "";
  switch (node.op) {
    case "input":
      return bound(bindings.inputs, "input", name);
    case "param":
      return bound(bindings.params, "param", name);
    case "fixed":
      return bound(bindings.fixed, "fixed", name);
    case "tangent":
      return bound(bindings.tangents, "tangent", name);
    case "cotangent":
      return bindings.cotangent;
    case "bsum": {
      const perExample = lookup(values, first(node).id, "the summand of a batch sum") as readonly Tensor[];
      const total = new Float64Array(perExample[0]?.data.length ?? 0);
      for (const t of perExample) for (let i = 0; i < total.length; i++) total[i] = (total[i] ?? 0) + (t.data[i] ?? 0);
      return { shape: node.shape, data: total };
    }
    default:
      break;
  }
  const inputs = node.inputs.map((input) => lookup(values, input.id, "an input's value"));
  const rule = OPS[node.op];
  if (!node.batched) return rule.evaluate(inputs as Tensor[], node);
  return Array.from({ length: bindings.n }, (_, j) =>
    rule.evaluate(
      inputs.map((value, k) =>
        node.inputs[k]?.batched ? defined((value as readonly Tensor[])[j], "an example's value") : (value as Tensor),
      ),
      node,
    ),
  );
}
