/** The derivative programs as `nqm derive` shows them: named, simplified expressions. */
import { defined } from "../../foundation/defined.ts";
import { substitute } from "../ir/substitute.ts";
import { simplify } from "../simplify/simplify.ts";
import type { DerivativeProgram } from "./programs.ts";
import type { Node } from "../ir/node.ts";
import type { DeriveView } from "./view-names.ts";

interface NamedExpression {
  readonly name: string;
  readonly node: Node;
}

/** One section of `nqm derive`'s output (exported as deriveView's result type, which the CLI prints). */
export interface ViewSection {
  readonly title: string;
  readonly expressions: readonly NamedExpression[];
}

/** The per-example gradient: the vjp with c = 1 and the batch sum dropped. */
function perExampleGradient(program: DerivativeProgram): NamedExpression[] {
  const g = program.graph;
  const params = program.model.params.map((p) => p.name);
  const substituted = substitute(
    g,
    params.map((p) => defined(program.grad[p], `the gradient of ${p}`)),
    (node, inputs) =>
      node.op === "cotangent" ? g.constant(1, node.shape) : node.op === "bsum" ? inputs[0] : undefined,
  );
  return simplify(g, substituted).map((node, i) => ({ name: `grad[${params[i]}]`, node }));
}

/** The sections `nqm derive --what VIEW` prints. */
export function deriveView(program: DerivativeProgram, view: DeriveView): ViewSection[] {
  const params = program.model.params.map((p) => p.name);
  const perParam = (prefix: string, table: Readonly<Record<string, Node>>) =>
    params.map((p) => ({ name: `${prefix}[${p}]`, node: defined(table[p], `${prefix}[${p}]`) }));
  const sections: Record<Exclude<DeriveView, "all">, () => ViewSection> = {
    f: () => ({ title: "f(w; x), per example", expressions: [{ name: "f", node: program.f }] }),
    grad: () => ({
      title: `∇_w f(w; x), per example and per param${program.model.outputShape.length > 0 ? " (c = 1: the gradient of the sum of the outputs)" : ""}`,
      expressions: perExampleGradient(program),
    }),
    jvp: () => ({ title: "J(w; x) Δ, per example (Δ = direction)", expressions: [{ name: "jvp", node: program.jvp }] }),
    vjp: () => ({
      title: "Σⱼ c_j ∇_w f(w; x_j), per param (c = cotangent)",
      expressions: perParam("vjp", program.grad),
    }),
    hvp: () => ({ title: "Σⱼ c_j H_f(w; x_j) Δ, per param", expressions: perParam("hvp", program.hvp) }),
    quad: () => ({
      title: "Δᵀ H_f(w; x) Δ per example; f_quad = f + J Δ + ½ Δᵀ H Δ",
      expressions: [
        { name: "quad", node: program.quad },
        { name: "f_quad", node: program.fQuad },
      ],
    }),
  };
  return view === "all"
    ? (Object.keys(sections) as Exclude<DeriveView, "all">[]).map((k) => sections[k]())
    : [sections[view]()];
}
