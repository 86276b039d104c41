/**
 * The derivative programs of a model built exactly like compiler/diff/programs.ts builds them,
 * but without simplifying anything: the reference that the simplifier must agree with, and the
 * baseline the expression-swell guard measures simplification against.
 */
import type { CheckedModel } from "../../compiler/check/typed.ts";
import { jvp, vjp } from "../../compiler/diff/transforms.ts";
import { Graph } from "../../compiler/ir/graph.ts";
import { lowerModel } from "../../compiler/ir/lower.ts";
import { type Node } from "../../compiler/ir/node.ts";

export interface RawPrograms {
  readonly graph: Graph;
  readonly f: Node;
  readonly jvp: Node;
  readonly quad: Node;
  readonly grad: readonly Node[];
  readonly hvp: readonly Node[];
  /** Every root above, in the order f, jvp, quad, grad…, hvp…. */
  readonly roots: readonly Node[];
}

/** f, J·Δ, ΔᵀHΔ, Σ_j c_j ∇f_j and Σ_j c_j H_j Δ of `model`, unsimplified. */
export function rawPrograms(model: CheckedModel): RawPrograms {
  const g = new Graph();
  const f = lowerModel(model, g);
  const tangentOf = (leaf: Node): Node | null =>
    leaf.op === "param" ? g.leaf("tangent", leaf.attrs.name!, leaf.shape) : null;
  const orZero = (node: Node | null | undefined, shape: readonly number[]) => node ?? g.constant(0, shape);
  const [jvpNode] = jvp(g, [f], tangentOf).map((n) => orZero(n, f.shape));
  const [quad] = jvp(g, [jvpNode!], tangentOf).map((n) => orZero(n, f.shape));
  const adjoints = vjp(g, f, g.leaf("cotangent", "c", f.shape));
  const grad = model.params.map((p) => {
    for (const [leaf, adjoint] of adjoints) if (leaf.op === "param" && leaf.attrs.name === p.name) return adjoint;
    return g.constant(0, p.shape);
  });
  const hvp = jvp(g, grad, tangentOf).map((n, i) => orZero(n, model.params[i]!.shape));
  return { graph: g, f, jvp: jvpNode!, quad: quad!, grad, hvp, roots: [f, jvpNode!, quad!, ...grad, ...hvp] };
}
