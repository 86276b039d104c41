/**
 * Property 6 of issue 3: the simplifier preserves values and is idempotent, on the derivative
 * programs of generated models (spec/support/models.ts). Values are compared between the
 * unsimplified programs (spec/support/raw.ts: deriveModel with simplification off, the same
 * construction) and their simplification, and every single rewrite the engine performs is checked on
 * its own: the node a rule replaced and its replacement must have the same value.
 */
import { test, type TestContext } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { deriveModel } from "../../compiler/diff/programs.ts";
import type { Tensor } from "../../compiler/ir/tensor.ts";
import { RULE_SETS, type Rule } from "../../compiler/simplify/rules.ts";
import { simplify } from "../../compiler/simplify/simplify.ts";
import {
  caseArbitrary,
  kinkArguments,
  kinkMargin,
  largestIntermediate,
  valueTable,
  type Case,
} from "../support/cases.ts";
import { bindingsOf, describeCase } from "../support/points.ts";
import { rawPrograms } from "../support/raw.ts";
import { propertyRuns } from "../support/runs.ts";
import { topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

const ALL_RULES: readonly Rule[] = Object.values(RULE_SETS).flat();

// Tolerance. A rewrite changes how a value is rounded, never what it is: (a+b)·x for a·x + b·x,
// (1/c)·x for x/c, (c·A + d·B)@x for c·(A@x) + d·(B@x). Each computed value is within K·ε·M of
// the exact one, M the largest intermediate value in its graph (cancellation can leave a result
// far below its intermediates), K the number of roundings along the way, a few hundred at most
// in these graphs, so the two sides agree to 1e-12·M (K ≤ 4500 allowed; the worst seen in 1000
// cases was 9e-16·M). Points are those of the derivative properties: intermediates of f at most
// 1e3, at least 1e-3 from any kink.
const RTOL = 1e-12;
const MODERATE = 1e3;

function close(a: Tensor, b: Tensor, scale: number): boolean {
  return a.data.every((v, i) => Math.abs(v - nth(b.data, i)) <= RTOL * scale);
}

/** Rules that record each rewrite they perform: (the node, its replacement, the rule). */
function recordingRules(log: { before: Node; after: Node; rule: string }[]): Rule[] {
  return ALL_RULES.map((rule) => ({
    ...rule,
    rewrite: (node, inputs, g) => {
      const after = rule.rewrite(node, inputs, g);
      if (after !== undefined && after !== node) log.push({ before: node, after, rule: rule.identity });
      return after;
    },
  }));
}

interface Coverage {
  fired: Map<string, number>;
  rewrites: number;
}

function checkCase(c: Case, kinked: boolean, coverage: Coverage): void {
  const raw = rawPrograms(c.model.checked);
  const bindings = bindingsOf(c.point);
  fc.pre(largestIntermediate([raw.f], bindings) <= MODERATE);
  if (kinked) fc.pre(kinkMargin(kinkArguments([raw.f]), bindings) > 1e-3);
  const g = raw.graph;

  const log: { before: Node; after: Node; rule: string }[] = [];
  const simplified = simplify(g, raw.roots, recordingRules(log));

  // Idempotent: simplifying again returns the very same nodes (a fixed point, not just an
  // equal value), with the default rules and with each rule set.
  assert.deepEqual(
    simplify(g, simplified).map((n) => n.id),
    simplified.map((n) => n.id),
    "simplify(simplify(x)) differs from simplify(x)",
  );

  // Values are preserved, root by root (one interpretation of everything involved).
  const names = ["f", "jvp", "quad", ...raw.grad.map((_, i) => `grad${i}`), ...raw.hvp.map((_, i) => `hvp${i}`)];
  const table = valueTable([...raw.roots, ...simplified, ...log.flatMap((x) => [x.before, x.after])], bindings);
  const same = (before: Node, after: Node, what: () => string) => {
    const scale = Math.max(table.largest(before), table.largest(after));
    const x = table.value(before);
    const y = table.value(after);
    // A shared value may have become per-example-free (x − x = 0): compare example by example.
    const perExample = (values: Tensor[], j: number) => nth(values, Math.min(j, values.length - 1));
    for (let j = 0; j < Math.max(x.length, y.length); j++) {
      assert.ok(
        close(perExample(x, j), perExample(y, j), scale),
        `${what()}, example ${j}: ${Array.from(perExample(x, j).data)} before, ${Array.from(perExample(y, j).data)} after\n${describeCase(c.model.source, c.point)}`,
      );
    }
  };
  raw.roots.forEach((root, r) => same(root, nth(simplified, r), () => `${names[r]} after simplifying`));

  // Every single rewrite is sound on its own.
  for (const x of log) same(x.before, x.after, () => `rule \`${x.rule}\` changed a value`);
  coverage.rewrites += log.length;
  for (const x of log) coverage.fired.set(x.rule, (coverage.fired.get(x.rule) ?? 0) + 1);

  // The programs compose: deriveModel's (simplified) programs are fixed points too.
  const program = deriveModel(c.model.checked);
  const derived = [
    program.f,
    program.jvp,
    program.quad,
    program.fLin,
    program.fQuad,
    ...Object.values(program.grad),
    ...Object.values(program.hvp),
  ];
  assert.deepEqual(
    simplify(program.graph, derived).map((n) => n.id),
    derived.map((n) => n.id),
  );
}

function reportCoverage(t: TestContext, coverage: Coverage): void {
  const unfired = ALL_RULES.filter((r) => !coverage.fired.has(r.identity)).map((r) => r.identity);
  t.diagnostic(
    `${coverage.rewrites} rewrites by ${coverage.fired.size} of ${ALL_RULES.length} rules; never fired here: ${unfired.join(" | ")}`,
  );
}

test("6. simplifying preserves values, rewrite by rewrite, and is idempotent (smooth programs)", (t) => {
  const coverage: Coverage = { fired: new Map(), rewrites: 0 };
  fc.assert(
    fc.property(caseArbitrary(), (c) => checkCase(c, false, coverage)),
    { numRuns: propertyRuns(200), includeErrorInReport: true },
  );
  reportCoverage(t, coverage);
  // The generated programs exercise most of the rules (the rest have examples in rules.test.ts).
  assert.ok(coverage.fired.size >= ALL_RULES.length / 2, `only ${coverage.fired.size} rules fired`);
});

test("6. simplifying preserves values, rewrite by rewrite, and is idempotent (relu, abs, leaky_relu away from kinks)", (t) => {
  const coverage: Coverage = { fired: new Map(), rewrites: 0 };
  fc.assert(
    fc.property(caseArbitrary({ kinks: true }), (c) => checkCase(c, true, coverage)),
    { numRuns: propertyRuns(100), includeErrorInReport: true },
  );
  reportCoverage(t, coverage);
});

test("simplification terminates and folds long sums: a + (a + (… + a)) with 60 terms is 60·a", async () => {
  const { Graph } = await import("../../compiler/ir/graph.ts");
  const g = new Graph();
  const a = g.leaf("param", "a", [3]);
  let sum: Node = a;
  for (let i = 1; i < 60; i++) sum = g.add(a, sum);
  const [result] = simplify(g, [sum]);
  assert.equal(present(result).op, "mul");
  assert.equal(nth(present(result).inputs, 0).attrs.value, 60);
  assert.equal(present(result).inputs[1], a);
  assert.ok(topologicalOrder([present(result)]).length === 3);
});
