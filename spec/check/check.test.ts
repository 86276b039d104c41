import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { checkSource, type FrontendResult, loadModel } from "../../compiler/frontend.ts";
import { BUILTINS, type CompositeName, INITIALIZERS } from "../../compiler/check/builtins.ts";
import { FUNCTION_NAMES, isBuiltinFunction } from "../../compiler/math.ts";
import { NqmError, type Diagnostic } from "../../foundation/diagnostics.ts";
import type { CheckedModel, TypedExpr } from "../../compiler/check/typed.ts";
import { nth, present } from "../support/entries.ts";
import { propertyRuns } from "../support/runs.ts";
import type { Shape } from "../../foundation/shape.ts";

// Show the assertion that failed, not only the counterexample.
fc.configureGlobal({ includeErrorInReport: true });

/** A model with a scalar input s, vectors a, b of length 3, c of length 4, matrices M (3×4), N (4×2). */
function model(body: string): string {
  return [
    "model t {",
    "  dim n = 3",
    "  const k = 2",
    "  input s: []",
    "  input a: [n]",
    "  param b: [3]",
    "  param c: [4]",
    "  param M: [n, 4]",
    "  fixed N: [4, 2]",
    `  ${body}`,
    "}",
  ].join("\n");
}

function errorsOf(source: string, set: Record<string, number> = {}): Diagnostic[] {
  return checkSource(source, { set }).diagnostics.filter((d) => d.severity === "error");
}

/** The shape of `expr` in the model above (as the output when a vector or scalar, else through a let). */
function shapeOf(expr: string): Shape {
  const source = model(`let e = ${expr}\n  output s + sum(a) + sum(b) + sum(c) + sum(M) + sum(N)`);
  const result = checkSource(source);
  assert.deepEqual(
    result.diagnostics.filter((d) => d.severity === "error"),
    [],
    expr,
  );
  return present(
    firstModel(result).lets.find((l) => l.name === "e"),
    "the let e",
  ).expr.shape;
}

// One row per composite built-in: a call and the shape it must have. The elementwise functions
// of compiler/math.ts are checked from their table by spec/ir/functions.test.ts.
const BUILTIN_ROWS: Record<CompositeName, readonly [string, Shape]> = {
  swish: ["swish(b)", [3]],
  gelu: ["gelu(M)", [3, 4]],
  norm: ["norm(N)", []],
  dot: ["dot(a, b)", []],
  outer: ["outer(a, c)", [3, 4]],
};

for (const [name, [call, shape]] of Object.entries(BUILTIN_ROWS)) {
  test(`builtin ${name}: ${call} has shape [${shape.join(", ")}]`, () => {
    assert.deepEqual(shapeOf(call), shape);
  });
}

/** The first model of a checked file, failing the test where there is none. */
function firstModel(result: FrontendResult): CheckedModel {
  return nth(present(result.models, "the checked models"), 0);
}

test("every built-in function is a composite with a row above or a function of the table", () => {
  assert.deepEqual(
    Object.keys(BUILTINS).sort(),
    [...Object.keys(BUILTIN_ROWS), ...FUNCTION_NAMES.filter(isBuiltinFunction)].sort(),
  );
});

test("operators: elementwise with equal shapes or a scalar side; @ for matrix-vector, matrix-matrix, vector-matrix", () => {
  assert.deepEqual(shapeOf("a + b"), [3]);
  assert.deepEqual(shapeOf("s * M"), [3, 4]);
  assert.deepEqual(shapeOf("M / 2"), [3, 4]);
  assert.deepEqual(shapeOf("2 - a"), [3]);
  assert.deepEqual(shapeOf("-M"), [3, 4]);
  assert.deepEqual(shapeOf("M @ c"), [3]);
  assert.deepEqual(shapeOf("M @ N"), [3, 2]);
  assert.deepEqual(shapeOf("a @ M"), [4]);
  assert.deepEqual(shapeOf("a @ b"), [], "vector @ vector is their dot product");
  assert.deepEqual(shapeOf("a ^ 2"), [3]);
  assert.deepEqual(shapeOf("transpose(M) @ a"), [4]);
});

test("dims and consts are scalar constants; --set overrides both", () => {
  const result = checkSource(model("output k * n * dot(a, b) + sum(c) + sum(M) + sum(N) + s"), { set: { n: 3, k: 5 } });
  assert.deepEqual(result.diagnostics, []);
  const m = firstModel(result);
  assert.deepEqual(m.dims, { n: 3 });
  assert.deepEqual(m.consts, { k: 5 });
  const constants: Extract<TypedExpr, { kind: "constant" }>[] = [];
  const walk = (e: TypedExpr): void => {
    if (e.kind === "constant") constants.push(e);
    if (e.kind === "binary") {
      walk(e.left);
      walk(e.right);
    }
  };
  walk(m.output);
  assert.deepEqual(
    constants.map((c) => [c.name, c.value]),
    [
      ["k", 5],
      ["n", 3],
    ],
  );
});

test("a dim without a default is fine when --set gives it", () => {
  const source = "model t {\n  dim m\n  input x: [m]\n  param w: [m]\n  output dot(w, x)\n}\n";
  assert.equal(errorsOf(source)[0]?.code, "NQM2008");
  assert.deepEqual(checkSource(source, { set: { m: 7 } }).models?.[0]?.params[0]?.shape, [7]);
});

test("the exponent may be any constant expression: numbers, dims, consts, scalar functions of them", () => {
  const result = checkSource(model("output sum(a ^ (k + 1)) + sum(b ^ -sqrt(n * 3)) + sum(c) + sum(M) + sum(N) + s"));
  assert.deepEqual(result.diagnostics, []);
  const powers: number[] = [];
  const walk = (e: TypedExpr): void => {
    if (e.kind === "power") powers.push(e.exponent);
    if (e.kind === "binary") {
      walk(e.left);
      walk(e.right);
    }
    if (e.kind === "call" || e.kind === "tensorop") e.args.forEach(walk);
  };
  walk(firstModel(result).output);
  assert.deepEqual(powers, [3, -3]);
});

test("initializers: defaults to normal(0, 1); arguments may be constant expressions", () => {
  const source =
    "model t {\n  dim m = 4\n  input x: [m]\n  param w: [m]\n  param v: [m] ~ uniform(-1 / sqrt(m), 1 / sqrt(m))\n  fixed r: [m] ~ constant(0.5)\n  output dot(w, x) + dot(v, r)\n}\n";
  const { model: m } = loadModel(source);
  assert.deepEqual(
    m.params.map((p) => p.init),
    [
      { kind: "normal", args: [0, 1] },
      { kind: "uniform", args: [-0.5, 0.5] },
    ],
  );
  assert.deepEqual(nth(m.fixed, 0).init, { kind: "constant", args: [0.5] });
  for (const init of Object.keys(INITIALIZERS))
    assert.ok(["normal", "uniform", "rademacher", "zeros", "ones", "constant"].includes(init));
});

test("a redeclared name points back at its first declaration", () => {
  const source = "model t {\n  input x: [2]\n  param x: [2]\n  output sum(x)\n}\n";
  // No "has no param" cascade: the failed declaration still counts as the model's param.
  const errors = errorsOf(source);
  assert.deepEqual(
    errors.map((e) => e.code),
    ["NQM2002"],
  );
  const x = source.indexOf("x");
  assert.deepEqual(nth(errors, 0).span, { start: source.indexOf("x", x + 1), end: source.indexOf("x", x + 1) + 1 });
  assert.deepEqual(nth(errors, 0).related, { message: "first declared here", span: { start: x, end: x + 1 } });
});

test("an unknown name far from every known name gets no hint", () => {
  const [error] = errorsOf(model("output sum(qqqq) + s + sum(a) + sum(b) + sum(c) + sum(M) + sum(N)"));
  assert.equal(error?.message, "unknown name `qqqq`");
});

test("an error inside an expression is reported once, not again for each enclosing operator", () => {
  const errors = errorsOf(model("output sum(relu(a + c) * 2 + b) / n + s + sum(M) + sum(N)"));
  assert.deepEqual(
    errors.map((e) => e.code),
    ["NQM2006"],
  );
});

test("loadModel: several models need a name; an unknown name lists them", () => {
  const one = (name: string) => `model ${name} {\n  input x: [2]\n  param w: [2]\n  output dot(w, x)\n}\n`;
  const source = one("p") + one("q");
  assert.equal(loadModel(source, { name: "q" }).model.name, "q");
  const codeOf = (run: () => unknown) => {
    try {
      run();
    } catch (error) {
      assert.ok(error instanceof NqmError);
      return error.diagnostics.map((d) => d.code);
    }
    return [];
  };
  assert.deepEqual(
    codeOf(() => loadModel(source)),
    ["NQM3005"],
  );
  assert.deepEqual(
    codeOf(() => loadModel(source, { name: "r" })),
    ["NQM3004"],
  );
  assert.deepEqual(
    codeOf(() => loadModel("model p {\n  input x: [2]\n  param w: [3]\n  output dot(w, x)\n}\n")),
    ["NQM2006"],
  );
});

test("warnings do not stop loadModel; they are returned", () => {
  const { warnings } = loadModel("model t {\n  input x: [2]\n  input y: [2]\n  param w: [2]\n  output dot(w, x)\n}\n");
  assert.deepEqual(
    warnings.map((w) => [w.code, w.severity]),
    [["NQM2012", "warning"]],
  );
});

// ---------------------------------------------------------------- properties of the shape rules

const size = fc.integer({ min: 1, max: 9 });

function shapeModel(a: Shape, b: Shape, expr: string): string {
  return `model t {\n  input x: [${a.join(", ")}]\n  param w: [${b.join(", ")}]\n  let e = ${expr}\n  output sum(e)\n}\n`;
}

test("property: [m,k] @ [k,n] is [m,n]; [m,k] @ [k] is [m]; [k] @ [k,n] is [n]; unequal inner sizes name both", () => {
  fc.assert(
    fc.property(size, size, size, size, (m, k, n, other) => {
      const shapeOfLet = (a: Shape, b: Shape) =>
        checkSource(shapeModel(a, b, "x @ w")).models?.[0]?.lets[0]?.expr.shape;
      assert.deepEqual(shapeOfLet([m, k], [k, n]), [m, n]);
      assert.deepEqual(shapeOfLet([m, k], [k]), [m]);
      assert.deepEqual(shapeOfLet([k], [k, n]), [n]);
      fc.pre(other !== k);
      const [error] = errorsOf(shapeModel([m, k], [other, n], "x @ w"));
      assert.equal(error?.code, "NQM2006");
      assert.ok(error.message.includes(`[${m}, ${k}] and [${other}, ${n}]`), error.message);
      assert.ok(error.message.includes(`${k} (last of the left) vs ${other} (first of the right)`), error.message);
    }),
    { numRuns: propertyRuns(200) },
  );
});

test("property: + - * / accept equal shapes or a scalar side, and otherwise name the first differing axis", () => {
  const shape = fc.array(size, { minLength: 0, maxLength: 2 });
  fc.assert(
    fc.property(shape, shape, fc.constantFrom("+", "-", "*", "/"), (a, b, op) => {
      const result = checkSource(shapeModel(a, b, `x ${op} w`));
      const equal = a.length === b.length && a.every((s, i) => s === b[i]);
      if (equal || a.length === 0 || b.length === 0) {
        assert.deepEqual(result.models?.[0]?.lets[0]?.expr.shape, a.length === 0 ? b : a);
        return;
      }
      const [error] = result.diagnostics.filter((d) => d.severity === "error");
      assert.equal(error?.code, "NQM2006");
      assert.ok(
        error.message.startsWith(`shape mismatch in \`${op}\`: [${a.join(", ")}] and [${b.join(", ")}]`),
        error.message,
      );
      const axis = a.findIndex((s, i) => s !== b[i]);
      assert.ok(
        error.message.endsWith(
          a.length !== b.length ? `(${a.length} vs ${b.length})` : `axis ${axis} differs: ${a[axis]} vs ${b[axis]}`,
        ),
        error.message,
      );
    }),
    { numRuns: propertyRuns(200) },
  );
});
