/**
 * Scalar definitions of the elementwise functions, shared by constant folding in the checker,
 * by the reference interpreter and by generated kernels: a kernel module quotes the source of
 * the functions in KERNEL_HELPERS (module.ts), so there is one definition of each. Non-smooth
 * points follow the convention used in practice: relu'(0) = 0 (so `step(0) = 0`),
 * abs'(0) = sign(0) = 0.
 *
 * The helpers must stay self-contained (no reference to anything but their parameters and
 * Math), since their source text is copied into modules that import nothing.
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

const relu = (x: number): number => (x > 0 ? x : 0);
const step = (x: number): number => (x > 0 ? 1 : 0);
const sign = (x: number): number => (x > 0 ? 1 : x < 0 ? -1 : 0);
const square = (x: number): number => x * x;
const leakyRelu = (x: number, slope: number): number => (x > 0 ? x : slope * x);
const leakyStep = (x: number, slope: number): number => (x > 0 ? 1 : slope);

/** The functions generated kernels call by name (their source is quoted into each module). */
export const KERNEL_HELPERS = { relu, step, sign, square, sigmoid, softplus, leakyRelu, leakyStep } as const;

export const SCALAR_FUNCTIONS = {
  relu,
  step,
  tanh: Math.tanh,
  sigmoid,
  softplus,
  exp: Math.exp,
  log: Math.log,
  sqrt: Math.sqrt,
  abs: Math.abs,
  sign,
  sin: Math.sin,
  cos: Math.cos,
  square,
  swish: (x: number) => x * sigmoid(x),
} as const satisfies Record<string, (x: number) => number>;
