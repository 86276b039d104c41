/** Tensor shapes and their arithmetic, shared by the checker, the IR, code generation and the runtime. */

/** A tensor shape: [] scalar, [n] vector, [m, n] matrix. */
export type Shape = readonly number[];

/**
 * The most entries a tensor (and so any dim) may have: 2^31. Larger sizes are refused when a model
 * is checked (NQM2025, NQM2026, NQM3003); no machine this runs on holds such a tensor anyway, and
 * the bound keeps every count of entries and parameters an exact, finite number.
 */
export const MAX_TENSOR_ENTRIES = 2 ** 31;

/** The number of entries of a tensor of this shape. */
export function sizeOf(shape: Shape): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** The shape as it appears in messages: `[2, 3]`. */
export function formatShape(shape: Shape): string {
  return `[${shape.join(", ")}]`;
}

/** True when both shapes have the same rank and sizes. */
export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((size, i) => size === b[i]);
}
