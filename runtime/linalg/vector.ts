/**
 * Small dense-vector helpers shared by the eigensolvers, training and verification. They are the
 * one place that indexes two vectors in step: their loops run O(n) per call, many calls per
 * Lanczos or training step, so an index below the first vector's length is trusted, not checked
 * (the callers pass vectors of one length).
 */
// biome-ignore-start lint/style/noNonNullAssertion: hot loops over vectors of one length (see above)

/** Σ a_i b_i. */
export function dot(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += a[i]! * b[i]!;
  return sum;
}

/** Σ |a_i b_i|. */
export function sumAbsProduct(a: Float64Array, b: Float64Array): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! * b[i]!);
  return sum;
}

/** y += alpha·x, in place. */
export function axpy(alpha: number, x: Float64Array, y: Float64Array): void {
  for (let i = 0; i < x.length; i++) y[i]! += alpha * x[i]!;
}

/** a − b, as a new vector. */
export function subtract(a: Float64Array, b: Float64Array): Float64Array {
  const out = new Float64Array(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i]! - b[i]!;
  return out;
}

/** w + t·d, as a new vector. */
export function plusScaled(w: Float64Array, t: number, d: Float64Array): Float64Array {
  const out = new Float64Array(w.length);
  for (let i = 0; i < w.length; i++) out[i] = w[i]! + t * d[i]!;
  return out;
}
// biome-ignore-end lint/style/noNonNullAssertion: end of the vector loops
