/**
 * The lowering of kernel.ts on hand-built IR that the simplifier would never hand it (so the
 * end-to-end properties cannot reach it): Σⱼ of differences and scaled sums of outer products,
 * outer products that are also used elsewhere or are roots themselves, products of per-example
 * matrices, transposes, roots that are leaves, constants or shared values copied to per-example
 * outputs, one node sent to two outputs. And the scalar helpers of the generated module against
 * compiler/math.ts, at special values.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { transpile } from "../../compiler/codegen/compile.ts";
import { generateChecked } from "../../compiler/codegen/compile.ts";
import { BufferPool, emitKernelBody, region, type RootTarget } from "../../compiler/codegen/kernel.ts";
import { Graph } from "../../compiler/ir/graph.ts";
import { interpret, type Bindings } from "../../compiler/ir/interpret.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { SCALAR_FUNCTIONS, sigmoid, softplus } from "../../compiler/math.ts";
import { withinTolerance } from "../support/kernel-check.ts";
import { sizeOf } from "../../foundation/shape.ts";
import type { Node } from "../../compiler/ir/node.ts";
import { nth, present } from "../support/entries.ts";

const MAX_BATCH = 4;
const HELPER_NAMES = ["relu", "step", "sign", "square", "sigmoid", "softplus", "leakyRelu", "leakyStep"] as const;
/** Stand-ins for the module's helpers, from the interpreter's definitions. */
const HELPERS: Record<(typeof HELPER_NAMES)[number], (x: number, slope?: number) => number> = {
  relu: SCALAR_FUNCTIONS.relu,
  step: SCALAR_FUNCTIONS.step,
  sign: SCALAR_FUNCTIONS.sign,
  square: SCALAR_FUNCTIONS.square,
  sigmoid,
  softplus,
  leakyRelu: (x, slope) => opScalar("leaky_relu", x, present(slope)),
  leakyStep: (x, slope) => opScalar("leaky_step", x, present(slope)),
};

/** The interpreter's value of a one-argument op with a slope, at one number. */
function opScalar(op: "leaky_relu" | "leaky_step", x: number, slope: number): number {
  return nth(OPS[op].evaluate([tensor([], [x])], { attrs: { slope } } as unknown as Node).data, 0);
}

/** A small deterministic sequence in (−1.5, 1.5). */
const values = (count: number, seed: number) =>
  Array.from({ length: count }, (_, i) => 1.5 * Math.sin(seed * 12.9898 + i * 78.233));

/**
 * Emits one kernel computing `roots` (each into its own output array) and runs it on
 * deterministic bindings; compares each output with the interpreter.
 */
function runAndCompare(
  _graph: Graph,
  roots: readonly { node: Node; batched: boolean }[],
  params: Record<string, Tensor>,
  n: number,
  inputs: Record<string, Tensor[]>,
): void {
  const paramNames = Object.keys(params);
  const offsets = new Map<string, number>();
  let paramCount = 0;
  for (const name of paramNames) {
    offsets.set(name, paramCount);
    paramCount += nth(params, name).data.length;
  }
  const scratch = new BufferPool("ws", MAX_BATCH);
  const targets: RootTarget[] = roots.map((root, k) => ({
    node: root.node,
    target: region(`out${k}`, 0, sizeOf(root.node.shape), root.batched),
  }));
  const inputNames = Object.keys(inputs);
  const body = emitKernelBody({
    phases: [targets],
    leaves: {
      param: "w",
      tangent: "dw",
      fixed: "fx",
      input: (name) => `x${inputNames.indexOf(name)}`,
      cotangent: "c",
      paramOffset: (name) => present(offsets.get(name)),
      fixedOffset: () => 0,
    },
    prepared: new Map(),
    scratch,
  });
  const outNames = roots.map((_, k) => `out${k}`);
  const kernel = new Function(
    ...HELPER_NAMES,
    "w",
    "ws",
    "n",
    ...inputNames.map((_, k) => `x${k}`),
    ...outNames,
    body,
  ) as (...args: unknown[]) => void;
  const w = new Float64Array(paramCount);
  for (const name of paramNames) w.set(nth(params, name).data, present(offsets.get(name)));
  const ws = new Float64Array(scratch.size).fill(Number.NaN);
  const xs = inputNames.map((name) => {
    const flat = new Float64Array(MAX_BATCH * nth(nth(inputs, name), 0).data.length).fill(Number.NaN);
    nth(inputs, name).forEach((t, j) => flat.set(t.data, j * t.data.length));
    return flat;
  });
  const outs = roots.map((root) =>
    new Float64Array((root.batched ? MAX_BATCH : 1) * sizeOf(root.node.shape)).fill(Number.NaN),
  );
  kernel(...HELPER_NAMES.map((h) => HELPERS[h]), w, ws, n, ...xs, ...outs);

  const bindings: Bindings = { n, params, fixed: {}, inputs, tangents: {}, cotangent: [] };
  const expected = interpret(
    roots.map((r) => r.node),
    bindings,
  );
  roots.forEach((root, k) => {
    const value = nth(expected, k);
    const perExample = Array.isArray(value)
      ? (value as readonly Tensor[])
      : Array.from({ length: root.batched ? n : 1 }, () => value as Tensor);
    const size = sizeOf(root.node.shape);
    perExample.forEach((t, j) => {
      const scale = t.data.reduce((m, v) => Math.max(m, Math.abs(v)), -Infinity);
      for (let i = 0; i < size; i++) {
        const actual = nth(nth(outs, k), j * size + i);
        assert.ok(
          withinTolerance(actual, nth(t.data, i), scale),
          `root ${k} (${root.node.op}), example ${j}, entry ${i}: kernel ${actual}, interpreter ${t.data[i]}\n${body}`,
        );
      }
    });
    // Rows past n are not written (the caller's buffer may be shorter).
    if (root.batched)
      assert.ok(
        nth(outs, k)
          .subarray(n * size)
          .every(Number.isNaN),
        `root ${k} wrote past example ${n}`,
      );
  });
}

function setup(d = 3, k = 5) {
  const g = new Graph();
  const x = g.leaf("input", "x", [d]);
  const z = g.leaf("input", "z", [k]);
  const u = g.leaf("param", "u", [k, d]);
  const v = g.leaf("param", "v", [k]);
  const params = { u: tensor([k, d], values(k * d, 1)), v: tensor([k], values(k, 2)) };
  const inputsFor = (n: number) => ({
    x: Array.from({ length: n }, (_, j) => tensor([d], values(d, 10 + j))),
    z: Array.from({ length: n }, (_, j) => tensor([k], values(k, 20 + j))),
  });
  return { g, x, z, u, v, params, inputsFor };
}

test("Σⱼ of a difference of a product and a scaled outer product, fused into one Aᵀ B per term", () => {
  const { g, x, z, u, params, inputsFor } = setup();
  const a = g.unary("tanh", g.matmul(u, x));
  const difference = g.sub(g.outer(z, x), g.mul(g.constant(0.5), g.outer(a, g.unary("sin", x))));
  const sum = g.bsum(g.add(difference, g.mul(g.constant(-3), g.outer(g.mul(z, a), x))));
  for (const n of [1, 3, 4]) runAndCompare(g, [{ node: sum, batched: false }], params, n, inputsFor(n));
});

test("an outer product used twice, or itself a root, is not fused away", () => {
  const { g, x, z, params, inputsFor } = setup();
  const shared = g.outer(z, x);
  const twice = g.bsum(g.add(shared, g.mul(shared, shared)));
  const alsoRoot = g.bsum(g.outer(z, g.unary("cos", x)));
  for (const n of [2, 4])
    runAndCompare(
      g,
      [
        { node: twice, batched: false },
        { node: alsoRoot, batched: false },
        { node: g.outer(z, g.unary("cos", x)), batched: true },
      ],
      params,
      n,
      inputsFor(n),
    );
});

test("products and transposes of per-example matrices", () => {
  const { g, x, z, u, v, params, inputsFor } = setup();
  const m = g.outer(z, x); // [k, d] per example
  const roots = [
    g.matmul(m, x), // per-example matrix × per-example vector
    g.matmul(m, g.unary("sin", x)),
    g.matmul(z, m), // per-example vector × per-example matrix
    g.matmul(v, m), // shared vector × per-example matrix
    g.transpose(m),
    g.matmul(g.transpose(m), z),
    g.matmul(g.transpose(u), z), // shared matrix (transposed) × per-example vector
    g.matmul(x, g.transpose(u)), // per-example vector × shared matrix
    g.matmul(u, g.transpose(u)), // shared matrix product
    g.matmul(m, g.transpose(u)), // per-example [k,d] × shared [d,k]
  ];
  for (const n of [1, 4])
    runAndCompare(
      g,
      roots.map((node) => ({ node, batched: node.batched })),
      params,
      n,
      inputsFor(n),
    );
});

test("leaves, constants and shared values sent to per-example outputs are copied to every example", () => {
  const { g, x, u, v, params, inputsFor } = setup();
  const shared = g.sum(g.mul(v, v)); // a shared scalar: a local, not a buffer
  const roots = [
    { node: v, batched: true },
    { node: g.constant(2.5, [5]), batched: true },
    { node: g.constant(-1.25), batched: true },
    { node: shared, batched: true },
    { node: g.matmul(u, g.unary("tanh", g.matmul(g.transpose(u), v))), batched: true },
    { node: x, batched: true },
    { node: g.unary("exp", x), batched: true },
    // The same node to a shared and to a per-example output.
    { node: g.matmul(u, g.unary("sin", g.matmul(g.transpose(u), v))), batched: false },
    { node: g.matmul(u, g.unary("sin", g.matmul(g.transpose(u), v))), batched: true },
  ];
  for (const n of [1, 3]) runAndCompare(g, roots, params, n, inputsFor(n));
});

test("register blocking: every remainder of the 2×4 blocks", () => {
  for (const [d, k] of [
    [1, 1],
    [2, 4],
    [3, 5],
    [4, 8],
    [5, 7],
    [9, 6],
  ] as const) {
    const { g, x, z, u, params, inputsFor } = setup(d, k);
    const roots = [
      g.matmul(u, x),
      g.matmul(z, u),
      g.bsum(g.outer(z, x)),
      g.matmul(u, g.transpose(u)),
      g.matmul(g.outer(z, x), x),
    ];
    for (const n of [1, 2, 3, 4])
      runAndCompare(
        g,
        roots.map((node) => ({ node, batched: node.batched })),
        params,
        n,
        inputsFor(n),
      );
  }
});

test("the generated module's scalar helpers are compiler/math.ts's, at special values too", async () => {
  const source = "model m {\n  input x: [1]\n  param w: [1] ~ normal(0, 1)\n  output dot(w, x)\n}\n";
  const { model } = loadModel(source);
  const code = (await generateChecked(model, { source, maxBatch: 1 })).code;
  const javascript = await transpile(`${code}\nexport { ${HELPER_NAMES.join(", ")} };\n`);
  const module = (await import(`data:text/javascript;base64,${Buffer.from(javascript).toString("base64")}`)) as Record<
    string,
    (x: number, slope?: number) => number
  >;
  const specials = [
    0,
    -0,
    5e-324,
    -5e-324,
    1e-300,
    -1e-8,
    0.5,
    -0.5,
    1,
    -1,
    20,
    -20,
    36.7,
    -36.7,
    709,
    -709,
    745,
    -745,
    800,
    -800,
    1e308,
    -1e308,
    Infinity,
    -Infinity,
    Number.NaN,
  ];
  for (const name of HELPER_NAMES) {
    for (const value of specials) {
      for (const slope of [0.1, -2]) {
        const actual = nth(module, name)(value, slope);
        const expected = HELPERS[name](value, slope);
        assert.ok(
          Object.is(actual, expected),
          `${name}(${value}${name.startsWith("leaky") ? `, ${slope}` : ""}): module ${actual}, interpreter ${expected}`,
        );
      }
    }
  }
});
