/**
 * Staging: what each node depends on, and so when it must be computed. On two_layer_relu: the
 * nodes of f are `static` (inputs and constants only) or `w0` (they read a param), never `step`;
 * every node that reads the displacement Δ or the cotangent c is `step`; the w0-only part of
 * the derivative programs (the activation pattern step(u@x), relu(u@x)) is `w0`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { deriveModel, type DerivativeProgram } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { Depends, dependencies, stageOf, type Stage } from "../../compiler/stage/dependencies.ts";
import { caseArbitrary } from "../support/cases.ts";
import { propertyRuns } from "../support/runs.ts";
import { topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { present } from "../support/entries.ts";

function relu(): DerivativeProgram {
  const source = readFileSync(join(import.meta.dirname, "../../examples/two_layer_relu.nqm"), "utf8");
  return deriveModel(loadModel(source, { set: { d: 2, m: 8 } }).model);
}

function allRoots(p: DerivativeProgram): Node[] {
  return [p.f, p.jvp, p.quad, p.fLin, p.fQuad, ...Object.values(p.grad), ...Object.values(p.hvp)];
}

const stages = (p: DerivativeProgram, roots: readonly Node[]) => {
  const flags = dependencies(allRoots(p));
  return new Map(topologicalOrder(roots).map((n) => [n, stageOf(present(flags.get(n.id)))] as const));
};

test("stageOf: step when Δ or c is read, else w0 when a param is, else static", () => {
  const cases: [number, Stage][] = [
    [0, "static"],
    [Depends.input, "static"],
    [Depends.fixed, "static"],
    [Depends.input | Depends.fixed, "static"],
    [Depends.param, "w0"],
    [Depends.param | Depends.input | Depends.fixed, "w0"],
    [Depends.tangent, "step"],
    [Depends.cotangent, "step"],
    [Depends.tangent | Depends.param, "step"],
    [Depends.cotangent | Depends.param | Depends.input, "step"],
  ];
  for (const [mask, stage] of cases) assert.equal(stageOf(mask), stage, `mask ${mask}`);
});

test("dependencies: leaves carry their own flag, a node the union of its inputs'", () => {
  const p = relu();
  const flags = dependencies(allRoots(p));
  for (const node of topologicalOrder(allRoots(p))) {
    const own =
      {
        input: Depends.input,
        fixed: Depends.fixed,
        param: Depends.param,
        tangent: Depends.tangent,
        cotangent: Depends.cotangent,
      }[node.op as string] ?? 0;
    const expected = node.inputs.reduce((mask, input) => mask | present(flags.get(input.id)), own);
    assert.equal(flags.get(node.id), expected, `${node.op} #${node.id}`);
  }
});

test("two_layer_relu: f is computed once per run (static or w0), never per step", () => {
  const p = relu();
  const stage = stages(p, [p.f]);
  for (const [node, s] of stage) assert.notEqual(s, "step", `${node.op} #${node.id} of f`);
  assert.equal(stage.get(p.f), "w0");
  // u @ x reads a param: w0. x alone and the constants: static.
  for (const [node, s] of stage) {
    const readsParam = topologicalOrder([node]).some((n) => n.op === "param");
    assert.equal(s, readsParam ? "w0" : "static", `${node.op} #${node.id}`);
  }
});

test("two_layer_relu: every node reading Δ (jvp, quad, hvp, f_lin, f_quad) or c (grad, hvp) is a step node; the rest is not", () => {
  const p = relu();
  const stage = stages(p, allRoots(p));
  for (const [node, s] of stage) {
    const reads = new Set(topologicalOrder([node]).map((n) => n.op));
    const perStep = reads.has("tangent") || reads.has("cotangent");
    assert.equal(s === "step", perStep, `${node.op} #${node.id}: ${s}`);
  }
  for (const root of [p.jvp, p.quad, p.fLin, p.fQuad, ...Object.values(p.grad), ...Object.values(p.hvp)])
    assert.equal(stage.get(root), "step");
});

test("two_layer_relu: the activation pattern step(u@x) in the derivative programs is w0 work, hoisted out of the steps", () => {
  const p = relu();
  const stage = stages(p, allRoots(p));
  const steps = [...stage.keys()].filter((n) => n.op === "step");
  assert.ok(steps.length > 0, "the derivative programs use step(u @ x)");
  for (const node of steps) assert.equal(stage.get(node), "w0");
  const matmuls = [...stage.keys()].filter(
    (n) => n.op === "matmul" && n.inputs.some((i) => i.op === "param") && n.inputs.some((i) => i.op === "input"),
  );
  for (const node of matmuls) assert.equal(stage.get(node), "w0", "u @ x");
});

test("on generated programs: stages are monotone along edges and f never has step nodes", () => {
  const order: Record<Stage, number> = { static: 0, w0: 1, step: 2 };
  fc.assert(
    fc.property(caseArbitrary(), ({ model }) => {
      const p = deriveModel(model.checked);
      const flags = dependencies(allRoots(p));
      for (const node of topologicalOrder(allRoots(p))) {
        const s = stageOf(present(flags.get(node.id)));
        for (const input of node.inputs)
          assert.ok(
            order[stageOf(present(flags.get(input.id)))] <= order[s],
            "an input is computed later than its user",
          );
      }
      for (const node of topologicalOrder([p.f])) assert.notEqual(stageOf(present(flags.get(node.id))), "step");
    }),
    { numRuns: propertyRuns(50) },
  );
});
