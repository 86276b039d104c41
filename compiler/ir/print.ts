/**
 * Readable, math-like printing of IR graphs. Subexpressions used more than once are printed
 * once as `let tN = ...` (the DAG's sharing made visible).
 */
import { lookup } from "../../foundation/defined.ts";
import { OPS, precedenceOf } from "./ops.ts";
import { constValue, topologicalOrder, type Node } from "./node.ts";
import type { ConstantNamer } from "./constant-names.ts";

/** The binding strength each argument of `node` needs to print without parentheses. */
function required(node: Node, index: number): number {
  const p = precedenceOf(node);
  if (p === 5) return 1;
  if (p === 4) return 5;
  if (p === 3) return 4;
  return index === 0 ? p : p + 1;
}

export interface PrintedProgram {
  readonly lets: readonly string[];
  readonly results: readonly string[];
}

export interface PrintOptions {
  /** Symbolic forms for constants (`1 / sqrt(m)` for 0.0141421356237); numbers where it gives none. */
  readonly constants?: ConstantNamer;
}

type Printed = { text: string; precedence: number };

/**
 * The printed form of one node from its inputs' printed forms: the op table's form, except
 * that a named constant prints by its name, `c * x` with c = 1/D prints `x / D`, and `a + -b`
 * prints `a - b` (and `a - -b` prints `a + b`).
 */
function printNode(node: Node, inputs: readonly Printed[], options: PrintOptions): Printed {
  const wrap = (printed: Printed, needed: number) => (printed.precedence < needed ? `(${printed.text})` : printed.text);
  if (node.op === "const" && options.constants) {
    const named = options.constants(constValue(node));
    if (named) return node.shape.length === 0 ? named : { text: `fill(${named.text}, [${node.shape}])`, precedence: 5 };
  }
  if (node.op === "mul" && options.constants) {
    const divisor = node.inputs.map((input) =>
      input.op === "const" && input.shape.length === 0 ? options.constants?.(constValue(input))?.divisor : undefined,
    );
    const [left, right] = inputs;
    if (divisor[0] !== undefined && right) return { text: `${wrap(right, 2)} / ${divisor[0]}`, precedence: 2 };
    if (divisor[1] !== undefined && left) return { text: `${wrap(left, 2)} / ${divisor[1]}`, precedence: 2 };
  }
  const args = inputs.map((input, i) => wrap(input, required(node, i)));
  const [left, right] = args;
  // A right operand that starts with a minus is a product (or a negation) of a negated factor:
  // a + (-x * y) = a - x * y, and dropping the minus leaves a form that binds as tightly.
  if ((node.op === "add" || node.op === "sub") && left !== undefined && right?.startsWith("-")) {
    const negated = right.slice(1);
    const rest = negated.startsWith("1 * ") ? negated.slice(4) : negated; // a + -1 * b = a - b
    return { text: `${left} ${node.op === "add" ? "-" : "+"} ${rest}`, precedence: 1 };
  }
  return { text: OPS[node.op].print(args, node), precedence: precedenceOf(node) };
}

/** Prints named roots, sharing common subexpressions between them. */
export function printGraph(roots: readonly { name: string; node: Node }[], options: PrintOptions = {}): PrintedProgram {
  const order = topologicalOrder(roots.map((r) => r.node));
  const uses = new Map<number, number>();
  for (const node of order) for (const input of node.inputs) uses.set(input.id, (uses.get(input.id) ?? 0) + 1);
  const text = new Map<number, Printed>();
  const lets: string[] = [];
  for (const node of order) {
    const inputs = node.inputs.map((input) => lookup(text, input.id, "an input's printed form"));
    const printed = printNode(node, inputs, options);
    if ((uses.get(node.id) ?? 0) > 1 && node.inputs.length > 0) {
      const name = `t${lets.length + 1}`;
      lets.push(`let ${name} = ${printed.text}`);
      text.set(node.id, { text: name, precedence: 5 });
    } else {
      text.set(node.id, printed);
    }
  }
  return { lets, results: roots.map((r) => `${r.name} = ${lookup(text, r.node.id, "a root's printed form").text}`) };
}
