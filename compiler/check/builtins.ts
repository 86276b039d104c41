/**
 * The checker's signature table: for each built-in function, its argument count, which
 * arguments must be constant scalars, and its shape rule. The elementwise functions of
 * compiler/math.ts get theirs from their row there; the composite built-ins below (lowered to
 * several ops by compiler/ir/lower.ts) are listed here.
 */
import { one, two } from "../../foundation/defined.ts";
import type { Shape } from "../../foundation/shape.ts";
import { type BuiltinFunctionName, FUNCTION_NAMES, functionRow, isBuiltinFunction, perFunction } from "../math.ts";

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

/** An elementwise function's signature: its argument, then its constant parameter if it takes one. */
function functionSignature(fn: BuiltinFunctionName): BuiltinSignature {
  const parameter = functionRow(fn).parameter;
  return parameter === undefined
    ? elementwise()
    : { arity: 2, takes: `2 arguments (x, ${parameter})`, constantArgs: [1], shape: sameShape };
}

/** The built-ins that are not one elementwise function: each lowers to several ops. */
export const COMPOSITES = {
  swish: elementwise(),
  gelu: elementwise(),
  norm: reduction(),
  dot: { arity: 2, takes: "2 arguments", constantArgs: [], shape: vectorPair(() => [], true) },
  outer: { arity: 2, takes: "2 arguments", constantArgs: [], shape: vectorPair((m, n) => [m, n], false) },
} as const satisfies Record<string, BuiltinSignature>;

export type CompositeName = keyof typeof COMPOSITES;
export type BuiltinName = BuiltinFunctionName | CompositeName;

export const BUILTINS: Readonly<Record<BuiltinName, BuiltinSignature>> = {
  ...perFunction(FUNCTION_NAMES.filter(isBuiltinFunction), functionSignature),
  ...COMPOSITES,
};

/** Whether `name` is a built-in function of model files. */
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
