/** The canonical formatting of the model language (`nqm fmt`); parse(print(ast)) equals ast. */
import type { Decl, Expr, FileAst, ModelAst, ShapeAst } from "./ast.ts";

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
      return ATOM;
    case "negate":
      return UNARY;
    case "binary":
      return expr.op === "^" ? POWER : expr.op === "+" || expr.op === "-" ? ADDITIVE : MULTIPLICATIVE;
  }
}

/** Prints a number so that it reads back as the same double. */
export function formatNumber(value: number): string {
  return String(value);
}

/** Prints an expression with the fewest parentheses that keep its tree. */
export function printExpr(expr: Expr, minimum = ADDITIVE): string {
  const text = printBare(expr);
  return strength(expr) < minimum ? `(${text})` : text;
}

function printBare(expr: Expr): string {
  switch (expr.kind) {
    case "number":
      return formatNumber(expr.value);
    case "name":
      return expr.name;
    case "call":
      return `${expr.callee}(${expr.args.map((a) => printExpr(a)).join(", ")})`;
    case "negate":
      return `-${printExpr(expr.operand, UNARY)}`;
    case "binary": {
      if (expr.op === "^") return `${printExpr(expr.left, ATOM)}^${printExpr(expr.right, UNARY)}`;
      const level = strength(expr);
      return `${printExpr(expr.left, level)} ${expr.op} ${printExpr(expr.right, level + 1)}`;
    }
  }
}

function printShape(shape: ShapeAst): string {
  return `[${shape.entries.map((e) => (e.kind === "size" ? formatNumber(e.value) : e.name)).join(", ")}]`;
}

function printDecl(decl: Decl): string {
  switch (decl.kind) {
    case "dim":
      return decl.value === undefined ? `dim ${decl.name}` : `dim ${decl.name} = ${formatNumber(decl.value.value)}`;
    case "const":
      return `const ${decl.name} = ${formatNumber(decl.value)}`;
    case "input":
      return `input ${decl.name}: ${printShape(decl.shape)}`;
    case "param":
    case "fixed": {
      const init = decl.init ? ` ~ ${decl.init.name}(${decl.init.args.map((a) => printExpr(a)).join(", ")})` : "";
      return `${decl.kind} ${decl.name}: ${printShape(decl.shape)}${init}`;
    }
    case "let":
      return `let ${decl.name} = ${printExpr(decl.expr)}`;
    case "output":
      return `output ${printExpr(decl.expr)}`;
  }
}

function printModel(model: ModelAst): string {
  return [`model ${model.name} {`, ...model.decls.map((d) => `  ${printDecl(d)}`), "}"].join("\n");
}

/** Prints a whole file in canonical form (comments are not kept). */
export function printFile(file: FileAst): string {
  return file.models.map(printModel).join("\n\n") + "\n";
}
