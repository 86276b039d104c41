/**
 * The IR's building blocks: hash-consing (equal subexpressions are one node), shape and batch
 * propagation, topological order, the interpreter's per-example semantics and batch sums,
 * substitution, and the tensor helpers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { Graph } from "../../compiler/ir/graph.ts";
import { interpret, type Bindings } from "../../compiler/ir/interpret.ts";
import { substitute } from "../../compiler/ir/substitute.ts";
import { filled, fromNested, tensor, toNested } from "../../compiler/ir/tensor.ts";
import { sameShape } from "../../foundation/shape.ts";
import { isConst, topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

function leaves() {
  const g = new Graph();
  return {
    g,
    a: g.leaf("param", "a", [3]),
    b: g.leaf("param", "b", [3]),
    M: g.leaf("param", "M", [2, 3]),
    x: g.leaf("input", "x", [3]),
    s: g.leaf("fixed", "s", []),
  };
}

const BINDINGS: Bindings = {
  n: 2,
  params: { a: tensor([3], [1, 2, 3]), b: tensor([3], [-1, 0.5, 2]), M: tensor([2, 3], [1, 0, -1, 2, 1, 0]) },
  fixed: { s: tensor([], [10]) },
  inputs: { x: [tensor([3], [1, 1, 1]), tensor([3], [0, 2, -1])] },
  tangents: {},
  cotangent: [],
};

test("hash-consing: building the same expression twice gives the same node", () => {
  const { g, a, b, M } = leaves();
  const build = () => g.matmul(M, g.add(g.mul(a, b), g.unary("tanh", a)));
  const size = g.size;
  const first = build();
  const afterFirst = g.size;
  assert.equal(build(), first);
  assert.equal(g.size, afterFirst, "no new nodes the second time");
  assert.ok(afterFirst > size);
  // Leaves and constants too; attributes are part of the identity.
  assert.equal(g.leaf("param", "a", [3]), a);
  assert.equal(g.constant(2, [3]), g.constant(2, [3]));
  assert.notEqual(g.constant(2, [3]), g.constant(2, []));
  assert.notEqual(g.constant(2), g.constant(3));
  assert.equal(g.constant(-0), g.constant(0), "-0 and 0 are one constant");
  assert.notEqual(g.unary("pow", a, { exponent: 2 }), g.unary("pow", a, { exponent: 3 }));
  assert.notEqual(g.unary("leaky_relu", a, { slope: 0.1 }), g.unary("leaky_relu", a, { slope: 0.2 }));
  // Operand order matters (a − b is not b − a).
  assert.notEqual(g.sub(a, b), g.sub(b, a));
});

test("ids: inputs always have smaller ids than their users", () => {
  const { g, a, b, M, x } = leaves();
  const root = g.sum(g.matmul(M, g.add(g.mul(x, a), g.unary("sin", b))));
  for (const node of topologicalOrder([root])) for (const input of node.inputs) assert.ok(input.id < node.id);
});

test("shapes: scalar broadcasting, matmul forms, outer, transpose, reductions; mismatches are internal errors", () => {
  const { g, a, M, s } = leaves();
  assert.deepEqual(g.add(s, a).shape, [3]);
  assert.deepEqual(g.mul(a, s).shape, [3]);
  assert.deepEqual(g.matmul(M, a).shape, [2]);
  assert.deepEqual(g.matmul(g.leaf("param", "v", [2]), M).shape, [3]);
  assert.deepEqual(g.matmul(M, g.transpose(M)).shape, [2, 2]);
  assert.deepEqual(g.matmul(a, a).shape, []);
  assert.deepEqual(g.outer(a, g.leaf("param", "v", [2])).shape, [3, 2]);
  assert.deepEqual(g.sum(M).shape, []);
  assert.deepEqual(g.broadcast(s, [2, 3]).shape, [2, 3]);
  assert.equal(g.broadcast(a, [3]), a, "broadcast to the same shape is the node itself");
  assert.throws(() => g.add(a, M), /internal/);
  assert.throws(() => g.matmul(a, M), /internal/);
  assert.throws(() => g.make("add", [a]), /internal: add takes 2 inputs/);
});

test("batched: a node varies per example when an input or the cotangent does; bsum removes it; bsum needs it", () => {
  const { g, a, x, s } = leaves();
  assert.equal(a.batched, false);
  assert.equal(x.batched, true);
  assert.equal(g.leaf("cotangent", "c", []).batched, true);
  assert.equal(g.mul(a, s).batched, false);
  const perExample = g.mul(a, x);
  assert.equal(perExample.batched, true);
  assert.equal(g.bsum(perExample).batched, false);
  assert.throws(() => g.bsum(a), /does not vary per example/);
});

test("topologicalOrder: every reachable node once, inputs first; stop prunes below a node", () => {
  const { g, a, b, M } = leaves();
  const shared = g.mul(a, b);
  const root = g.add(g.sum(shared), g.sum(g.matmul(M, shared)));
  const order = topologicalOrder([root, shared]);
  assert.equal(new Set(order).size, order.length);
  const position = new Map(order.map((n, i) => [n, i]));
  for (const node of order)
    for (const input of node.inputs) assert.ok(present(position.get(input)) < present(position.get(node)));
  assert.ok(order.includes(M) && order.includes(a));
  const pruned = topologicalOrder([root], (n) => n === shared);
  assert.ok(pruned.includes(shared) && !pruned.includes(a));
});

test("topologicalOrder handles deep graphs without recursion limits", () => {
  const { g, a } = leaves();
  let node: Node = a;
  for (let i = 0; i < 20000; i++) node = g.unary("sin", node);
  assert.equal(topologicalOrder([node]).length, 20001);
});

test("interpret: shared values once, per-example values as one tensor per example, bsum sums them", () => {
  const { g, a, x, s, M } = leaves();
  const shared = g.mul(a, s);
  const perExample = g.mul(a, x);
  const summed = g.bsum(perExample);
  const mixed = g.matmul(M, perExample);
  const [sharedValue, perExampleValue, summedValue, mixedValue] = interpret(
    [shared, perExample, summed, mixed],
    BINDINGS,
  );
  assert.deepEqual(Array.from((sharedValue as { data: Float64Array }).data), [10, 20, 30]);
  assert.ok(Array.isArray(perExampleValue));
  const values = (perExampleValue as readonly { data: Float64Array }[]).map((t) => Array.from(t.data));
  assert.deepEqual(values, [
    [1, 2, 3],
    [0, 4, -3],
  ]);
  assert.deepEqual(Array.from((summedValue as { data: Float64Array }).data), [1, 6, 0]);
  assert.deepEqual(
    (mixedValue as readonly { data: Float64Array }[]).map((t) => Array.from(t.data)),
    [
      [-2, 4],
      [3, 4],
    ],
  );
});

test("interpret: an unbound leaf is an internal error naming it", () => {
  const { g, a } = leaves();
  assert.throws(() => interpret([g.add(a, g.leaf("param", "zz", [3]))], BINDINGS), /no value bound for param zz/);
  assert.throws(() => interpret([g.leaf("tangent", "a", [3])], BINDINGS), /no value bound for tangent a/);
});

test("substitute: replaces nodes, rebuilds their users, keeps what does not change", () => {
  const { g, a, b, M } = leaves();
  const untouched = g.unary("exp", b);
  const root = g.add(g.matmul(M, g.mul(a, untouched)), g.matmul(M, b));
  const zero = g.constant(0, [3]);
  const [replaced] = substitute(g, [root], (node) => (node === a ? zero : undefined));
  assert.notEqual(replaced, root);
  const order = topologicalOrder([present(replaced)]);
  assert.ok(order.includes(zero) && !order.includes(a));
  assert.ok(order.includes(untouched), "the unchanged subgraph is shared, not copied");
  assert.equal(substitute(g, [root], () => undefined)[0], root, "no replacement: the same root");
  // The replacement sees rebuilt inputs.
  const [doubled] = substitute(g, [g.sum(g.mul(a, b))], (node, inputs) =>
    node.op === "mul" ? g.add(nth(inputs, 0), nth(inputs, 1)) : undefined,
  );
  assert.equal(nth(present(doubled).inputs, 0).op, "add");
});

test("tensors: toNested and fromNested are inverse for every shape of rank ≤ 2", () => {
  fc.assert(
    fc.property(
      fc.constantFrom<readonly number[]>([], [1], [4], [2, 3], [3, 1]),
      fc.array(fc.double({ noNaN: true, noDefaultInfinity: true }), { minLength: 12, maxLength: 12 }),
      (shape, pool) => {
        const t = tensor(
          shape,
          pool.slice(
            0,
            shape.reduce((p, n) => p * n, 1),
          ),
        );
        const back = fromNested(JSON.parse(JSON.stringify(toNested(t))), shape);
        assert.ok(typeof back !== "string");
        // JSON loses the sign of zero; every other double comes back exactly.
        assert.deepEqual(
          Array.from(back.data, (v) => v + 0),
          Array.from(t.data, (v) => v + 0),
        );
      },
    ),
  );
});

test("tensors: fromNested explains what does not fit", () => {
  assert.match(fromNested([1, 2], [3]) as string, /has 2 entries, expected 3/);
  assert.match(fromNested([[1, 2], [3]], [2, 2]) as string, /\[1\] has 1 entries, expected 2/);
  assert.match(fromNested([1, "2", 3], [3]) as string, /\[1\] is "2", not a finite number/);
  assert.match(fromNested(1, [3]) as string, /should be an array of 3/);
  assert.match(fromNested([1, null, 3], [3]) as string, /not a finite number/);
  assert.throws(() => tensor([2], [1, 2, 3]), /shape \[2\] given 3 values/);
  assert.deepEqual(Array.from(filled([2, 2], 7).data), [7, 7, 7, 7]);
});

test("isConst and sameShape", () => {
  const { g, a } = leaves();
  assert.ok(isConst(g.constant(0, [3]), 0));
  assert.ok(!isConst(g.constant(1), 0));
  assert.ok(isConst(g.constant(1)));
  assert.ok(!isConst(a));
  assert.ok(sameShape([2, 3], [2, 3]) && !sameShape([2, 3], [3, 2]) && !sameShape([], [1]));
});
