/**
 * The derivative programs of a model without any simplification, as compiler/diff/programs.ts
 * builds them (`deriveModel(model, { simplify: false })`, the same code): the reference that the
 * simplifier must agree with, and the baseline the expression-swell guard measures it against.
 */
import type { CheckedModel } from "../../compiler/check/typed.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import type { Graph } from "../../compiler/ir/graph.ts";
import type { Node } from "../../compiler/ir/node.ts";

export interface RawPrograms {
  readonly graph: Graph;
  readonly f: Node;
  readonly grad: readonly Node[];
  readonly hvp: readonly Node[];
  /** f, J·Δ, ΔᵀHΔ, then Σ_j c_j ∇f_j and Σ_j c_j H_j Δ per param. */
  readonly roots: readonly Node[];
}

/** f, J·Δ, ΔᵀHΔ, Σ_j c_j ∇f_j and Σ_j c_j H_j Δ of `model`, unsimplified. */
export function rawPrograms(model: CheckedModel): RawPrograms {
  const p = deriveModel(model, { simplify: false });
  const perParam = (programs: Readonly<Record<string, Node>>) =>
    model.params.map((param) => {
      const node = programs[param.name];
      if (node === undefined) throw new Error(`no program for param ${param.name}`);
      return node;
    });
  const grad = perParam(p.grad);
  const hvp = perParam(p.hvp);
  return { graph: p.graph, f: p.f, grad, hvp, roots: [p.f, p.jvp, p.quad, ...grad, ...hvp] };
}
