/**
 * The checker's signature table: for each built-in function, its argument count, which
 * arguments must be constant scalars, and its shape rule. Adding a built-in touches this
 * table, the op table (compiler/ir/ops.ts), the lowering (compiler/ir/lower.ts), the docs and
 * one test row.
 */
import { one, two } from "../../foundation/defined.ts";
import type { Shape } from "../../foundation/shape.ts";

/** A shape rule returns the result shape, or the reason the argument shapes do not fit. */
export type ShapeRule = (args: readonly Shape[]) => Shape | { readonly error: string; readonly argument: number };

export interface BuiltinSignature {
  readonly arity: number;
  /** A description of the arguments for "takes ..." messages. */
  readonly takes: string;
  /** Indices of arguments that must be constant scalars (their values become attributes). */
  readonly constantArgs: readonly number[];
  readonly shape: ShapeRule;
}

const sameShape: ShapeRule = (args) => one(args);
const toScalar: ShapeRule = () => [];

function elementwise(): BuiltinSignature {
  return { arity: 1, takes: "1 argument", constantArgs: [], shape: sameShape };
}

function reduction(): BuiltinSignature {
  return { arity: 1, takes: "1 argument", constantArgs: [], shape: toScalar };
}

function vectorPair(result: (m: number, n: number) => Shape, equalLength: boolean): ShapeRule {
  return (args) => {
    const [a, b] = two(args);
    const [m, n] = [a[0], b[0]];
    if (a.length !== 1 || m === undefined) return { error: `a vector as first argument`, argument: 0 };
    if (b.length !== 1 || n === undefined) return { error: `a vector as second argument`, argument: 1 };
    if (equalLength && m !== n) return { error: `two vectors of equal length`, argument: 1 };
    return result(m, n);
  };
}

export const BUILTINS = {
  relu: elementwise(),
  tanh: elementwise(),
  sigmoid: elementwise(),
  softplus: elementwise(),
  swish: elementwise(),
  exp: elementwise(),
  log: elementwise(),
  sqrt: elementwise(),
  abs: elementwise(),
  sin: elementwise(),
  cos: elementwise(),
  square: elementwise(),
  leaky_relu: { arity: 2, takes: "2 arguments (x, slope)", constantArgs: [1], shape: sameShape },
  sum: reduction(),
  mean: reduction(),
  norm: reduction(),
  dot: { arity: 2, takes: "2 arguments", constantArgs: [], shape: vectorPair(() => [], true) },
  outer: { arity: 2, takes: "2 arguments", constantArgs: [], shape: vectorPair((m, n) => [m, n], false) },
  transpose: {
    arity: 1,
    takes: "1 argument",
    constantArgs: [],
    shape: (args) => {
      const [rows, cols, ...more] = one(args);
      return rows !== undefined && cols !== undefined && more.length === 0
        ? [cols, rows]
        : { error: "a matrix", argument: 0 };
    },
  },
} as const satisfies Record<string, BuiltinSignature>;

export type BuiltinName = keyof typeof BUILTINS;

export function isBuiltin(name: string): name is BuiltinName {
  return Object.hasOwn(BUILTINS, name);
}

/** Initializers: name → parameter names (their count is the arity). */
export const INITIALIZERS = {
  normal: ["mean", "std"],
  uniform: ["lo", "hi"],
  rademacher: [],
  zeros: [],
  ones: [],
  constant: ["value"],
} as const satisfies Record<string, readonly string[]>;

export type InitializerName = keyof typeof INITIALIZERS;
