/**
 * The built-ins on tensors of any rank that take options after their tensor arguments
 * (an axis, a stride, a padding, a window size, a shape or an axis order): their signatures and
 * shape rules. The checker evaluates the options to constants; compiler/ir/lower.ts turns each
 * call into index-table ops (compiler/ir/tables.ts) and matrix products.
 */
import { type Shape, formatShape, sizeOf } from "../../foundation/shape.ts";

/** One axis of an indexing: a single entry (the axis is dropped), or the entries [start, end). */
export type AxisIndex =
  | { readonly kind: "at"; readonly index: number }
  | { readonly kind: "slice"; readonly start: number; readonly end: number };

/** Convolution padding: "valid" (none) or "same" (the output has ⌈size / stride⌉ entries per axis). */
export type Padding = "valid" | "same";

/** The output size of a convolution axis, and the zero padding before its first entry. */
export function convolvedSize(size: number, kernel: number, stride: number, padding: Padding): [number, number] {
  if (padding === "valid") return [Math.floor((size - kernel) / stride) + 1, 0];
  const out = Math.ceil(size / stride);
  const total = Math.max((out - 1) * stride + kernel - size, 0);
  return [out, Math.floor(total / 2)];
}

/** The kinds of option a tensor built-in takes after its tensors. */
export type OptionKind = "axis" | "stride" | "padding" | "size" | "shape" | "perm";

/** Evaluated options (absent ones take their defaults: stride 1, padding "valid", all axes). */
export interface TensorOpOptions {
  readonly axis?: number;
  readonly stride?: number;
  readonly padding?: Padding;
  readonly size?: number;
  readonly shape?: Shape;
  readonly perm?: readonly number[];
}

/** A shape rule's answer: the result shape, or what is wrong and with which argument. */
export type TensorShapeRule = (
  shapes: readonly Shape[],
  options: TensorOpOptions,
) => Shape | { readonly error: string; readonly argument: number };

export interface TensorOpSpec {
  /** "2 to 4 arguments (x, k, stride, padding)". */
  readonly takes: string;
  /** The leading tensor arguments. */
  readonly tensors: number;
  /** The options that may follow, in order; the first `required` of them must be given. */
  readonly options: readonly OptionKind[];
  readonly required: number;
  readonly shape: TensorShapeRule;
}

const fits = (shape: Shape, rank: number) => shape.length === rank;

/** The axis an option names, negative axes counting from the end; undefined when out of range. */
export function resolveAxis(axis: number, rank: number): number | undefined {
  const resolved = axis < 0 ? axis + rank : axis;
  return Number.isInteger(resolved) && resolved >= 0 && resolved < rank ? resolved : undefined;
}

/** A reduction over all entries (no axis) or one axis. */
const reduction: TensorShapeRule = ([x = []], { axis }) => {
  if (axis === undefined) return [];
  const a = resolveAxis(axis, x.length);
  if (a === undefined) return { error: `an axis in [${-x.length}, ${x.length - 1}], not ${axis}`, argument: 1 };
  return x.filter((_, i) => i !== a);
};

/** softmax and log_softmax keep the shape; the axis (default: all entries of a vector) must exist. */
const normalizing: TensorShapeRule = ([x = []], options) => {
  if (options.axis === undefined && x.length !== 1)
    return { error: "a vector (or an axis: softmax(x, 0))", argument: 0 };
  const reduced = reduction([x], options);
  return "error" in reduced ? reduced : x;
};

/** conv1d and conv2d: x [c, ...spatial], k [o, c, ...kernel]. */
function convolution(spatial: number): TensorShapeRule {
  return ([x = [], k = []], { stride = 1, padding = "valid" }) => {
    const shape = spatial === 1 ? "[c, l]" : "[c, h, w]";
    if (!fits(x, spatial + 1)) return { error: `an input of shape ${shape}`, argument: 0 };
    if (!fits(k, spatial + 2))
      return { error: `a kernel of shape ${spatial === 1 ? "[o, c, kl]" : "[o, c, kh, kw]"}`, argument: 1 };
    if (k[1] !== x[0]) return { error: `a kernel with ${x[0]} input channels (the input's), not ${k[1]}`, argument: 1 };
    if (!(Number.isInteger(stride) && stride >= 1))
      return { error: `a positive integer stride, not ${stride}`, argument: 2 };
    const out: number[] = [];
    for (let a = 0; a < spatial; a++) {
      const [size, kernel] = [x[a + 1] ?? 0, k[a + 2] ?? 0];
      if (padding === "valid" && kernel > size)
        return { error: `a kernel no larger than the input (${kernel} > ${size} on axis ${a + 1})`, argument: 1 };
      out.push(convolvedSize(size, kernel, stride, padding)[0]);
    }
    return [k[0] ?? 0, ...out];
  };
}

/** Pooling over size×size windows of [c, h, w]. */
const pooling: TensorShapeRule = ([x = []], { size = 1 }) => {
  if (!fits(x, 3)) return { error: "an input of shape [c, h, w]", argument: 0 };
  if (!(Number.isInteger(size) && size >= 1)) return { error: `a positive integer window, not ${size}`, argument: 1 };
  if (size > (x[1] ?? 0) || size > (x[2] ?? 0))
    return { error: `a window no larger than the image (${size} > ${Math.min(x[1] ?? 0, x[2] ?? 0)})`, argument: 1 };
  return [x[0] ?? 0, Math.floor((x[1] ?? 0) / size), Math.floor((x[2] ?? 0) / size)];
};

/** Elementwise with scalar broadcasting, as the arithmetic operators. */
const elementwisePair: TensorShapeRule = ([a = [], b = []]) => {
  if (a.length === 0) return b;
  if (b.length === 0 || (a.length === b.length && a.every((s, i) => s === b[i]))) return a;
  return { error: `the shape of the first argument, ${formatShape(a)} (or a scalar)`, argument: 1 };
};

export const TENSOR_OPS = {
  conv1d: {
    takes: "2 to 4 arguments (x, k, stride, padding)",
    tensors: 2,
    options: ["stride", "padding"],
    required: 0,
    shape: convolution(1),
  },
  conv2d: {
    takes: "2 to 4 arguments (x, k, stride, padding)",
    tensors: 2,
    options: ["stride", "padding"],
    required: 0,
    shape: convolution(2),
  },
  avg_pool2d: { takes: "2 arguments (x, size)", tensors: 1, options: ["size"], required: 1, shape: pooling },
  max_pool2d: { takes: "2 arguments (x, size)", tensors: 1, options: ["size"], required: 1, shape: pooling },
  global_avg_pool: {
    takes: "1 argument (x of shape [c, ...])",
    tensors: 1,
    options: [],
    required: 0,
    shape: ([x = []]) => (x.length >= 2 ? [x[0] ?? 0] : { error: "an input of shape [c, h, w]", argument: 0 }),
  },
  reshape: {
    takes: "2 arguments (x, shape)",
    tensors: 1,
    options: ["shape"],
    required: 1,
    shape: ([x = []], { shape = [] }) =>
      sizeOf(shape) === sizeOf(x)
        ? shape
        : {
            error: `a shape of ${sizeOf(x)} entries, as ${formatShape(x)} has, not ${formatShape(shape)}`,
            argument: 1,
          },
  },
  flatten: {
    takes: "1 argument",
    tensors: 1,
    options: [],
    required: 0,
    shape: ([x = []]) => [sizeOf(x)],
  },
  transpose: {
    takes: "1 or 2 arguments (x, axis order)",
    tensors: 1,
    options: ["perm"],
    required: 0,
    shape: ([x = []], options) => {
      if (options.perm === undefined && x.length !== 2)
        return { error: "a matrix (or an axis order: transpose(x, [1, 0, 2]))", argument: 0 };
      const perm = options.perm ?? [1, 0];
      const sorted = [...perm].sort((a, b) => a - b);
      if (perm.length !== x.length || sorted.some((axis, i) => axis !== i))
        return { error: `an order of the axes 0 to ${x.length - 1}, not [${perm}]`, argument: 1 };
      return perm.map((axis) => x[axis] ?? 0);
    },
  },
  concat: {
    takes: "3 arguments (a, b, axis)",
    tensors: 2,
    options: ["axis"],
    required: 1,
    shape: ([a = [], b = []], { axis = 0 }) => {
      const at = resolveAxis(axis, a.length);
      if (at === undefined) return { error: `an axis in [${-a.length}, ${a.length - 1}], not ${axis}`, argument: 2 };
      if (b.length !== a.length || a.some((size, i) => i !== at && size !== b[i]))
        return { error: `the shape of the first, ${formatShape(a)}, except on axis ${at}`, argument: 1 };
      return a.map((size, i) => (i === at ? size + (b[i] ?? 0) : size));
    },
  },
  sum: { takes: "1 or 2 arguments (x, axis)", tensors: 1, options: ["axis"], required: 0, shape: reduction },
  mean: { takes: "1 or 2 arguments (x, axis)", tensors: 1, options: ["axis"], required: 0, shape: reduction },
  max: { takes: "1 or 2 arguments (x, axis)", tensors: 1, options: ["axis"], required: 0, shape: reduction },
  logsumexp: { takes: "1 or 2 arguments (x, axis)", tensors: 1, options: ["axis"], required: 0, shape: reduction },
  softmax: { takes: "1 or 2 arguments (x, axis)", tensors: 1, options: ["axis"], required: 0, shape: normalizing },
  log_softmax: {
    takes: "1 or 2 arguments (x, axis)",
    tensors: 1,
    options: ["axis"],
    required: 0,
    shape: normalizing,
  },
  maximum: { takes: "2 arguments", tensors: 2, options: [], required: 0, shape: elementwisePair },
  minimum: { takes: "2 arguments", tensors: 2, options: [], required: 0, shape: elementwisePair },
} as const satisfies Record<string, TensorOpSpec>;

export type TensorOpName = keyof typeof TENSOR_OPS;

/** Whether `name` is a tensor built-in. */
export function isTensorOp(name: string): name is TensorOpName {
  return Object.hasOwn(TENSOR_OPS, name);
}
