/** Lowering of a checked model's typed AST to the IR: one node per distinct subexpression. */
import type { CompositeName } from "../check/builtins.ts";
import { isBuiltinFunction, functionRow } from "../math.ts";
import type { CheckedModel, TypedExpr } from "../check/typed.ts";
import type { Span } from "../../foundation/diagnostics.ts";
import type { Graph } from "./graph.ts";
import { defined, lookup, one, two } from "../../foundation/defined.ts";
import { type Shape, sizeOf } from "../../foundation/shape.ts";
import type { IndexTable, Node } from "./node.ts";
import type { TensorOpName, TensorOpOptions } from "../check/tensor-ops.ts";
import { resolveAxis } from "../check/tensor-ops.ts";
import {
  allTable,
  axisTable,
  channelTable,
  concatTables,
  im2colTable,
  indexTable,
  permuteTable,
  poolTable,
} from "./tables.ts";

/**
 * How each composite built-in becomes IR. An elementwise function of compiler/math.ts is the op
 * of its name, its constant argument the op's parameter.
 */
const LOWER_COMPOSITE: Record<CompositeName, (g: Graph, args: readonly Node[]) => Node> = {
  swish: (g, args) => g.mul(one(args), g.unary("sigmoid", one(args))),
  // gelu(x) = x·Φ(x) = ½·x·(1 + erf(x/√2)).
  gelu: (g, args) =>
    g.mul(
      g.mul(g.constant(0.5), one(args)),
      g.add(g.constant(1), g.apply("erf", g.mul(g.constant(Math.SQRT1_2), one(args)))),
    ),
  norm: (g, args) => g.unary("sqrt", g.sum(g.unary("square", one(args)))),
  dot: (g, args) => g.matmul(...two(args)),
  outer: (g, args) => g.outer(...two(args)),
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
      case "tensorop":
        return lowerTensorOp(g, expr.fn, expr.args.map(lower), expr.options);
      case "index": {
        const { table, shape } = indexTable(expr.subject.shape, expr.axes);
        return g.gather(lower(expr.subject), table, shape);
      }
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

/** The groups of a reduction: over every entry, or over one axis. */
function reductionGroups(x: Node, axis: number | undefined): { table: IndexTable; shape: Shape } {
  if (axis === undefined) return { table: allTable(sizeOf(x.shape)), shape: [] };
  return axisTable(x.shape, defined(resolveAxis(axis, x.shape.length), "a checked axis"));
}

/** Σ over the groups (a plain `sum` for all entries, which kernels reduce without a table). */
function groupSum(g: Graph, x: Node, axis: number | undefined): Node {
  if (axis === undefined) return g.sum(x);
  const { table, shape } = reductionGroups(x, axis);
  return g.scatter(x, table, shape);
}

/**
 * log Σ exp over the groups, shifted by their maximum for stability. The shift goes through
 * `nograd`: the value does not depend on it, so neither does any derivative.
 */
function logSumExp(g: Graph, x: Node, axis: number | undefined): Node {
  const { table, shape } = reductionGroups(x, axis);
  const top = g.nograd(g.segmax(x, table, shape));
  const spread = axis === undefined ? g.broadcast(top, x.shape) : g.gather(top, table, x.shape);
  return g.add(top, g.unary("log", groupSum(g, g.unary("exp", g.sub(x, spread)), axis)));
}

/** lse spread back over x's entries (for softmax and log_softmax). */
function spreadLogSumExp(g: Graph, x: Node, axis: number | undefined): Node {
  const lse = logSumExp(g, x, axis);
  return axis === undefined ? g.broadcast(lse, x.shape) : g.gather(lse, reductionGroups(x, axis).table, x.shape);
}

/**
 * A convolution as image-to-column and one matrix product: cols [P, c·Πk] from x, then
 * y = (cols · K²ᵀ)ᵀ with K² = k as [o, c·Πk], reshaped to [o, ...out].
 */
function convolution(g: Graph, x: Node, k: Node, options: TensorOpOptions): Node {
  const [o, ...patch] = k.shape as [number, ...number[]];
  const depth = sizeOf(patch);
  const { table, out } = im2colTable(x.shape, patch.slice(1), options.stride ?? 1, options.padding ?? "valid");
  const positions = sizeOf(out);
  const cols = g.gather(x, table, [positions, depth]);
  const kernel = g.reshape(k, [o, depth]);
  return g.reshape(g.transpose(g.matmul(cols, g.transpose(kernel))), [o, ...out]);
}

/** How each tensor built-in becomes IR. */
function lowerTensorOp(g: Graph, fn: TensorOpName, args: readonly Node[], options: TensorOpOptions): Node {
  const x = defined(args[0], "a tensor argument");
  const axis = options.axis;
  switch (fn) {
    case "conv1d":
    case "conv2d":
      return convolution(g, x, defined(args[1], "the kernel"), options);
    case "avg_pool2d":
    case "max_pool2d": {
      const size = defined(options.size, "the window");
      const { table, shape } = poolTable(x.shape, size);
      return fn === "max_pool2d"
        ? g.segmax(x, table, shape)
        : g.mul(g.constant(1 / (size * size)), g.scatter(x, table, shape));
    }
    case "global_avg_pool":
      return g.mul(
        g.constant(defined(x.shape[0], "the channels") / sizeOf(x.shape)),
        g.scatter(x, channelTable(x.shape), [defined(x.shape[0], "the channels")]),
      );
    case "reshape":
      return g.reshape(x, defined(options.shape, "the shape"));
    case "flatten":
      return g.reshape(x, [sizeOf(x.shape)]);
    case "transpose": {
      const perm = options.perm ?? [1, 0];
      if (x.shape.length === 2 && perm[0] === 1) return g.transpose(x);
      if (perm.every((axis, i) => axis === i)) return x;
      const { table, shape } = permuteTable(x.shape, perm);
      return g.gather(x, table, shape);
    }
    case "concat": {
      const b = defined(args[1], "the second tensor");
      const at = defined(resolveAxis(defined(axis, "the axis"), x.shape.length), "a checked axis");
      const { first, second, shape } = concatTables(x.shape, b.shape, at);
      return g.add(g.gather(x, first, shape), g.gather(b, second, shape));
    }
    case "sum":
      return groupSum(g, x, axis);
    case "mean": {
      const count = axis === undefined ? sizeOf(x.shape) : defined(x.shape.at(axis), "the reduced axis");
      return g.mul(g.constant(1 / count), groupSum(g, x, axis));
    }
    case "max": {
      if (x.shape.length === 0) return x;
      const { table, shape } = reductionGroups(x, axis);
      return g.segmax(x, table, shape);
    }
    case "logsumexp":
      return logSumExp(g, x, axis);
    case "softmax":
      return g.unary("exp", g.sub(x, spreadLogSumExp(g, x, axis)));
    case "log_softmax":
      return g.sub(x, spreadLogSumExp(g, x, axis));
    case "maximum":
    case "minimum":
      return g.make(fn, [x, defined(args[1], "the second argument")]);
  }
}
