/**
 * Dependency analysis for staging: marks each node by what it depends on. In a training run
 * the inputs and fixed tensors never change and the params stay at w0 (the f_lin and f_quad
 * steps move only the displacement Δ and the cotangent c = residual), so code generation
 * computes `static` and `w0` nodes once per run and only `step` nodes at every step.
 */
import { lookup } from "../../foundation/defined.ts";
import { topologicalOrder, type Node } from "../ir/node.ts";

/** Bit flags of what a node's value depends on. */
export const Depends = {
  input: 1,
  fixed: 2,
  param: 4,
  tangent: 8,
  cotangent: 16,
} as const;

export type Stage = "static" | "w0" | "step";

const LEAF_FLAG: Partial<Record<string, number>> = {
  input: Depends.input,
  fixed: Depends.fixed,
  param: Depends.param,
  tangent: Depends.tangent,
  cotangent: Depends.cotangent,
};

/** The dependency flags of every node reachable from `roots`. */
export function dependencies(roots: readonly Node[]): Map<number, number> {
  const flags = new Map<number, number>();
  for (const node of topologicalOrder(roots)) {
    let mask = LEAF_FLAG[node.op] ?? 0;
    for (const input of node.inputs) mask |= lookup(flags, input.id, "an input's flags");
    flags.set(node.id, mask);
  }
  return flags;
}

/** When a node with these flags must be computed: once (static, w0) or at every step. */
export function stageOf(mask: number): Stage {
  if (mask & (Depends.tangent | Depends.cotangent)) return "step";
  if (mask & Depends.param) return "w0";
  return "static";
}
