/**
 * Everything the quadratic-model experiments need from a model, as simplified IR:
 * f, the jvp J·Δ, the gradient Σ_j c_j ∇f_j, the hvp Σ_j c_j H_j Δ (forward over reverse),
 * the second directional derivative Δᵀ H Δ (forward over forward), and from them f_lin and
 * f_quad expanded around the params and evaluated at params + Δ, and the gradient of f_quad
 * in Δ. No dense Hessian is formed.
 */
import type { CheckedModel } from "../check/typed.ts";
import type { Span } from "../../foundation/diagnostics.ts";
import { defined, one } from "../../foundation/defined.ts";
import { Graph } from "../ir/graph.ts";
import { lowerModel } from "../ir/lower.ts";
import { simplify as simplifyGraph } from "../simplify/simplify.ts";
import { jvp, vjp } from "./transforms.ts";
import type { Node } from "../ir/node.ts";

export interface DerivativeProgram {
  readonly model: CheckedModel;
  readonly graph: Graph;
  /** f(w; x), per example. */
  readonly f: Node;
  /** J(w; x) Δ, per example. */
  readonly jvp: Node;
  /** Σ_j c_j ∂f(w; x_j)/∂w, per param. */
  readonly grad: Readonly<Record<string, Node>>;
  /** Σ_j c_j H_f(w; x_j) Δ, per param. */
  readonly hvp: Readonly<Record<string, Node>>;
  /** Δᵀ H_f(w; x) Δ, per example. */
  readonly quad: Node;
  /** f + J Δ: the linear model around w, at w + Δ. */
  readonly fLin: Node;
  /** f + J Δ + ½ Δᵀ H Δ: the quadratic model around w, at w + Δ. */
  readonly fQuad: Node;
  /**
   * Σ_j c_j ∇_Δ f_quad(x_j) = grad + hvp, per param: the gradient of an f_quad loss in Δ,
   * simplified together so that shared factors are computed once.
   */
  readonly quadGrad: Readonly<Record<string, Node>>;
  /** The source span of the declaration each lowered node came from. */
  readonly origins: ReadonlyMap<number, Span>;
}

/**
 * Builds and simplifies every derivative program of `model`. With `simplify: false`, the same
 * construction without any simplification: the reference the simplifier's tests compare against.
 */
export function deriveModel(model: CheckedModel, options: { simplify?: boolean } = {}): DerivativeProgram {
  const simplify = options.simplify === false ? (_: Graph, roots: readonly Node[]) => [...roots] : simplifyGraph;
  const g = new Graph();
  const origins = new Map<number, Span>();
  const f = one(simplify(g, [lowerModel(model, g, origins)]));
  const tangentOf = (leaf: Node): Node | null =>
    leaf.op === "param" ? g.leaf("tangent", defined(leaf.attrs.name, "a param's name"), leaf.shape) : null;
  const orZero = (node: Node | null | undefined, like: { shape: readonly number[] }) =>
    node ?? g.constant(0, like.shape);

  const jvpRaw = one(jvp(g, [f], tangentOf));
  const jvpNode = one(simplify(g, [orZero(jvpRaw, f)]));
  const quadRaw = one(jvp(g, [jvpNode], tangentOf));

  const cotangent = g.leaf("cotangent", "c", f.shape);
  const adjoints = vjp(g, f, cotangent);
  const params = model.params;
  const paramAdjoints = new Map<string, Node>();
  for (const [leaf, adjoint] of adjoints)
    if (leaf.op === "param") paramAdjoints.set(defined(leaf.attrs.name, "a param's name"), adjoint);
  const gradRaw = params.map((p) => orZero(paramAdjoints.get(p.name), p));
  const grads = simplify(g, gradRaw);
  const hvpTangents = jvp(g, grads, tangentOf);
  const hvpRaw = params.map((p, i) => orZero(hvpTangents[i], p));

  const half = g.constant(0.5);
  const [quad, fLin, fQuad, ...hvps] = simplify(g, [
    orZero(quadRaw, f),
    g.add(f, jvpNode),
    g.add(g.add(f, jvpNode), g.mul(half, orZero(quadRaw, f))),
    ...hvpRaw,
  ]);
  const perParam = (nodes: readonly Node[], what: string) =>
    Object.fromEntries(params.map((p, i) => [p.name, defined(nodes[i], `${what} of ${p.name}`)]));
  const quadGrads = simplify(
    g,
    params.map((p, i) =>
      g.add(defined(grads[i], `the gradient of ${p.name}`), defined(hvps[i], `the hvp of ${p.name}`)),
    ),
  );
  return {
    model,
    graph: g,
    f,
    jvp: jvpNode,
    grad: perParam(grads, "the gradient"),
    hvp: perParam(hvps, "the hvp"),
    quadGrad: perParam(quadGrads, "the f_quad gradient"),
    quad: defined(quad, "ΔᵀHΔ"),
    fLin: defined(fLin, "f_lin"),
    fQuad: defined(fQuad, "f_quad"),
    origins,
  };
}
