import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkSource, loadModel } from "../../compiler/frontend.ts";
import { parameterCount, type CheckedModel } from "../../compiler/check/typed.ts";
import { nth, present } from "../support/entries.ts";
import { parseSource } from "../../grammar/build-ast.ts";
import { printFile } from "../../grammar/printer.ts";

const EXAMPLES = join(import.meta.dirname, "../../examples");
const files = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".nqm"))
  .sort();

function read(name: string): string {
  return readFileSync(join(EXAMPLES, name), "utf8");
}

function load(name: string, set: Record<string, number> = {}): CheckedModel {
  return loadModel(read(name), { file: name, set }).model;
}

test("the issue's examples are all there", () => {
  for (const name of [
    "two_layer_relu",
    "uv",
    "general_quadratic",
    "three_layer_relu",
    "two_layer_tanh",
    "two_layer_swish",
    "mnist_multiclass",
  ]) {
    assert.ok(files.includes(`${name}.nqm`), `examples/${name}.nqm is missing`);
  }
});

for (const file of files) {
  test(`examples/${file} parses and checks with no error and no warning`, () => {
    const source = read(file);
    assert.match(source, /^# \S/, "an example starts with a header comment saying what it models");
    const result = checkSource(source, { file });
    assert.deepEqual(result.diagnostics, []);
    assert.ok(result.models && result.models.length >= 1);
    for (const model of result.models) assert.ok(model.outputShape.length <= 1);
  });
}

test("two_layer_relu with --set m=2048: u is m×d, v is m, so m·d + m = 2048·1 + 2048 parameters", () => {
  const m = 2048;
  const d = 1;
  const model = load("two_layer_relu.nqm", { m });
  assert.deepEqual(model.dims, { d, m });
  assert.deepEqual(
    model.params.map((p) => [p.name, p.shape]),
    [
      ["u", [m, d]],
      ["v", [m]],
    ],
  );
  assert.deepEqual(
    model.inputs.map((t) => [t.name, t.shape]),
    [["x", [d]]],
  );
  assert.deepEqual(model.outputShape, []);
  assert.equal(parameterCount(model), m * d + m);
  assert.equal(parameterCount(model), 4096);
  assert.deepEqual(
    model.params.map((p) => p.init),
    [
      { kind: "normal", args: [0, 1] },
      { kind: "rademacher", args: [] },
    ],
  );
});

test("two_layer_relu: the default width is the file's (m = 5000), and --set d=3 changes u's shape", () => {
  assert.equal(parameterCount(load("two_layer_relu.nqm")), 5000 * 1 + 5000);
  const model = load("two_layer_relu.nqm", { d: 3, m: 10 });
  assert.deepEqual(nth(model.params, 0).shape, [10, 3]);
  assert.equal(parameterCount(model), 10 * 3 + 10);
});

test("three_layer_relu: m·d + m·m + m parameters", () => {
  const m = 512;
  const d = 1;
  assert.equal(parameterCount(load("three_layer_relu.nqm")), m * d + m * m + m);
});

test("mnist_multiclass: a vector output of 10 classes, m·784 + 10·m parameters", () => {
  const model = load("mnist_multiclass.nqm");
  const m = 1024;
  assert.deepEqual(model.outputShape, [10]);
  assert.deepEqual(nth(model.inputs, 0).shape, [784]);
  assert.equal(parameterCount(model), m * 784 + 10 * m);
});

test("general_quadratic: w trainable, sigma a fixed ±1 diagonal, gamma a const 1e-3", () => {
  const model = load("general_quadratic.nqm");
  assert.deepEqual(model.consts, { gamma: 1e-3 });
  assert.deepEqual(
    model.params.map((p) => [p.name, p.shape]),
    [["w", [100]]],
  );
  assert.deepEqual(
    model.fixed.map((p) => [p.name, p.shape, p.init?.kind]),
    [["sigma", [100], "rademacher"]],
  );
  assert.equal(parameterCount(model), 100);
  assert.equal(load("general_quadratic.nqm", { gamma: 0.5 }).consts.gamma, 0.5);
});

test("uv and the two-layer tanh and swish networks: m·d + m parameters and a scalar output", () => {
  for (const [file, m] of [
    ["uv.nqm", 1000],
    ["two_layer_tanh.nqm", 2048],
    ["two_layer_swish.nqm", 2048],
  ] as const) {
    const model = load(file);
    assert.deepEqual(model.outputShape, [], file);
    assert.equal(parameterCount(model), m * 1 + m, file);
  }
});

test("every example is in canonical form (what `nqm fmt --check` accepts)", () => {
  for (const name of files) {
    const source = read(name);
    const parsed = parseSource(source, name);
    assert.deepEqual(parsed.diagnostics, [], name);
    assert.equal(printFile(present(parsed.ast, name), source), source, `${name}: run nqm fmt --write on it`);
  }
});
