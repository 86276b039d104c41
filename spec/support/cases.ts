/**
 * A generated model with a random point and its derived programs, shared by the derivative
 * property tests; plus the kink bookkeeping for models with relu, abs and leaky_relu.
 */
import type fc from "fast-check";
import { deriveModel, type DerivativeProgram } from "../../compiler/diff/programs.ts";
import type { Bindings } from "../../compiler/ir/interpret.ts";
import { OPS } from "../../compiler/ir/ops.ts";
import { modelArbitrary, type GenerateOptions, type GeneratedModel } from "./models.ts";
import type { Tensor } from "../../compiler/ir/tensor.ts";
import { evaluatePerExample, pointArbitrary, type TestPoint } from "./points.ts";
import { topologicalOrder, type Node } from "../../compiler/ir/node.ts";
import { nth, present } from "./entries.ts";

export interface Case {
  readonly model: GeneratedModel;
  readonly point: TestPoint;
}

/** A generated model with a random point for it. */
export function caseArbitrary(options: GenerateOptions = {}): fc.Arbitrary<Case> {
  return modelArbitrary(options).chain((model) => pointArbitrary(model.checked).map((point) => ({ model, point })));
}

/** The derived programs of a case, memoized per source text (fast-check re-runs cases while shrinking). */
const programs = new Map<string, DerivativeProgram>();
export function programOf(c: Case): DerivativeProgram {
  let program = programs.get(c.model.source);
  if (!program) {
    if (programs.size > 64) programs.clear();
    program = deriveModel(c.model.checked);
    programs.set(c.model.source, program);
  }
  return program;
}

/**
 * The values of every node of `roots`' graphs from one interpretation, and for each node the
 * largest |value| in its own graph (itself and everything below it), over all examples.
 */
export function valueTable(
  roots: readonly Node[],
  bindings: Bindings,
): { value: (node: Node) => Tensor[]; largest: (node: Node) => number } {
  const order = topologicalOrder(roots);
  const values = new Map<number, Tensor[]>();
  evaluatePerExample(order, bindings).forEach((v, i) => values.set(nth(order, i).id, v));
  const largest = new Map<number, number>();
  for (const node of order) {
    let m = 0;
    for (const t of present(values.get(node.id))) for (const v of t.data) m = Math.max(m, Math.abs(v));
    for (const input of node.inputs) m = Math.max(m, present(largest.get(input.id)));
    largest.set(node.id, m);
  }
  return { value: (node) => present(values.get(node.id)), largest: (node) => present(largest.get(node.id)) };
}

/** The largest |value| of any node of `roots`' graphs, over all examples. */
export function largestIntermediate(roots: readonly Node[], bindings: Bindings): number {
  let largest = 0;
  for (const perExample of evaluatePerExample(topologicalOrder(roots), bindings))
    for (const t of perExample) for (const v of t.data) largest = Math.max(largest, Math.abs(v));
  return largest;
}

/** The arguments of every non-smooth op (the op table's `smooth: false`) reachable from `roots`. */
export function kinkArguments(roots: readonly Node[]): Node[] {
  const args = new Map<number, Node>();
  for (const node of topologicalOrder(roots))
    if (!OPS[node.op].smooth) args.set(nth(node.inputs, 0).id, nth(node.inputs, 0));
  return [...args.values()];
}

/** The smallest |z| over the kink arguments (Infinity when there are none). */
export function kinkMargin(args: readonly Node[], bindings: Bindings): number {
  if (args.length === 0) return Infinity;
  let margin = Infinity;
  for (const perExample of evaluatePerExample(args, bindings))
    for (const t of perExample) for (const v of t.data) margin = Math.min(margin, Math.abs(v));
  return margin;
}

/** The sign pattern of the kink arguments: equal patterns mean the same smooth piece. */
export function kinkPattern(args: readonly Node[], bindings: Bindings): string {
  if (args.length === 0) return "";
  return evaluatePerExample(args, bindings)
    .map((perExample) =>
      perExample.map((t) => Array.from(t.data, (v) => (v > 0 ? "+" : v < 0 ? "-" : "0")).join("")).join("/"),
    )
    .join("|");
}
