/**
 * Readable, math-like printing of IR graphs. Subexpressions used more than once are printed
 * once as `let tN = ...` (the DAG's sharing made visible).
 */
import { lookup } from "../../foundation/defined.ts";
import { OPS, precedenceOf } from "./ops.ts";
import { topologicalOrder, type Node } from "./node.ts";

/** The binding strength each argument of `node` needs to print without parentheses. */
function required(node: Node, index: number): number {
  const p = precedenceOf(node);
  if (p === 5) return 1;
  if (p === 4) return 5;
  if (p === 3) return 4;
  return index === 0 ? p : p + 1;
}

export interface PrintedProgram {
  readonly lets: readonly string[];
  readonly results: readonly string[];
}

/** Prints named roots, sharing common subexpressions between them. */
export function printGraph(roots: readonly { name: string; node: Node }[]): PrintedProgram {
  const order = topologicalOrder(roots.map((r) => r.node));
  const uses = new Map<number, number>();
  for (const node of order) for (const input of node.inputs) uses.set(input.id, (uses.get(input.id) ?? 0) + 1);
  const text = new Map<number, { text: string; precedence: number }>();
  const lets: string[] = [];
  for (const node of order) {
    const args = node.inputs.map((input, i) => {
      const printed = lookup(text, input.id, "an input's printed form");
      return printed.precedence < required(node, i) ? `(${printed.text})` : printed.text;
    });
    const printed = { text: OPS[node.op].print(args, node), precedence: precedenceOf(node) as number };
    if ((uses.get(node.id) ?? 0) > 1 && node.inputs.length > 0) {
      const name = `t${lets.length + 1}`;
      lets.push(`let ${name} = ${printed.text}`);
      text.set(node.id, { text: name, precedence: 5 });
    } else {
      text.set(node.id, printed);
    }
  }
  return { lets, results: roots.map((r) => `${r.name} = ${lookup(text, r.node.id, "a root's printed form").text}`) };
}
