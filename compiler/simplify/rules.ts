/**
 * Rewrite rules, one per line, each with the identity it applies, grouped in named sets.
 * A rule sees a node whose inputs are already simplified and returns its replacement, or
 * undefined when it does not apply. Every rule either shrinks the graph or moves it toward one
 * canonical form (constants first, inputs of commutative ops in id order, negations outward),
 * so the engine reaches a fixed point.
 */
import type { Graph } from "../ir/graph.ts";
import { isDot, OPS } from "../ir/ops.ts";
import type { Tensor } from "../ir/tensor.ts";
import { two } from "../../foundation/defined.ts";
import { sameShape } from "../../foundation/shape.ts";
import { constValue, first, isConst, second, type Node, type OpName } from "../ir/node.ts";

export interface Rule {
  readonly identity: string;
  readonly op: OpName | "*";
  readonly rewrite: (node: Node, inputs: readonly Node[], g: Graph) => Node | undefined;
}

const r = (identity: string, op: OpName | "*", rewrite: Rule["rewrite"]): Rule => ({ identity, op, rewrite });
/** A rule for an op of one input, which it receives checked. */
const r1 = (identity: string, op: OpName, rewrite: (node: Node, x: Node, g: Graph) => Node | undefined): Rule =>
  r(identity, op, (node, [x], g) => (x === undefined ? undefined : rewrite(node, x, g)));
/** A rule for an op of two inputs, which it receives checked. */
const r2 = (
  identity: string,
  op: OpName,
  rewrite: (node: Node, a: Node, b: Node, g: Graph) => Node | undefined,
): Rule =>
  r(identity, op, (node, [a, b], g) => (a === undefined || b === undefined ? undefined : rewrite(node, a, b, g)));

const zero = (n: Node) => isConst(n, 0);
const one = (n: Node) => isConst(n, 1);
const scalarConst = (n: Node) => n.op === "const" && n.shape.length === 0;
/** `x` as a value of `node`'s shape (scalar broadcast when needed). */
const fit = (g: Graph, x: Node, node: Node) => (sameShape(x.shape, node.shape) ? x : g.broadcast(x, node.shape));
const LINEAR_UNARY = new Set<OpName>(["sum", "bsum", "transpose", "neg"]);
const COMMUTATIVE = new Set<OpName>(["add", "mul"]);

function uniformValue(t: Tensor): number | undefined {
  const first = t.data[0];
  if (first === undefined || !Number.isFinite(first)) return undefined;
  for (let i = 1; i < t.data.length; i++) if (t.data[i] !== first) return undefined;
  return first;
}

export const RULE_SETS: Readonly<Record<string, readonly Rule[]>> = {
  // ------------------------------------------------------------ constant folding
  "constant folding": [
    r("f(c1, …, ck) -> c  for constant inputs", "*", (n, ins, g) => {
      if (ins.length === 0 || n.op === "bsum" || !ins.every((x) => x.op === "const")) return undefined;
      const value = uniformValue(
        OPS[n.op].evaluate(
          ins.map((x) => OPS.const.evaluate([], x)),
          n,
        ),
      );
      return value === undefined ? undefined : g.constant(value, n.shape);
    }),
  ],
  // ------------------------------------------------------------ zero folding
  "zero folding": [
    r2("0*x -> 0", "mul", (n, a, _b, g) => (zero(a) ? g.zerosLike(n) : undefined)),
    r2("x*0 -> 0", "mul", (n, _a, b, g) => (zero(b) ? g.zerosLike(n) : undefined)),
    r2("0/x -> 0", "div", (n, a, _b, g) => (zero(a) ? g.zerosLike(n) : undefined)),
    r2("0+x -> x", "add", (n, a, b, g) => (zero(a) ? fit(g, b, n) : undefined)),
    r2("x+0 -> x", "add", (n, a, b, g) => (zero(b) ? fit(g, a, n) : undefined)),
    r2("x-0 -> x", "sub", (n, a, b, g) => (zero(b) ? fit(g, a, n) : undefined)),
    r2("0-x -> -x", "sub", (n, a, b, g) => (zero(a) ? g.neg(fit(g, b, n)) : undefined)),
    r2("0@x -> 0, x@0 -> 0", "matmul", (n, a, b, g) => (zero(a) || zero(b) ? g.zerosLike(n) : undefined)),
    r2("outer(0,x) -> 0, outer(x,0) -> 0", "outer", (n, a, b, g) => (zero(a) || zero(b) ? g.zerosLike(n) : undefined)),
  ],
  // ------------------------------------------------------------ one folding
  "one folding": [
    r2("1*x -> x", "mul", (n, a, b, g) => (one(a) ? fit(g, b, n) : undefined)),
    r2("x*1 -> x", "mul", (n, a, b, g) => (one(b) ? fit(g, a, n) : undefined)),
    r2("x/1 -> x", "div", (n, a, b, g) => (one(b) ? fit(g, a, n) : undefined)),
    r1("x^1 -> x", "pow", (n, x) => (n.attrs.exponent === 1 ? x : undefined)),
    r1("x^0 -> 1", "pow", (n, _x, g) => (n.attrs.exponent === 0 ? g.constant(1, n.shape) : undefined)),
    r1("x^2 -> square(x)", "pow", (n, x, g) => (n.attrs.exponent === 2 ? g.unary("square", x) : undefined)),
    r1("x^0.5 -> sqrt(x)", "pow", (n, x, g) => (n.attrs.exponent === 0.5 ? g.unary("sqrt", x) : undefined)),
  ],
  // ------------------------------------------------------------ collecting sums
  collecting: [
    r2(
      "Σ c_k t_k: merge equal terms; c·(A@x) + d·(B@x) -> (c·A + d·B)@x, likewise outer and *; c·Σⱼ a + d·Σⱼ b -> Σⱼ (c·a + d·b)",
      "add",
      (n, _a, _b, g) => collect(g, n),
    ),
    r2("the same for a sum whose root is a difference", "sub", (n, _a, _b, g) => collect(g, n)),
  ],
  // ------------------------------------------------------------ algebraic identities
  algebra: [
    r1("--x -> x", "neg", (_, x) => (x.op === "neg" ? x.inputs[0] : undefined)),
    r2("x + -y -> x - y", "add", (_, a, b, g) => (b.op === "neg" ? g.sub(a, first(b)) : undefined)),
    r2("-x + y -> y - x", "add", (_, a, b, g) => (a.op === "neg" ? g.sub(b, first(a)) : undefined)),
    r2("x - -y -> x + y", "sub", (_, a, b, g) => (b.op === "neg" ? g.add(a, first(b)) : undefined)),
    r2("-x - y -> -(x + y)", "sub", (_, a, b, g) => (a.op === "neg" ? g.neg(g.add(first(a), b)) : undefined)),
    r2("x*c -> c*x  (scalar constants first)", "mul", (_, a, b, g) =>
      scalarConst(b) && !scalarConst(a) ? g.mul(b, a) : undefined,
    ),
    r2("a*(b*x) -> (a*b)*x", "mul", (_, a, b, g) =>
      scalarConst(a) && b.op === "mul" && scalarConst(first(b))
        ? g.mul(g.constant(constValue(a) * constValue(first(b))), second(b))
        : undefined,
    ),
    r2("x/c -> (1/c)*x", "div", (_, a, b, g) =>
      scalarConst(b) && b.attrs.value !== 0 ? g.mul(g.constant(1 / constValue(b)), a) : undefined,
    ),
    r2("(c*x)/y -> c*(x/y)", "div", (_, a, b, g) =>
      a.op === "mul" && scalarConst(first(a)) ? g.mul(first(a), g.div(second(a), b)) : undefined,
    ),
    r2("-x * y -> -(x*y)", "mul", (_, a, b, g) => (a.op === "neg" ? g.neg(g.mul(first(a), b)) : undefined)),
    r2("x * -y -> -(x*y)", "mul", (_, a, b, g) => (b.op === "neg" ? g.neg(g.mul(a, first(b))) : undefined)),
    r2("-x / y -> -(x/y)", "div", (_, a, b, g) => (a.op === "neg" ? g.neg(g.div(first(a), b)) : undefined)),
    r1("c*-x -> (-c)*x", "neg", (_, x, g) =>
      x.op === "mul" && scalarConst(first(x)) ? g.mul(g.constant(-constValue(first(x))), second(x)) : undefined,
    ),
    r2("-(x) @ y -> -(x @ y), x @ -(y) -> -(x @ y)", "matmul", (_, a, b, g) =>
      a.op === "neg" ? g.neg(g.matmul(first(a), b)) : b.op === "neg" ? g.neg(g.matmul(a, first(b))) : undefined,
    ),
    r2("(c*x) @ y -> c*(x @ y), x @ (c*y) -> c*(x @ y)", "matmul", (_, a, b, g) =>
      a.op === "mul" && scalarConst(first(a))
        ? g.mul(first(a), g.matmul(second(a), b))
        : b.op === "mul" && scalarConst(first(b))
          ? g.mul(first(b), g.matmul(a, second(b)))
          : undefined,
    ),
    r2("outer(c*x, y) -> c*outer(x, y), outer(x, c*y) -> c*outer(x, y)", "outer", (_, a, b, g) =>
      a.op === "mul" && scalarConst(first(a))
        ? g.mul(first(a), g.outer(second(a), b))
        : b.op === "mul" && scalarConst(first(b))
          ? g.mul(first(b), g.outer(a, second(b)))
          : undefined,
    ),
    r("L(c*x) -> c*L(x), L(-x) -> -L(x)  for linear L in sum, Σⱼ, transpose", "*", (n, [x], g) => {
      if (!LINEAR_UNARY.has(n.op) || n.op === "neg" || x === undefined) return undefined;
      if (x.op === "neg") return g.neg(g.make(n.op, [first(x)], n.attrs));
      if (x.op === "mul" && scalarConst(first(x))) return g.mul(first(x), g.make(n.op, [second(x)], n.attrs));
      return undefined;
    }),
    r("a ⊙ b -> b ⊙ a  when b is older (commutative ops, dot)", "*", (n, [a, b], g) => {
      if (a === undefined || b === undefined) return undefined;
      const commutes = COMMUTATIVE.has(n.op) || isDot(n);
      if (!commutes || scalarConst(a) || scalarConst(b) || a.id <= b.id) return undefined;
      return g.make(n.op, [b, a]);
    }),
    r1("transpose(transpose(x)) -> x", "transpose", (_, x) => (x.op === "transpose" ? x.inputs[0] : undefined)),
    r2("step(x)*step(x) -> step(x)", "mul", (_, a, b) => (a === b && a.op === "step" ? a : undefined)),
    r2("step(x)*relu(x) -> relu(x)", "mul", (_, a, b) =>
      a.op === "step" && b.op === "relu" && a.inputs[0] === b.inputs[0] ? b : undefined,
    ),
    r2("relu(x)*step(x) -> relu(x)", "mul", (_, a, b) =>
      b.op === "step" && a.op === "relu" && a.inputs[0] === b.inputs[0] ? a : undefined,
    ),
  ],
};

/** The operands through which a sum's coefficients flow, with their factors; undefined for a term. */
function linearOperands(node: Node): readonly (readonly [Node, number])[] | undefined {
  const [a, b] = node.inputs;
  if (a === undefined) return undefined;
  if (node.op === "neg") return [[a, -1]];
  if (b === undefined) return undefined;
  if (node.op === "add")
    return [
      [a, 1],
      [b, 1],
    ];
  if (node.op === "sub")
    return [
      [a, 1],
      [b, -1],
    ];
  if (node.op === "mul" && scalarConst(a) && a.attrs.value !== undefined) return [[b, a.attrs.value]];
  return undefined;
}

/**
 * Flattens a DAG of +, −, negation and scalar-constant scaling into coefficient·term pairs, terms
 * in the order a left-to-right walk first meets them, and counts the term occurrences of that
 * walk as a tree (`occurrences`, the length of the sum as written). Iterative and linear in the
 * DAG: a shared operand is visited once and its coefficient accumulated, not walked per path.
 */
function linearTerms(root: Node): { terms: Map<Node, number>; occurrences: number } {
  const terms = new Map<Node, number>();
  const order: Node[] = [];
  const seen = new Set<Node>();
  const stack: Node[] = [root];
  for (let node = stack.pop(); node !== undefined; node = stack.pop()) {
    if (seen.has(node)) continue;
    seen.add(node);
    const operands = linearOperands(node);
    if (operands === undefined) {
      terms.set(node, 0);
      continue;
    }
    order.push(node);
    for (let i = operands.length - 1; i >= 0; i--) {
      const operand = operands[i]?.[0];
      if (operand !== undefined && !seen.has(operand)) stack.push(operand);
    }
  }
  // Ids are creation order (operands before users): descending ids visit users first.
  order.sort((x, y) => y.id - x.id);
  const coefficient = new Map<Node, number>([[root, 1]]);
  const count = new Map<Node, number>();
  for (const node of order) {
    const c = coefficient.get(node) ?? 0;
    for (const [operand, factor] of linearOperands(node) ?? []) {
      coefficient.set(operand, (coefficient.get(operand) ?? 0) + c * factor);
    }
  }
  for (const term of terms.keys()) terms.set(term, coefficient.get(term) ?? 0);
  for (let i = order.length - 1; i >= 0; i--) {
    const node = order[i];
    if (node === undefined) continue;
    let total = 0;
    for (const [operand] of linearOperands(node) ?? []) total += terms.has(operand) ? 1 : (count.get(operand) ?? 0);
    count.set(node, total);
  }
  return { terms, occurrences: terms.has(root) ? 1 : (count.get(root) ?? 0) };
}

/** Σ c_k t_k as a chain of additions (coefficient 1 and −1 without a product). */
function rebuildSum(g: Graph, terms: readonly [Node, number][], shape: readonly number[]): Node {
  let sum: Node | undefined;
  for (const [term, c] of terms) {
    if (c === 0) continue;
    const magnitude = Math.abs(c) === 1 ? term : g.mul(g.constant(Math.abs(c)), term);
    sum =
      sum === undefined
        ? c < 0
          ? g.neg(magnitude)
          : magnitude
        : c < 0
          ? g.sub(sum, magnitude)
          : g.add(sum, magnitude);
  }
  return sum ?? g.constant(0, shape);
}

/**
 * Collects a sum: merges repeated terms and factors one operand shared by two products of the
 * same kind in the same slot (either slot for `*`). Fires only when the sum gets shorter.
 */
function collect(g: Graph, node: Node): Node | undefined {
  const { terms, occurrences: leaves } = linearTerms(node);
  const entries = [...terms.entries()];
  if (entries.some(([term]) => !sameShape(term.shape, node.shape))) return undefined;
  for (let i = 0; i < entries.length; i++) {
    for (let j = i + 1; j < entries.length; j++) {
      const [ei, ej] = [entries[i], entries[j]];
      const factored = ei && ej && factorPair(g, ei, ej);
      if (!factored) continue;
      const rest = entries.filter((_, k) => k !== i && k !== j);
      return rebuildSum(g, [[factored, 1], ...rest], node.shape);
    }
  }
  return entries.length < leaves ? rebuildSum(g, entries, node.shape) : undefined;
}

/**
 * c·op(s, p) + d·op(s, q) -> op(s, c·p + d·q) (or with s on the right), when both share s;
 * c·Σⱼ p + d·Σⱼ q -> Σⱼ (c·p + d·q).
 */
function factorPair(g: Graph, [a, ca]: [Node, number], [b, cb]: [Node, number]): Node | undefined {
  const scaled = (c: number, x: Node) => (c === 1 ? x : g.mul(g.constant(c), x));
  const combine = (x: Node, y: Node) => (sameShape(x.shape, y.shape) ? g.add(scaled(ca, x), scaled(cb, y)) : undefined);
  // Σⱼ is linear: one batch sum of the combination (so its products can be factored inside).
  if (a.op === "bsum" && b.op === "bsum") {
    const sum = combine(first(a), first(b));
    return sum && g.bsum(sum);
  }
  if (a.op !== b.op || !(a.op === "matmul" || a.op === "outer" || a.op === "mul")) return undefined;
  const [p, q] = two(a.inputs);
  const [r, s] = two(b.inputs);
  if (a.op === "mul") {
    const shared = p === r || p === s ? p : q === r || q === s ? q : undefined;
    if (shared === undefined || scalarConst(shared)) return undefined;
    const other = (product: Node) => (first(product) === shared ? second(product) : first(product));
    const sum = combine(other(a), other(b));
    return sum && g.mul(shared, sum);
  }
  if (p === r) {
    const sum = combine(q, s);
    return sum && g.make(a.op, [p, sum]);
  }
  if (q === s) {
    const sum = combine(p, r);
    return sum && g.make(a.op, [sum, q]);
  }
  return undefined;
}
