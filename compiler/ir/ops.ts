/**
 * The op table: for every IR op, in one place, its shape rule, its evaluation (the reference
 * interpreter), its forward rule (jvp), its reverse rule (vjp, one contribution per input, null
 * for none) and how it prints. Second derivatives come from applying jvp to derivative graphs,
 * never from hand-written second-derivative formulas. The elementwise functions' rules are
 * built from their rows in compiler/math.ts (FUNCTIONS), the other ops' are written here.
 *
 * Non-smooth points follow the convention used in practice: relu'(0) = step(0) = 0,
 * abs'(0) = sign(0) = 0, and step, sign, leaky_step have derivative 0 everywhere.
 */
import { FUNCTION_NAMES, type FunctionName, functionRow, kernelCallee, perFunction } from "../math.ts";
import { literal } from "./literal.ts";
import {
  type Attrs,
  constValue,
  first,
  type GraphBuilder,
  type Node,
  type OpName,
  second,
  type StructuralOp,
} from "./node.ts";
import { defined, two } from "../../foundation/defined.ts";
import type { Tensor } from "./tensor.ts";
import { filled, tensor } from "./tensor.ts";
import { type Shape, sizeOf, sameShape } from "../../foundation/shape.ts";

/** How tightly a printed form binds, for parenthesization: 5 atoms, 4 `^`, 3 prefix `-`, 2 `* / @`, 1 `+ -`. */
export type Precedence = 1 | 2 | 3 | 4 | 5;

/** The operands of a unary rule: Graph.make has checked that the node has exactly one input. */
type One<T> = readonly [T];
/** The operands of a binary rule: Graph.make has checked that the node has exactly two inputs. */
type Two<T> = readonly [T, T];

/**
 * Everything about one op. The functions that receive one value per input are methods, so that a
 * rule may declare its operands as a tuple of its arity (`([a, b]: Two<Tensor>) => …`): Graph.make
 * refuses a node whose input count differs from `arity`, which is what makes that tuple true.
 */
export interface OpRule {
  readonly arity: number;
  shape(inputs: readonly Shape[], attrs: Attrs): Shape;
  /** Whether the result varies per example; default: when any input does. */
  batched?(inputs: readonly Node[]): boolean;
  evaluate(inputs: readonly Tensor[], node: Node): Tensor;
  /** The tangent of the node from its inputs' tangents (null = zero); null when zero. */
  jvp(node: Node, tangents: readonly (Node | null)[], g: GraphBuilder): Node | null;
  /** The contribution of the node's adjoint `ct` to each input's adjoint (null = none). */
  readonly vjp: (node: Node, ct: Node, g: GraphBuilder) => readonly (Node | null)[];
  print(args: readonly string[], node: Node): string;
  /** How tightly the printed form binds (a function where it depends on the node's form). */
  readonly precedence: Precedence | ((node: Node) => Precedence);
  /** How kernels compute the op (see KernelForm). */
  readonly kernel: KernelForm;
  /**
   * False for an op with kinks, points where it is not differentiable (relu at 0, abs, step…):
   * derivative checks keep their points away from them.
   */
  readonly smooth: boolean;
}

/**
 * How kernels compute an op: elementwise, from its arguments' scalar expressions (`js` gives the
 * JavaScript expression; a helper it names is one of compiler/math.ts's KERNEL_HELPERS), or
 * lowered by the kernel plan itself (leaves, reductions, products, batch sums).
 */
export type KernelForm =
  | { readonly kind: "elementwise"; readonly js: (args: readonly string[], attrs: Attrs) => string }
  | { readonly kind: "plan" };

const PLAN: KernelForm = { kind: "plan" };

/** An elementwise kernel form. */
const scalarForm = (js: (args: readonly string[], attrs: Attrs) => string): KernelForm => ({ kind: "elementwise", js });

/** The binding strength of `node`'s printed form. */
export function precedenceOf(node: Node): Precedence {
  const p = OPS[node.op].precedence;
  return typeof p === "function" ? p(node) : p;
}

const fail = (what: string): never => {
  throw new Error(`internal: ${what}`);
};

// ---------------------------------------------------------------- helpers

function map(x: Tensor, fn: (v: number) => number): Tensor {
  const out = new Float64Array(x.data.length);
  for (let i = 0; i < out.length; i++) out[i] = fn(x.data[i] ?? Number.NaN);
  return { shape: x.shape, data: out };
}

/** Elementwise binary with scalar broadcasting on either side. */
function zip(a: Tensor, b: Tensor, shape: Shape, fn: (x: number, y: number) => number): Tensor {
  const out = new Float64Array(sizeOf(shape));
  const sa = a.data.length === 1 && out.length !== 1;
  const sb = b.data.length === 1 && out.length !== 1;
  for (let i = 0; i < out.length; i++) out[i] = fn(a.data[sa ? 0 : i] ?? Number.NaN, b.data[sb ? 0 : i] ?? Number.NaN);
  return { shape, data: out };
}

function elementwiseShape([a, b]: Two<Shape>): Shape {
  if (a.length === 0) return b;
  if (b.length === 0 || sameShape(a, b)) return a;
  return fail(`elementwise shapes [${a}] and [${b}]`);
}

/** Adds two tangents where either may be the symbolic zero (null). */
function addTangents(g: GraphBuilder, a: Node | null, b: Node | null, shape: Shape): Node | null {
  if (a === null) return b === null ? null : g.broadcast(b, shape);
  if (b === null) return g.broadcast(a, shape);
  return g.add(a, b);
}

function leaf(printName: (node: Node) => string): OpRule {
  return {
    arity: 0,
    shape: (_, attrs) => attrs.shape ?? fail("leaf without shape"),
    evaluate: (_, node) => fail(`leaf ${node.op} reached the evaluator`),
    jvp: () => fail("leaf tangents are seeded by the jvp transform"),
    vjp: () => [],
    print: (_, node) => printName(node),
    precedence: 5,
    kernel: PLAN,
    smooth: true,
  };
}

/**
 * An elementwise function given by its scalar form and its derivative as a graph
 * (`derivative(g, x, y)` with y the node itself; null when identically zero).
 */
function elementwise(
  scalar: (x: number, attrs: Attrs) => number,
  derivative: (g: GraphBuilder, x: Node, y: Node) => Node | null,
  print: (arg: string, attrs: Attrs) => string,
  kernel: KernelForm,
  smooth: boolean,
): OpRule {
  return {
    arity: 1,
    shape: ([x]: One<Shape>) => x,
    evaluate: ([x]: One<Tensor>, node) => map(x, (v) => scalar(v, node.attrs)),
    jvp: (node, [t]: One<Node | null>, g) => {
      if (t === null) return null;
      const d = derivative(g, first(node), node);
      return d === null ? null : g.mul(d, t);
    },
    vjp: (node, ct, g) => {
      const d = derivative(g, first(node), node);
      return [d === null ? null : g.mul(ct, d)];
    },
    print: ([x]: One<string>, node) => print(x, node.attrs),
    precedence: 5,
    kernel,
    smooth,
  };
}

/**
 * The rule of an elementwise function of compiler/math.ts: evaluated by its scalar definition,
 * differentiated by its derivative built as a graph, printed as a call, computed in kernels by a
 * call of its Math function or helper.
 */
function functionRule(fn: FunctionName): OpRule {
  const row = functionRow(fn);
  const name = row.parameter;
  const callee = kernelCallee(fn);
  const parameterOf = (attrs: Attrs): number =>
    name === undefined ? Number.NaN : defined(attrs[name], `the ${name} of ${fn}`);
  return elementwise(
    (v, attrs) => row.scalar(v, parameterOf(attrs)),
    (g, x, y) => row.derivative(g, x, y, parameterOf(y.attrs)),
    (x, attrs) => (name === undefined ? `${fn}(${x})` : `${fn}(${x}, ${parameterOf(attrs)})`),
    scalarForm(([x], attrs) =>
      name === undefined ? `${callee}(${x})` : `${callee}(${x}, ${literal(parameterOf(attrs))})`,
    ),
    row.smooth,
  );
}

/** Scalar × vector etc. for matmul of the (rank a, rank b) forms the checker allows. */
function matmulShape([a, b]: Two<Shape>): Shape {
  if (a.length === 0 || b.length === 0 || a.at(-1) !== b[0]) fail(`matmul shapes [${a}] @ [${b}]`);
  return [...a.slice(0, -1), ...b.slice(1)];
}

function matmulEvaluate(a: Tensor, b: Tensor, shape: Shape): Tensor {
  const k = defined(b.shape[0], "the inner size of a matmul");
  const rows = a.shape.length === 2 ? defined(a.shape[0], "the rows of a matmul") : 1;
  const cols = b.shape.length === 2 ? defined(b.shape[1], "the columns of a matmul") : 1;
  const out = new Float64Array(rows * cols);
  for (let i = 0; i < rows; i++) {
    for (let j = 0; j < cols; j++) {
      let acc = 0;
      for (let p = 0; p < k; p++) acc += (a.data[i * k + p] ?? Number.NaN) * (b.data[p * cols + j] ?? Number.NaN);
      out[i * cols + j] = acc;
    }
  }
  return { shape, data: out };
}

/** The index table of a table op. */
function tableOf(attrs: Attrs): Int32Array {
  return defined(attrs.table, "an index table").data;
}

/** The shape of a table op that groups its argument's entries (scatter, segmax). */
function groupedShape([x]: One<Shape>, attrs: Attrs): Shape {
  if (sizeOf(x) !== tableOf(attrs).length) fail(`a table of ${tableOf(attrs).length} entries for [${x}]`);
  return defined(attrs.shape, "the result shape");
}

/** result[k] = reduce of x[i] over the i with table[i] = k, starting from `initial`. */
function grouped(x: Tensor, node: Node, initial: number, reduce: (acc: number, v: number) => number): Tensor {
  const table = tableOf(node.attrs);
  const out = new Float64Array(sizeOf(node.shape)).fill(initial);
  table.forEach((k, i) => {
    if (k >= 0) out[k] = reduce(out[k] ?? Number.NaN, x.data[i] ?? Number.NaN);
  });
  return { shape: node.shape, data: out };
}

/** 1 where a ≥ b (the maximum takes a, also at ties), else 0; `max` false: where a ≤ b. */
function takesFirst(g: GraphBuilder, node: Node, max: boolean): Node {
  const [a, b] = two(node.inputs);
  return g.sub(g.constant(1), g.apply("step", max ? g.sub(b, a) : g.sub(a, b)));
}

/** maximum or minimum: elementwise, the derivative of the chosen side (the first at ties). */
function extremum(max: boolean): OpRule {
  const pick = max ? Math.max : Math.min;
  return {
    arity: 2,
    shape: elementwiseShape,
    evaluate: ([a, b]: Two<Tensor>, node) => zip(a, b, node.shape, pick),
    jvp: (node, [ta, tb]: Two<Node | null>, g) => {
      const first = takesFirst(g, node, max);
      const other = g.sub(g.constant(1), first);
      return addTangents(g, ta === null ? null : g.mul(first, ta), tb === null ? null : g.mul(other, tb), node.shape);
    },
    vjp: (node, ct, g) => {
      const [a, b] = two(node.inputs);
      const first = takesFirst(g, node, max);
      return [g.unbroadcast(g.mul(ct, first), a.shape), g.unbroadcast(g.mul(ct, g.sub(g.constant(1), first)), b.shape)];
    },
    print: ([a, b]) => `${max ? "maximum" : "minimum"}(${a}, ${b})`,
    precedence: 5,
    kernel: scalarForm(([a, b]) => `${max ? "Math.max" : "Math.min"}(${a}, ${b})`),
    smooth: false,
  };
}

/** A matmul of two vectors: their dot product. */
export function isDot(node: Node): boolean {
  return node.op === "matmul" && first(node).shape.length === 1 && second(node).shape.length === 1;
}

// ---------------------------------------------------------------- the table

const STRUCTURAL_RULES: Readonly<Record<StructuralOp, OpRule>> = {
  // Leaves. Their values come from the interpreter's bindings or the kernel's arguments.
  input: { ...leaf((n) => defined(n.attrs.name, "a leaf's name")), batched: () => true },
  param: leaf((n) => defined(n.attrs.name, "a leaf's name")),
  fixed: leaf((n) => defined(n.attrs.name, "a leaf's name")),
  /** The displacement Δ = w − w0 of a param (the direction of jvp and hvp). */
  tangent: leaf((n) => `Δ${n.attrs.name}`),
  /** The per-example output cotangent c (the residual, when computing a loss gradient). */
  cotangent: { ...leaf(() => "c"), batched: () => true },

  const: {
    arity: 0,
    shape: (_, attrs) => attrs.shape ?? [],
    evaluate: (_, node) => filled(node.shape, constValue(node)),
    jvp: () => null,
    vjp: () => [],
    print: (_, node) => {
      const v = constValue(node);
      const text = Number.isInteger(v) || Math.abs(v) >= 1e-3 ? String(Number(v.toPrecision(12))) : v.toExponential();
      return node.shape.length === 0 ? text : `fill(${text}, [${node.shape}])`;
    },
    precedence: 5,
    kernel: PLAN,
    smooth: true,
  },

  // Arithmetic, elementwise with scalar broadcasting.
  add: {
    arity: 2,
    shape: elementwiseShape,
    evaluate: ([a, b]: Two<Tensor>, node) => zip(a, b, node.shape, (x, y) => x + y),
    jvp: (node, [ta, tb]: Two<Node | null>, g) => addTangents(g, ta, tb, node.shape),
    vjp: (node, ct, g) => [g.unbroadcast(ct, first(node).shape), g.unbroadcast(ct, second(node).shape)],
    print: ([a, b]) => `${a} + ${b}`,
    precedence: 1,
    kernel: scalarForm(([a, b]) => `(${a} + ${b})`),
    smooth: true,
  },
  sub: {
    arity: 2,
    shape: elementwiseShape,
    evaluate: ([a, b]: Two<Tensor>, node) => zip(a, b, node.shape, (x, y) => x - y),
    jvp: (node, [ta, tb]: Two<Node | null>, g) => addTangents(g, ta, tb === null ? null : g.neg(tb), node.shape),
    vjp: (node, ct, g) => [g.unbroadcast(ct, first(node).shape), g.unbroadcast(g.neg(ct), second(node).shape)],
    print: ([a, b]) => `${a} - ${b}`,
    precedence: 1,
    kernel: scalarForm(([a, b]) => `(${a} - ${b})`),
    smooth: true,
  },
  mul: {
    arity: 2,
    shape: elementwiseShape,
    evaluate: ([a, b]: Two<Tensor>, node) => zip(a, b, node.shape, (x, y) => x * y),
    jvp: (node, [ta, tb]: Two<Node | null>, g) => {
      const [a, b] = two(node.inputs);
      return addTangents(g, ta === null ? null : g.mul(ta, b), tb === null ? null : g.mul(a, tb), node.shape);
    },
    vjp: (node, ct, g) => {
      const [a, b] = two(node.inputs);
      return [g.unbroadcast(g.mul(ct, b), a.shape), g.unbroadcast(g.mul(ct, a), b.shape)];
    },
    print: ([a, b]) => `${a} * ${b}`,
    precedence: 2,
    kernel: scalarForm(([a, b]) => `(${a} * ${b})`),
    smooth: true,
  },
  div: {
    arity: 2,
    shape: elementwiseShape,
    evaluate: ([a, b]: Two<Tensor>, node) => zip(a, b, node.shape, (x, y) => x / y),
    // d(a/b) = (da − (a/b)·db) / b
    jvp: (node, [ta, tb]: Two<Node | null>, g) => {
      const b = second(node);
      const numerator = addTangents(g, ta, tb === null ? null : g.neg(g.mul(node, tb)), node.shape);
      return numerator === null ? null : g.div(numerator, b);
    },
    vjp: (node, ct, g) => {
      const [a, b] = two(node.inputs);
      const scaled = g.div(ct, b);
      return [g.unbroadcast(scaled, a.shape), g.unbroadcast(g.neg(g.mul(scaled, node)), b.shape)];
    },
    print: ([a, b]) => `${a} / ${b}`,
    precedence: 2,
    kernel: scalarForm(([a, b]) => `(${a} / ${b})`),
    smooth: true,
  },
  neg: {
    arity: 1,
    shape: ([x]: One<Shape>) => x,
    evaluate: ([x]: One<Tensor>) => map(x, (v) => -v),
    jvp: (_, [t]: One<Node | null>, g) => (t === null ? null : g.neg(t)),
    vjp: (_, ct, g) => [g.neg(ct)],
    print: ([x]) => `-${x}`,
    precedence: 3,
    kernel: scalarForm(([x]) => `(-${x})`),
    smooth: true,
  },
  pow: {
    ...elementwise(
      (v, attrs) => v ** defined(attrs.exponent, "the exponent"),
      // x^0 is constant: its derivative is the symbolic zero, not 0·x^-1 (NaN at x = 0, which
      // made the second derivative of x^1 NaN there).
      (g, x, y) =>
        y.attrs.exponent === 0
          ? null
          : g.mul(
              g.constant(defined(y.attrs.exponent, "the exponent")),
              g.unary("pow", x, { exponent: defined(y.attrs.exponent, "the exponent") - 1 }),
            ),
      (x, attrs) => `${x}^${defined(attrs.exponent, "the exponent") < 0 ? `(${attrs.exponent})` : attrs.exponent}`,
      scalarForm(([x], attrs) => `Math.pow(${x}, ${literal(defined(attrs.exponent, "the exponent"))})`),
      // x^p for 0 < p < 1 has an infinite slope at 0; its domain is kept away from 0 like log's.
      true,
    ),
    precedence: 4,
  },

  // Reductions and linear algebra.
  sum: {
    arity: 1,
    shape: () => [],
    evaluate: ([x]: One<Tensor>) => tensor([], [x.data.reduce((a, b) => a + b, 0)]),
    jvp: (_, [t]: One<Node | null>, g) => (t === null ? null : g.sum(t)),
    vjp: (node, ct, g) => [g.broadcast(ct, first(node).shape)],
    print: ([x]) => `sum(${x})`,
    precedence: 5,

    kernel: PLAN,
    smooth: true,
  },
  matmul: {
    arity: 2,
    shape: matmulShape,
    evaluate: ([a, b]: Two<Tensor>, node) => matmulEvaluate(a, b, node.shape),
    jvp: (node, [ta, tb]: Two<Node | null>, g) => {
      const [a, b] = two(node.inputs);
      return addTangents(g, ta === null ? null : g.matmul(ta, b), tb === null ? null : g.matmul(a, tb), node.shape);
    },
    vjp: (node, ct, g) => {
      const [a, b] = two(node.inputs);
      switch (`${a.shape.length}${b.shape.length}`) {
        case "21": // y = A x
          return [g.outer(ct, b), g.matmul(ct, a)];
        case "12": // y = x B
          return [g.matmul(b, ct), g.outer(a, ct)];
        case "22": // Y = A B
          return [g.matmul(ct, g.transpose(b)), g.matmul(g.transpose(a), ct)];
        default: // y = a · b
          return [g.mul(ct, b), g.mul(ct, a)];
      }
    },
    print: ([a, b]: Two<string>, node) => (isDot(node) ? `dot(${a}, ${b})` : `${a} @ ${b}`),
    precedence: (node) => (isDot(node) ? 5 : 2),

    kernel: PLAN,
    smooth: true,
  },
  outer: {
    arity: 2,
    shape: ([a, b]: Two<Shape>) => [defined(a[0], "a vector's length"), defined(b[0], "a vector's length")],
    evaluate: ([a, b]: Two<Tensor>, node) =>
      matmulEvaluate(
        { shape: [a.data.length, 1], data: a.data },
        { shape: [1, b.data.length], data: b.data },
        node.shape,
      ),
    jvp: (node, [ta, tb]: Two<Node | null>, g) => {
      const [a, b] = two(node.inputs);
      return addTangents(g, ta === null ? null : g.outer(ta, b), tb === null ? null : g.outer(a, tb), node.shape);
    },
    vjp: (node, ct, g) => [g.matmul(ct, second(node)), g.matmul(first(node), ct)],
    print: ([a, b]) => `outer(${a}, ${b})`,
    precedence: 5,

    kernel: PLAN,
    smooth: true,
  },
  transpose: {
    arity: 1,
    shape: ([x]: One<Shape>) => {
      const [rows, cols] = two(x, "a matrix's sizes");
      return [cols, rows];
    },
    evaluate: ([x]: One<Tensor>, node) => {
      const [rows, cols] = two(x.shape, "a matrix's sizes");
      const out = new Float64Array(rows * cols);
      for (let i = 0; i < rows; i++)
        for (let j = 0; j < cols; j++) out[j * rows + i] = x.data[i * cols + j] ?? Number.NaN;
      return { shape: node.shape, data: out };
    },
    jvp: (_, [t]: One<Node | null>, g) => (t === null ? null : g.transpose(t)),
    vjp: (_, ct, g) => [g.transpose(ct)],
    print: ([x]) => `transpose(${x})`,
    precedence: 5,

    kernel: PLAN,
    smooth: true,
  },
  /** A scalar repeated to `attrs.shape`. */
  broadcast: {
    arity: 1,
    shape: ([x]: One<Shape>, attrs) =>
      x.length === 0 ? defined(attrs.shape, "the shape") : fail("broadcast of a non-scalar"),
    evaluate: ([x]: One<Tensor>, node) => filled(node.shape, defined(x.data[0], "a scalar's value")),
    jvp: (node, [t]: One<Node | null>, g) => (t === null ? null : g.broadcast(t, node.shape)),
    vjp: (_, ct, g) => [g.sum(ct)],
    print: ([x]: One<string>, node) => `fill(${x}, [${node.shape}])`,
    precedence: 5,
    // A broadcast scalar is read as the scalar itself at every entry.
    kernel: scalarForm(([x]) => defined(x, "the broadcast scalar")),
    smooth: true,
  },
  /** Σ_j over the examples of a batched value; the interpreter sums the batch before calling evaluate. */
  bsum: {
    arity: 1,
    shape: ([x]: One<Shape>) => x,
    batched: ([x]: One<Node>) => (x.batched ? false : fail("bsum of a value that does not vary per example")),
    evaluate: ([x]: One<Tensor>) => x,
    jvp: (_, [t]: One<Node | null>, g) => (t === null ? null : g.bsum(t)),
    // ∂(Σⱼ xⱼ)/∂xⱼ = 1: every example's value receives the (shared) adjoint of the sum.
    vjp: (_, ct) => [ct],
    print: ([x]) => `Σⱼ ${x}`,
    precedence: 3,

    kernel: PLAN,
    smooth: true,
  },

  // Shape changes and constant index tables (compiler/ir/tables.ts builds the tables).
  /** The same entries, row-major, in another shape: elementwise on the flat entries. */
  reshape: {
    arity: 1,
    shape: ([x]: One<Shape>, attrs) => {
      const shape = defined(attrs.shape, "the shape");
      return sizeOf(shape) === sizeOf(x) ? shape : fail(`reshape of [${x}] to [${shape}]`);
    },
    evaluate: ([x]: One<Tensor>, node) => ({ shape: node.shape, data: x.data }),
    jvp: (node, [t]: One<Node | null>, g) => (t === null ? null : g.reshape(t, node.shape)),
    vjp: (node, ct, g) => [g.reshape(ct, first(node).shape)],
    print: ([x]: One<string>, node) => `reshape(${x}, [${node.shape}])`,
    precedence: 5,
    kernel: scalarForm(([x]) => defined(x, "the reshaped value")),
    smooth: true,
  },
  /** result[i] = x[table[i]], or 0 where table[i] = −1 (padding). */
  gather: {
    arity: 1,
    shape: ([x]: One<Shape>, attrs) => {
      const shape = defined(attrs.shape, "the result shape");
      const table = tableOf(attrs);
      if (table.length !== sizeOf(shape) || table.some((i) => i >= sizeOf(x)))
        fail(`a gather table of ${table.length} entries from [${x}] to [${shape}]`);
      return shape;
    },
    evaluate: ([x]: One<Tensor>, node) => {
      const out = new Float64Array(sizeOf(node.shape));
      tableOf(node.attrs).forEach((from, i) => {
        out[i] = from < 0 ? 0 : (x.data[from] ?? Number.NaN);
      });
      return { shape: node.shape, data: out };
    },
    jvp: (node, [t]: One<Node | null>, g) =>
      t === null ? null : g.gather(t, defined(node.attrs.table, "the table"), node.shape),
    vjp: (node, ct, g) => [g.scatter(ct, defined(node.attrs.table, "the table"), first(node).shape)],
    print: ([x]: One<string>, node) => `gather(${x}, ${defined(node.attrs.table, "the table").key})`,
    precedence: 5,
    kernel: PLAN,
    smooth: true,
  },
  /** result[k] = Σ x[i] over the i with table[i] = k: the adjoint of gather. */
  scatter: {
    arity: 1,
    shape: groupedShape,
    evaluate: ([x]: One<Tensor>, node) => grouped(x, node, 0, (acc, v) => acc + v),
    jvp: (node, [t]: One<Node | null>, g) =>
      t === null ? null : g.scatter(t, defined(node.attrs.table, "the table"), node.shape),
    vjp: (node, ct, g) => [g.gather(ct, defined(node.attrs.table, "the table"), first(node).shape)],
    print: ([x]: One<string>, node) => `scatter(${x}, ${defined(node.attrs.table, "the table").key})`,
    precedence: 5,
    kernel: PLAN,
    smooth: true,
  },
  /** result[k] = max x[i] over the i with table[i] = k; its derivative is the first maximal entry's. */
  segmax: {
    arity: 1,
    shape: groupedShape,
    evaluate: ([x]: One<Tensor>, node) => grouped(x, node, Number.NEGATIVE_INFINITY, Math.max),
    jvp: (node, [t]: One<Node | null>, g) => {
      if (t === null) return null;
      const table = defined(node.attrs.table, "the table");
      return g.scatter(g.mul(g.argmask(first(node), table), t), table, node.shape);
    },
    vjp: (node, ct, g) => {
      const table = defined(node.attrs.table, "the table");
      const x = first(node);
      return [g.mul(g.argmask(x, table), g.gather(ct, table, x.shape))];
    },
    print: ([x]: One<string>, node) => `segmax(${x}, ${defined(node.attrs.table, "the table").key})`,
    precedence: 5,
    kernel: PLAN,
    smooth: false,
  },
  /** 1 at the first entry of each group where x is largest, else 0; piecewise constant. */
  argmask: {
    arity: 1,
    shape: ([x]: One<Shape>, attrs) => (sizeOf(x) === tableOf(attrs).length ? x : fail(`an argmask table for [${x}]`)),
    evaluate: ([x]: One<Tensor>, node) => {
      const table = tableOf(node.attrs);
      const best = new Map<number, number>();
      table.forEach((k, i) => {
        if (k < 0) return;
        const current = best.get(k);
        if (current === undefined || (x.data[i] ?? Number.NaN) > (x.data[current] ?? Number.NaN)) best.set(k, i);
      });
      const out = new Float64Array(table.length);
      for (const i of best.values()) out[i] = 1;
      return { shape: node.shape, data: out };
    },
    jvp: () => null,
    vjp: () => [null],
    print: ([x]: One<string>, node) => `argmask(${x}, ${defined(node.attrs.table, "the table").key})`,
    precedence: 5,
    kernel: PLAN,
    smooth: false,
  },
  maximum: extremum(true),
  minimum: extremum(false),
  /** The value of x, through which no derivative flows: a shift that cancels (logsumexp's max). */
  nograd: {
    arity: 1,
    shape: ([x]: One<Shape>) => x,
    evaluate: ([x]: One<Tensor>) => x,
    jvp: () => null,
    vjp: () => [null],
    print: ([x]) => `nograd(${x})`,
    precedence: 5,
    kernel: scalarForm(([x]) => defined(x, "the value")),
    smooth: true,
  },
};

/** Every op's rule: the structural ops above, and one per elementwise function of compiler/math.ts. */
export const OPS: Readonly<Record<OpName, OpRule>> = {
  ...STRUCTURAL_RULES,
  ...perFunction(FUNCTION_NAMES, functionRule),
};
