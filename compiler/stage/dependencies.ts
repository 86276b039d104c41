/**
 * Dependency analysis for staging: marks each node by what it depends on. In a training run
 * the inputs and fixed tensors never change and the params stay at w0 (the f_lin and f_quad
 * steps move only the displacement Δ and the cotangent c = residual), so code generation
 * computes `static` and `w0` nodes once per run and only `step` nodes at every step.
 */
import { defined, lookup } from "../../foundation/defined.ts";
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

/**
 * The staging decision for kernels that run at every step of an f_lin or f_quad run: the
 * frontier of the w0-only part of `stepRoots`, the nodes a `prepare` kernel computes once
 * (f(w0), activation patterns, J(w0)-side factors) and the step kernels read. Leaves and
 * constants are not in it: they are read where they are.
 */
export function preparedFrontier(stepRoots: readonly Node[]): Node[] {
  const flags = dependencies(stepRoots);
  const frontier = new Map<number, Node>();
  const seen = new Set<number>();
  const stack = [...stepRoots];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (seen.has(node.id)) continue;
    seen.add(node.id);
    if (stageOf(defined(flags.get(node.id), "the dependency flags of a node")) !== "step") {
      // A transpose is prepared as its operand: the step reads the matrix itself, so a product
      // Σⱼ A_jᵀB_j can run as one matrix product over all examples (kernel.ts) instead of n.
      if (node.op === "transpose") stack.push(...node.inputs);
      else if (node.inputs.length > 0) frontier.set(node.id, node);
      continue;
    }
    stack.push(...node.inputs);
  }
  // In id order (a topological order of the hash-consed graph), so generated code is stable.
  return [...frontier.values()].sort((a, b) => a.id - b.id);
}
