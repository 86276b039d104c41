/** Dense row-major tensors of rank ≤ 4, the values of the reference interpreter. */
import { defined } from "../../foundation/defined.ts";
import { type Shape, sizeOf } from "../../foundation/shape.ts";

export interface Tensor {
  readonly shape: Shape;
  readonly data: Float64Array;
}

export function tensor(shape: Shape, data?: Float64Array | readonly number[]): Tensor {
  const size = sizeOf(shape);
  const array = data === undefined ? new Float64Array(size) : Float64Array.from(data);
  if (array.length !== size) throw new Error(`tensor of shape [${shape}] given ${array.length} values`);
  return { shape, data: array };
}

export function filled(shape: Shape, value: number): Tensor {
  return { shape, data: new Float64Array(sizeOf(shape)).fill(value) };
}

/** Nested arrays in the tensor's shape: a number, number[], number[][], … */
export type Nested = number | Nested[];

export function toNested(t: Tensor): Nested {
  if (t.shape.length === 0) return defined(t.data[0], "a scalar's value");
  const nest = (offset: number, axis: number): Nested => {
    const size = defined(t.shape[axis], "an axis size");
    if (axis === t.shape.length - 1) return Array.from(t.data.subarray(offset, offset + size));
    const stride = sizeOf(t.shape.slice(axis + 1));
    return Array.from({ length: size }, (_, i) => nest(offset + i * stride, axis + 1));
  };
  return nest(0, 0);
}

/** The shape nested arrays appear to have, following first elements (undefined for other values). */
export function nestedShape(value: unknown): number[] | undefined {
  const shape: number[] = [];
  let current = value;
  while (Array.isArray(current)) {
    shape.push(current.length);
    if (current.length === 0) return shape;
    current = current[0];
  }
  return typeof current === "number" ? shape : undefined;
}

/**
 * Reads nested arrays of the given shape; returns a reason string when they do not fit
 * (so callers can turn it into a located diagnostic).
 */
export function fromNested(value: unknown, shape: Shape): Tensor | string {
  const data: number[] = [];
  const walk = (v: unknown, depth: number, path: string): string | undefined => {
    if (depth === shape.length) {
      if (typeof v !== "number" || !Number.isFinite(v))
        return `${path || "the value"} is ${JSON.stringify(v)}, not a finite number`;
      data.push(v);
      return undefined;
    }
    if (!Array.isArray(v)) return `${path || "the value"} should be an array of ${shape[depth]}`;
    if (v.length !== shape[depth]) return `${path || "the value"} has ${v.length} entries, expected ${shape[depth]}`;
    for (let i = 0; i < v.length; i++) {
      const problem = walk(v[i], depth + 1, `${path}[${i}]`);
      if (problem) return problem;
    }
    return undefined;
  };
  const problem = walk(value, 0, "");
  return problem ?? tensor(shape, data);
}
