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
import { defined, two } from "../../foundation/defined.ts";
import { sameShape } from "../../foundation/shape.ts";
import { constValue, first, isConst, second, type Node, type OpName } from "../ir/node.ts";

export interface Rule {
  readonly identity: string;
  readonly op: OpName | "*";
  readonly rewrite: (node: Node, inputs: readonly Node[], g: Graph) => Node | undefined;
  /**
   * Applies at the root of a sum only: the engine skips it at a sum that is itself a part of an
   * enclosing sum (an operand of +, −, negation or constant scaling), which is collected whole
   * with that sum. Collecting every prefix of a chain of additions cost time quadratic in its length.
   */
  readonly sumRootOnly?: true;
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
    {
      ...r2(
        "Σ c_k t_k: merge equal terms; c·(A@x) + d·(B@x) -> (c·A + d·B)@x, likewise outer and *; c·Σⱼ a + d·Σⱼ b -> Σⱼ (c·a + d·b)",
        "add",
        (n, _a, _b, g) => collect(g, n),
      ),
      sumRootOnly: true,
    },
    {
      ...r2("the same for a sum whose root is a difference", "sub", (n, _a, _b, g) => collect(g, n)),
      sumRootOnly: true,
    },
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

/**
 * True when input `k` of `node` is a part of the sum `node` belongs to (an operand of +, −,
 * negation or scaling by a scalar constant): what a sum's collection flattens through.
 */
export function isSumPart(node: Node, k: number): boolean {
  if (node.op === "add" || node.op === "sub") return k < 2;
  if (node.op === "neg") return k === 0;
  return k === 1 && linearOperands(node) !== undefined;
}

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
 * Collects a sum: merges repeated terms, and factors out an operand shared by several products of
 * the same kind in the same slot (either slot for `*`), all in one pass. Fires only when the sum
 * gets shorter. Linear in the number of terms: terms are grouped through an index of their
 * shareable operands, not compared pair by pair.
 */
function collect(g: Graph, node: Node): Node | undefined {
  const { terms, occurrences } = linearTerms(node);
  const entries = [...terms.entries()];
  if (entries.some(([term]) => !sameShape(term.shape, node.shape))) return undefined;
  const factored = entries.length < 2 ? entries : factorGroups(g, entries);
  if (factored.length < entries.length) return rebuildSum(g, factored, node.shape);
  return entries.length < occurrences ? rebuildSum(g, entries, node.shape) : undefined;
}

/**
 * One way a term can share a factor with others: `key` is equal for terms that can be combined
 * that way (the combined operand's shape included); `shared` is the common operand (none for Σⱼ)
 * in input slot `slot` of the term, `operand` what the term has besides it.
 */
interface Sharing {
  readonly key: string;
  readonly shared: Node | undefined;
  readonly slot: 0 | 1;
  readonly operand: Node;
}

/** The ways `term` can share a factor, in order of preference. */
function sharings(term: Node): Sharing[] {
  const way = (what: string, shared: Node | undefined, slot: 0 | 1, operand: Node): Sharing => ({
    key: `${what}#${shared?.id ?? ""}:${operand.shape.join("x")}`,
    shared,
    slot,
    operand,
  });
  // Σⱼ is linear: one batch sum of the combination (so its products can be factored inside).
  if (term.op === "bsum") return [way("bsum", undefined, 0, first(term))];
  if (term.op !== "matmul" && term.op !== "outer" && term.op !== "mul") return [];
  const [p, q] = two(term.inputs);
  if (term.op === "mul") {
    const ways: Sharing[] = [];
    if (!scalarConst(p)) ways.push(way("*", p, 0, q));
    if (!scalarConst(q) && q !== p) ways.push(way("*", q, 1, p));
    return ways;
  }
  return [way(`${term.op}<`, p, 0, q), way(`${term.op}>`, q, 1, p)];
}

/** The term of kind `like` sharing `way.shared` with `sum` in its place: op(s, sum), op(sum, s), s·sum or Σⱼ sum. */
function rebuildShared(g: Graph, like: Node, way: Sharing, sum: Node): Node {
  if (way.shared === undefined) return g.bsum(sum);
  if (like.op === "mul") return g.mul(way.shared, sum);
  return g.make(like.op, way.slot === 0 ? [way.shared, sum] : [sum, way.shared]);
}

/**
 * c₁·op(s, p₁) + … + c_k·op(s, p_k) -> op(s, c₁·p₁ + … + c_k·p_k) for every group of terms that
 * share an operand s (or with s on the right; either slot for `*`), and c₁·Σⱼ p₁ + … -> Σⱼ (c₁·p₁ + …).
 * Terms are taken in order; each joins the first group it can. Returns the shorter list of terms.
 */
function factorGroups(g: Graph, entries: readonly [Node, number][]): [Node, number][] {
  const ways = entries.map(([term]) => sharings(term));
  const buckets = new Map<string, number[]>();
  ways.forEach((list, i) => {
    for (const { key } of list) {
      const bucket = buckets.get(key);
      if (bucket === undefined) buckets.set(key, [i]);
      else if (bucket.at(-1) !== i) bucket.push(i);
    }
  });
  const grouped = new Set<number>();
  const result: [Node, number][] = [];
  entries.forEach((entry, i) => {
    if (grouped.has(i)) return;
    for (const way of ways[i] ?? []) {
      // Members still free, after i; the others are dropped for good (each index is dropped once).
      const bucket = (buckets.get(way.key) ?? []).filter((j) => j > i && !grouped.has(j));
      buckets.set(way.key, bucket);
      if (bucket.length === 0) continue;
      let sum: Node | undefined;
      for (const j of [i, ...bucket]) {
        grouped.add(j);
        const [, c] = defined(entries[j], "a grouped term");
        const operand = defined(
          ways[j]?.find((w) => w.key === way.key),
          "a grouped term's operand",
        ).operand;
        const scaled = c === 1 ? operand : g.mul(g.constant(c), operand);
        sum = sum === undefined ? scaled : g.add(sum, scaled);
      }
      result.push([rebuildShared(g, entry[0], way, defined(sum, "a group's sum")), 1]);
      return;
    }
    result.push(entry);
  });
  return result;
}
