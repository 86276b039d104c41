/** Parsing entry point: lexes, parses with recovery, and turns an error-free CST into the AST. */
import type { CstElement, CstNode, IToken } from "chevrotain";
import { defined } from "../foundation/defined.ts";
import { diagnostic, type Diagnostic, type Span } from "../foundation/diagnostics.ts";
import type { BinaryOperator, CommentAst, Decl, Expr, FileAst, InitAst, ModelAst, IndexAst, ShapeAst } from "./ast.ts";
import { parser, type SyntaxErrorParts } from "./parser.ts";
import { Identifier, lexer } from "./tokens.ts";

/**
 * The deepest nesting accepted: parentheses (grouping or call) plus prefix `-` plus `^` open at
 * one point of an expression. The parser and the AST builder recurse once per level, so this is
 * counted on the tokens before parsing (`nesting`), and the limit holds in every process state:
 * a fresh process, where frames are largest, parses 175 nested calls on Node's default stack.
 */
export const MAX_NESTING = 100;

/**
 * The deepest expression tree accepted (a chain `a + b + … ` is as deep as it has operators).
 * The checker and the lowering walk an expression recursively; this bound keeps them far from
 * the stack limit.
 */
export const MAX_EXPRESSION_DEPTH = 1000;

/** The grammar stage's output (exported as the stage's result type, as compile's is): the AST, or the syntax errors. */
export interface ParseResult {
  /** Present only when the file has no syntax error. */
  readonly ast?: FileAst;
  readonly diagnostics: readonly Diagnostic[];
}

/** Parses one model file; reports every lexical and syntax error that recovery can reach. */
export function parseSource(source: string, file?: string): ParseResult {
  const lexed = lexer.tokenize(source);
  const diagnostics: Diagnostic[] = lexed.errors.map((error) =>
    diagnostic(
      "NQM1001",
      { text: `\`${source.slice(error.offset, error.offset + error.length)}\`` },
      { file, span: { start: error.offset, end: error.offset + error.length } },
    ),
  );
  const deepest = nesting(lexed.tokens);
  if (deepest.depth > MAX_NESTING) {
    const span = deepest.token ? tokenSpan(deepest.token) : { start: 0, end: 0 };
    return { diagnostics: dedupe([...diagnostics, diagnostic("NQM1007", {}, { file, span })]) };
  }
  parser.input = lexed.tokens;
  let cst: CstNode;
  try {
    cst = parser.file();
  } catch (error) {
    // Not expected: `nesting` bounds the recursion for Node's default stack. Kept so that a
    // process started with a smaller stack (--stack-size) still gets a diagnostic.
    if (!(error instanceof RangeError)) throw error;
    parser.input = [];
    const span = deepest.token ? tokenSpan(deepest.token) : { start: 0, end: 0 };
    return { diagnostics: dedupe([...diagnostics, diagnostic("NQM1007", {}, { file, span })]) };
  }
  for (const error of parser.errors) {
    const parts = JSON.parse(error.message) as SyntaxErrorParts;
    const token = error.token;
    const atEnd = Number.isNaN(token.startOffset);
    const span = atEnd ? { start: source.length, end: source.length } : tokenSpan(token);
    const code = error.name === "MismatchedTokenException" || parts.choices === 1 ? "NQM1002" : "NQM1003";
    diagnostics.push(diagnostic(code, { expected: parts.expected, found: parts.found }, { file, span }));
  }
  if (diagnostics.length > 0) return { diagnostics: dedupe(diagnostics) };

  const builder = new AstBuilder(file);
  const models = builder.file(cst);
  diagnostics.push(...builder.diagnostics);
  if (models.length === 0) diagnostics.push(diagnostic("NQM1004", {}, { file, span: { start: 0, end: 0 } }));
  if (diagnostics.length > 0) return { diagnostics };
  const comments = (lexed.groups.comments ?? []).map((t): CommentAst => {
    // A lone `\r` ends a comment too (see the Comment token), so it starts a line here.
    const lineStart =
      Math.max(source.lastIndexOf("\n", t.startOffset - 1), source.lastIndexOf("\r", t.startOffset - 1)) + 1;
    return {
      text: t.image.trimEnd(),
      ownLine: source.slice(lineStart, t.startOffset).trim() === "",
      span: tokenSpan(t),
    };
  });
  return {
    ast: { models, ...(comments.length > 0 ? { comments } : {}), span: { start: 0, end: source.length } },
    diagnostics,
  };
}

const ENDS_OPERAND = new Set(["Identifier", "NumberLiteral", "StringLiteral", "RParen", "RBracket"]);
const BINARY = new Set(["Plus", "Star", "Slash", "At", "Comma", "Colon"]);

/**
 * How deeply the parser will recurse on these tokens, and the token where it is deepest: open
 * parentheses, plus the prefix `-` and `^` whose operand is still open. An operand ends at a
 * binary operator, a comma or a closing parenthesis of its level; any other token (a keyword,
 * `}`, `=`) ends them all. Unbalanced parentheses keep counting, which only overestimates.
 */
export function nesting(tokens: readonly IToken[]): { depth: number; token?: IToken } {
  // pending[i]: open prefix operands at parenthesis level i.
  const pending: number[] = [0];
  let depth = 0;
  let deepest: { depth: number; token?: IToken } = { depth: 0 };
  let previous: IToken | undefined;
  const closeOperands = () => {
    depth -= pending[pending.length - 1] ?? 0;
    pending[pending.length - 1] = 0;
  };
  for (const token of tokens) {
    const name = token.tokenType.name;
    if (name === "LParen" || name === "LBracket") {
      pending.push(0);
      depth++;
    } else if (name === "RParen" || name === "RBracket") {
      closeOperands();
      if (pending.length > 1) {
        pending.pop();
        depth--;
      }
    } else if (name === "Caret" || (name === "Minus" && !ENDS_OPERAND.has(previous?.tokenType.name ?? ""))) {
      pending[pending.length - 1] = (pending[pending.length - 1] ?? 0) + 1;
      depth++;
    } else if (name === "Minus" || BINARY.has(name)) {
      closeOperands();
    } else if (name !== "Identifier" && name !== "NumberLiteral" && name !== "StringLiteral") {
      for (let level = 0; level < pending.length; level++) depth -= pending[level] ?? 0;
      pending.fill(0);
    }
    if (depth > deepest.depth) deepest = { depth, token };
    previous = token;
  }
  return deepest;
}

// Recovery can report the same position twice (e.g. a re-sync after an insertion).
function dedupe(diagnostics: Diagnostic[]): Diagnostic[] {
  const seen = new Set<string>();
  return diagnostics
    .filter((d) => {
      const key = `${d.span?.start}:${d.message}`;
      if (seen.has(key)) return false;
      seen.add(key);
      return true;
    })
    .sort((a, b) => (a.span?.start ?? 0) - (b.span?.start ?? 0));
}

/** The label under which each declaration rule holds its leading keyword token. */
const KEYWORD_LABEL: Record<string, string> = {
  dimDecl: "Kw_dim",
  constDecl: "Kw_const",
  inputDecl: "Kw_input",
  tensorDecl: "keyword",
  letDecl: "Kw_let",
  outputDecl: "Kw_output",
};

type Children = Record<string, CstElement[] | undefined>;

function tokenSpan(token: IToken): Span {
  return { start: token.startOffset, end: (token.endOffset ?? token.startOffset) + 1 };
}

function join(a: Span, b: Span): Span {
  return { start: a.start, end: b.end };
}

/** A token the grammar guarantees (the builder runs only on an error-free CST). */
function token(children: Children, name: string, index = 0): IToken {
  return defined(children[name]?.[index], `token ${name}`) as IToken;
}

function tokens(children: Children, name: string): IToken[] {
  return (children[name] ?? []) as IToken[];
}

/** A child node the grammar guarantees. */
function node(children: Children, name: string, index = 0): CstNode {
  return defined(children[name]?.[index], `node ${name}`) as CstNode;
}

function nodes(children: Children, name: string): CstNode[] {
  return (children[name] ?? []) as CstNode[];
}

/** Walks the CST (one method per rule) and builds AST nodes with spans. */
class AstBuilder {
  readonly diagnostics: Diagnostic[] = [];

  constructor(private readonly fileName: string | undefined) {}

  file(cst: CstNode): ModelAst[] {
    return nodes(cst.children, "model").map((m) => this.model(m));
  }

  private model(cst: CstNode): ModelAst {
    const c = cst.children;
    const name = this.declaredName(c);
    return {
      name: name.image,
      nameSpan: tokenSpan(name),
      decls: nodes(c, "declaration").map((d) => this.declaration(d)),
      span: join(tokenSpan(token(c, "Kw_model")), tokenSpan(token(c, "RCurly"))),
    };
  }

  private declaration(cst: CstNode): Decl {
    const inner = defined((Object.values(cst.children).flat() as CstNode[])[0], "a declaration");
    const c = inner.children;
    const first = tokenSpan(token(c, defined(KEYWORD_LABEL[inner.name], `the keyword of ${inner.name}`)));
    if (inner.name === "outputDecl") {
      const expr = this.topExpression(node(c, "expression"));
      return { kind: "output", expr, span: join(first, expr.span) };
    }
    // Every other declaration names something.
    const nameToken = this.declaredName(c);
    const base = { name: nameToken.image, nameSpan: tokenSpan(nameToken) };
    switch (inner.name) {
      case "dimDecl": {
        const value = c.expression ? this.topExpression(node(c, "expression")) : undefined;
        return { kind: "dim", ...base, ...(value ? { value } : {}), span: join(first, value?.span ?? base.nameSpan) };
      }
      case "constDecl": {
        const value = this.signedNumber(node(c, "signedNumber"));
        return { kind: "const", ...base, value: value.value, valueSpan: value.span, span: join(first, value.span) };
      }
      case "inputDecl": {
        const shape = this.shape(node(c, "shape"));
        return { kind: "input", ...base, shape, span: join(first, shape.span) };
      }
      case "tensorDecl": {
        const kind = token(c, "keyword").image as "param" | "fixed";
        const shape = this.shape(node(c, "shape"));
        const init = c.init ? this.init(node(c, "init")) : undefined;
        return { kind, ...base, shape, ...(init ? { init } : {}), span: join(first, (init ?? shape).span) };
      }
      case "letDecl": {
        const expr = this.topExpression(node(c, "expression"));
        return { kind: "let", ...base, expr, span: join(first, expr.span) };
      }
      default:
        throw new Error(`unhandled declaration rule ${inner.name}`);
    }
  }

  /** The name token of a declaration; a keyword in its place parsed only to be reported here. */
  private declaredName(c: Children): IToken {
    const name = token(node(c, "declaredName").children, "name");
    if (name.tokenType !== Identifier) {
      this.diagnostics.push(
        diagnostic("NQM1006", { name: name.image }, { file: this.fileName, span: tokenSpan(name) }),
      );
    }
    return name;
  }

  /** Reports an expression tree deeper than MAX_EXPRESSION_DEPTH; walks it without recursion. */
  private checkDepth(expr: Expr): Expr {
    const stack: [Expr, number][] = [[expr, 1]];
    for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
      const [node, depth] = top;
      if (depth > MAX_EXPRESSION_DEPTH) {
        this.diagnostics.push(diagnostic("NQM1007", {}, { file: this.fileName, span: node.span }));
        break;
      }
      switch (node.kind) {
        case "negate":
          stack.push([node.operand, depth + 1]);
          break;
        case "binary":
          stack.push([node.left, depth + 1], [node.right, depth + 1]);
          break;
        case "call":
          for (const arg of node.args) stack.push([arg, depth + 1]);
          break;
        case "list":
          for (const item of node.items) stack.push([item, depth + 1]);
          break;
        case "index":
          stack.push([node.subject, depth + 1]);
          for (const index of node.indices) {
            if (index.kind === "at") stack.push([index.index, depth + 1]);
            else for (const bound of [index.start, index.end]) if (bound) stack.push([bound, depth + 1]);
          }
          break;
        case "number":
        case "name":
        case "string":
          break;
      }
    }
    return expr;
  }

  private signedNumber(cst: CstNode): { value: number; span: Span } {
    const c = cst.children;
    const literal = token(c, "NumberLiteral");
    const minus = c.Minus ? token(c, "Minus") : undefined;
    const magnitude = this.number(literal);
    return { value: minus ? -magnitude : magnitude, span: join(tokenSpan(minus ?? literal), tokenSpan(literal)) };
  }

  private number(literal: IToken): number {
    const value = Number(literal.image);
    if (!Number.isFinite(value)) {
      this.diagnostics.push(
        diagnostic("NQM1005", { found: `\`${literal.image}\`` }, { file: this.fileName, span: tokenSpan(literal) }),
      );
    }
    return value;
  }

  private shape(cst: CstNode): ShapeAst {
    const c = cst.children;
    const entries = nodes(c, "entry").map((e) => this.topExpression(e));
    return { entries, span: join(tokenSpan(token(c, "LBracket")), tokenSpan(token(c, "RBracket"))) };
  }

  private init(cst: CstNode): InitAst {
    const c = cst.children;
    const name = token(c, "Identifier");
    return {
      name: name.image,
      nameSpan: tokenSpan(name),
      args: nodes(c, "expression").map((e) => this.topExpression(e)),
      span: join(tokenSpan(name), tokenSpan(token(c, "RParen"))),
    };
  }

  /** A whole expression (of a let, an output or an initializer argument), its depth checked. */
  private topExpression(cst: CstNode): Expr {
    return this.checkDepth(this.expression(cst));
  }

  private expression(cst: CstNode): Expr {
    return this.leftAssociative(node(cst.children, "additive"), (operand) =>
      this.leftAssociative(operand, (u) => this.unary(u)),
    );
  }

  // additive and multiplicative share a shape: operand (operator operand)*
  private leftAssociative(cst: CstNode, operand: (cst: CstNode) => Expr): Expr {
    const c = cst.children;
    const operands = nodes(c, "operand");
    const operators = tokens(c, "operator").sort((a, b) => a.startOffset - b.startOffset);
    let result = operand(defined(operands[0], "an operand"));
    operators.forEach((op, i) => {
      const right = operand(defined(operands[i + 1], "an operand"));
      result = {
        kind: "binary",
        op: op.image as BinaryOperator,
        left: result,
        right,
        span: join(result.span, right.span),
      };
    });
    return result;
  }

  private unary(cst: CstNode): Expr {
    const c = cst.children;
    if (c.Minus) {
      const operand = this.unary(node(c, "unary"));
      return { kind: "negate", operand, span: join(tokenSpan(token(c, "Minus")), operand.span) };
    }
    return this.power(node(c, "power"));
  }

  private power(cst: CstNode): Expr {
    const c = cst.children;
    let base = this.atom(node(c, "atom"));
    for (const suffix of nodes(c, "indexSuffix")) {
      const s = suffix.children;
      base = {
        kind: "index",
        subject: base,
        indices: nodes(s, "index").map((i) => this.index(i)),
        span: join(base.span, tokenSpan(token(s, "RBracket"))),
      };
    }
    if (!c.exponent) return base;
    const exponent = this.unary(node(c, "exponent"));
    return { kind: "binary", op: "^", left: base, right: exponent, span: join(base.span, exponent.span) };
  }

  private index(cst: CstNode): IndexAst {
    const c = cst.children;
    const start = c.start ? this.expression(node(c, "start")) : undefined;
    const end = c.end ? this.expression(node(c, "end")) : undefined;
    if (!c.colon) {
      const index = defined(start, "an index");
      return { kind: "at", index, span: index.span };
    }
    const colon = tokenSpan(token(c, "colon"));
    const span = join(start?.span ?? colon, end?.span ?? colon);
    return { kind: "slice", ...(start ? { start } : {}), ...(end ? { end } : {}), span };
  }

  private atom(cst: CstNode): Expr {
    const c = cst.children;
    if (c.StringLiteral) {
      const literal = token(c, "StringLiteral");
      return { kind: "string", value: literal.image.slice(1, -1), span: tokenSpan(literal) };
    }
    if (c.LBracket) {
      return {
        kind: "list",
        items: nodes(c, "item").map((i) => this.expression(i)),
        span: join(tokenSpan(token(c, "LBracket")), tokenSpan(token(c, "RBracket"))),
      };
    }
    if (c.NumberLiteral) {
      const literal = token(c, "NumberLiteral");
      return { kind: "number", value: this.number(literal), span: tokenSpan(literal) };
    }
    if (c.inner) return this.expression(node(c, "inner"));
    const name = token(c, "Identifier");
    if (!c.LParen) return { kind: "name", name: name.image, span: tokenSpan(name) };
    return {
      kind: "call",
      callee: name.image,
      calleeSpan: tokenSpan(name),
      args: nodes(c, "argument").map((a) => this.expression(a)),
      span: join(tokenSpan(name), tokenSpan(token(c, "RParen"))),
    };
  }
}
