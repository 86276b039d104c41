/**
 * Forward and reverse mode as IR → IR transforms, driven by the op table's jvp and vjp rules.
 * A zero tangent or adjoint is `null` and is skipped, never multiplied.
 */
import type { Graph } from "../ir/graph.ts";
import { lookup } from "../../foundation/defined.ts";
import { OPS } from "../ir/ops.ts";
import { topologicalOrder, type Node } from "../ir/node.ts";

/**
 * Forward mode: the tangents of `roots` given the tangents of the leaves (`seed` returns the
 * tangent of a leaf, or null when it is constant).
 */
export function jvp(g: Graph, roots: readonly Node[], seed: (leaf: Node) => Node | null): (Node | null)[] {
  const tangents = new Map<number, Node | null>();
  for (const node of topologicalOrder(roots)) {
    if (node.inputs.length === 0) {
      tangents.set(node.id, node.op === "const" ? null : seed(node));
      continue;
    }
    const inputTangents = node.inputs.map((input) => lookup(tangents, input.id, "an input's tangent"));
    tangents.set(node.id, inputTangents.every((t) => t === null) ? null : OPS[node.op].jvp(node, inputTangents, g));
  }
  return roots.map((root) => lookup(tangents, root.id, "a root's tangent"));
}

/**
 * Reverse mode: the adjoint of every leaf of `root` for the output cotangent `ct`. Where a
 * per-example adjoint flows into a node shared by all examples (a param, or anything computed
 * from params only), it is summed over the examples (`bsum`): that is where the batch
 * gradient's Σ_j happens.
 */
export function vjp(g: Graph, root: Node, ct: Node): Map<Node, Node> {
  const order = topologicalOrder([root]);
  // The root itself may be shared by all examples (an output that reads no input): its
  // per-example cotangent is then summed like any other adjoint flowing into a shared node.
  const adjoints = new Map<number, Node>([[root.id, ct.batched && !root.batched ? g.bsum(ct) : ct]]);
  const leaves = new Map<Node, Node>();
  for (const node of order.reverse()) {
    const adjoint = adjoints.get(node.id);
    if (adjoint === undefined) continue;
    if (node.inputs.length === 0) {
      leaves.set(node, adjoint);
      continue;
    }
    const contributions = OPS[node.op].vjp(node, adjoint, g);
    node.inputs.forEach((input, k) => {
      let contribution = contributions[k];
      if (contribution === null || contribution === undefined || input.op === "const") return;
      if (contribution.batched && !input.batched) contribution = g.bsum(contribution);
      const previous = adjoints.get(input.id);
      adjoints.set(input.id, previous === undefined ? contribution : g.add(previous, contribution));
    });
  }
  return leaves;
}
