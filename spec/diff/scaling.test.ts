/**
 * Issue 10: `derive` time grew faster than quadratically with the number of scalar params (400
 * params 14 s, 1000 params 95 s). The simplifier collected every prefix of every long sum, each
 * time walking the whole prefix, comparing its terms pair by pair and rebuilding it as new nodes.
 *
 * Not timed: the work is counted, and must double when the params double. Three counts, each
 * observed from outside the simplifier: nodes the Graph is asked for (hash-consing hits
 * included), rule attempts, and the nodes the sum collection flattens (the +, −, negation and
 * constant-scaling region under each node it is tried on, counted by this test's own walk). Before
 * the fix, from 16 to 32 params they grew 3.1×, 2.8× and 7.3×.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { Graph } from "../../compiler/ir/graph.ts";
import { RULE_SETS, type Rule } from "../../compiler/simplify/rules.ts";
import { nth } from "../support/entries.ts";
import { manyScalarParams } from "../support/scalar-params.ts";
import type { Node } from "../../compiler/ir/node.ts";

interface Work {
  made: number;
  attempts: number;
  flattened: number;
}

/** The +, −, negation and scalar-constant-scaling region under `root`, in nodes (its leaves included). */
function linearRegion(root: Node): number {
  const isLinear = (n: Node) =>
    n.op === "add" ||
    n.op === "sub" ||
    n.op === "neg" ||
    (n.op === "mul" && n.inputs[0]?.op === "const" && n.inputs[0].shape.length === 0);
  const seen = new Set<Node>([root]);
  const stack = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (!isLinear(node)) continue;
    for (const input of node.inputs) {
      if (seen.has(input)) continue;
      seen.add(input);
      stack.push(input);
    }
  }
  return seen.size;
}

/** Derives every program of the model with `n` scalar params, counting the work done. */
function measure(n: number): Work {
  const work: Work = { made: 0, attempts: 0, flattened: 0 };
  const make = Graph.prototype.make;
  const rules = Object.entries(RULE_SETS).flatMap(([set, list]) =>
    list.map((rule) => ({ set, rule, original: rule.rewrite })),
  );
  // Counting wrappers, put in place for this derivation only (the engine reads rule.rewrite per call).
  Graph.prototype.make = function (this: Graph, ...args: Parameters<Graph["make"]>) {
    work.made++;
    return make.apply(this, args);
  };
  rules.forEach(({ set, rule, original }) => {
    (rule as { rewrite: Rule["rewrite"] }).rewrite = (node, inputs, g) => {
      work.attempts++;
      if (set === "collecting") work.flattened += linearRegion(node);
      return original(node, inputs, g);
    };
  });
  try {
    deriveModel(loadModel(manyScalarParams(n)).model);
  } finally {
    Graph.prototype.make = make;
    for (const { rule, original } of rules) (rule as { rewrite: Rule["rewrite"] }).rewrite = original;
  }
  return work;
}

test("derive's work grows linearly with the number of scalar params (issue 10)", () => {
  const sizes = [8, 16, 32];
  const works = sizes.map(measure);
  for (const key of ["made", "attempts", "flattened"] as const) {
    for (let i = 1; i < sizes.length; i++) {
      const [before, after] = [nth(works, i - 1)[key], nth(works, i)[key]];
      const ratio = after / before;
      // Twice the params: twice the work, with 10% to spare for a constant part.
      assert.ok(
        ratio <= 2.2,
        `${key}: ${before} at ${nth(sizes, i - 1)} params, ${after} at ${nth(sizes, i)} (×${ratio.toFixed(2)})`,
      );
    }
  }
  // The counters do count: a derivation does work (a broken wrapper would leave them at 0).
  assert.ok(works.every((w) => w.made > 0 && w.attempts > 0 && w.flattened > 0));
});
