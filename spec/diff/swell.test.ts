/**
 * Expression-swell guard: the derivative graphs stay linear in the size of the forward graph.
 * Symbolic differentiation without sharing grows exponentially with depth (every level repeats
 * the derivative of the levels below); with hash-consing and tangents/adjoints built once per
 * node it is linear. Node counts are of the simplified programs (reachable nodes).
 *
 * The bounds, per forward node: the jvp adds for each node its tangent, built from at most two
 * products and a sum per input (product rule), and the gradient one contribution and one
 * accumulation per edge: at most C = 4 each. The second-order programs apply the jvp once more
 * (forward over forward for ΔᵀHΔ, forward over reverse for the hvp), to graphs 3–4 times the
 * forward size: C = 8 for quad, C = 12 for the hvp, and C = 16 for all four derivative programs
 * together (they share nodes). The largest measured increments, per forward node added, are
 * 3.5 (jvp, grad), 8 (quad), 10.5 (hvp) and 15 (all), for the sin(x)·x tower.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { rawPrograms } from "../support/raw.ts";
import { topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth } from "../support/entries.ts";

const BOUNDS = { jvp: 4, grad: 4, quad: 8, hvp: 12, all: 16 } as const;
type Measure = keyof typeof BOUNDS | "f";

const count = (nodes: readonly Node[]) => topologicalOrder(nodes).length;

function measure(source: string): Record<Measure, number> {
  const p = deriveModel(loadModel(source).model);
  const grad = Object.values(p.grad);
  const hvp = Object.values(p.hvp);
  return {
    f: count([p.f]),
    jvp: count([p.jvp]),
    grad: count(grad),
    quad: count([p.quad]),
    hvp: count(hvp),
    all: count([p.jvp, p.quad, ...grad, ...hvp]),
  };
}

/** A k-layer network with the given activation: v·σ(U_k … σ(U_1 x / √d) / √m) / √m. */
function network(k: number, activation: string): string {
  const lines = ["model chain {", "  dim d = 3", "  dim m = 4", "  input x: [d]", "  param u1: [m, d] ~ normal(0, 1)"];
  for (let i = 2; i <= k; i++) lines.push(`  param u${i}: [m, m] ~ normal(0, 1)`);
  lines.push("  param v: [m] ~ normal(0, 1)", `  let h1 = ${activation}(u1 @ x / sqrt(d))`);
  for (let i = 2; i <= k; i++) lines.push(`  let h${i} = ${activation}(u${i} @ h${i - 1} / sqrt(m))`);
  lines.push(`  output dot(v, h${k}) / sqrt(m)`, "}");
  return lines.join("\n");
}

/** A tower of k nested applications of `step` (X is the level below) on w ⊙ x. */
function tower(k: number, step: string): string {
  const lines = ["model tower {", "  input x: [2]", "  param w: [2] ~ normal(0, 1)", "  let h1 = w * x"];
  for (let i = 2; i <= k; i++) lines.push(`  let h${i} = ${step.replace(/X/g, `h${i - 1}`)}`);
  lines.push(`  output sum(h${k})`, "}");
  return lines.join("\n");
}

function checkBounds(label: string, m: Record<Measure, number>): void {
  for (const key of Object.keys(BOUNDS) as (keyof typeof BOUNDS)[]) {
    assert.ok(
      m[key] <= BOUNDS[key] * m.f,
      `${label}: ${key} has ${m[key]} nodes, more than ${BOUNDS[key]} × ${m.f} forward nodes`,
    );
  }
}

test("three_layer_relu: every derivative program is at most C × the forward graph", () => {
  const source = readFileSync(join(import.meta.dirname, "../../examples/three_layer_relu.nqm"), "utf8");
  checkBounds("three_layer_relu", measure(source));
});

const FAMILIES: readonly [string, (k: number) => string][] = [
  ["tanh network", (k) => network(k, "tanh")],
  ["swish network", (k) => network(k, "swish")],
  ["relu network", (k) => network(k, "relu")],
  ["x·x tower", (k) => tower(k, "X * X")],
  ["sin(x)·x tower", (k) => tower(k, "sin(X) * X")],
  ["x/(1+x²) tower", (k) => tower(k, "X / (1 + square(X))")],
];

for (const [label, make] of FAMILIES) {
  test(`${label}, depth 2..7: derivative graphs grow linearly, by at most C nodes per forward node`, () => {
    const rows = [2, 3, 4, 5, 6, 7].map((k) => ({ k, m: measure(make(k)) }));
    for (const { k, m } of rows) checkBounds(`${label} k=${k}`, m);
    // From depth 3 on every layer looks the same (the first ones may simplify differently).
    const uniform = rows.slice(1);
    for (const key of ["f", ...Object.keys(BOUNDS)] as Measure[]) {
      // Linear: each added layer adds the same number of nodes (no term grows with depth).
      const increments = uniform.slice(1).map((row, i) => row.m[key] - nth(uniform, i).m[key]);
      assert.ok(
        increments.every((d) => d === increments[0]),
        `${label}: ${key} grows by ${increments.join(", ")} nodes per layer (${uniform.map((r) => r.m[key]).join(", ")}): not linear`,
      );
      // ... and the ratio to the forward graph tends to increment/forward increment ≤ C: it does not grow without bound.
      if (key !== "f")
        assert.ok(
          nth(increments, 0) <= BOUNDS[key] * (nth(uniform, 1).m.f - nth(uniform, 0).m.f),
          `${label}: ${key} adds ${increments[0]} nodes per layer`,
        );
    }
  });
}

test("without simplification the derivative graphs are linear too (sharing, not the simplifier, prevents swell)", () => {
  const sizes = [2, 4, 6, 8].map((k) => {
    const raw = rawPrograms(loadModel(tower(k, "sin(X) * X")).model);
    return { f: count([raw.f]), all: count(raw.roots) };
  });
  const increments = sizes.slice(1).map((s, i) => s.all - nth(sizes, i).all);
  assert.ok(
    increments.every((d) => d === increments[0]),
    `raw sizes ${sizes.map((s) => s.all).join(", ")}`,
  );
  for (const s of sizes) assert.ok(s.all <= 2 * BOUNDS.all * s.f);
});
