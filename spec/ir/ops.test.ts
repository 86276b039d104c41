/**
 * The op table, op by op: every op of OP_NAMES has a complete OPS entry, and every op with
 * derivatives has rows below (the elementwise functions' come from compiler/math.ts's table) whose first derivatives (jvp, vjp) and second derivatives (jvp of
 * jvp, and jvp of vjp: forward over reverse) match finite differences at random points. Non-smooth
 * ops are checked away from their kinks, and their conventions at the kink explicitly:
 * relu'(0) = 0, relu'' = 0, abs'(0) = 0, leaky_relu'(0) = slope.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { jvp, vjp } from "../../compiler/diff/transforms.ts";
import { Graph } from "../../compiler/ir/graph.ts";
import { interpret, type Bindings } from "../../compiler/ir/interpret.ts";
import { OPS, precedenceOf } from "../../compiler/ir/ops.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import { simplify } from "../../compiler/simplify/simplify.ts";
import { nth, present } from "../support/entries.ts";
import { perExample } from "../support/points.ts";
import { propertyRuns } from "../support/runs.ts";
import { type Shape, sizeOf } from "../../foundation/shape.ts";
import { type Attrs, type Node, OP_NAMES, type OpName } from "../../compiler/ir/node.ts";
import { FUNCTION_NAMES, functionRow } from "../../compiler/math.ts";
import type { IndexTable } from "../../compiler/ir/node.ts";
import {
  allTable,
  axisTable,
  concatTables,
  im2colTable,
  indexTable,
  permuteTable,
  poolTable,
} from "../../compiler/ir/tables.ts";

const LEAVES: readonly OpName[] = ["input", "param", "fixed", "tangent", "cotangent", "const"];

// ---------------------------------------------------------------- the table is complete

test("every op of OP_NAMES has a complete OPS entry, and OPS has no other entries", () => {
  assert.deepEqual(Object.keys(OPS).sort(), [...OP_NAMES].sort());
  assert.equal(new Set(OP_NAMES).size, OP_NAMES.length, "OP_NAMES has a duplicate");
  for (const name of OP_NAMES) {
    const rule = OPS[name];
    assert.ok(rule, `no OPS entry for ${name}`);
    assert.ok(Number.isInteger(rule.arity) && rule.arity >= 0 && rule.arity <= 2, `${name}: arity`);
    for (const key of ["shape", "evaluate", "jvp", "vjp", "print"] as const)
      assert.equal(typeof rule[key], "function", `${name}: ${key} is not a function`);
    assert.ok(
      typeof rule.precedence === "function" || [1, 2, 3, 4, 5].includes(rule.precedence),
      `${name}: precedence`,
    );
    if (rule.batched !== undefined) assert.equal(typeof rule.batched, "function", `${name}: batched`);
    assert.equal(LEAVES.includes(name), rule.arity === 0, `${name}: only leaves have no inputs`);
  }
});

// ---------------------------------------------------------------- the rows

/**
 * Where a param's entries are drawn: "distinct" keeps the entries of one tensor apart (≥ 0.001,
 * far beyond a finite-difference step) for the ops that pick a largest entry; "offGrid" is
 * "any" shifted by half a grid step, so it never ties with an "any" entry (maximum, minimum).
 */
type Domain = "any" | "positive" | "awayFromZero" | "distinct" | "offGrid";

interface Row {
  readonly op: OpName;
  readonly label: string;
  /** One differentiable param per input, of these shapes. */
  readonly shapes: readonly Shape[];
  readonly domains?: readonly Domain[];
  /** Builds the node from the params (default: the op applied to them). */
  readonly build?: (g: Graph, params: readonly Node[], x: Node) => Node;
  readonly attrs?: Attrs;
}

const elementwiseShapes: readonly (readonly Shape[])[] = [
  [[3], [3]],
  [[], [3]],
  [[3], []],
  [
    [2, 3],
    [2, 3],
  ],
  [[], []],
];
const unary = (op: OpName, domain: Domain, attrs?: Attrs): Row[] =>
  [[3], [2, 3], []].map((shape) => ({
    op,
    label: `${op}${attrs ? JSON.stringify(attrs) : ""} [${shape}]`,
    shapes: [shape],
    domains: [domain],
    ...(attrs ? { attrs } : {}),
  }));

/** A table op's case: its label, the param's shape, and the table with the result shape. */
type TableCase = [string, Shape, { table: IndexTable; shape: Shape }];

const ROWS: readonly Row[] = [
  ...(["add", "sub", "mul"] as const).flatMap((op) =>
    elementwiseShapes.map((shapes) => ({ op, label: `${op} [${shapes[0]}] [${shapes[1]}]`, shapes })),
  ),
  ...elementwiseShapes.map(
    (shapes): Row => ({
      op: "div",
      label: `div [${shapes[0]}] [${shapes[1]}]`,
      shapes,
      domains: ["any", "awayFromZero"],
    }),
  ),
  ...unary("neg", "any"),
  ...[2, 3].flatMap((exponent) => unary("pow", "any", { exponent })),
  ...[-1, 0.5, 1.5, -0.5, 1, 0, -2.5].flatMap((exponent) => unary("pow", "positive", { exponent })),
  // The elementwise functions, from their table: on their domain, away from 0 when they have a
  // kink, and with a positive and a negative parameter when they take one.
  ...FUNCTION_NAMES.flatMap((fn) => {
    const row = functionRow(fn);
    const domain: Domain = row.domain === "positive" ? "positive" : row.smooth ? "any" : "awayFromZero";
    const name = row.parameter;
    return name === undefined
      ? unary(fn, domain)
      : [0.1, -0.3].flatMap((value) => unary(fn, domain, { [name]: value }));
  }),
  { op: "sum", label: "sum [3]", shapes: [[3]] },
  { op: "sum", label: "sum [2,3]", shapes: [[2, 3]] },
  { op: "sum", label: "sum []", shapes: [[]] },
  { op: "matmul", label: "matmul [2,3] @ [3]", shapes: [[2, 3], [3]] },
  { op: "matmul", label: "matmul [3] @ [3,2]", shapes: [[3], [3, 2]] },
  {
    op: "matmul",
    label: "matmul [2,3] @ [3,4]",
    shapes: [
      [2, 3],
      [3, 4],
    ],
  },
  { op: "matmul", label: "matmul [3] @ [3] (dot)", shapes: [[3], [3]] },
  {
    op: "matmul",
    label: "matmul [2,3] @ [3,2] of one param with itself",
    shapes: [[2, 3]],
    build: (g, params) => {
      const a = nth(params, 0);
      return g.matmul(a, g.transpose(a));
    },
  },
  { op: "outer", label: "outer [3] [2]", shapes: [[3], [2]] },
  {
    op: "outer",
    label: "outer of a param with itself",
    shapes: [[3]],
    build: (g, params) => {
      const a = nth(params, 0);
      return g.outer(a, a);
    },
  },
  { op: "transpose", label: "transpose [2,3]", shapes: [[2, 3]] },
  { op: "broadcast", label: "broadcast [] -> [3]", shapes: [[]], attrs: { shape: [3] } },
  { op: "broadcast", label: "broadcast [] -> [2,3]", shapes: [[]], attrs: { shape: [2, 3] } },
  // A batch sum needs a per-example argument: Σⱼ xⱼ ⊙ p and Σⱼ tanh(xⱼ ⊙ p)·p.
  { op: "bsum", label: "bsum of x ⊙ p", shapes: [[3]], build: (g, params, x) => g.bsum(g.mul(x, nth(params, 0))) },
  {
    op: "bsum",
    label: "bsum of tanh(x ⊙ p) ⊙ p",
    shapes: [[3]],
    build: (g, params, x) => {
      const p = nth(params, 0);
      return g.bsum(g.mul(g.unary("tanh", g.mul(x, p)), p));
    },
  },
  // Shape changes and index tables (compiler/ir/tables.ts): slicing, an axis order, padding
  // (image-to-column with "same"), concatenation, reductions over an axis, pooling windows.
  { op: "reshape", label: "reshape [2,3] -> [3,2]", shapes: [[2, 3]], attrs: { shape: [3, 2] } },
  { op: "reshape", label: "reshape [6] -> [1,2,3]", shapes: [[6]], attrs: { shape: [1, 2, 3] } },
  ...(<TableCase[]>[
    [
      "x[1, 0:2] of [2,3]",
      [2, 3],
      indexTable(
        [2, 3],
        [
          { kind: "at", index: 1 },
          { kind: "slice", start: 0, end: 2 },
        ],
      ),
    ],
    ["permute [2,1,3] by [2,0,1]", [2, 1, 3], permuteTable([2, 1, 3], [2, 0, 1])],
    [
      "im2col [1,3,3] k2 same",
      [1, 3, 3],
      (() => {
        const { table, out } = im2colTable([1, 3, 3], [2, 2], 1, "same");
        return { table, shape: [out.reduce((a, b) => a * b, 1), 4] };
      })(),
    ],
    [
      "concat first of [2,2]+[1,2]",
      [2, 2],
      (() => {
        const { first, shape } = concatTables([2, 2], [1, 2], 0);
        return { table: first, shape };
      })(),
    ],
  ]).map(
    ([label, shape, { table, shape: result }]): Row => ({
      op: "gather",
      label: `gather ${label}`,
      shapes: [shape],
      attrs: { table, shape: result },
    }),
  ),
  ...(<TableCase[]>[
    ["sum over axis 1 of [2,3]", [2, 3], axisTable([2, 3], 1)],
    ["pool 2 of [1,4,5]", [1, 4, 5], poolTable([1, 4, 5], 2)],
    ["all of [2,3]", [2, 3], { table: allTable(6), shape: [] }],
  ]).flatMap(([label, shape, { table, shape: result }]): Row[] =>
    (["scatter", "segmax"] as const).map((op) => ({
      op,
      label: `${op} ${label}`,
      shapes: [shape],
      domains: ["distinct"],
      attrs: { table, shape: result },
    })),
  ),
  {
    op: "argmask",
    label: "argmask over axis 0 of [3,2]",
    shapes: [[3, 2]],
    domains: ["distinct"],
    attrs: { table: axisTable([3, 2], 0).table },
  },
  ...(["maximum", "minimum"] as const).flatMap((op) =>
    elementwiseShapes.map(
      (shapes): Row => ({ op, label: `${op} [${shapes[0]}] [${shapes[1]}]`, shapes, domains: ["any", "offGrid"] }),
    ),
  ),
  // nograd only in a value that does not depend on its argument: log Σ exp(p − m) + m with m = nograd(max p).
  {
    op: "nograd",
    label: "nograd as the shift of logsumexp [4]",
    shapes: [[4]],
    domains: ["distinct"],
    build: (g, params) => {
      const p = nth(params, 0);
      const top = g.nograd(g.segmax(p, allTable(4), []));
      return g.add(top, g.unary("log", g.sum(g.unary("exp", g.sub(p, g.broadcast(top, [4]))))));
    },
  },
];

test("every op with derivatives has rows in this table", () => {
  for (const op of OP_NAMES)
    if (!LEAVES.includes(op))
      assert.ok(
        ROWS.some((r) => r.op === op),
        `op ${op} has no row in spec/ir/ops.test.ts`,
      );
});

// ---------------------------------------------------------------- finite differences
//
// Central differences with h = 1e-5: truncation (h²/6)·|y'''|, rounding ε·|y|/h ≈ 2e-11·|y|.
// On these domains the largest third derivatives are those of a/b with |b| ≥ 0.2 (6|a|/b⁴ ≈
// 6e3) and of x^-2.5 at 0.5 (≈ 1.8e3), so truncation stays below 1e-7. The tolerance 1e-6
// relative to S = 1 + the largest |value| compared covers both with a margin of 10 or more
// (the second derivatives are differences of first derivatives: the same bounds one order up,
// against a scale that includes the second derivative itself); a wrong rule is off by O(S).
const H = 1e-5;
const RTOL = 1e-6;

/** The input per example (for the bsum rows): two examples. */
const X_VALUES = [tensor([3], [0.7, -1.1, 0.4]), tensor([3], [-0.3, 0.9, 1.2])];

function entryArbitrary(domain: Domain): fc.Arbitrary<number> {
  const grid = (lo: number, hi: number) =>
    fc.noBias(fc.integer({ min: Math.round(lo * 1000), max: Math.round(hi * 1000) })).map((i) => i / 1000);
  switch (domain) {
    case "positive":
      return grid(0.5, 2);
    case "awayFromZero": // |z| ≥ 0.2: no kink (and no pole) within any finite-difference step
      return fc.tuple(grid(0.2, 1.5), fc.boolean()).map(([v, negative]) => (negative ? -v : v));
    case "distinct":
    case "any":
      return grid(-1.5, 1.5);
    case "offGrid":
      return grid(-1.5, 1.5).map((v) => v + 0.0005);
  }
}

const tensorArbitrary = (shape: Shape, entries: fc.Arbitrary<number>, distinct = false) =>
  (distinct
    ? fc.uniqueArray(entries, { minLength: sizeOf(shape), maxLength: sizeOf(shape) })
    : fc.array(entries, { minLength: sizeOf(shape), maxLength: sizeOf(shape) })
  ).map((values) => tensor(shape, values));

interface Built {
  readonly g: Graph;
  readonly params: readonly Node[];
  readonly node: Node;
  readonly cotangent: Node;
}

function build(row: Row): Built {
  const g = new Graph();
  const params = row.shapes.map((shape, i) => g.leaf("param", `p${i}`, shape));
  const x = g.leaf("input", "x", [3]);
  const node = row.build ? row.build(g, params, x) : g.make(row.op, params, row.attrs ?? {});
  return { g, params, node, cotangent: g.leaf("cotangent", "c", node.shape) };
}

const tangentOf = (g: Graph) => (leaf: Node) =>
  leaf.op === "param" ? g.leaf("tangent", present(leaf.attrs.name, "a param's name"), leaf.shape) : null;

function bindings(
  built: Built,
  params: readonly Tensor[],
  direction: readonly Tensor[],
  cotangent: readonly Tensor[],
): Bindings {
  const names = built.params.map((p) => present(p.attrs.name, "a param's name"));
  return {
    n: 2,
    params: Object.fromEntries(names.map((n, i) => [n, nth(params, i)])),
    fixed: {},
    inputs: { x: X_VALUES },
    tangents: Object.fromEntries(names.map((n, i) => [n, nth(direction, i)])),
    cotangent,
  };
}

/**
 * Values of `nodes`, flattened over the examples when per example. A null node is a symbolic
 * zero shaped like `like[i]` (and per example when it is).
 */
function values(
  nodes: readonly (Node | null)[],
  like: readonly { shape: Shape; batched?: boolean }[],
  b: Bindings,
): Float64Array[] {
  const live = nodes.filter((n): n is Node => n !== null);
  const computed = live.length > 0 ? interpret(live, b) : [];
  let k = 0;
  return nodes.map((n, i) => {
    if (n === null) {
      const { shape, batched } = nth(like, i);
      return new Float64Array(sizeOf(shape) * (batched ? b.n : 1));
    }
    const value = nth(computed, k++);
    const tensors = perExample(value, b.n);
    // A shared value counts once (not per example): compare like with like.
    return Float64Array.from(
      Array.isArray(value) ? tensors.flatMap((t) => Array.from(t.data)) : Array.from(nth(tensors, 0).data),
    );
  });
}

const shifted = (ts: readonly Tensor[], ds: readonly Tensor[], t: number) =>
  ts.map((p, i) => {
    const d = nth(ds, i).data;
    return { shape: p.shape, data: p.data.map((v, k) => v + t * nth(d, k)) };
  });
const basis = (ts: readonly Tensor[], which: number, index: number) =>
  ts.map((p, i) => {
    const data = new Float64Array(p.data.length);
    if (i === which) data[index] = 1;
    return { shape: p.shape, data };
  });
const maxAbs = (...arrays: ArrayLike<number>[]) =>
  arrays.reduce((m, a) => Array.from(a).reduce((k, v) => Math.max(k, Math.abs(v)), m), 0);

function assertClose(what: string, exact: ArrayLike<number>, approx: ArrayLike<number>, scale: number): void {
  assert.equal(exact.length, approx.length, `${what}: ${exact.length} values, expected ${approx.length}`);
  for (const [i, e] of Array.from(exact).entries()) {
    const a = nth(approx, i);
    assert.ok(Math.abs(e - a) <= RTOL * scale, `${what}[${i}]: ${e} but finite differences give ${a} (scale ${scale})`);
  }
}

function checkRow(
  row: Row,
  params: readonly Tensor[],
  direction: readonly Tensor[],
  cotangent: readonly Tensor[],
): void {
  const built = build(row);
  const { g, node } = built;
  const at = (ps: readonly Tensor[]) => bindings(built, ps, direction, cotangent);
  const y = (ps: readonly Tensor[]) => nth(values([node], [node], at(ps)), 0);
  const y0 = y(params);
  // The evaluated shape is the declared one.
  const evaluated = perExample(nth(interpret([node], at(params)), 0), 2);
  for (const t of evaluated) assert.deepEqual(t.shape, node.shape, `${row.label}: evaluated shape`);

  // First derivative, forward: JΔ against (y(p + hΔ) − y(p − hΔ)) / 2h.
  const [tangent] = jvp(g, [node], tangentOf(g));
  const jvpValue = nth(values([tangent ?? null], [node], at(params)), 0);
  const yMinus = y(shifted(params, direction, -H));
  const fdJvp = y(shifted(params, direction, H)).map((v, i) => (v - nth(yMinus, i)) / (2 * H));
  assertClose(`${row.label}: jvp`, jvpValue, fdJvp, 1 + maxAbs(y0, jvpValue));

  // First derivative, reverse: the adjoint of each param entry against ∂⟨c, y⟩/∂p by differences.
  const adjoints = vjp(g, node, built.cotangent);
  const adjointNodes = built.params.map((p) => adjoints.get(p) ?? null);
  const adjointValues = values(
    adjointNodes,
    row.shapes.map((shape) => ({ shape })),
    at(params),
  );
  const objective = (ps: readonly Tensor[]) => {
    const v = y(ps);
    const c = cotangent.flatMap((t) => Array.from(t.data));
    // A shared output is paired with Σⱼ cⱼ (the vjp sums the examples' cotangents).
    const weights =
      v.length === c.length ? c : c.slice(0, v.length).map((_, i) => cotangent.reduce((s, t) => s + nth(t.data, i), 0));
    return v.reduce((s, value, i) => s + nth(weights, i) * value, 0);
  };
  row.shapes.forEach((shape, i) => {
    const fd = Float64Array.from(
      { length: sizeOf(shape) },
      (_, k) =>
        (objective(shifted(params, basis(params, i, k), H)) - objective(shifted(params, basis(params, i, k), -H))) /
        (2 * H),
    );
    const adjoint = nth(adjointValues, i);
    assertClose(`${row.label}: vjp for input ${i}`, adjoint, fd, 1 + maxAbs(y0, adjoint) * 4);
  });

  // Second derivative, forward over forward: d/dt of JΔ along Δ.
  const [second] = tangent ? jvp(g, [tangent], tangentOf(g)) : [null];
  const secondValue = nth(values([second ?? null], [node], at(params)), 0);
  const jvpAt = (ps: readonly Tensor[]) => nth(values([tangent ?? null], [node], at(ps)), 0);
  const jvpMinus = jvpAt(shifted(params, direction, -H));
  const fdSecond = jvpAt(shifted(params, direction, H)).map((v, i) => (v - nth(jvpMinus, i)) / (2 * H));
  assertClose(
    `${row.label}: second directional derivative`,
    secondValue,
    fdSecond,
    1 + maxAbs(y0, jvpValue, secondValue),
  );

  // Second derivative, forward over reverse: d/dt of the adjoints along Δ (the hvp).
  const hvpNodes = jvp(
    g,
    adjointNodes.map((n, i) => n ?? g.constant(0, nth(row.shapes, i))),
    tangentOf(g),
  );
  const hvpValues = values(
    hvpNodes,
    row.shapes.map((shape) => ({ shape })),
    at(params),
  );
  const adjointsAt = (ps: readonly Tensor[]) =>
    values(
      adjointNodes,
      row.shapes.map((shape) => ({ shape })),
      at(ps),
    );
  row.shapes.forEach((_, i) => {
    const plus = nth(adjointsAt(shifted(params, direction, H)), i);
    const minus = nth(adjointsAt(shifted(params, direction, -H)), i);
    const fd = plus.map((v, k) => (v - nth(minus, k)) / (2 * H));
    const hvp = nth(hvpValues, i);
    assertClose(`${row.label}: hvp for input ${i}`, hvp, fd, 1 + maxAbs(y0, nth(adjointValues, i), hvp) * 4);
  });

  // The simplified derivative graphs have the same values.
  const raw = [tangent, second, ...adjointNodes, ...hvpNodes];
  const kept = raw.filter((n): n is Node => n !== null);
  const simplified = simplify(g, kept);
  const before = values(kept, kept, at(params));
  const after = values(simplified, simplified, at(params));
  before.forEach((v, i) =>
    assertClose(`${row.label}: simplified derivative ${i}`, nth(after, i), v, 1e-4 * (1 + maxAbs(v))),
  );
}

for (const row of ROWS) {
  test(`op ${row.label}: jvp, vjp and second derivatives match finite differences`, () => {
    const domains = row.shapes.map((_, i) => row.domains?.[i] ?? "any");
    const shapeOf = (() => {
      const built = build(row);
      return built.node.shape;
    })();
    fc.assert(
      fc.property(
        fc.tuple(
          ...row.shapes.map((shape, i) =>
            tensorArbitrary(shape, entryArbitrary(nth(domains, i)), nth(domains, i) === "distinct"),
          ),
        ),
        fc.tuple(...row.shapes.map((shape) => tensorArbitrary(shape, entryArbitrary("any")))),
        fc.tuple(tensorArbitrary(shapeOf, entryArbitrary("any")), tensorArbitrary(shapeOf, entryArbitrary("any"))),
        (params, direction, cotangent) => checkRow(row, params, direction, cotangent),
      ),
      { numRuns: propertyRuns(8), includeErrorInReport: true },
    );
  });
}

// ---------------------------------------------------------------- conventions at the kinks

/** f'(z) and f''(z) of an elementwise op at z, by jvp and jvp of jvp (0 for a symbolic zero). */
function derivativesAt(
  op: OpName,
  z: number,
  attrs: Attrs = {},
): { first: number; second: number; secondIsSymbolicZero: boolean; reverse: number } {
  const g = new Graph();
  const p = g.leaf("param", "p", []);
  const node = g.make(op, [p], attrs);
  const seed = tangentOf(g);
  const [t] = jvp(g, [node], seed);
  const [tt] = t ? jvp(g, [t], seed) : [null];
  const ct = g.leaf("cotangent", "c", []);
  const adjoint = vjp(g, node, ct).get(p);
  const b: Bindings = {
    n: 1,
    params: { p: tensor([], [z]) },
    fixed: {},
    inputs: {},
    tangents: { p: tensor([], [1]) },
    cotangent: [tensor([], [1])],
  };
  const scalar = (n: Node | null | undefined): number => {
    if (!n) return 0;
    const [value] = perExample(nth(interpret([n], b), 0), 1);
    return nth(present(value, "the example's value").data, 0);
  };
  const [simplifiedSecond] = tt ? simplify(g, [tt]) : [null];
  return {
    first: scalar(t),
    second: scalar(tt),
    secondIsSymbolicZero: !simplifiedSecond || (simplifiedSecond.op === "const" && simplifiedSecond.attrs.value === 0),
    reverse: scalar(adjoint),
  };
}

test("relu'(0) = 0 and relu'' = 0 everywhere (symbolically zero)", () => {
  for (const z of [0, -0, 1e-300, -0.7, 0.7]) {
    const d = derivativesAt("relu", z);
    assert.equal(d.first, z > 0 ? 1 : 0, `relu'(${z})`);
    assert.equal(d.reverse, d.first, `relu' by vjp at ${z}`);
    assert.equal(d.second, 0, `relu''(${z})`);
    assert.ok(d.secondIsSymbolicZero, "relu'' simplifies to the constant 0");
  }
});

test("abs'(0) = 0, abs'(z) = sign(z), abs'' = 0", () => {
  for (const z of [0, -0.7, 0.7]) {
    const d = derivativesAt("abs", z);
    assert.equal(d.first, Math.sign(z) || 0, `abs'(${z})`);
    assert.equal(d.reverse, d.first);
    assert.ok(d.secondIsSymbolicZero);
  }
});

test("leaky_relu'(0) = slope (the left branch, like relu'(0) = 0 = its slope), leaky_relu'' = 0", () => {
  for (const [z, expected] of [
    [0, 0.1],
    [-0.5, 0.1],
    [0.5, 1],
  ] as const) {
    const d = derivativesAt("leaky_relu", z, { slope: 0.1 });
    assert.equal(d.first, expected, `leaky_relu'(${z})`);
    assert.equal(d.reverse, expected);
    assert.ok(d.secondIsSymbolicZero);
  }
});

test("x^0 has derivative 0 and x^1 second derivative 0 everywhere, also at x = 0 (no 0·∞)", () => {
  for (const z of [0, -0.5, 1.5]) {
    const constant = derivativesAt("pow", z, { exponent: 0 });
    assert.equal(constant.first, 0);
    assert.equal(constant.reverse, 0);
    const identity = derivativesAt("pow", z, { exponent: 1 });
    assert.equal(identity.first, 1);
    assert.equal(identity.second, 0, `(x^1)'' at ${z}`);
    assert.equal(derivativesAt("pow", z, { exponent: 2 }).second, 2);
  }
});

test("step, sign and leaky_step have derivative 0 everywhere: their jvp is a symbolic zero, their vjp contributes nothing", () => {
  for (const [op, attrs] of [
    ["step", {}],
    ["sign", {}],
    ["leaky_step", { slope: 0.1 }],
  ] as const) {
    const g = new Graph();
    const p = g.leaf("param", "p", [3]);
    const node = g.make(op, [p], attrs);
    assert.equal(jvp(g, [node], tangentOf(g))[0], null, `${op}: jvp`);
    assert.equal(vjp(g, node, g.leaf("cotangent", "c", [3])).get(p), undefined, `${op}: vjp`);
  }
});

test("evaluation at the kinks: relu(0) = 0, step(0) = 0, sign(0) = 0, abs(0) = 0, leaky_step(0) = slope", () => {
  const at = (op: OpName, attrs: Attrs = {}) => OPS[op].evaluate([tensor([3], [-1, 0, 2])], { attrs } as Node).data;
  assert.deepEqual(Array.from(at("relu")), [0, 0, 2]);
  assert.deepEqual(Array.from(at("step")), [0, 0, 1]);
  assert.deepEqual(Array.from(at("sign")), [-1, 0, 1]);
  assert.deepEqual(Array.from(at("abs")), [1, 0, 2]);
  assert.deepEqual(Array.from(at("leaky_relu", { slope: 0.1 })), [-0.1, 0, 2]);
  assert.deepEqual(Array.from(at("leaky_step", { slope: 0.1 })), [0.1, 0.1, 1]);
});

// ---------------------------------------------------------------- printing

test("every op prints to a non-empty string with a valid precedence", () => {
  for (const row of ROWS) {
    const { node } = build(row);
    const text = OPS[node.op].print(
      node.inputs.map((_, i) => `a${i}`),
      node,
    );
    assert.ok(text.length > 0, row.label);
    assert.ok([1, 2, 3, 4, 5].includes(precedenceOf(node)), row.label);
  }
  const g = new Graph();
  for (const op of LEAVES) {
    const node = op === "const" ? g.constant(1.5, [2]) : g.leaf(op as "input", "w", [2]);
    assert.ok(OPS[op].print([], node).length > 0, op);
  }
});
