/**
 * The elementwise functions, one row each in FUNCTIONS: the scalar definition (shared by
 * constant folding in the checker, by the reference interpreter, by `nqm verify`'s bounds and by
 * generated kernels, which quote its source), the derivative, whether it is smooth, how kernels
 * call it and whether model files may call it. The op table (compiler/ir/ops.ts), the op names
 * (node.ts), the checker's signatures (check/builtins.ts) and the lowering (ir/lower.ts) are
 * derived from these rows, so adding an elementwise built-in is one row here. The table sits
 * below the checker because the checker needs the built-in names, and below the IR, which builds
 * the derivatives as graphs through `Algebra`.
 *
 * Non-smooth points follow the convention used in practice: relu'(0) = 0 (so `step(0) = 0`),
 * abs'(0) = sign(0) = 0.
 */

/** Names of the constant parameters a function may take after its argument (leaky_relu's slope); each is an IR attribute. */
export const FUNCTION_PARAMETERS = ["slope"] as const;
export type FunctionParameter = (typeof FUNCTION_PARAMETERS)[number];

/**
 * The vocabulary derivative rules are written in, so one rule serves the IR (GraphBuilder builds
 * nodes) and the numeric checks (NUMBERS computes values). `N` is the function names.
 */
export interface Algebra<T, N extends string = FunctionName> {
  constant(value: number): T;
  add(a: T, b: T): T;
  sub(a: T, b: T): T;
  mul(a: T, b: T): T;
  div(a: T, b: T): T;
  neg(a: T): T;
  /** The function `fn` of `x`; `parameter` is its constant parameter when it takes one. */
  apply(fn: N, x: T, parameter?: number): T;
}

/** One elementwise function; `N` is the names its derivative may apply. */
export interface ScalarFunction<N extends string = FunctionName> {
  /**
   * The definition. Kernels that call it by name get its source quoted into the module, so it
   * must be self-contained (its arguments and Math only) and an arrow function or a `function`.
   */
  readonly scalar: (x: number, parameter: number) => number;
  /** The constant parameter after the argument (`leaky_relu(x, 0.1)`), if any. */
  readonly parameter?: FunctionParameter;
  /**
   * f'(x) in terms of x and y = f(x) (and the parameter); null where it is identically zero.
   * Second derivatives come from differentiating this, so it must be built from `d` only.
   */
  readonly derivative: <T>(d: Algebra<T, N>, x: T, y: T, parameter: number) => T | null;
  /**
   * False for a function with a kink. A kink may only be at 0, and the function must be s(x)·x
   * (relu, abs) or s(x) (step, sign) with s piecewise constant: tests keep their points away
   * from 0, and `nqm verify` holds s where an argument was (the derivative, or the value when
   * the derivative is null).
   */
  readonly smooth: boolean;
  /** Where the function is defined and smooth: every real (away from 0 when not smooth), or x > 0. */
  readonly domain: "real" | "positive";
  /** A `Math` function kernels call instead of `scalar` (when they agree exactly). */
  readonly kernel?: `Math.${string}`;
  /** Whether model files may call it (step, sign and leaky_step exist as derivatives only). */
  readonly builtin: boolean;
}

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

/**
 * The rows as written, with their literal types (so `builtin` and `parameter` can select names
 * in types). The names are inferred as `N` from the keys first, so a derivative that applies a
 * name not in the table fails the type check.
 */
function table<const N extends string, const R extends { readonly [K in N]: ScalarFunction<N> }>(
  rows: R & { readonly [K in N]: ScalarFunction<N> },
): R {
  return rows;
}

const real = { smooth: true, domain: "real", builtin: true } as const;

/** The elementwise functions; the op table has one op per row, of the same name. */
export const FUNCTIONS = table({
  relu: {
    scalar: (x) => (x > 0 ? x : 0),
    derivative: (d, x) => d.apply("step", x),
    ...real,
    smooth: false,
  },
  step: {
    scalar: (x) => (x > 0 ? 1 : 0),
    derivative: () => null,
    ...real,
    smooth: false,
    builtin: false,
  },
  tanh: {
    scalar: Math.tanh,
    derivative: (d, _x, y) => d.sub(d.constant(1), d.apply("square", y)),
    kernel: "Math.tanh",
    ...real,
  },
  sigmoid: { scalar: sigmoid, derivative: (d, _x, y) => d.mul(y, d.sub(d.constant(1), y)), ...real },
  softplus: { scalar: softplus, derivative: (d, x) => d.apply("sigmoid", x), ...real },
  exp: { scalar: Math.exp, derivative: (_d, _x, y) => y, kernel: "Math.exp", ...real },
  log: {
    scalar: Math.log,
    derivative: (d, x) => d.div(d.constant(1), x),
    kernel: "Math.log",
    ...real,
    domain: "positive",
  },
  sqrt: {
    scalar: Math.sqrt,
    derivative: (d, _x, y) => d.div(d.constant(0.5), y),
    kernel: "Math.sqrt",
    ...real,
    domain: "positive",
  },
  abs: { scalar: Math.abs, derivative: (d, x) => d.apply("sign", x), kernel: "Math.abs", ...real, smooth: false },
  sign: {
    scalar: (x) => (x > 0 ? 1 : x < 0 ? -1 : 0),
    derivative: () => null,
    ...real,
    smooth: false,
    builtin: false,
  },
  sin: { scalar: Math.sin, derivative: (d, x) => d.apply("cos", x), kernel: "Math.sin", ...real },
  cos: { scalar: Math.cos, derivative: (d, x) => d.neg(d.apply("sin", x)), kernel: "Math.cos", ...real },
  square: { scalar: (x) => x * x, derivative: (d, x) => d.mul(d.constant(2), x), ...real },
  // mish(x) = x·tanh(softplus(x)), as x·n/(n + 2) with n = eˣ(eˣ + 2): no cancellation for
  // negative x, and x itself beyond 20, where tanh(softplus(x)) rounds to 1 (and eˣ would overflow).
  mish: {
    scalar: (x) => {
      if (x > 20) return x;
      const e = Math.exp(x);
      const n = e * (e + 2);
      return (x * n) / (n + 2);
    },
    // mish' = tanh(softplus(x)) + x·(1 − tanh²(softplus(x)))·sigmoid(x)
    derivative: (d, x) => {
      const t = d.apply("tanh", d.apply("softplus", x));
      return d.add(t, d.mul(x, d.mul(d.sub(d.constant(1), d.apply("square", t)), d.apply("sigmoid", x))));
    },
    ...real,
  },
  // erf(x) = 2x/√π · e^(−x²) · Σₙ (2x²)ⁿ / (1·3·…·(2n+1)) below 2.5 (positive terms: no cancellation);
  // above, 1 − erfc(x) with erfc's continued fraction e^(−x²)/√π / (x + ½/(x + 1/(x + (3/2)/(x + …)))).
  erf: {
    scalar: (x) => {
      const a = Math.abs(x);
      if (a > 6) return x > 0 ? 1 : -1;
      if (a < 2.5) {
        const t = 2 * a * a;
        let term = 1;
        let sum = 1;
        for (let n = 0; term > 1e-17 * sum; n++) {
          term *= t / (2 * n + 3);
          sum += term;
        }
        return ((2 * x) / Math.sqrt(Math.PI)) * Math.exp(-a * a) * sum;
      }
      let f = a;
      for (let k = 80; k >= 1; k--) f = a + k / 2 / f;
      const erfc = Math.exp(-a * a) / (Math.sqrt(Math.PI) * f);
      return x > 0 ? 1 - erfc : erfc - 1;
    },
    derivative: (d, x) => d.mul(d.constant(2 / Math.sqrt(Math.PI)), d.apply("exp", d.neg(d.apply("square", x)))),
    ...real,
  },
  leaky_relu: {
    scalar: (x, slope) => (x > 0 ? x : slope * x),
    parameter: "slope",
    derivative: (d, x, _y, slope) => d.apply("leaky_step", x, slope),
    ...real,
    smooth: false,
  },
  leaky_step: {
    scalar: (x, slope) => (x > 0 ? 1 : slope),
    parameter: "slope",
    derivative: () => null,
    ...real,
    smooth: false,
    builtin: false,
  },
});

export type FunctionName = keyof typeof FUNCTIONS;

/** The functions model files may call. */
export type BuiltinFunctionName = {
  [F in FunctionName]: (typeof FUNCTIONS)[F]["builtin"] extends true ? F : never;
}[FunctionName];

/** The functions without a parameter. */
type PlainFunctionName = {
  [F in FunctionName]: (typeof FUNCTIONS)[F] extends { readonly parameter: string } ? never : F;
}[FunctionName];

/** Every function's name (in table order). */
export const FUNCTION_NAMES = Object.keys(FUNCTIONS) as readonly FunctionName[];

/** The row of `fn`, with the optional fields of every row. */
export function functionRow(fn: FunctionName): ScalarFunction {
  return FUNCTIONS[fn];
}

/** Whether `name` is a function of the table. */
export function isFunction(name: string): name is FunctionName {
  return Object.hasOwn(FUNCTIONS, name);
}

/** Whether `name` is a function model files may call. */
export function isBuiltinFunction(name: string): name is BuiltinFunctionName {
  return isFunction(name) && FUNCTIONS[name].builtin;
}

/** A record with one value per function name, built by `value` (the type keeps every name). */
export function perFunction<V, F extends FunctionName = FunctionName>(
  names: readonly F[],
  value: (name: F) => V,
): Record<F, V> {
  // Object.fromEntries cannot type its keys; `names` lists each key once, so the record is complete.
  return Object.fromEntries(names.map((name) => [name, value(name)])) as Record<F, V>;
}

/** The name of a function's scalar helper in kernels: `leaky_relu` → `leakyRelu`. */
export function helperName(fn: FunctionName): string {
  return fn.replace(/_([a-z])/g, (_match: string, letter: string) => letter.toUpperCase());
}

/** How kernels call `fn`: its Math function or its helper. */
export function kernelCallee(fn: FunctionName): string {
  return functionRow(fn).kernel ?? helperName(fn);
}

/** The functions generated kernels call by name (their source is quoted into each module). */
export const KERNEL_HELPERS: Readonly<Record<string, (x: number, parameter: number) => number>> = Object.fromEntries(
  FUNCTION_NAMES.filter((fn) => functionRow(fn).kernel === undefined).map((fn) => [
    helperName(fn),
    FUNCTIONS[fn].scalar,
  ]),
);

/** Derivative rules evaluated on numbers: f'(x) at a point. */
export const NUMBERS: Algebra<number> = {
  constant: (value) => value,
  add: (a, b) => a + b,
  sub: (a, b) => a - b,
  mul: (a, b) => a * b,
  div: (a, b) => a / b,
  neg: (a) => -a,
  apply: (fn, x, parameter = Number.NaN) => functionRow(fn).scalar(x, parameter),
};

/** The one-argument scalar functions by built-in name, for constant folding; swish is composite (x·sigmoid(x)). */
export const SCALAR_FUNCTIONS: Readonly<Record<PlainFunctionName | "swish", (x: number) => number>> = {
  ...perFunction(
    FUNCTION_NAMES.filter((fn): fn is PlainFunctionName => functionRow(fn).parameter === undefined),
    (fn) => (x: number) => functionRow(fn).scalar(x, Number.NaN),
  ),
  swish: (x: number) => x * sigmoid(x),
};
