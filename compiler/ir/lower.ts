/** Lowering of a checked model's typed AST to the IR: one node per distinct subexpression. */
import type { BuiltinName } from "../check/builtins.ts";
import type { CheckedModel, TypedExpr } from "../check/typed.ts";
import type { Span } from "../../foundation/diagnostics.ts";
import type { Graph } from "./graph.ts";
import { sizeOf } from "../../foundation/shape.ts";
import { type Node } from "./node.ts";

/** How each built-in function becomes IR; most are the op of the same name. */
const LOWER_CALL: Record<BuiltinName, (g: Graph, args: readonly Node[], constants: readonly number[]) => Node> = {
  relu: (g, [x]) => g.unary("relu", x!),
  tanh: (g, [x]) => g.unary("tanh", x!),
  sigmoid: (g, [x]) => g.unary("sigmoid", x!),
  softplus: (g, [x]) => g.unary("softplus", x!),
  swish: (g, [x]) => g.mul(x!, g.unary("sigmoid", x!)),
  exp: (g, [x]) => g.unary("exp", x!),
  log: (g, [x]) => g.unary("log", x!),
  sqrt: (g, [x]) => g.unary("sqrt", x!),
  abs: (g, [x]) => g.unary("abs", x!),
  sin: (g, [x]) => g.unary("sin", x!),
  cos: (g, [x]) => g.unary("cos", x!),
  square: (g, [x]) => g.unary("square", x!),
  leaky_relu: (g, [x], [slope]) => g.unary("leaky_relu", x!, { slope: slope! }),
  sum: (g, [x]) => g.sum(x!),
  mean: (g, [x]) => g.mul(g.constant(1 / sizeOf(x!.shape)), g.sum(x!)),
  norm: (g, [x]) => g.unary("sqrt", g.sum(g.unary("square", x!))),
  dot: (g, [a, b]) => g.matmul(a!, b!),
  outer: (g, [a, b]) => g.outer(a!, b!),
  transpose: (g, [x]) => g.transpose(x!),
};

const BINARY = { "+": "add", "-": "sub", "*": "mul", "/": "div", "@": "matmul" } as const;

/**
 * The model's output as an IR node, per example. With `origins`, every node created for a
 * declaration is mapped to that declaration's source span (for comments in generated code).
 */
export function lowerModel(model: CheckedModel, g: Graph, origins?: Map<number, Span>): Node {
  const lets = new Map<string, Node>();
  const lower = (expr: TypedExpr): Node => {
    switch (expr.kind) {
      case "constant":
        return g.constant(expr.value);
      case "tensor":
        return g.leaf(expr.role, expr.name, expr.shape);
      case "let":
        return lets.get(expr.name)!;
      case "negate":
        return g.neg(lower(expr.operand));
      case "binary":
        return g.make(BINARY[expr.op], [lower(expr.left), lower(expr.right)]);
      case "power":
        return g.unary("pow", lower(expr.base), { exponent: expr.exponent });
      case "call":
        return LOWER_CALL[expr.fn](g, expr.args.map(lower), expr.constants);
    }
  };
  const traced = (span: Span, build: () => Node): Node => {
    const first = g.size;
    const node = build();
    for (let id = first; id < g.size; id++) origins?.set(id, span);
    return node;
  };
  for (const binding of model.lets)
    lets.set(
      binding.name,
      traced(binding.span, () => lower(binding.expr)),
    );
  return traced(model.output.span, () => lower(model.output));
}
