/**
 * The training loss split along the eigen-directions of the tangent kernel at w0 (the paper's
 * Theorem 3 and Figure 3): with p_1 … p_k the top-k unit eigenvectors of K(w0) and r = f − y
 * the training residual, the loss ½‖r‖² is Σ_i ½(p_iᵀr)² plus ½‖r⊥‖², r⊥ the part of r
 * outside span(p_1 … p_k). The complement is computed from r⊥ itself, not as the loss minus
 * the top components, so it stays accurate when it is a small part of a spiking loss.
 */
import { defined } from "../foundation/defined.ts";
import { topEigenvalues, type LossNormalization, type Session } from "./session.ts";

/** The top-k eigenvectors of K(w0) and how to split a residual along them. */
export interface DirectionBasis {
  readonly k: number;
  /** λ_1 … λ_k of K(w0). */
  readonly values: readonly number[];
  readonly vectors: readonly Float64Array[];
}

const bases = new WeakMap<Float64Array, Map<number, DirectionBasis>>();

/** The top-k eigenpairs of K(w0) by Lanczos (relative residual 1e-10), once per w0 and k. */
export function directionBasis(session: Session, w0: Float64Array, k: number): DirectionBasis {
  let byK = bases.get(w0);
  if (!byK) {
    byK = new Map();
    bases.set(w0, byK);
  }
  const known = byK.get(k);
  if (known) return known;
  const top = topEigenvalues(session, w0, k);
  const basis = { k: top.values.length, values: [...top.values], vectors: top.vectors };
  byK.set(k, basis);
  return basis;
}

/**
 * [½(p_1ᵀr)², …, ½(p_kᵀr)², ½‖r⊥‖²] for r = predictions − labels (first `length` entries),
 * divided by n for the mean loss, so that the components sum to the training loss.
 */
export function lossComponents(
  basis: DirectionBasis,
  predictions: Float64Array,
  labels: Float64Array,
  loss: LossNormalization,
  n: number,
): number[] {
  const size = labels.length;
  const r = new Float64Array(size);
  for (let i = 0; i < size; i++) r[i] = (predictions[i] ?? Number.NaN) - (labels[i] ?? Number.NaN);
  const scale = loss === "mean" ? 0.5 / n : 0.5;
  const parts: number[] = [];
  // Projections against the original residual, removed one at a time (the p_i are orthonormal
  // up to Lanczos's accuracy; removing them in turn is the modified Gram–Schmidt order).
  const rest = Float64Array.from(r);
  for (let i = 0; i < basis.k; i++) {
    const p = defined(basis.vectors[i], "an eigenvector of the basis");
    let along = 0;
    let alongRest = 0;
    for (let j = 0; j < size; j++) {
      along += (p[j] ?? 0) * (r[j] ?? 0);
      alongRest += (p[j] ?? 0) * (rest[j] ?? 0);
    }
    for (let j = 0; j < size; j++) rest[j] = (rest[j] ?? 0) - alongRest * (p[j] ?? 0);
    parts.push(scale * along * along);
  }
  let s = 0;
  for (const value of rest) s += value * value;
  parts.push(scale * s);
  return parts;
}
