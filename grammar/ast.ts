/** The untyped AST produced by the parser. Every node carries its source span. */
import type { Span } from "../foundation/diagnostics.ts";

export type BinaryOperator = "+" | "-" | "*" | "/" | "@" | "^";

export type Expr =
  | { readonly kind: "number"; readonly value: number; readonly span: Span }
  | { readonly kind: "name"; readonly name: string; readonly span: Span }
  | { readonly kind: "negate"; readonly operand: Expr; readonly span: Span }
  | {
      readonly kind: "binary";
      readonly op: BinaryOperator;
      readonly left: Expr;
      readonly right: Expr;
      readonly span: Span;
    }
  | {
      readonly kind: "call";
      readonly callee: string;
      readonly calleeSpan: Span;
      readonly args: readonly Expr[];
      readonly span: Span;
    }
  /** `[a, b * c]`: a shape or an axis order, as the argument of a built-in. */
  | { readonly kind: "list"; readonly items: readonly Expr[]; readonly span: Span }
  /** `"same"`: an option of a built-in (without its quotes). */
  | { readonly kind: "string"; readonly value: string; readonly span: Span }
  /** `x[i, a:b]`: one index or slice per leading axis of `subject`. */
  | { readonly kind: "index"; readonly subject: Expr; readonly indices: readonly IndexAst[]; readonly span: Span };

/** One axis of an indexing: an entry, or a slice `start:end` whose bounds may be left out. */
export type IndexAst =
  | { readonly kind: "at"; readonly index: Expr; readonly span: Span }
  | { readonly kind: "slice"; readonly start?: Expr; readonly end?: Expr; readonly span: Span };

/** A shape: one dim expression per axis (`[c, h - k + 1]`). */
export interface ShapeAst {
  readonly entries: readonly Expr[];
  readonly span: Span;
}

export interface InitAst {
  readonly name: string;
  readonly nameSpan: Span;
  readonly args: readonly Expr[];
  readonly span: Span;
}

interface DeclBase {
  readonly name: string;
  readonly nameSpan: Span;
  readonly span: Span;
}

export type Decl =
  | (DeclBase & { readonly kind: "dim"; readonly value?: Expr })
  | (DeclBase & { readonly kind: "const"; readonly value: number; readonly valueSpan: Span })
  | (DeclBase & { readonly kind: "input"; readonly shape: ShapeAst })
  | (DeclBase & { readonly kind: "param" | "fixed"; readonly shape: ShapeAst; readonly init?: InitAst })
  | (DeclBase & { readonly kind: "let"; readonly expr: Expr })
  | { readonly kind: "output"; readonly expr: Expr; readonly span: Span };

export interface ModelAst {
  readonly name: string;
  readonly nameSpan: Span;
  readonly decls: readonly Decl[];
  readonly span: Span;
}

/** A `#` comment, kept so that `nqm fmt` can print it back. */
export interface CommentAst {
  /** The comment from its `#`, without trailing blanks. */
  readonly text: string;
  /** True when nothing but blanks precedes it on its line; else it ends a line of code. */
  readonly ownLine: boolean;
  readonly span: Span;
}

export interface FileAst {
  readonly models: readonly ModelAst[];
  /** In source order; absent when the file has none. */
  readonly comments?: readonly CommentAst[];
  readonly span: Span;
}

/** A deep copy of `node` with every span removed: what two parses of equal programs share. */
export function withoutSpans<T>(node: T): T {
  return JSON.parse(
    JSON.stringify(node, (key, value: unknown) => (key === "span" || key.endsWith("Span") ? undefined : value)),
  ) as T;
}
