/**
 * The bounded reference of `nqm verify`: the interpreter's values (the op table's `evaluate`),
 * each with a magnitude M ≥ |value| and a rounding count k, such that any evaluation of the same
 * formulas in double precision, with its sums in any order, lies within k·u·M of the exact value
 * (to first order in the unit roundoff u = 2⁻⁵³). The rules, one per op (docs/verify.md derives them):
 *
 *   leaf x:            M = |x|,                          k = 0
 *   a ± b, a · b:      M = Ma + Mb, Ma · Mb              k = max(ka, kb) + 1
 *   a / b:             M = Ma/|b| + |a/b|·Mb/|b|          k = max(ka, kb) + 1
 *   φ(x) elementwise:  M = |φ'(x)|·Mx + |φ(x)|            k = max(kx, 2) + 1   (2: the library's ulps)
 *   Σ of L terms:      M = Σ M(term)                       k = max k(term) + L  (γ_L = L·u/(1−L·u))
 *   matmul, outer:     M = Ma @ Mb, outer(Ma, Mb)          k = max(ka, kb) + L  (L the inner length, 1 for outer)
 *
 * M is the computation re-run on absolute values with every operation replaced by its absolute
 * sensitivity, so it does not depend on the order of a sum, on a factor being applied before or
 * after it, or on a product distributed over a sum: the kernels and the interpreter, which group
 * the same formulas differently, are held to the same bound.
 *
 * Kinks (the functions of compiler/math.ts that are not smooth: relu, step, abs, sign, leaky_relu,
 * leaky_step, all at 0, between linear or constant pieces): where rounding alone could put
 * an argument on either side (|x| ≤ 2·kx·u·Mx) the point is reported as near a kink. With a
 * recorded pattern the evaluation is frozen: each kink op keeps the side its argument had at the
 * recorded point (relu(x) = [x₀ > 0]·x, step(x) = [x₀ > 0], …), which is the smooth piece of f
 * whose derivatives the kernels compute there, so finite differences and Taylor fits never cross
 * a kink however many units the model has.
 */
import { type Node, OP_NAMES, type OpName, topologicalOrder } from "../compiler/ir/node.ts";
import { OPS } from "../compiler/ir/ops.ts";
import type { Tensor } from "../compiler/ir/tensor.ts";
import { FUNCTIONS, type FunctionName, functionRow, isFunction, NUMBERS } from "../compiler/math.ts";
import { defined, lookup } from "../foundation/defined.ts";
import { axpy } from "./linalg/index.ts";

/** The unit roundoff of float64. */
export const UNIT_ROUNDOFF = 2 ** -53;

/** Ulps of error allowed for one call of a library function (Math.exp, Math.tanh, …) and its result's rounding. */
const LIBRARY_ULPS = 2;

/** The ops with kinks, from the op table (its `smooth` flag). */
const KINK_OPS: ReadonlySet<OpName> = new Set(OP_NAMES.filter((op) => !OPS[op].smooth));
const LEAF_OPS: ReadonlySet<OpName> = new Set(["input", "param", "fixed", "tangent", "cotangent", "const"]);
const NONE = new Float64Array(0);

/** Whether a graph has a kink op: its finite differences then run on the frozen (smooth) piece. */
export function hasKinks(roots: readonly Node[]): boolean {
  return topologicalOrder(roots).some((node) => KINK_OPS.has(node.op));
}

/** A value with its magnitude and rounding count (see the file comment). */
export interface Bounded {
  readonly value: Tensor;
  readonly magnitude: Float64Array;
  readonly roundings: number;
}

/** Per kink node id, what is held at the recorded point: relu/abs/leaky_relu their slope, step/sign/leaky_step their value. */
export type KinkPattern = Map<number, Float64Array>;

/** The leaves of one example. */
export interface ExampleLeaves {
  readonly params: Readonly<Record<string, Tensor>>;
  readonly fixed: Readonly<Record<string, Tensor>>;
  readonly tangents: Readonly<Record<string, Tensor>>;
  readonly inputs: Readonly<Record<string, Tensor>>;
  readonly cotangent: Tensor;
}

interface ExampleReference {
  readonly roots: Bounded[];
  /** The pattern of this evaluation (the frozen one when given). */
  readonly pattern: KinkPattern;
  /** Kink arguments within rounding of their kink. */
  readonly nearKinks: number;
  /** Entries whose magnitude is not finite (a singularity such as 1/0 or sqrt'(0)). */
  readonly singular: number;
  /** With a frozen pattern: kink arguments now on the other side than recorded. */
  readonly crossings: number;
}

const abs = (data: Float64Array): Float64Array => data.map((v) => Math.abs(v));

/** Entry i of one of the per-root arrays, which have one entry per root. */
const entryOf = <T>(items: readonly T[], i: number): T => defined(items[i], "a root's entry");

/** Entry i of a tensor's data, which the op's shape rule guarantees. */
const entry = (data: Float64Array, i: number): number => defined(data[i], "a tensor entry");

const asTensor = (shape: readonly number[], data: Float64Array): Tensor => ({ shape, data });

/** The parameter of a function's node (NaN for a function without one). */
function parameterOf(fn: FunctionName, node: Node): number {
  const name = functionRow(fn).parameter;
  return name === undefined ? Number.NaN : defined(node.attrs[name], `the ${name} of ${fn}`);
}

/** |φ'(x)| for a smooth elementwise op, from its argument x and its value y (its table derivative, or pow's). */
function slope(op: FunctionName | "pow", x: number, y: number, node: Node): number {
  if (op === "pow") {
    const p = defined(node.attrs.exponent, "the exponent of pow");
    return p === 0 ? 0 : Math.abs(p * x ** (p - 1));
  }
  return Math.abs(FUNCTIONS[op].derivative(NUMBERS, x, y, parameterOf(op, node)) ?? 0);
}

/**
 * Whether a kink function is piecewise linear (relu, abs, leaky_relu: verify holds its slope)
 * rather than piecewise constant (step, sign, leaky_step: its derivative is null, and verify
 * holds its value).
 */
function holdsSlope(fn: FunctionName, node: Node): boolean {
  const row = functionRow(fn);
  const parameter = parameterOf(fn, node);
  return row.derivative(NUMBERS, 1, row.scalar(1, parameter), parameter) !== null;
}

/** The held slope or value (see holdsSlope) of a kink function at argument x. */
function held(fn: FunctionName, x: number, node: Node, slopeHeld: boolean): number {
  const row = functionRow(fn);
  const parameter = parameterOf(fn, node);
  const y = row.scalar(x, parameter);
  return slopeHeld ? (row.derivative(NUMBERS, x, y, parameter) ?? 0) : y;
}

/**
 * Evaluates `roots` for one example with magnitudes and rounding counts; with `frozen`, every
 * kink op keeps the side recorded in it. Intermediate values are dropped after their last use.
 */
export function evaluateExample(
  roots: readonly Node[],
  leaves: ExampleLeaves,
  frozen?: KinkPattern,
  withMagnitudes = true,
): ExampleReference {
  const order = topologicalOrder(roots);
  const uses = new Map<number, number>();
  for (const node of order) for (const input of node.inputs) uses.set(input.id, (uses.get(input.id) ?? 0) + 1);
  for (const root of roots) uses.set(root.id, Infinity);
  const values = new Map<number, Bounded>();
  const pattern: KinkPattern = frozen ?? new Map();
  let nearKinks = 0;
  let singular = 0;
  let crossings = 0;

  const leaf = (table: Readonly<Record<string, Tensor>>, kind: string, name: string): Bounded => {
    const value = Object.hasOwn(table, name) ? table[name] : undefined;
    if (value === undefined) throw new Error(`internal: no value bound for ${kind} ${name}`);
    return { value, magnitude: withMagnitudes ? abs(value.data) : NONE, roundings: 0 };
  };

  const evaluate = (node: Node, inputs: readonly Bounded[]): Bounded => {
    const op = node.op;
    if (!withMagnitudes && !KINK_OPS.has(op) && !LEAF_OPS.has(op) && op !== "bsum")
      return {
        value: OPS[op].evaluate(
          inputs.map((i) => i.value),
          node,
        ),
        magnitude: NONE,
        roundings: 0,
      };
    const name = node.attrs.name ?? "";
    const [a, b] = inputs as [Bounded, Bounded];
    const evaluated = (): Tensor =>
      OPS[op].evaluate(
        inputs.map((i) => i.value),
        node,
      );
    const magnitudeBy = (rule: OpName, ms: readonly Float64Array[]) =>
      OPS[rule].evaluate(
        ms.map((m, i) => asTensor(defined(inputs[i], "an operand").value.shape, m)),
        node,
      ).data;
    const kMax = inputs.reduce((k, i) => Math.max(k, i.roundings), 0);
    // biome-ignore-start lint/style/noNonNullAssertion: per-element loops over whole tensors, at every check of every node; i bounded by the loops over same-shaped arrays
    const smooth = (fn: FunctionName | "pow"): Bounded => {
      const value = evaluated();
      const magnitude = new Float64Array(value.data.length);
      for (let i = 0; i < magnitude.length; i++) {
        const y = value.data[i]!;
        const bound = slope(fn, a.value.data[i]!, y, node) * a.magnitude[i]! + Math.abs(y);
        magnitude[i] = bound;
        if (!Number.isFinite(bound)) singular++;
      }
      return { value, magnitude, roundings: Math.max(a.roundings, LIBRARY_ULPS) + 1 };
    };
    const kink = (fn: FunctionName): Bounded => {
      const x = a.value.data;
      const holds = holdsSlope(fn, node);
      let sides = pattern.get(node.id);
      if (sides === undefined) {
        sides = new Float64Array(x.length);
        for (let i = 0; i < x.length; i++) {
          sides[i] = held(fn, x[i]!, node, holds);
          if (
            withMagnitudes &&
            a.magnitude[i]! > 0 &&
            Math.abs(x[i]!) <= 2 * a.roundings * UNIT_ROUNDOFF * a.magnitude[i]!
          )
            nearKinks++;
        }
        pattern.set(node.id, sides);
      } else {
        for (let i = 0; i < x.length; i++) if (held(fn, x[i]!, node, holds) !== sides[i]) crossings++;
      }
      // Free, the interpreter's own value; held, the recorded piece.
      const data = frozen === undefined ? evaluated().data : new Float64Array(x.length);
      const magnitude = withMagnitudes ? new Float64Array(x.length) : NONE;
      for (let i = 0; i < x.length; i++) {
        const side = sides[i]!;
        if (frozen !== undefined) data[i] = holds ? side * x[i]! : side;
        if (withMagnitudes) magnitude[i] = holds ? Math.abs(side) * a.magnitude[i]! : Math.abs(side);
      }
      return { value: asTensor(node.shape, data), magnitude, roundings: holds ? a.roundings + 1 : 0 };
    };
    // biome-ignore-end lint/style/noNonNullAssertion: per-element loops end
    /**
     * A choosing op (maximum, minimum, segmax, argmask): entry k of the result is entry
     * `choice[k]` of its source, chosen at the recorded point and held when frozen.
     */
    const choosing = (choose: () => { choice: Float64Array; near: number }): Float64Array => {
      const fresh = choose();
      const recorded = pattern.get(node.id);
      if (recorded === undefined) {
        pattern.set(node.id, fresh.choice);
        if (withMagnitudes) nearKinks += fresh.near;
        return fresh.choice;
      }
      fresh.choice.forEach((c, k) => {
        if (c !== recorded[k]) crossings++;
      });
      return frozen === undefined ? fresh.choice : recorded;
    };
    /** Per group of the table, the first entry where x is largest, and how many are within rounding of it. */
    const groupChoice = (): { choice: Float64Array; near: number } => {
      const table = defined(node.attrs.table, "an index table").data;
      const groups = table.reduce((most, k) => Math.max(most, k + 1), 0);
      const choice = new Float64Array(groups).fill(-1);
      table.forEach((k, i) => {
        if (k < 0) return;
        const best = choice[k] ?? -1;
        if (best < 0 || entry(a.value.data, i) > entry(a.value.data, best)) choice[k] = i;
      });
      let near = 0;
      table.forEach((k, i) => {
        const best = choice[k] ?? -1;
        if (k < 0 || best === i || best < 0 || !withMagnitudes) return;
        const gap = entry(a.value.data, best) - entry(a.value.data, i);
        if (gap <= 2 * a.roundings * UNIT_ROUNDOFF * (entry(a.magnitude, best) + entry(a.magnitude, i))) near++;
      });
      return { choice, near };
    };
    if (op === "segmax" || op === "argmask") {
      const choice = choosing(groupChoice);
      if (op === "segmax") {
        const picked = (data: Float64Array) => Float64Array.from(choice, (i) => entry(data, i));
        return {
          value: asTensor(node.shape, picked(a.value.data)),
          magnitude: withMagnitudes ? picked(a.magnitude) : NONE,
          roundings: a.roundings,
        };
      }
      const mask = new Float64Array(a.value.data.length);
      for (const i of choice) if (i >= 0) mask[i] = 1;
      return { value: asTensor(node.shape, mask), magnitude: withMagnitudes ? mask : NONE, roundings: 0 };
    }
    if (op === "maximum" || op === "minimum") {
      const size = node.shape.reduce((p, q) => p * q, 1);
      const at = (data: Float64Array, i: number) => entry(data, data.length === 1 ? 0 : i);
      const choice = choosing(() => {
        const choice = new Float64Array(size);
        let near = 0;
        for (let i = 0; i < size; i++) {
          const [x, y] = [at(a.value.data, i), at(b.value.data, i)];
          choice[i] = (op === "maximum" ? x >= y : x <= y) ? 0 : 1;
          if (withMagnitudes && Math.abs(x - y) <= 2 * kMax * UNIT_ROUNDOFF * (at(a.magnitude, i) + at(b.magnitude, i)))
            near++;
        }
        return { choice, near };
      });
      const picked = (first: Float64Array, second: Float64Array) =>
        Float64Array.from(choice, (c, i) => (c === 0 ? at(first, i) : at(second, i)));
      return {
        value: asTensor(node.shape, picked(a.value.data, b.value.data)),
        magnitude: withMagnitudes ? picked(a.magnitude, b.magnitude) : NONE,
        roundings: kMax,
      };
    }
    if (isFunction(op)) return FUNCTIONS[op].smooth ? smooth(op) : kink(op);
    switch (op) {
      case "input":
        return leaf(leaves.inputs, "input", name);
      case "param":
        return leaf(leaves.params, "param", name);
      case "fixed":
        return leaf(leaves.fixed, "fixed", name);
      case "tangent":
        return leaf(leaves.tangents, "tangent", name);
      case "cotangent":
        return { value: leaves.cotangent, magnitude: withMagnitudes ? abs(leaves.cotangent.data) : NONE, roundings: 0 };
      case "const": {
        const value = evaluated();
        return { value, magnitude: abs(value.data), roundings: 0 };
      }
      // One example: Σⱼ is the identity here; the caller adds the sum over examples.
      case "bsum":
        return a;
      case "neg":
      case "reshape":
      case "nograd":
        return { value: evaluated(), magnitude: a.magnitude, roundings: a.roundings };
      case "gather":
        return { value: evaluated(), magnitude: magnitudeBy("gather", [a.magnitude]), roundings: a.roundings };
      case "scatter": {
        // Each result entry is a sum of its group: as many roundings as the largest group has terms.
        const counts = new Map<number, number>();
        for (const k of defined(node.attrs.table, "an index table").data) counts.set(k, (counts.get(k) ?? 0) + 1);
        counts.delete(-1);
        let largest = 0;
        for (const count of counts.values()) largest = Math.max(largest, count);
        return {
          value: evaluated(),
          magnitude: magnitudeBy("scatter", [a.magnitude]),
          roundings: a.roundings + largest,
        };
      }
      case "transpose":
      case "broadcast":
        return { value: evaluated(), magnitude: magnitudeBy(op, [a.magnitude]), roundings: a.roundings };
      case "add":
      case "sub":
        return { value: evaluated(), magnitude: magnitudeBy("add", [a.magnitude, b.magnitude]), roundings: kMax + 1 };
      case "mul":
        return { value: evaluated(), magnitude: magnitudeBy("mul", [a.magnitude, b.magnitude]), roundings: kMax + 1 };
      case "outer":
        return { value: evaluated(), magnitude: magnitudeBy("outer", [a.magnitude, b.magnitude]), roundings: kMax + 1 };
      case "matmul": {
        const inner = defined(b.value.shape[0], "matmul's inner size");
        return {
          value: evaluated(),
          magnitude: magnitudeBy("matmul", [a.magnitude, b.magnitude]),
          roundings: kMax + inner,
        };
      }
      case "sum":
        return {
          value: evaluated(),
          magnitude: magnitudeBy("sum", [a.magnitude]),
          roundings: a.roundings + a.value.data.length,
        };
      case "div": {
        const value = evaluated();
        const out = new Float64Array(value.data.length);
        const sa = a.value.data.length === 1 && out.length !== 1;
        const sb = b.value.data.length === 1 && out.length !== 1;
        value.data.forEach((y, i) => {
          const divisor = Math.abs(entry(b.value.data, sb ? 0 : i));
          out[i] = (entry(a.magnitude, sa ? 0 : i) + Math.abs(y) * entry(b.magnitude, sb ? 0 : i)) / divisor;
        });
        return { value, magnitude: out, roundings: kMax + 1 };
      }
      case "pow":
        return smooth("pow");
      default: {
        const unhandled: never = op;
        throw new Error(`internal: no reference rule for ${String(unhandled)}`);
      }
    }
  };

  for (const node of order) {
    const inputs = node.inputs.map((input) => lookup(values, input.id, "an operand's value"));
    values.set(node.id, evaluate(node, inputs));
    for (const input of node.inputs) {
      const left = lookup(uses, input.id, "an operand's use count") - 1;
      uses.set(input.id, left);
      if (left === 0) values.delete(input.id);
    }
  }
  return {
    roots: roots.map((root) => lookup(values, root.id, "a root's value")),
    pattern,
    nearKinks,
    singular,
    crossings,
  };
}

/** A batch of examples in the kernels' flat layout. */
export interface BatchLeaves {
  readonly n: number;
  readonly params: Readonly<Record<string, Tensor>>;
  readonly fixed: Readonly<Record<string, Tensor>>;
  readonly tangents: Readonly<Record<string, Tensor>>;
  /** Per input: its shape and [n, size] values. */
  readonly inputs: readonly { readonly name: string; readonly shape: readonly number[]; readonly data: Float64Array }[];
  readonly outputShape: readonly number[];
  /** [n, output size]. */
  readonly cotangent: Float64Array;
}

export interface BatchReference {
  /** Per root: per-example roots as [n, size], shared roots summed over the examples. */
  readonly values: Float64Array[];
  readonly magnitudes: Float64Array[];
  readonly roundings: number[];
  readonly patterns: KinkPattern[];
  readonly nearKinks: number;
  readonly singular: number;
  readonly crossings: number;
}

/**
 * Evaluates `roots` one example at a time (memory: one example's values, not n), in the kernels'
 * layout: a per-example root is stacked [n, size]; a shared root (a Σⱼ, linear in the per-example
 * cotangent or tangent terms) is accumulated over the examples, which adds n to its rounding count.
 */
export function evaluateBatch(
  roots: readonly Node[],
  leaves: BatchLeaves,
  frozen?: readonly KinkPattern[],
  withMagnitudes = true,
  perExample: ReadonlySet<Node> = new Set(),
): BatchReference {
  const n = leaves.n;
  const sizes = roots.map((r) => r.shape.reduce((a, b) => a * b, 1));
  // A shared root that no Σⱼ feeds does not depend on the examples: it is taken once, not summed.
  const summed = roots.map((r) => !r.batched && topologicalOrder([r]).some((node) => node.op === "bsum"));
  // A root the kernels lay out per example is stacked even where it does not vary (ΔᵀHΔ of a quadratic).
  const stacked = roots.map((r) => r.batched || perExample.has(r));
  const values = roots.map((_, i) => new Float64Array(stacked[i] ? n * entryOf(sizes, i) : entryOf(sizes, i)));
  const magnitudes = values.map((value) => (withMagnitudes ? new Float64Array(value.length) : NONE));
  const roundings = roots.map(() => 0);
  const patterns: KinkPattern[] = [];
  let nearKinks = 0;
  let singular = 0;
  let crossings = 0;
  const outputSize = leaves.outputShape.reduce((a, b) => a * b, 1);
  for (let j = 0; j < n; j++) {
    const example = evaluateExample(
      roots,
      {
        params: leaves.params,
        fixed: leaves.fixed,
        tangents: leaves.tangents,
        inputs: Object.fromEntries(
          leaves.inputs.map((input) => {
            const size = input.shape.reduce((a, b) => a * b, 1);
            return [input.name, asTensor(input.shape, input.data.subarray(j * size, (j + 1) * size))];
          }),
        ),
        cotangent: asTensor(leaves.outputShape, leaves.cotangent.subarray(j * outputSize, (j + 1) * outputSize)),
      },
      frozen?.[j],
      withMagnitudes,
    );
    patterns.push(example.pattern);
    nearKinks += example.nearKinks;
    singular += example.singular;
    crossings += example.crossings;
    example.roots.forEach(({ value, magnitude, roundings: k }, r) => {
      const out = entryOf(values, r);
      const outMagnitude = entryOf(magnitudes, r);
      const before = entryOf(roundings, r);
      if (stacked[r]) {
        out.set(value.data, j * entryOf(sizes, r));
        if (withMagnitudes) outMagnitude.set(magnitude, j * entryOf(sizes, r));
        roundings[r] = Math.max(before, k);
      } else if (summed[r]) {
        axpy(1, value.data, out);
        if (withMagnitudes) axpy(1, magnitude, outMagnitude);
        roundings[r] = Math.max(before, k + n);
      } else if (j === 0) {
        out.set(value.data);
        if (withMagnitudes) outMagnitude.set(magnitude);
        roundings[r] = k;
      }
    });
  }
  return { values, magnitudes, roundings, patterns, nearKinks, singular, crossings };
}
