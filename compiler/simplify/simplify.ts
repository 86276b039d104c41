/**
 * The rewrite engine: applies the rule sets bottom-up until no rule applies (a fixed point).
 * Dead code disappears with it: the result holds only what the roots reach.
 */
import type { Graph } from "../ir/graph.ts";
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

  const simplified = (node: Node): Node => {
    const done = memo.get(node.id);
    if (done === undefined) throw new Error(`internal: ${node.op} #${node.id} used before it was simplified`);
    return done;
  };

  // Bottom-up with an explicit stack, so that a deep graph cannot overflow the call stack. A frame
  // simplifies its node once all inputs of the node (or of a pending rewrite `next`) are done;
  // missing inputs are pushed first-on-top, which visits them in the order a recursion would.
  interface Frame {
    readonly node: Node;
    started: boolean;
    current?: Node;
    next?: Node;
    rewrites: number;
  }
  const active = new Set<number>();
  const pushMissing = (stack: Frame[], inputs: readonly Node[]): boolean => {
    let pushed = false;
    for (let i = inputs.length - 1; i >= 0; i--) {
      const input = inputs[i];
      if (input !== undefined && !memo.has(input.id)) {
        stack.push({ node: input, started: false, rewrites: 0 });
        pushed = true;
      }
    }
    return pushed;
  };
  const visit = (root: Node): Node => {
    const stack: Frame[] = [{ node: root, started: false, rewrites: 0 }];
    for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
      if (!frame.started) {
        if (memo.has(frame.node.id)) {
          stack.pop();
          continue;
        }
        if (active.has(frame.node.id)) throw new Error(`internal: the simplifier revisits ${frame.node.op} in a cycle`);
        active.add(frame.node.id);
        frame.started = true;
      }
      if (frame.current === undefined) {
        if (pushMissing(stack, frame.node.inputs)) continue;
        frame.current = rebuild(g, frame.node, frame.node.inputs.map(simplified));
      }
      if (frame.next !== undefined) {
        if (pushMissing(stack, frame.next.inputs)) continue;
        frame.current = rebuild(g, frame.next, frame.next.inputs.map(simplified));
        frame.next = undefined;
      }
      let current: Node = frame.current;
      for (;;) {
        if (frame.rewrites++ > MAX_REWRITES_PER_NODE)
          throw new Error(`internal: simplifier did not converge at ${frame.node.op}`);
        const next = firstRewrite(current);
        if (next === undefined) break;
        if (next.inputs.every((input) => memo.get(input.id) === input)) {
          current = next;
          continue;
        }
        frame.next = next;
        break;
      }
      frame.current = current;
      if (frame.next !== undefined) continue;
      memo.set(frame.node.id, current);
      memo.set(current.id, current);
      active.delete(frame.node.id);
      stack.pop();
    }
    return simplified(root);
  };
  return roots.map(visit);
}

function rebuild(g: Graph, node: Node, inputs: readonly Node[]): Node {
  if (inputs.every((input, i) => input === node.inputs[i])) return node;
  // A batch sum whose argument folded to a constant: only zero can fold away (Σⱼ 0 = 0).
  const [argument] = inputs;
  if (node.op === "bsum" && argument !== undefined && !argument.batched) {
    if (isConst(argument, 0)) return g.zerosLike(node);
    throw new Error("internal: a batch sum lost its per-example argument");
  }
  return g.make(node.op, inputs, node.attrs);
}
