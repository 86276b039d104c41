/** Lowering of a checked model's typed AST to the IR: one node per distinct subexpression. */
import type { CompositeName } from "../check/builtins.ts";
import { isBuiltinFunction, functionRow } from "../math.ts";
import type { CheckedModel, TypedExpr } from "../check/typed.ts";
import type { Span } from "../../foundation/diagnostics.ts";
import type { Graph } from "./graph.ts";
import { lookup, one, two } from "../../foundation/defined.ts";
import { sizeOf } from "../../foundation/shape.ts";
import type { Node } from "./node.ts";

/**
 * How each composite built-in becomes IR. An elementwise function of compiler/math.ts is the op
 * of its name, its constant argument the op's parameter.
 */
const LOWER_COMPOSITE: Record<CompositeName, (g: Graph, args: readonly Node[]) => Node> = {
  swish: (g, args) => g.mul(one(args), g.unary("sigmoid", one(args))),
  sum: (g, args) => g.sum(one(args)),
  mean: (g, args) => g.mul(g.constant(1 / sizeOf(one(args).shape)), g.sum(one(args))),
  norm: (g, args) => g.unary("sqrt", g.sum(g.unary("square", one(args)))),
  dot: (g, args) => g.matmul(...two(args)),
  outer: (g, args) => g.outer(...two(args)),
  transpose: (g, args) => g.transpose(one(args)),
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
        return lookup(lets, expr.name, `let ${expr.name}`);
      case "negate":
        return g.neg(lower(expr.operand));
      case "binary":
        return g.make(BINARY[expr.op], [lower(expr.left), lower(expr.right)]);
      case "power":
        return g.unary("pow", lower(expr.base), { exponent: expr.exponent });
      case "call": {
        const fn = expr.fn;
        const args = expr.args.map(lower);
        if (!isBuiltinFunction(fn)) return LOWER_COMPOSITE[fn](g, args);
        const parameter = functionRow(fn).parameter;
        return g.apply(fn, one(args), parameter === undefined ? undefined : one(expr.constants, `the ${parameter}`));
      }
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
