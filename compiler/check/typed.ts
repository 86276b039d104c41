/** The typed AST: the checker's output. Every expression knows its shape; dims are numbers. */
import type { Span } from "../../foundation/diagnostics.ts";
import { type Shape, sizeOf } from "../../foundation/shape.ts";
import type { AxisIndex } from "./tensor-ops.ts";
import type { BuiltinName, InitializerName } from "./builtins.ts";
import type { TensorOpName, TensorOpOptions } from "./tensor-ops.ts";

type TensorRole = "input" | "param" | "fixed";

export type TypedExpr =
  /** A number literal, or a dim or const by name (its value is resolved). */
  | {
      readonly kind: "constant";
      readonly value: number;
      readonly name?: string;
      readonly shape: Shape;
      readonly span: Span;
    }
  | {
      readonly kind: "tensor";
      readonly name: string;
      readonly role: TensorRole;
      readonly shape: Shape;
      readonly span: Span;
    }
  | { readonly kind: "let"; readonly name: string; readonly shape: Shape; readonly span: Span }
  | { readonly kind: "negate"; readonly operand: TypedExpr; readonly shape: Shape; readonly span: Span }
  | {
      readonly kind: "binary";
      readonly op: "+" | "-" | "*" | "/" | "@";
      readonly left: TypedExpr;
      readonly right: TypedExpr;
      readonly shape: Shape;
      readonly span: Span;
    }
  | {
      readonly kind: "power";
      readonly base: TypedExpr;
      readonly exponent: number;
      readonly shape: Shape;
      readonly span: Span;
    }
  | {
      readonly kind: "call";
      readonly fn: BuiltinName;
      /** The tensor arguments; constant-scalar arguments are in `constants`, by position. */
      readonly args: readonly TypedExpr[];
      readonly constants: readonly number[];
      readonly shape: Shape;
      readonly span: Span;
    }
  /** A tensor built-in (tensor-ops.ts), its options evaluated. */
  | {
      readonly kind: "tensorop";
      readonly fn: TensorOpName;
      readonly args: readonly TypedExpr[];
      readonly options: TensorOpOptions;
      readonly shape: Shape;
      readonly span: Span;
    }
  /** `x[i, a:b]`, the indices resolved (non-negative, in range); axes past the last are kept whole. */
  | {
      readonly kind: "index";
      readonly subject: TypedExpr;
      readonly axes: readonly AxisIndex[];
      readonly shape: Shape;
      readonly span: Span;
    };

export interface Initializer {
  readonly kind: InitializerName;
  /** The constant arguments, in the order INITIALIZERS lists them. */
  readonly args: readonly number[];
}

export interface TensorDecl {
  readonly name: string;
  readonly role: TensorRole;
  readonly shape: Shape;
  /** For inputs, absent. */
  readonly init?: Initializer;
  readonly span: Span;
}

export interface LetBinding {
  readonly name: string;
  readonly expr: TypedExpr;
  readonly span: Span;
}

export interface CheckedModel {
  readonly name: string;
  readonly span: Span;
  readonly dims: Readonly<Record<string, number>>;
  readonly consts: Readonly<Record<string, number>>;
  readonly inputs: readonly TensorDecl[];
  readonly params: readonly TensorDecl[];
  readonly fixed: readonly TensorDecl[];
  readonly lets: readonly LetBinding[];
  readonly output: TypedExpr;
  /** [] for a scalar output, [k] for a vector output. */
  readonly outputShape: Shape;
}

/** The total number of trainable parameters of a model. */
export function parameterCount(model: CheckedModel): number {
  return model.params.reduce((total, p) => total + sizeOf(p.shape), 0);
}
