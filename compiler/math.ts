/**
 * Scalar definitions of the elementwise functions, shared by constant folding in the checker
 * and by the reference interpreter. Non-smooth points follow the convention used in practice:
 * relu'(0) = 0 (so `step(0) = 0`), abs'(0) = sign(0) = 0.
 */

/** log(1 + e^x) without overflow for large x or loss of precision for very negative x. */
export function softplus(x: number): number {
  return x > 0 ? x + Math.log1p(Math.exp(-x)) : Math.log1p(Math.exp(x));
}

/** 1 / (1 + e^-x), evaluated on the side that cannot overflow. */
export function sigmoid(x: number): number {
  if (x >= 0) return 1 / (1 + Math.exp(-x));
  const e = Math.exp(x);
  return e / (1 + e);
}

export const SCALAR_FUNCTIONS = {
  relu: (x: number) => (x > 0 ? x : 0),
  step: (x: number) => (x > 0 ? 1 : 0),
  tanh: Math.tanh,
  sigmoid,
  softplus,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sign: (x: number) => (x > 0 ? 1 : x < 0 ? -1 : 0),
  sin: Math.sin,
  cos: Math.cos,
  square: (x: number) => x * x,
  swish: (x: number) => x * sigmoid(x),
} as const satisfies Record<string, (x: number) => number>;
