/**
 * The canonical formatting of the model language (`nqm fmt`); parse(print(ast)) equals ast,
 * comments included. Given the source, numbers print as written there (`1e-3` stays `1e-3`).
 */
import type { Span } from "../foundation/diagnostics.ts";
import type { CommentAst, Decl, Expr, FileAst, ModelAst, ShapeAst } from "./ast.ts";

// Binding strength: higher binds tighter. Atoms (numbers, names, calls) are 5.
const ADDITIVE = 1;
const MULTIPLICATIVE = 2;
const UNARY = 3;
const POWER = 4;
const ATOM = 5;

function strength(expr: Expr): number {
  switch (expr.kind) {
    case "number":
    case "name":
    case "call":
    case "list":
    case "string":
    case "index":
      return ATOM;
    case "negate":
      return UNARY;
    case "binary":
      return expr.op === "^" ? POWER : expr.op === "+" || expr.op === "-" ? ADDITIVE : MULTIPLICATIVE;
  }
}

/** Prints a number so that it reads back as the same double. */
function formatNumber(value: number): string {
  return String(value);
}

/** How a number literal prints, from its value and its span in the source. */
type NumberText = (value: number, span: Span) => string;

const byValue: NumberText = (value) => formatNumber(value);

/**
 * Numbers as written in `source` (the literal's text, a sign's spacing dropped), where that
 * text reads back as the same value; by value otherwise (a span that is not the literal's).
 */
function asWritten(source: string): NumberText {
  return (value, span) => {
    const image = source.slice(span.start, span.end).replace(/\s+/g, "");
    return image !== "" && Number(image) === value ? image : formatNumber(value);
  };
}

/** Prints an expression with the fewest parentheses that keep its tree. */
export function printExpr(expr: Expr, minimum = ADDITIVE, numbers: NumberText = byValue): string {
  const text = printBare(expr, numbers);
  return strength(expr) < minimum ? `(${text})` : text;
}

function printBare(expr: Expr, numbers: NumberText): string {
  switch (expr.kind) {
    case "number":
      return numbers(expr.value, expr.span);
    case "name":
      return expr.name;
    case "call":
      return `${expr.callee}(${expr.args.map((a) => printExpr(a, ADDITIVE, numbers)).join(", ")})`;
    case "list":
      return `[${expr.items.map((a) => printExpr(a, ADDITIVE, numbers)).join(", ")}]`;
    case "string":
      return `"${expr.value}"`;
    case "index": {
      const bound = (e: Expr | undefined) => (e ? printExpr(e, ADDITIVE, numbers) : "");
      const indices = expr.indices.map((i) =>
        i.kind === "at" ? printExpr(i.index, ADDITIVE, numbers) : `${bound(i.start)}:${bound(i.end)}`,
      );
      return `${printExpr(expr.subject, ATOM, numbers)}[${indices.join(", ")}]`;
    }
    case "negate":
      return `-${printExpr(expr.operand, UNARY, numbers)}`;
    case "binary": {
      if (expr.op === "^") return `${printExpr(expr.left, ATOM, numbers)}^${printExpr(expr.right, UNARY, numbers)}`;
      const level = strength(expr);
      return `${printExpr(expr.left, level, numbers)} ${expr.op} ${printExpr(expr.right, level + 1, numbers)}`;
    }
  }
}

function printShape(shape: ShapeAst, numbers: NumberText): string {
  return `[${shape.entries.map((e) => printExpr(e, ADDITIVE, numbers)).join(", ")}]`;
}

function printDecl(decl: Decl, numbers: NumberText): string {
  switch (decl.kind) {
    case "dim":
      return decl.value === undefined
        ? `dim ${decl.name}`
        : `dim ${decl.name} = ${printExpr(decl.value, ADDITIVE, numbers)}`;
    case "const":
      return `const ${decl.name} = ${numbers(decl.value, decl.valueSpan)}`;
    case "input":
      return `input ${decl.name}: ${printShape(decl.shape, numbers)}`;
    case "param":
    case "fixed": {
      const args = decl.init?.args.map((a) => printExpr(a, ADDITIVE, numbers)).join(", ");
      const init = decl.init ? ` ~ ${decl.init.name}(${args})` : "";
      return `${decl.kind} ${decl.name}: ${printShape(decl.shape, numbers)}${init}`;
    }
    case "let":
      return `let ${decl.name} = ${printExpr(decl.expr, ADDITIVE, numbers)}`;
    case "output":
      return `output ${printExpr(decl.expr, ADDITIVE, numbers)}`;
  }
}

/** One line of code, the source offset it starts at, and the comments placed around it. */
interface Line {
  readonly code: string;
  readonly anchor: number;
  /** Indentation for own-line comments placed before this line. */
  readonly commentIndent: string;
  readonly before: string[];
  after?: string;
}

function modelLines(model: ModelAst, numbers: NumberText): Line[] {
  return [
    { code: `model ${model.name} {`, anchor: model.span.start, commentIndent: "", before: [] },
    ...model.decls.map(
      (d): Line => ({ code: `  ${printDecl(d, numbers)}`, anchor: d.span.start, commentIndent: "  ", before: [] }),
    ),
    // A comment just before the closing brace belongs to the body.
    { code: "}", anchor: model.span.end - 1, commentIndent: "  ", before: [] },
  ];
}

/**
 * Puts each comment back: one that ended a line of code ends the printed line of the code it
 * followed; one on its own line goes on its own line before the code that followed it. (A
 * second comment ending the lines of one multi-line declaration goes on its own line.)
 */
function placeComments(lines: readonly Line[], comments: readonly CommentAst[], end: string[]): void {
  for (const comment of comments) {
    const previous = lines.filter((l) => l.anchor < comment.span.start).at(-1);
    if (!comment.ownLine && previous && previous.after === undefined) {
      previous.after = comment.text;
      continue;
    }
    const next = lines.find((l) => l.anchor > comment.span.start);
    if (next) next.before.push(next.commentIndent + comment.text);
    else end.push(comment.text);
  }
}

/** Renders lines; comments ending consecutive lines are aligned one space past the longest. */
function render(lines: readonly Line[]): string[] {
  const out: string[] = [];
  let run: Line[] = [];
  const flush = () => {
    const width = Math.max(...run.map((l) => l.code.length));
    for (const l of run) out.push(`${l.code.padEnd(width)} ${l.after}`);
    run = [];
  };
  for (const line of lines) {
    if (line.before.length > 0 || line.after === undefined) flush();
    out.push(...line.before);
    if (line.after === undefined) out.push(line.code);
    else run.push(line);
  }
  flush();
  return out;
}

/**
 * Prints a whole file in canonical form, its comments kept; with the file's `source`, numbers
 * as written there, else by value (the shortest text that reads back as the same double).
 */
export function printFile(file: FileAst, source?: string): string {
  const numbers = source === undefined ? byValue : asWritten(source);
  const blocks = file.models.map((model) => modelLines(model, numbers));
  const end: string[] = [];
  placeComments(blocks.flat(), file.comments ?? [], end);
  return `${[...blocks.map((b) => render(b).join("\n")), ...(end.length > 0 ? [end.join("\n")] : [])].join("\n\n")}\n`;
}
