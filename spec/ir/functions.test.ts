/**
 * Every elementwise function of compiler/math.ts, from its row in FUNCTIONS through the whole
 * compiler: its values against independent references, its kernel form against the interpreter
 * (with the helper's source quoted as module.ts quotes it), the checker's signature, the
 * lowering, and compiled kernels on every backend and dtype against the interpreter. Its first
 * and second derivatives are checked against finite differences by spec/ir/ops.test.ts, whose
 * rows for these functions come from the table. Adding a function to the table asks for one row
 * here (REFERENCES is typed by the function names); the rest follows from the table.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { compileModel } from "../../compiler/codegen/compile.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { checkSource, loadModel } from "../../compiler/frontend.ts";
import { Graph } from "../../compiler/ir/graph.ts";
import { interpret } from "../../compiler/ir/interpret.ts";
import { lowerModel } from "../../compiler/ir/lower.ts";
import { first } from "../../compiler/ir/node.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import {
  FUNCTION_NAMES,
  type FunctionName,
  functionRow,
  isBuiltinFunction,
  KERNEL_HELPERS,
  NUMBERS,
  SCALAR_FUNCTIONS,
} from "../../compiler/math.ts";
import { kinkSafeForFloat32, VARIANTS, variantRuns } from "../support/backends.ts";
import { nth, present } from "../support/entries.ts";
import { compareWithInterpreter } from "../support/kernel-check.ts";
import { describeCase, pointArbitrary } from "../support/points.ts";

interface Reference {
  /**
   * [x, f(x)] pairs: f at the double x computed by mpmath at 50 digits and rounded to the
   * nearest double, so independent of the code under test. Points span the domain, with
   * large |x| where a naive formula would overflow or cancel, and 0 for a kink.
   */
  readonly values: readonly (readonly [number, number])[];
  /** The parameter, for a function that takes one. */
  readonly parameter?: number;
}

/** One row per function of the table (the type asks for it). */
const REFERENCES: Record<FunctionName, Reference> = {
  relu: {
    values: [
      [-2.5, 0],
      [-0.75, 0],
      [0, 0],
      [0.3, 0.3],
      [1.7, 1.7],
    ],
  },
  step: {
    values: [
      [-2.5, 0],
      [-0.75, 0],
      [0, 0],
      [0.3, 1],
      [1.7, 1],
    ],
  },
  tanh: {
    values: [
      [-30, -1],
      [-2.5, -0.9866142981514303],
      [-0.75, -0.6351489523872873],
      [0.3, 0.2913126124515909],
      [1.7, 0.935409070603099],
      [25, 1],
    ],
  },
  sigmoid: {
    values: [
      [-30, 9.357622968839299e-14],
      [-2.5, 0.07585818002124355],
      [-0.75, 0.320821300824607],
      [0.3, 0.574442516811659],
      [1.7, 0.8455347349164652],
      [25, 0.9999999999861121],
    ],
  },
  softplus: {
    values: [
      [-30, 9.357622968839737e-14],
      [-2.5, 0.07888973429254963],
      [-0.75, 0.38687100611489994],
      [0.3, 0.8543552444685271],
      [1.7, 1.8677860293862658],
      [25, 25.000000000013888],
    ],
  },
  exp: {
    values: [
      [-30, 9.357622968840175e-14],
      [-2.5, 0.0820849986238988],
      [-0.75, 0.4723665527410147],
      [0.3, 1.3498588075760032],
      [1.7, 5.4739473917272],
      [25, 72004899337.38588],
    ],
  },
  log: {
    values: [
      [0.01, -4.605170185988091],
      [0.5, -Math.LN2],
      [2, Math.LN2],
      [1000, 6.907755278982137],
    ],
  },
  sqrt: {
    values: [
      [0.01, 0.1],
      [0.5, Math.SQRT1_2],
      [2, Math.SQRT2],
      [1000, 31.622776601683793],
    ],
  },
  abs: {
    values: [
      [-2.5, 2.5],
      [-0.75, 0.75],
      [0, 0],
      [0.3, 0.3],
      [1.7, 1.7],
    ],
  },
  sign: {
    values: [
      [-2.5, -1],
      [-0.75, -1],
      [0, 0],
      [0.3, 1],
      [1.7, 1],
    ],
  },
  sin: {
    values: [
      [-30, 0.9880316240928618],
      [-2.5, -0.5984721441039565],
      [-0.75, -0.6816387600233341],
      [0.3, 0.29552020666133955],
      [1.7, 0.9916648104524686],
      [25, -0.13235175009777303],
    ],
  },
  cos: {
    values: [
      [-30, 0.15425144988758405],
      [-2.5, -0.8011436155469337],
      [-0.75, 0.7316888688738209],
      [0.3, 0.955336489125606],
      [1.7, -0.12884449429552464],
      [25, 0.9912028118634736],
    ],
  },
  square: {
    values: [
      [-30, 900],
      [-2.5, 6.25],
      [-0.75, 0.5625],
      [0.3, 0.09],
      [1.7, 2.8899999999999997],
      [25, 625],
    ],
  },
  mish: {
    values: [
      [-800, 0],
      [-30, -2.807286890651921e-12],
      [-2.5, -0.19681620390653334],
      [-0.75, -0.2764947145054652],
      [0.3, 0.20800137234811503],
      [1.7, 1.6207680739755406],
      [25, 25],
      [800, 800],
    ],
  },
  // erf: CPython's math.erf (its own implementation, not the code under test), within 1 ulp.
  erf: {
    values: [
      [-7, -1],
      [-3, -0.9999779095030014],
      [-1.2, -0.9103139782296353],
      [-0.4, -0.42839235504666845],
      [0, 0],
      [1e-9, 1.1283791670955127e-9],
      [0.3, 0.3286267594591274],
      [1.7, 0.9837904585907745],
      [2.6, 0.9997639655834707],
      [4.5, 0.9999999998033839],
    ],
  },
  leaky_relu: {
    parameter: 0.1,
    values: [
      [-2.5, -0.25],
      [-0.75, -0.07500000000000001],
      [0, 0],
      [0.3, 0.3],
      [1.7, 1.7],
    ],
  },
  leaky_step: {
    parameter: 0.1,
    values: [
      [-2.5, 0.1],
      [-0.75, 0.1],
      [0, 0.1],
      [0.3, 1],
      [1.7, 1],
    ],
  },
};

/**
 * Ulps allowed against the correctly rounded reference: V8's Math functions are within 1 ulp,
 * and the helpers (sigmoid, softplus) add a few roundings of their own.
 */
const ULPS = 4;

/** The attributes of `fn`'s node: its parameter from the reference row. */
function attrsOf(fn: FunctionName): Record<string, number> {
  const name = functionRow(fn).parameter;
  return name === undefined ? {} : { [name]: present(REFERENCES[fn].parameter, `the reference parameter of ${fn}`) };
}

/** The interpreter's value of `fn` at each of `xs` (one node, evaluated through the op table). */
function interpreted(fn: FunctionName, xs: readonly number[]): Float64Array {
  const g = new Graph();
  const node = g.make(fn, [g.leaf("param", "p", [xs.length])], attrsOf(fn));
  const [value] = interpret([node], {
    n: 1,
    params: { p: tensor([xs.length], xs) },
    fixed: {},
    inputs: {},
    tangents: {},
    cotangent: [],
  }) as Tensor[];
  return present(value, "the interpreted value").data;
}

/** Special arguments the kernel form and the interpreter must agree on bit for bit. */
const SPECIALS = [0, -0, 5e-324, -5e-324, 1e-300, -1e-8, 0.5, -0.5, 1, -1, 20, -20, 40, -40, 710, -745, 1e300, -1e300];

/**
 * The kernel's value of `fn` at x: its kernel form as generated code, with every helper's
 * source quoted the way module.ts quotes it (so a helper that is not self-contained fails here).
 */
function kernelEvaluator(fn: FunctionName): (x: number) => number {
  const form = OPS[fn].kernel;
  assert.equal(form.kind, "elementwise", `${fn}: its kernel form is elementwise`);
  if (form.kind !== "elementwise") return () => Number.NaN;
  const helpers = Object.entries(KERNEL_HELPERS).map(([name, helper]) => `const ${name} = ${helper.toString()};`);
  const body = `"use strict";\n${helpers.join("\n")}\nreturn (x) => ${form.js(["x"], attrsOf(fn))};`;
  return new Function(body)() as (x: number) => number;
}

for (const fn of FUNCTION_NAMES) {
  describe(`function ${fn}`, () => {
    const reference = REFERENCES[fn];
    const row = functionRow(fn);

    test("its values match the references (to 4 ulps), and constant folding uses the same definition", () => {
      const xs = reference.values.map(([x]) => x);
      const values = interpreted(fn, xs);
      reference.values.forEach(([x, expected], i) => {
        const actual = nth(values, i);
        assert.ok(
          Math.abs(actual - expected) <= ULPS * Number.EPSILON * Math.abs(expected),
          `${fn}(${x}) = ${actual}, expected ${expected}`,
        );
      });
      if (row.parameter === undefined && Object.hasOwn(SCALAR_FUNCTIONS, fn))
        for (const x of xs)
          assert.ok(Object.is(SCALAR_FUNCTIONS[fn as keyof typeof SCALAR_FUNCTIONS](x), row.scalar(x, Number.NaN)));
    });

    test("its kernel form computes the interpreter's value, bit for bit, at special values too", () => {
      const kernel = kernelEvaluator(fn);
      const xs = [...SPECIALS, ...reference.values.map(([x]) => x)];
      const values = interpreted(fn, xs);
      xs.forEach((x, i) =>
        assert.ok(Object.is(kernel(x), nth(values, i)), `${fn}(${x}): kernel ${kernel(x)}, interpreter ${values[i]}`),
      );
    });

    if (!row.smooth)
      test("a kink function is s(x)·x or s(x), s piecewise constant: verify holds s (the derivative, or the value when null)", () => {
        const parameter = reference.parameter ?? Number.NaN;
        for (const [x, y] of reference.values) {
          if (x === 0) continue;
          const slope = row.derivative(NUMBERS, x, y, parameter);
          const h = 1e-3 * Math.abs(x);
          if (slope === null)
            assert.equal(row.scalar(x + h, parameter), row.scalar(x - h, parameter), `${fn} is constant near ${x}`);
          else
            assert.ok(
              Math.abs(slope * x - y) <= ULPS * Number.EPSILON * Math.abs(y),
              `${fn}(${x}) = ${fn}'(${x})·${x}`,
            );
        }
      });

    if (isBuiltinFunction(fn)) {
      const call = (argument: string) =>
        row.parameter === undefined ? `${fn}(${argument})` : `${fn}(${argument}, ${reference.parameter})`;
      const model = (output: string) => `model m {\n  input x: [3]\n  param M: [2, 3]\n  output ${output}\n}\n`;

      test("the checker accepts it with the shape of its argument, and counts its arguments", () => {
        const result = checkSource(model(`sum(${call("M")}) + sum(x)`));
        assert.deepEqual(result.diagnostics, []);
        const wrong = row.parameter === undefined ? `${fn}(M, 1)` : `${fn}(M)`;
        const errors = checkSource(model(`sum(${wrong}) + sum(x)`)).diagnostics.map((d) => d.code);
        assert.deepEqual(errors, ["NQM2005"], wrong);
        const { model: checked } = loadModel(model(`${call("M @ x")}`));
        assert.deepEqual(checked.outputShape, [2]);
      });

      test("it lowers to the op of its name, with its parameter", () => {
        const { model: checked } = loadModel(model(call("M @ x")));
        const root = lowerModel(checked, new Graph());
        assert.equal(root.op, fn);
        assert.equal(first(root).op, "matmul");
        assert.deepEqual({ ...root.attrs }, attrsOf(fn));
      });
    } else {
      test("model files cannot call it (it exists as a derivative only)", () => {
        const codes = checkSource(
          `model m {\n  input x: [3]\n  param w: [3]\n  output dot(w, ${fn}(x))\n}\n`,
        ).diagnostics.map((d) => d.code);
        assert.deepEqual(codes, ["NQM2004"]);
      });
    }
  });
}

// ---------------------------------------------------------------- compiled kernels

/** Each built-in function once, on arguments within its domain, in one model. */
function everyFunctionModel(): string {
  const terms = FUNCTION_NAMES.filter(isBuiltinFunction).map((fn) => {
    const row = functionRow(fn);
    const argument = row.domain === "positive" ? "square(z) + 0.5" : "z";
    return row.parameter === undefined ? `${fn}(${argument})` : `${fn}(${argument}, ${REFERENCES[fn].parameter})`;
  });
  return `model every {\n  input x: [3]\n  param u: [4, 3] ~ normal(0, 1)\n  param v: [4] ~ normal(0, 1)\n  let z = u @ x\n  output dot(v, ${terms.join(" + ")})\n}\n`;
}

const CACHE = mkdtempSync(join(tmpdir(), "nqm-functions-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

describe("a model calling every built-in function, compiled, against the interpreter", () => {
  const source = everyFunctionModel();
  for (const variant of VARIANTS)
    test(variant.label, { skip: variant.skip }, async () => {
      const { model } = loadModel(source);
      const program = deriveModel(model);
      const { kernels } = await compileModel(model, {
        source,
        maxBatch: 3,
        cacheDir: CACHE,
        backend: variant.backend,
        dtype: variant.dtype,
      });
      try {
        fc.assert(
          fc.property(pointArbitrary(model), (point) => {
            fc.pre(variant.dtype === "f64" || kinkSafeForFloat32(program, point));
            const result = compareWithInterpreter(program, kernels, point, { tolerance: variant.tolerance });
            assert.deepEqual(
              result.failures,
              [],
              `${variant.label}:\n${result.failures.join("\n")}\n${describeCase(source, point)}`,
            );
          }),
          { numRuns: variantRuns(variant, 3, 1) },
        );
      } finally {
        kernels.dispose();
      }
    });
});
