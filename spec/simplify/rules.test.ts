/**
 * The rule table, rule by rule: every rule of RULE_SETS has an example here that it rewrites
 * when applied alone, and the rewrite preserves the example's value (a test fails when a rule
 * lacks an example, so adding a rule means adding one line below). Then the engine as a whole:
 * zero propagation prunes, canonical forms, idempotence, dead code.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { Graph } from "../../compiler/ir/graph.ts";
import { interpret, type Bindings } from "../../compiler/ir/interpret.ts";
import { tensor } from "../../compiler/ir/tensor.ts";
import { RULE_SETS, type Rule } from "../../compiler/simplify/rules.ts";
import { simplify } from "../../compiler/simplify/simplify.ts";
import { perExample } from "../support/points.ts";
import { topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

interface Leaves {
  readonly g: Graph;
  /** Params of shape [3]. */
  readonly a: Node;
  readonly b: Node;
  readonly e: Node;
  /** Scalar params. */
  readonly s: Node;
  readonly t: Node;
  /** Params of shape [2, 3] and [2]. */
  readonly A: Node;
  readonly B: Node;
  readonly v: Node;
  /** Inputs of shape [3] (per example). */
  readonly x: Node;
  readonly y: Node;
  readonly c: (value: number, shape?: readonly number[]) => Node;
}

function leaves(): Leaves {
  const g = new Graph();
  return {
    g,
    a: g.leaf("param", "a", [3]),
    b: g.leaf("param", "b", [3]),
    e: g.leaf("param", "e", [3]),
    s: g.leaf("param", "s", []),
    t: g.leaf("param", "t", []),
    A: g.leaf("param", "A", [2, 3]),
    B: g.leaf("param", "B", [2, 3]),
    v: g.leaf("param", "v", [2]),
    x: g.leaf("input", "x", [3]),
    y: g.leaf("input", "y", [3]),
    c: (value, shape = []) => g.constant(value, shape),
  };
}

const BINDINGS: Bindings = {
  n: 2,
  params: {
    a: tensor([3], [0.3, -1.2, 0.8]),
    b: tensor([3], [1.1, 0.4, -0.7]),
    e: tensor([3], [-0.5, 0.9, 1.3]),
    s: tensor([], [0.6]),
    t: tensor([], [-1.4]),
    A: tensor([2, 3], [0.2, -0.3, 1.0, 0.7, 0.5, -0.9]),
    B: tensor([2, 3], [-1.1, 0.4, 0.3, 0.8, -0.6, 0.2]),
    v: tensor([2], [0.9, -0.4]),
  },
  fixed: {},
  inputs: {
    x: [tensor([3], [0.5, 1.5, -0.2]), tensor([3], [-1.0, 0.1, 0.7])],
    y: [tensor([3], [1.2, -0.3, 0.4]), tensor([3], [0.0, 0.8, -1.5])],
  },
  tangents: {},
  cotangent: [],
};

/** One example per rule identity: a node the rule rewrites when it is the only rule. */
const EXAMPLES: Record<string, (l: Leaves) => Node> = {
  "f(c1, …, ck) -> c  for constant inputs": ({ g, c }) => g.add(c(2), c(3)),
  "0*x -> 0": ({ g, a, c }) => g.mul(c(0), a),
  "x*0 -> 0": ({ g, a, c }) => g.mul(a, c(0)),
  "0/x -> 0": ({ g, a, c }) => g.div(c(0), a),
  "0+x -> x": ({ g, a, c }) => g.add(c(0), a),
  "x+0 -> x": ({ g, a, c }) => g.add(a, c(0, [3])),
  "x-0 -> x": ({ g, a, c }) => g.sub(a, c(0)),
  "0-x -> -x": ({ g, s, c }) => g.sub(c(0, [3]), s),
  "0@x -> 0, x@0 -> 0": ({ g, a, c }) => g.matmul(c(0, [2, 3]), a),
  "outer(0,x) -> 0, outer(x,0) -> 0": ({ g, a, c }) => g.outer(a, c(0, [2])),
  "1*x -> x": ({ g, s, c }) => g.mul(c(1), s),
  "x*1 -> x": ({ g, s, c }) => g.mul(s, c(1, [3])),
  "x/1 -> x": ({ g, a, c }) => g.div(a, c(1)),
  "x^1 -> x": ({ g, a }) => g.unary("pow", a, { exponent: 1 }),
  "x^0 -> 1": ({ g, a }) => g.unary("pow", a, { exponent: 0 }),
  "x^2 -> square(x)": ({ g, a }) => g.unary("pow", a, { exponent: 2 }),
  "x^0.5 -> sqrt(x)": ({ g, A }) => g.unary("pow", g.unary("exp", A), { exponent: 0.5 }),
  "Σ c_k t_k: merge equal terms; c·(A@x) + d·(B@x) -> (c·A + d·B)@x, likewise outer and *; c·Σⱼ a + d·Σⱼ b -> Σⱼ (c·a + d·b)":
    ({ g, A, B, x, c }) => g.add(g.mul(c(2), g.matmul(A, x)), g.neg(g.matmul(B, x))),
  "the same for a sum whose root is a difference": ({ g, a, b }) => g.sub(g.add(a, b), a),
  "--x -> x": ({ g, a }) => g.neg(g.neg(a)),
  "x + -y -> x - y": ({ g, a, b }) => g.add(a, g.neg(b)),
  "-x + y -> y - x": ({ g, a, b }) => g.add(g.neg(a), b),
  "x - -y -> x + y": ({ g, a, b }) => g.sub(a, g.neg(b)),
  "-x - y -> -(x + y)": ({ g, a, b }) => g.sub(g.neg(a), b),
  "x*c -> c*x  (scalar constants first)": ({ g, a, c }) => g.mul(a, c(3)),
  "a*(b*x) -> (a*b)*x": ({ g, a, c }) => g.mul(c(2), g.mul(c(-3), a)),
  "x/c -> (1/c)*x": ({ g, a, c }) => g.div(a, c(4)),
  "(c*x)/y -> c*(x/y)": ({ g, a, b, c }) => g.div(g.mul(c(2), a), b),
  "-x * y -> -(x*y)": ({ g, a, b }) => g.mul(g.neg(a), b),
  "x * -y -> -(x*y)": ({ g, a, s }) => g.mul(a, g.neg(s)),
  "-x / y -> -(x/y)": ({ g, a, b }) => g.div(g.neg(a), b),
  "c*-x -> (-c)*x": ({ g, a, c }) => g.neg(g.mul(c(2.5), a)),
  "-(x) @ y -> -(x @ y), x @ -(y) -> -(x @ y)": ({ g, A, a }) => g.matmul(A, g.neg(a)),
  "(c*x) @ y -> c*(x @ y), x @ (c*y) -> c*(x @ y)": ({ g, A, a, c }) => g.matmul(g.mul(c(2), A), a),
  "outer(c*x, y) -> c*outer(x, y), outer(x, c*y) -> c*outer(x, y)": ({ g, a, v, c }) => g.outer(v, g.mul(c(-2), a)),
  "L(c*x) -> c*L(x), L(-x) -> -L(x)  for linear L in sum, Σⱼ, transpose": ({ g, x, c }) => g.bsum(g.mul(c(3), x)),
  "a ⊙ b -> b ⊙ a  when b is older (commutative ops, dot)": ({ g, a, b }) => g.matmul(b, a),
  "transpose(transpose(x)) -> x": ({ g, A }) => g.transpose(g.transpose(A)),
  "step(x)*step(x) -> step(x)": ({ g, a }) => g.mul(g.unary("step", a), g.unary("step", a)),
  "step(x)*relu(x) -> relu(x)": ({ g, a }) => g.mul(g.unary("step", a), g.unary("relu", a)),
  "relu(x)*step(x) -> relu(x)": ({ g, a }) => g.mul(g.unary("relu", a), g.unary("step", a)),
};

const ALL_RULES: readonly Rule[] = Object.values(RULE_SETS).flat();

function value(node: Node) {
  return perExample(nth(interpret([node], BINDINGS), 0), BINDINGS.n).map((t) => Array.from(t.data));
}

/** Equal to 1e-14 relative to the largest entry: a rewrite only changes rounding (one or two operations here). */
function assertSameValue(before: Node, after: Node, what: string): void {
  const x = value(before);
  const y = value(after);
  const scale = x.flat().reduce((m, v) => Math.max(m, Math.abs(v)), 1);
  x.forEach((row, j) =>
    row.forEach((v, i) =>
      assert.ok(Math.abs(v - nth(nth(y, j), i)) <= 1e-14 * scale, `${what}: ${x} before, ${y} after`),
    ),
  );
}

test("every rule has an example, and every example names a rule", () => {
  const identities = ALL_RULES.map((r) => r.identity);
  assert.equal(new Set(identities).size, identities.length, "two rules share an identity");
  for (const id of identities)
    assert.ok(Object.hasOwn(EXAMPLES, id), `rule \`${id}\` has no example in spec/simplify/rules.test.ts`);
  for (const id of Object.keys(EXAMPLES))
    assert.ok(identities.includes(id), `example for \`${id}\`, which is not a rule`);
});

for (const rule of ALL_RULES) {
  const example = EXAMPLES[rule.identity];
  if (example === undefined) continue; // reported by the coverage test above
  test(`rule \`${rule.identity}\`: rewrites its example alone and keeps its value`, () => {
    const l = leaves();
    const node = example(l);
    const [once] = simplify(l.g, [node], [rule]);
    assert.notEqual(once, node, "the rule did not fire");
    assertSameValue(node, present(once), "the rule alone");
    assert.deepEqual(present(once).shape, node.shape);
    // A shared value stays shared (a per-example value may become a shared constant: x − x = 0).
    if (!node.batched) assert.equal(present(once).batched, false);
    // With every rule: the same value, and a fixed point.
    const [all] = simplify(l.g, [node]);
    assertSameValue(node, present(all), "all rules");
    assert.equal(simplify(l.g, [present(all)])[0], all);
  });
}

test("the engine folds Σⱼ 0 while rebuilding: Σⱼ (x·0) becomes a shared zero", () => {
  const { g, x, c } = leaves();
  const [folded] = simplify(g, [g.bsum(g.mul(x, c(0)))]);
  assert.equal(present(folded).op, "const");
  assert.equal(present(folded).attrs.value, 0);
  assert.equal(present(folded).batched, false);
  assert.deepEqual(present(folded).shape, [3]);
});

test("zero propagation prunes whole subgraphs: (exp(a)·sin(b) + A@x)·0 + s is s", () => {
  const { g, a, b, A, x, s, c } = leaves();
  const big = g.add(
    g.mul(g.unary("exp", a), g.unary("sin", b)),
    g.matmul(g.transpose(A), g.unary("tanh", g.matmul(A, x))),
  );
  const [result] = simplify(g, [g.add(g.mul(big, c(0)), s)]);
  // s broadcast to the sum's shape [3]; nothing of `big` survives.
  assert.equal(present(result).op, "broadcast");
  assert.equal(present(result).inputs[0], s);
  assert.ok(topologicalOrder([present(result)]).every((n) => n.op !== "exp" && n.op !== "matmul"));
});

test("constant folding reaches through a whole constant expression", () => {
  const { g, c } = leaves();
  const expr = g.div(g.unary("sqrt", g.add(c(3, [2]), c(1))), g.unary("exp", g.mul(c(0), c(5))));
  const [folded] = simplify(g, [expr]);
  assert.equal(present(folded).op, "const");
  assert.equal(present(folded).attrs.value, 2);
  assert.deepEqual(present(folded).shape, [2]);
});

test("constants that would be non-finite are not folded (log 0 stays log 0)", () => {
  const { g, c } = leaves();
  const [result] = simplify(g, [g.unary("log", c(0))]);
  assert.equal(present(result).op, "log");
});

test("commutative operands are put in one canonical order, so a·b and b·a become one node", () => {
  const { g, a, b } = leaves();
  const [ab, ba] = simplify(g, [g.mul(a, b), g.mul(b, a)]);
  assert.equal(ab, ba);
  const [dotAb, dotBa] = simplify(g, [g.matmul(a, b), g.matmul(b, a)]);
  assert.equal(dotAb, dotBa);
});

test("dead code disappears: only what the roots reach remains", () => {
  const { g, a, b, c } = leaves();
  const unused = g.unary("exp", g.add(a, b)); // built, never used by the root
  const root = g.add(g.mul(c(1), a), g.mul(unused, c(0)));
  const [result] = simplify(g, [root]);
  assert.equal(result, a);
  assert.ok(!topologicalOrder([present(result)]).includes(unused));
});

test("the simplifier is deterministic: the same input graph gives structurally the same output in a fresh graph", () => {
  const build = () => {
    const l = leaves();
    const { g, a, b, A, x, c } = l;
    const expr = g.add(g.mul(c(2), g.matmul(A, g.mul(a, x))), g.neg(g.matmul(A, g.mul(x, b))));
    return topologicalOrder(simplify(g, [expr])).map(
      (n) => `${n.op}(${n.inputs.map((i) => i.id).join(",")})${n.attrs.name ?? n.attrs.value ?? ""}`,
    );
  };
  assert.deepEqual(build(), build());
});
