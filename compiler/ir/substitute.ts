/** Rebuilding a graph with some nodes replaced (e.g. a direction set to zero, c set to one). */
import { lookup } from "../../foundation/defined.ts";
import type { Graph } from "./graph.ts";
import { topologicalOrder, type Node } from "./node.ts";

/**
 * `roots` with nodes swapped: `replace` sees each node with its already rebuilt inputs and
 * returns its replacement, or undefined to keep it.
 */
export function substitute(
  g: Graph,
  roots: readonly Node[],
  replace: (node: Node, inputs: readonly Node[]) => Node | undefined,
): Node[] {
  const rebuilt = new Map<number, Node>();
  for (const node of topologicalOrder(roots)) {
    const inputs = node.inputs.map((input) => lookup(rebuilt, input.id, "a rebuilt input"));
    const replacement = replace(node, inputs);
    if (replacement) {
      rebuilt.set(node.id, replacement);
      continue;
    }
    rebuilt.set(
      node.id,
      inputs.every((input, i) => input === node.inputs[i]) ? node : g.make(node.op, inputs, node.attrs),
    );
  }
  return roots.map((root) => lookup(rebuilt, root.id, "a rebuilt root"));
}
