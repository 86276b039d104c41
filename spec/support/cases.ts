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

/**
 * The non-smooth nodes (the op table's `smooth: false`) reachable from `roots`: the elementwise
 * kinks (at 0 of their argument), maximum and minimum (where their arguments tie), and segmax
 * and argmask (where a group's largest entries tie).
 */
export function kinkArguments(roots: readonly Node[]): Node[] {
  return topologicalOrder(roots).filter((node) => !OPS[node.op].smooth);
}

/** Per kink node and example: its distance from the kink per entry, and which side it is on. */
function kinkSides(kink: Node, inputs: readonly Tensor[]): { distance: number[]; side: string[] } {
  const [a, b] = [nth(inputs, 0).data, inputs[1]?.data];
  if (kink.op === "maximum" || kink.op === "minimum") {
    const other = present(b, "the second argument");
    const size = Math.max(a.length, other.length);
    const at = (data: Float64Array, i: number) => nth(data, data.length === 1 ? 0 : i);
    const pairs = Array.from({ length: size }, (_, i) => at(a, i) - at(other, i));
    return { distance: pairs.map(Math.abs), side: pairs.map((d) => (d > 0 ? "a" : d < 0 ? "b" : "=")) };
  }
  if (kink.op === "segmax" || kink.op === "argmask") {
    const table = present(kink.attrs.table, "the table").data;
    const members = new Map<number, number[]>();
    table.forEach((k, i) => {
      if (k >= 0) members.set(k, [...(members.get(k) ?? []), i]);
    });
    const distance: number[] = [];
    const side: string[] = [];
    for (const group of members.values()) {
      const sorted = [...group].sort((p, q) => nth(a, q) - nth(a, p) || p - q);
      const [top, next] = [nth(sorted, 0), sorted[1]];
      distance.push(next === undefined ? Infinity : nth(a, top) - nth(a, next));
      side.push(String(top));
    }
    return { distance, side };
  }
  const values = Array.from(a);
  return { distance: values.map(Math.abs), side: values.map((v) => (v > 0 ? "+" : v < 0 ? "-" : "0")) };
}

/** Each kink node's sides per example, from one interpretation of their inputs. */
function kinkTable(kinks: readonly Node[], bindings: Bindings): { distance: number[]; side: string[] }[][] {
  const inputs = [...new Map(kinks.flatMap((k) => k.inputs).map((n) => [n.id, n])).values()];
  const values = evaluatePerExample(inputs, bindings);
  const index = new Map(inputs.map((n, i) => [n.id, i]));
  return kinks.map((kink) =>
    nth(values, 0).map((_, example) =>
      kinkSides(
        kink,
        kink.inputs.map((input) => nth(nth(values, present(index.get(input.id))), example)),
      ),
    ),
  );
}

/** The smallest distance from a kink over the kink nodes (Infinity when there are none). */
export function kinkMargin(kinks: readonly Node[], bindings: Bindings): number {
  if (kinks.length === 0) return Infinity;
  let margin = Infinity;
  for (const perExample of kinkTable(kinks, bindings))
    for (const { distance } of perExample) for (const d of distance) margin = Math.min(margin, d);
  return margin;
}

/** The side of every kink: equal patterns mean the same smooth piece. */
export function kinkPattern(kinks: readonly Node[], bindings: Bindings): string {
  if (kinks.length === 0) return "";
  return kinkTable(kinks, bindings)
    .map((perExample) => perExample.map(({ side }) => side.join(",")).join("/"))
    .join("|");
}
