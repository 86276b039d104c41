/**
 * The rewrite engine: applies the rule sets bottom-up until no rule applies (a fixed point).
 * Dead code disappears with it: the result holds only what the roots reach.
 */
import { type Graph } from "../ir/graph.ts";
import { RULE_SETS, type Rule } from "./rules.ts";
import { isConst, type Node } from "../ir/node.ts";

/** A guard against a rule cycle: no node needs anywhere near this many rewrites. */
const MAX_REWRITES_PER_NODE = 200;

const ALL_RULES: readonly Rule[] = Object.values(RULE_SETS).flat();

/** Simplifies the graphs of `roots` (sharing work between them); returns the new roots. */
export function simplify(g: Graph, roots: readonly Node[], rules: readonly Rule[] = ALL_RULES): Node[] {
  const byOp = new Map<string, Rule[]>();
  for (const rule of rules) byOp.set(rule.op, [...(byOp.get(rule.op) ?? []), rule]);
  const generic = byOp.get("*") ?? [];
  const memo = new Map<number, Node>();

  const firstRewrite = (node: Node): Node | undefined => {
    for (const rule of [...(byOp.get(node.op) ?? []), ...generic]) {
      const result = rule.rewrite(node, node.inputs, g);
      if (result !== undefined && result !== node) return result;
    }
    return undefined;
  };

  const visit = (node: Node): Node => {
    const done = memo.get(node.id);
    if (done) return done;
    const inputs = node.inputs.map(visit);
    let current = rebuild(g, node, inputs);
    for (let count = 0; ; count++) {
      if (count > MAX_REWRITES_PER_NODE) throw new Error(`internal: simplifier did not converge at ${node.op}`);
      const next = firstRewrite(current);
      if (next === undefined) break;
      current = next.inputs.every((input) => memo.get(input.id) === input)
        ? next
        : rebuild(g, next, next.inputs.map(visit));
    }
    memo.set(node.id, current);
    memo.set(current.id, current);
    return current;
  };
  return roots.map(visit);
}

function rebuild(g: Graph, node: Node, inputs: readonly Node[]): Node {
  if (inputs.every((input, i) => input === node.inputs[i])) return node;
  // A batch sum whose argument folded to a constant: only zero can fold away (Σⱼ 0 = 0).
  if (node.op === "bsum" && !inputs[0]!.batched) {
    if (isConst(inputs[0]!, 0)) return g.zerosLike(node);
    throw new Error("internal: a batch sum lost its per-example argument");
  }
  return g.make(node.op, inputs, node.attrs);
}
