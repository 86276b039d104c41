/**
 * compiler/ir/print.ts and constant-names.ts: `a + -b` prints as `a - b`, and constants folded
 * from dims and consts print as the expressions they came from (`nqm derive`).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { loadModel } from "../../compiler/frontend.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { deriveView } from "../../compiler/diff/views.ts";
import { Graph } from "../../compiler/ir/graph.ts";
import { constantNamer } from "../../compiler/ir/constant-names.ts";
import { printGraph, type PrintOptions } from "../../compiler/ir/print.ts";
import type { Node } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");

function leaves(g: Graph): [Node, Node, Node] {
  const [a, b, c] = ["a", "b", "c"].map((n) => g.leaf("param", n, []));
  return [present(a), present(b), present(c)];
}

const text = (node: Node, options?: PrintOptions) => nth(printGraph([{ name: "y", node }], options).results, 0);

test("a + -b prints as a - b, and a - -b as a + b, for every negated right operand", () => {
  const g = new Graph();
  const [a, b, c] = leaves(g);
  assert.equal(text(g.add(a, g.neg(b))), "y = a - b");
  assert.equal(text(g.add(a, g.mul(g.constant(-0.5), b))), "y = a - 0.5 * b");
  assert.equal(text(g.add(a, g.mul(g.constant(-1), b))), "y = a - b");
  assert.equal(text(g.add(a, g.constant(-0.25))), "y = a - 0.25");
  assert.equal(text(g.add(a, g.mul(g.mul(g.constant(-2), b), c))), "y = a - 2 * b * c");
  assert.equal(text(g.add(a, g.div(g.constant(-3), b))), "y = a - 3 / b");
  assert.equal(text(g.sub(a, g.neg(b))), "y = a + b");
  assert.equal(text(g.sub(a, g.mul(g.constant(-0.5), b))), "y = a + 0.5 * b");
  // Grouped operands keep their parentheses.
  assert.equal(text(g.add(a, g.neg(g.add(b, c)))), "y = a - (b + c)");
  assert.equal(text(g.sub(a, g.sub(g.neg(b), c))), "y = a - (-b - c)");
  // A minus on the left is untouched.
  assert.equal(text(g.add(g.neg(a), b)), "y = -a + b");
});

/** A model with dims d = 3 and m = 5000 and consts g = 1e-3 and h = 4, whose expressions hold the literal 0.5. */
const MODEL = `model t {
  dim d = 3
  dim m = 5000
  const g = 1e-3
  const h = 4
  input x: [d]
  param w: [d] ~ normal(0, 1)
  output 0.5 * dot(w, x) / sqrt(m) + g * h * sum(x)
}`;

test("constantNamer: dims and consts to the powers ±½ and ±1, one or two of them, scaled by 2, 4, ½ or ¼", () => {
  const name = constantNamer(loadModel(MODEL).model);
  const form = (value: number) => name(value)?.text;
  assert.equal(form(1 / Math.sqrt(5000)), "1 / sqrt(m)");
  assert.equal(name(1 / Math.sqrt(5000))?.divisor, "sqrt(m)");
  assert.equal(form(-1 / Math.sqrt(5000)), "-1 / sqrt(m)");
  assert.equal(form(Math.sqrt(5000)), "sqrt(m)");
  assert.equal(form(1e-3), "g");
  assert.equal(form(-1e-3), "-g");
  assert.equal(form(2 / Math.sqrt(5000)), "2 / sqrt(m)");
  assert.equal(form(5e-4), "0.5 * g");
  assert.equal(form(0.25), "1 / h");
  assert.equal(form(1 / Math.sqrt(3 * 5000)), "1 / sqrt(d * m)");
  assert.equal(form(1 / (3 * Math.sqrt(5000))), "1 / (d * sqrt(m))");
  assert.equal(form(Math.sqrt(3) / 5000), "sqrt(d) / m");
  // As folding rounds it: one rounding per operation still matches.
  assert.equal(form((1 / Math.sqrt(3)) * (1 / Math.sqrt(5000))), "1 / sqrt(d * m)");
});

test("constantNamer keeps numbers: integers, ±1, the model's literals, unmatched values and ambiguous ones", () => {
  const name = constantNamer(loadModel(MODEL).model);
  assert.equal(name(3), undefined, "an integer (d itself) prints exactly as a number");
  assert.equal(name(5000), undefined);
  assert.equal(name(1), undefined);
  assert.equal(name(-1), undefined);
  assert.equal(name(0.5), undefined, "1/sqrt(h) = 0.5, but 0.5 is written in the model");
  assert.equal(name(0.0123456), undefined);
  assert.equal(name(Number.NaN), undefined);
  const twins = constantNamer(
    loadModel("model t { dim a = 3\n dim b = 3\n input x: [a]\n param w: [b] ~ normal(0, 1)\n output dot(w, x) }")
      .model,
  );
  assert.equal(twins(1 / Math.sqrt(3)), undefined, "1/√a or 1/√b: unknown which");
});

test("derive prints 1/sqrt(m) where the file wrote it, not its folded decimal, and no `+ -`", () => {
  for (const [example, expected] of [
    [
      "two_layer_relu",
      ["f = dot(v, relu(u @ x)) / sqrt(m)", "grad[v] = relu(t1) / sqrt(m)", "quad = 2 / sqrt(m) * t3"],
    ],
    ["two_layer_tanh", ["f = dot(v, tanh(u @ x)) / sqrt(m)"]],
    ["general_quadratic", ["quad = gamma * dot(Δw, sigma * Δw)"]],
  ] as const) {
    const { model } = loadModel(readFileSync(join(ROOT, "examples", `${example}.nqm`), "utf8"));
    const program = deriveModel(model);
    const constants = constantNamer(model);
    const printed = deriveView(program, "all")
      .flatMap((section) => {
        const p = printGraph(section.expressions, { constants });
        return [...p.lets, ...p.results];
      })
      .join("\n");
    for (const line of expected) assert.ok(printed.split("\n").includes(line), `${example}: ${line} in\n${printed}`);
    assert.doesNotMatch(printed, /\d\.\d{6}/, `${example}: no long decimals`);
    assert.doesNotMatch(printed, /\+ -/, `${example}: no \`+ -\``);
  }
});
