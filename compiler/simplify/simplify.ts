/**
 * The rewrite engine: applies the rule sets bottom-up until no rule applies (a fixed point).
 * Dead code disappears with it: the result holds only what the roots reach.
 */
import type { Graph } from "../ir/graph.ts";
import { isSumPart, RULE_SETS, type Rule } from "./rules.ts";
import { defined } from "../../foundation/defined.ts";
import { isConst, type Node } from "../ir/node.ts";

/** A guard against a rule cycle: no node needs anywhere near this many rewrites. */
const MAX_REWRITES_PER_NODE = 200;

const ALL_RULES: readonly Rule[] = Object.values(RULE_SETS).flat();

/**
 * Simplifies the graphs of `roots` (sharing work between them); returns the new roots.
 *
 * A node is simplified in one of two modes: whole (every rule, until none applies), or as a part
 * of an enclosing sum (rules marked `sumRootOnly` skipped), since collecting the enclosing sum
 * flattens through it anyway. The operands of a sum (+, −) are parts, and so are the operands of
 * a negation or constant scaling that is itself a part. So a chain of k additions is collected
 * once, at its root, instead of once per prefix (which cost time quadratic in k, and more when
 * each collection rebuilt its prefix as new nodes). A node wanted both ways (a partial sum also
 * used elsewhere) is simplified both ways.
 */
export function simplify(g: Graph, roots: readonly Node[], rules: readonly Rule[] = ALL_RULES): Node[] {
  const byOp = (selected: readonly Rule[]) => {
    const map = new Map<string, Rule[]>();
    for (const rule of selected) map.set(rule.op, [...(map.get(rule.op) ?? []), rule]);
    return map;
  };
  const wholeRules = byOp(rules);
  const partRules = byOp(rules.filter((rule) => rule.sumRootOnly !== true));
  // The ops whose whole simplification collects their operands (+, −): their operands are parts.
  const rootOnlyOps = new Set<string>(rules.filter((rule) => rule.sumRootOnly === true).map((rule) => rule.op));
  const wholeMemo = new Map<number, Node>();
  const partMemo = new Map<number, Node>();

  const firstRewrite = (node: Node, part: boolean): Node | undefined => {
    const table = part ? partRules : wholeRules;
    for (const rule of [...(table.get(node.op) ?? []), ...(table.get("*") ?? [])]) {
      const result = rule.rewrite(node, node.inputs, g);
      if (result !== undefined && result !== node) return result;
    }
    return undefined;
  };

  const done = (node: Node, part: boolean): Node | undefined =>
    part ? (partMemo.get(node.id) ?? wholeMemo.get(node.id)) : wholeMemo.get(node.id);
  /** Whether input `k` of `user` (simplified as a part or whole) is simplified as a part. */
  const partSlot = (user: Node, k: number, userPart: boolean): boolean =>
    (userPart || rootOnlyOps.has(user.op)) && isSumPart(user, k);
  /** The simplified input `k` of `user`, or undefined while it is not done. */
  const inputDone = (user: Node, k: number, userPart: boolean): Node | undefined => {
    const input = user.inputs[k];
    return input === undefined ? undefined : done(input, partSlot(user, k, userPart));
  };
  const simplifiedInputs = (user: Node, userPart: boolean): Node[] =>
    user.inputs.map((input, k) => {
      const result = inputDone(user, k, userPart);
      if (result === undefined) throw new Error(`internal: ${input.op} #${input.id} used before it was simplified`);
      return result;
    });

  // Bottom-up with an explicit stack, so that a deep graph cannot overflow the call stack. A frame
  // simplifies its node once all inputs of the node (or of a pending rewrite `next`) are done;
  // missing inputs are pushed first-on-top, which visits them in the order a recursion would.
  interface Frame {
    readonly node: Node;
    readonly part: boolean;
    started: boolean;
    current?: Node;
    next?: Node;
    rewrites: number;
  }
  // Frames under way, by node id and mode (2·id, +1 for a part).
  const active = new Set<number>();
  const activeKey = (frame: Frame) => 2 * frame.node.id + (frame.part ? 1 : 0);
  const pushMissing = (stack: Frame[], user: Node, userPart: boolean): boolean => {
    let pushed = false;
    for (let k = user.inputs.length - 1; k >= 0; k--) {
      const input = user.inputs[k];
      if (input !== undefined && inputDone(user, k, userPart) === undefined) {
        stack.push({ node: input, part: partSlot(user, k, userPart), started: false, rewrites: 0 });
        pushed = true;
      }
    }
    return pushed;
  };
  const visit = (root: Node): Node => {
    const stack: Frame[] = [{ node: root, part: false, started: false, rewrites: 0 }];
    for (let frame = stack.at(-1); frame !== undefined; frame = stack.at(-1)) {
      if (!frame.started) {
        if (done(frame.node, frame.part) !== undefined) {
          stack.pop();
          continue;
        }
        if (active.has(activeKey(frame)))
          throw new Error(`internal: the simplifier revisits ${frame.node.op} in a cycle`);
        active.add(activeKey(frame));
        frame.started = true;
        // A whole sum continues from its part simplification (its operands are parts either way):
        // only the sum-root rules are left to apply.
        const asPart = frame.part ? undefined : partMemo.get(frame.node.id);
        if (asPart !== undefined && rootOnlyOps.has(asPart.op)) frame.current = asPart;
      }
      if (frame.current === undefined) {
        if (pushMissing(stack, frame.node, frame.part)) continue;
        frame.current = rebuild(g, frame.node, simplifiedInputs(frame.node, frame.part));
      }
      if (frame.next !== undefined) {
        if (pushMissing(stack, frame.next, frame.part)) continue;
        frame.current = rebuild(g, frame.next, simplifiedInputs(frame.next, frame.part));
        frame.next = undefined;
      }
      let current: Node = frame.current;
      for (;;) {
        if (frame.rewrites++ > MAX_REWRITES_PER_NODE)
          throw new Error(`internal: simplifier did not converge at ${frame.node.op}`);
        const next = firstRewrite(current, frame.part);
        if (next === undefined) break;
        if (next.inputs.every((input, k) => inputDone(next, k, frame.part) === input)) {
          current = next;
          continue;
        }
        frame.next = next;
        break;
      }
      frame.current = current;
      if (frame.next !== undefined) continue;
      // A part result with no operand simplified as a part is whole as well.
      const whole = !frame.part || !current.inputs.some((_, k) => partSlot(current, k, true));
      const memo = whole ? wholeMemo : partMemo;
      memo.set(frame.node.id, current);
      memo.set(current.id, current);
      active.delete(activeKey(frame));
      stack.pop();
    }
    return defined(wholeMemo.get(root.id), "a simplified root");
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
