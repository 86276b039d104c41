/** fast-check arbitraries for ASTs of the model language (spans are placeholders: compare withoutSpans). */
import fc from "fast-check";
import type { BinaryOperator, Decl, Expr, FileAst, InitAst, ModelAst, IndexAst, ShapeAst } from "../../grammar/ast.ts";

const span = { start: 0, end: 0 };

export const KEYWORDS = ["model", "dim", "const", "input", "param", "fixed", "let", "output"] as const;
const keywords: ReadonlySet<string> = new Set(KEYWORDS);

export const nameArbitrary = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,5}$/).filter((n) => !keywords.has(n));

/** Unsigned literals, as the lexer reads them: the edge cases first, then any finite double ≥ 0. */
export const numberArbitrary = fc.oneof(
  fc.constantFrom(0, 1, 2, 0.5, 1e-7, 1e-3, 2.5e4, 1e21, 123456789012, 5e-324, Number.MAX_VALUE, Number.EPSILON),
  fc.nat({ max: 10000 }),
  fc.double({ min: 0, noNaN: true, noDefaultInfinity: true }),
);

const signedArbitrary = fc.oneof(
  numberArbitrary,
  numberArbitrary.map((v) => -v),
);

const OPERATORS: readonly BinaryOperator[] = ["+", "-", "*", "/", "@", "^"];

const leafArbitrary: fc.Arbitrary<Expr> = fc.oneof(
  numberArbitrary.map((value): Expr => ({ kind: "number", value, span })),
  nameArbitrary.map((name): Expr => ({ kind: "name", name, span })),
  fc.stringMatching(/^[a-z_ ]{0,6}$/).map((value): Expr => ({ kind: "string", value, span })),
);

/** Expressions with every operator, unary minus, calls of 0 to 3 arguments and nested `^`. */
export const exprArbitrary: fc.Arbitrary<Expr> = fc.letrec<{
  expr: Expr;
  negate: Expr;
  binary: Expr;
  power: Expr;
  call: Expr;
  list: Expr;
  index: Expr;
}>((tie) => ({
  expr: fc.oneof(
    { depthSize: "small", withCrossShrink: true },
    leafArbitrary,
    tie("negate"),
    tie("binary"),
    tie("power"),
    tie("call"),
    tie("list"),
    tie("index"),
  ),
  negate: tie("expr").map((operand): Expr => ({ kind: "negate", operand, span })),
  binary: fc
    .record({ op: fc.constantFrom(...OPERATORS), left: tie("expr"), right: tie("expr") })
    .map(({ op, left, right }): Expr => ({ kind: "binary", op, left, right, span })),
  // Chains like a^b^c and (a^b)^c, which only right-associativity tells apart.
  power: fc.tuple(tie("expr"), tie("expr"), tie("expr"), fc.boolean()).map(([a, b, c, right]): Expr => {
    const inner: Expr = right
      ? { kind: "binary", op: "^", left: b, right: c, span }
      : { kind: "binary", op: "^", left: a, right: b, span };
    return right
      ? { kind: "binary", op: "^", left: a, right: inner, span }
      : { kind: "binary", op: "^", left: inner, right: c, span };
  }),
  call: fc
    .record({ callee: nameArbitrary, args: fc.array(tie("expr"), { maxLength: 3 }) })
    .map(({ callee, args }): Expr => ({ kind: "call", callee, calleeSpan: span, args, span })),
  list: fc.array(tie("expr"), { maxLength: 3 }).map((items): Expr => ({ kind: "list", items, span })),
  // x[i, a:b, :, a:, :b]: every form of index.
  index: fc
    .record({
      subject: tie("expr"),
      indices: fc.array(
        fc.oneof(
          tie("expr").map((index): IndexAst => ({ kind: "at", index, span })),
          fc
            .record({
              start: fc.option(tie("expr"), { nil: undefined }),
              end: fc.option(tie("expr"), { nil: undefined }),
            })
            .map(
              ({ start, end }): IndexAst => ({
                kind: "slice",
                ...(start ? { start } : {}),
                ...(end ? { end } : {}),
                span,
              }),
            ),
        ),
        { minLength: 1, maxLength: 3 },
      ),
    })
    .map(({ subject, indices }): Expr => ({ kind: "index", subject, indices, span })),
})).expr;

const shapeArbitrary: fc.Arbitrary<ShapeAst> = fc
  .array(exprArbitrary, { maxLength: 4 })
  .map((entries) => ({ entries, span }));

const initArbitrary: fc.Arbitrary<InitAst> = fc
  .record({ name: nameArbitrary, args: fc.array(exprArbitrary, { maxLength: 3 }) })
  .map(({ name, args }) => ({ name, nameSpan: span, args, span }));

/** Declarations of every kind, with and without the optional parts. */
export const declArbitrary: fc.Arbitrary<Decl> = fc.oneof(
  fc.record({ name: nameArbitrary, value: fc.option(exprArbitrary, { nil: undefined }) }).map(
    ({ name, value }): Decl => ({
      kind: "dim",
      name,
      nameSpan: span,
      ...(value === undefined ? {} : { value }),
      span,
    }),
  ),
  fc
    .record({ name: nameArbitrary, value: signedArbitrary })
    .map(({ name, value }): Decl => ({ kind: "const", name, nameSpan: span, value, valueSpan: span, span })),
  fc
    .record({ name: nameArbitrary, shape: shapeArbitrary })
    .map(({ name, shape }): Decl => ({ kind: "input", name, nameSpan: span, shape, span })),
  fc
    .record({
      kind: fc.constantFrom("param" as const, "fixed" as const),
      name: nameArbitrary,
      shape: shapeArbitrary,
      init: fc.option(initArbitrary, { nil: undefined }),
    })
    .map(
      ({ kind, name, shape, init }): Decl => ({ kind, name, nameSpan: span, shape, ...(init ? { init } : {}), span }),
    ),
  fc
    .record({ name: nameArbitrary, expr: exprArbitrary })
    .map(({ name, expr }): Decl => ({ kind: "let", name, nameSpan: span, expr, span })),
  exprArbitrary.map((expr): Decl => ({ kind: "output", expr, span })),
);

export const modelArbitrary: fc.Arbitrary<ModelAst> = fc
  .record({ name: nameArbitrary, decls: fc.array(declArbitrary, { maxLength: 6 }) })
  .map(({ name, decls }) => ({ name, nameSpan: span, decls, span }));

export const fileArbitrary: fc.Arbitrary<FileAst> = fc
  .array(modelArbitrary, { minLength: 1, maxLength: 3 })
  .map((models) => ({ models, span }));
