/**
 * A model of 5,000 chained `let`s goes through every stage without overflowing the call stack:
 * every graph walk after parsing is iterative. Values are checked against the chain rule written
 * out as a plain loop (h ← tanh(h), h' ← (1 − h²)·h'), not against the code under test.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { compileModel } from "../compiler/codegen/compile.ts";
import { deriveModel, type DerivativeProgram } from "../compiler/diff/programs.ts";
import { deriveView } from "../compiler/diff/views.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import { loadModel } from "../compiler/frontend.ts";
import { evaluateWithInterpreter, evaluateWithKernels, type EvalResult } from "../runtime/evaluate.ts";
import { resolvePoint } from "../runtime/point.ts";
import { nth } from "./support/entries.ts";

const LETS = 5000;
const W = [0.3, -0.2];
const X = [1, 2];
const DIRECTION = [0.5, 0.25];

function source(): string {
  const lines = ["model deep {", "  input x: [2]", "  param w: [2] ~ normal(0, 1)", "  let h0 = tanh(dot(w, x))"];
  for (let i = 1; i < LETS; i++) lines.push(`  let h${i} = tanh(h${i - 1})`);
  lines.push(`  output h${LETS - 1}`, "}");
  return lines.join("\n");
}

/** f and df/d(w·x) by the chain rule, in plain arithmetic. */
function reference(): { f: number; slope: number } {
  let h = Math.tanh(nth(W, 0) * nth(X, 0) + nth(W, 1) * nth(X, 1));
  let slope = 1 - h * h;
  for (let i = 1; i < LETS; i++) {
    h = Math.tanh(h);
    slope *= 1 - h * h;
  }
  return { f: h, slope };
}

const WORK = mkdtempSync(join(tmpdir(), "nqm-deep-"));
after(() => rmSync(WORK, { recursive: true, force: true }));

const point = (model: CheckedModel) =>
  resolvePoint({ inputs: { x: [X] }, params: { w: W }, direction: { w: DIRECTION } }, model, 1);

function assertClose(actual: number, expected: number, what: string): void {
  assert.ok(
    Math.abs(actual - expected) <= 1e-12 * Math.max(1, Math.abs(expected)),
    `${what}: ${actual} vs ${expected}`,
  );
}

function assertValues(result: EvalResult): void {
  const { f, slope } = reference();
  assertClose(result.f[0] as number, f, "f");
  const grad = result.grad.w as number[];
  assertClose(nth(grad, 0), slope * nth(X, 0), "grad[0]");
  assertClose(nth(grad, 1), slope * nth(X, 1), "grad[1]");
  assertClose(result.jvp[0] as number, slope * (nth(DIRECTION, 0) * nth(X, 0) + nth(DIRECTION, 1) * nth(X, 1)), "jvp");
}

let model: CheckedModel | undefined;
let program: DerivativeProgram | undefined;

test(`${LETS} chained lets: check, derive, print and evaluate with the interpreter`, () => {
  model = loadModel(source()).model;
  assert.equal(model.lets.length, LETS);
  program = deriveModel(model);
  const printed = deriveView(program, "all");
  assert.ok(printed.length > 0);
  assertValues(evaluateWithInterpreter(program, point(model)));
});

test(`${LETS} chained lets: compiled kernels`, async () => {
  const checked = model ?? loadModel(source()).model;
  const compiled = await compileModel(checked, { source: source(), maxBatch: 1, cacheDir: WORK, noCache: true });
  assertValues(evaluateWithKernels(compiled.kernels, point(checked), checked.outputShape));
});
