/**
 * Lowering (typed AST → IR) and printing (IR → math-like text). Every built-in function lowers
 * to the IR it is documented to (swish = x·sigmoid(x), mean = sum/n, norm = sqrt(sum(square))),
 * and evaluates to its scalar definition; lets and repeated subexpressions are one node.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { BUILTINS } from "../../compiler/check/builtins.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpret.ts";
import { lowerModel } from "../../compiler/ir/lower.ts";
import { printGraph } from "../../compiler/ir/print.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import { functionRow, isFunction, SCALAR_FUNCTIONS } from "../../compiler/math.ts";
import { topologicalOrder } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

const X = [0.7, -1.3, 2.1];

function lower(output: string, extra = "") {
  const source = `model m {\n  dim n = 3\n  input x: [n]\n  param w: [n] ~ normal(0, 1)\n${extra}  output ${output}\n}\n`;
  const model = loadModel(source).model;
  const g = new Graph();
  const root = lowerModel(model, g);
  const value = interpret([root], {
    n: 1,
    params: { w: tensor([3], [0.5, 0.25, -2]) },
    fixed: {},
    inputs: { x: [tensor([3], X)] },
    tangents: {},
    cotangent: [],
  })[0] as readonly Tensor[];
  return { g, root, value: Array.from(nth(value, 0).data) };
}

const close = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((v, i) => Math.abs(v - nth(b, i)) <= 1e-14 * (1 + Math.abs(nth(b, i))));

test("every elementwise built-in evaluates to its scalar definition", () => {
  for (const fn of ["relu", "tanh", "sigmoid", "softplus", "swish", "exp", "sin", "cos", "square", "abs"] as const) {
    const { value } = lower(`${fn}(x)`);
    assert.ok(close(value, X.map(SCALAR_FUNCTIONS[fn])), `${fn}: ${value}`);
  }
  for (const fn of ["log", "sqrt"] as const) {
    const { value } = lower(`${fn}(x * x + 1)`);
    assert.ok(
      close(
        value,
        X.map((v) => SCALAR_FUNCTIONS[fn](v * v + 1)),
      ),
      fn,
    );
  }
  const { value: leaky } = lower("leaky_relu(x, 0.2)");
  assert.ok(
    close(
      leaky,
      X.map((v) => (v > 0 ? v : 0.2 * v)),
    ),
  );
});

test("the reductions and products evaluate to their definitions", () => {
  const w = [0.5, 0.25, -2];
  const sum = X.reduce((a, b) => a + b, 0);
  assert.ok(close(lower("sum(x)").value, [sum]));
  assert.ok(close(lower("mean(x)").value, [sum / 3]));
  assert.ok(close(lower("norm(x)").value, [Math.hypot(...X)]));
  assert.ok(close(lower("dot(w, x)").value, [X.reduce((s, v, i) => s + v * nth(w, i), 0)]));
  assert.ok(
    close(
      lower("outer(w, x) @ x").value,
      w.map((wi) => wi * X.reduce((s, v) => s + v * v, 0)),
    ),
  );
  assert.ok(
    close(
      lower("transpose(outer(w, x)) @ w").value,
      X.map((xi) => xi * w.reduce((s, v) => s + v * v, 0)),
    ),
  );
  assert.ok(
    close(
      lower("x ^ 3 - x / 2 + -x * 4").value,
      X.map((v) => v ** 3 - v / 2 + -v * 4),
    ),
  );
});

test("built-ins lower to their documented IR", () => {
  const ops = (text: string) => topologicalOrder([lower(text).root]).map((n) => n.op);
  assert.deepEqual(ops("swish(x)"), ["input", "sigmoid", "mul"]);
  assert.deepEqual(ops("mean(x)").sort(), ["const", "input", "mul", "sum"].sort());
  assert.deepEqual(ops("norm(x)"), ["input", "square", "sum", "sqrt"]);
  assert.deepEqual(ops("dot(w, x)"), ["param", "input", "matmul"]);
  const { root } = lower("leaky_relu(x, 0.2)");
  assert.equal(root.op, "leaky_relu");
  assert.equal(root.attrs.slope, 0.2);
  const power = lower("x ^ 3").root;
  assert.equal(power.op, "pow");
  assert.equal(power.attrs.exponent, 3);
});

test("every built-in of the checker has a lowering (one row per built-in above or here)", () => {
  const special: Record<string, string> = {
    leaky_relu: "leaky_relu(x, 0.1)",
    dot: "dot(w, x)",
    outer: "outer(w, x) @ x",
    transpose: "transpose(outer(w, x)) @ x",
  };
  // A function defined for positive arguments only (log, sqrt) gets one.
  const argument = (fn: string) => (isFunction(fn) && functionRow(fn).domain === "positive" ? "x * x + 1" : "x");
  for (const fn of Object.keys(BUILTINS)) {
    const { value } = lower(special[fn] ?? `${fn}(${argument(fn)})`);
    assert.ok(value.length > 0 && value.every(Number.isFinite), fn);
  }
});

test("a let used twice and a repeated subexpression are one node each; dims are constants", () => {
  const { root } = lower("h * h + sin(w * x) * sin(w * x)", "  let h = tanh(w * x)\n");
  const order = topologicalOrder([root]);
  assert.equal(order.filter((n) => n.op === "tanh").length, 1);
  assert.equal(order.filter((n) => n.op === "sin").length, 1);
  assert.equal(order.filter((n) => n.op === "mul" && n.inputs.some((i) => i.op === "param")).length, 1, "w * x once");
  const { value } = lower("x / n");
  assert.ok(
    close(
      value,
      X.map((v) => v / 3),
    ),
  );
});

test("printing: parentheses only where precedence needs them; shared subexpressions become lets", () => {
  const g = new Graph();
  const [a, b, c] = ["a", "b", "c"].map((n) => g.leaf("param", n, []));
  const text = (node: ReturnType<Graph["add"]>) => nth(printGraph([{ name: "y", node }]).results, 0);
  assert.equal(text(g.mul(g.add(present(a), present(b)), present(c))), "y = (a + b) * c");
  assert.equal(text(g.add(present(a), g.mul(present(b), present(c)))), "y = a + b * c");
  assert.equal(text(g.sub(present(a), g.sub(present(b), present(c)))), "y = a - (b - c)");
  assert.equal(text(g.sub(g.sub(present(a), present(b)), present(c))), "y = a - b - c");
  assert.equal(text(g.div(present(a), g.mul(present(b), present(c)))), "y = a / (b * c)");
  assert.equal(text(g.neg(g.add(present(a), present(b)))), "y = -(a + b)");
  assert.equal(text(g.unary("pow", g.add(present(a), present(b)), { exponent: 2 })), "y = (a + b)^2");
  assert.equal(text(g.unary("pow", present(a), { exponent: -1 })), "y = a^(-1)");
  assert.equal(text(g.leaf("tangent", "u", [])), "y = Δu");
  const shared = g.unary("tanh", g.add(present(a), present(b)));
  const printed = printGraph([{ name: "y", node: g.mul(shared, shared) }]);
  assert.deepEqual(printed.lets, ["let t1 = tanh(a + b)"]);
  assert.deepEqual(printed.results, ["y = t1 * t1"]);
});
