/**
 * What `nqm derive` shows: every view of every example derives and prints; the per-example
 * gradient view (c = 1, batch sum dropped) is the gradient of one example.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { DERIVE_VIEWS } from "../../compiler/diff/view-names.ts";
import { deriveView } from "../../compiler/diff/views.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { interpret } from "../../compiler/ir/interpret.ts";
import { printGraph } from "../../compiler/ir/print.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import { examples } from "../support/examples.ts";
import { topologicalOrder } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

test("every view of every example derives and prints", () => {
  for (const example of examples()) {
    const program = deriveModel(loadModel(example.source, { set: example.set }).model);
    for (const view of DERIVE_VIEWS) {
      const sections = deriveView(program, view);
      assert.equal(sections.length, view === "all" ? DERIVE_VIEWS.length - 1 : 1, `${example.file} ${view}`);
      for (const section of sections) {
        const printed = printGraph(section.expressions);
        assert.equal(printed.results.length, section.expressions.length);
        for (const line of [...printed.lets, ...printed.results])
          assert.doesNotMatch(line, /undefined|NaN|\[object/, `${example.file} ${view}: ${line}`);
      }
    }
  }
});

test("the grad view is the per-example gradient: no cotangent, no batch sum, and the value of one example's gradient", () => {
  const example = present(examples().find((e) => e.file === "two_layer_tanh.nqm"));
  const model = loadModel(example.source, { set: example.set }).model;
  const program = deriveModel(model);
  const [section] = deriveView(program, "grad");
  const d = present(example.set.d);
  const m = present(example.set.m);
  const params = {
    u: tensor(
      [m, d],
      Array.from({ length: m * d }, (_, i) => Math.sin(i + 1)),
    ),
    v: tensor(
      [m],
      Array.from({ length: m }, (_, i) => Math.cos(i)),
    ),
  };
  const x = tensor(
    [d],
    Array.from({ length: d }, (_, i) => 0.5 - i),
  );
  const bindings = { n: 1, params, fixed: {}, inputs: { x: [x] }, tangents: {}, cotangent: [tensor([], [1])] };
  present(section).expressions.forEach((expression, i) => {
    const ops = new Set(topologicalOrder([expression.node]).map((n) => n.op));
    assert.ok(!ops.has("cotangent") && !ops.has("bsum"), expression.name);
    const name = nth(model.params, i).name;
    assert.equal(expression.name, `grad[${name}]`);
    const perExample = nth(interpret([expression.node], bindings)[0] as readonly Tensor[], 0);
    const batch = interpret([nth(program.grad, name)], bindings)[0] as Tensor;
    // Two simplifications of the same value (c = 1 folded in or not): equal to rounding.
    perExample.data.forEach((v, k) =>
      assert.ok(Math.abs(v - nth(batch.data, k)) <= 1e-14 * (1 + Math.abs(v)), `${expression.name}[${k}]`),
    );
  });
});
