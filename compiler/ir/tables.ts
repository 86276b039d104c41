/**
 * The constant index tables behind indexing, slicing, axis permutations, concatenation, axis
 * reductions, pooling and convolutions (as image-to-column). Each lowers to one of four linear
 * or choosing ops (node.ts: gather, scatter, segmax, argmask) with a table built here once, at
 * compile time; the table's key names its content, so equal tables hash-cons to one node.
 *
 * Layout is row-major everywhere: entry (i₀, …, i_{r−1}) of a tensor of shape [s₀, …, s_{r−1}] is
 * at Σ i_a·stride_a with stride_a = Π_{b>a} s_b.
 */
import { type Shape, sizeOf } from "../../foundation/shape.ts";
import { defined } from "../../foundation/defined.ts";
import type { IndexTable } from "./node.ts";
import { type AxisIndex, convolvedSize, type Padding } from "../check/tensor-ops.ts";

/** The row-major strides of a shape. */
export function stridesOf(shape: Shape): number[] {
  const strides = new Array<number>(shape.length).fill(1);
  for (let a = shape.length - 2; a >= 0; a--) strides[a] = (strides[a + 1] ?? 1) * (shape[a + 1] ?? 1);
  return strides;
}

/** Calls `visit(flat, coordinates)` for every entry of `shape`, in row-major order. */
function forEachEntry(shape: Shape, visit: (flat: number, at: readonly number[]) => void): void {
  const at = new Array<number>(shape.length).fill(0);
  const total = sizeOf(shape);
  for (let flat = 0; flat < total; flat++) {
    visit(flat, at);
    for (let a = shape.length - 1; a >= 0; a--) {
      at[a] = (at[a] ?? 0) + 1;
      if ((at[a] ?? 0) < (shape[a] ?? 1)) break;
      at[a] = 0;
    }
  }
}

function table(key: string, data: Int32Array): IndexTable {
  return { key, data };
}

/** x[indices…] (leading axes; the rest are kept whole): a gather table and the result shape. */
export function indexTable(shape: Shape, axes: readonly AxisIndex[]): { table: IndexTable; shape: Shape } {
  const strides = stridesOf(shape);
  const result: number[] = [];
  // Per result axis: the source axis it walks, and its first source index.
  const walks: { axis: number; start: number }[] = [];
  let base = 0;
  shape.forEach((size, axis) => {
    const index = axes[axis];
    if (index?.kind === "at") base += index.index * (strides[axis] ?? 1);
    else {
      const start = index?.start ?? 0;
      result.push((index?.end ?? size) - start);
      walks.push({ axis, start });
    }
  });
  const data = new Int32Array(sizeOf(result));
  forEachEntry(result, (flat, at) => {
    let from = base;
    walks.forEach((walk, r) => {
      from += ((at[r] ?? 0) + walk.start) * (strides[walk.axis] ?? 1);
    });
    data[flat] = from;
  });
  const text = axes.map((i) => (i.kind === "at" ? String(i.index) : `${i.start}:${i.end}`)).join(",");
  return { table: table(`index[${shape}](${text})`, data), shape: result };
}

/** The axes of x in the order `perm` (result axis a is source axis perm[a]). */
export function permuteTable(shape: Shape, perm: readonly number[]): { table: IndexTable; shape: Shape } {
  const strides = stridesOf(shape);
  const result = perm.map((axis) => defined(shape[axis], "a permuted axis"));
  const data = new Int32Array(sizeOf(result));
  forEachEntry(result, (flat, at) => {
    data[flat] = perm.reduce((from, axis, a) => from + (at[a] ?? 0) * (strides[axis] ?? 1), 0);
  });
  return { table: table(`permute[${shape}](${perm})`, data), shape: result };
}

/** concat(a, b, axis) as gather(a, first) + gather(b, second): each table is −1 on the other's part. */
export function concatTables(
  a: Shape,
  b: Shape,
  axis: number,
): { first: IndexTable; second: IndexTable; shape: Shape } {
  const split = defined(a[axis], "the concatenated axis");
  const shape = a.map((size, i) => (i === axis ? size + defined(b[axis], "the concatenated axis") : size));
  const [sa, sb] = [stridesOf(a), stridesOf(b)];
  const first = new Int32Array(sizeOf(shape));
  const second = new Int32Array(sizeOf(shape));
  forEachEntry(shape, (flat, at) => {
    const fromA = (at[axis] ?? 0) < split;
    let offset = 0;
    at.forEach((i, d) => {
      offset += (d === axis && !fromA ? i - split : i) * ((fromA ? sa : sb)[d] ?? 1);
    });
    first[flat] = fromA ? offset : -1;
    second[flat] = fromA ? -1 : offset;
  });
  const key = `concat[${a}][${b}]:${axis}`;
  return { first: table(`${key}/1`, first), second: table(`${key}/2`, second), shape };
}

/** Groups the entries of x by their index with `axis` removed (a reduction over the axis). */
export function axisTable(shape: Shape, axis: number): { table: IndexTable; shape: Shape } {
  const result = shape.filter((_, a) => a !== axis);
  const strides = stridesOf(result);
  const data = new Int32Array(sizeOf(shape));
  forEachEntry(shape, (flat, at) => {
    let to = 0;
    let r = 0;
    at.forEach((i, a) => {
      if (a !== axis) to += i * (strides[r++] ?? 1);
    });
    data[flat] = to;
  });
  return { table: table(`axis[${shape}]:${axis}`, data), shape: result };
}

/** One group holding every entry (a reduction to a scalar). */
export function allTable(size: number): IndexTable {
  return table(`all:${size}`, new Int32Array(size));
}

/** Groups [c, h, w] by channel (global average pooling). */
export function channelTable(shape: Shape): IndexTable {
  const c = defined(shape[0], "the channels");
  const per = sizeOf(shape) / c;
  return table(
    `channel[${shape}]`,
    Int32Array.from({ length: sizeOf(shape) }, (_, i) => Math.floor(i / per)),
  );
}

/**
 * Image to columns: for x of shape [c, ...spatial] and a kernel of spatial sizes `kernel`, the
 * gather table of the [P, c·Πkernel] matrix whose row p holds the input patch under output
 * position p (−1 for padding), in the kernel's [c, ...kernel] order, and the output's spatial sizes.
 */
export function im2colTable(
  shape: Shape,
  kernel: readonly number[],
  stride: number,
  padding: Padding,
): { table: IndexTable; out: number[] } {
  const [c, ...spatial] = shape as [number, ...number[]];
  const sizes = spatial.map((size, a) => convolvedSize(size, defined(kernel[a], "a kernel size"), stride, padding));
  const out = sizes.map(([size]) => size);
  const patch = [c, ...kernel];
  const strides = stridesOf(shape);
  const depth = sizeOf(patch);
  const data = new Int32Array(sizeOf(out) * depth);
  forEachEntry(out, (p, position) => {
    forEachEntry(patch, (q, at) => {
      let from = (at[0] ?? 0) * (strides[0] ?? 1);
      for (let a = 0; a < spatial.length; a++) {
        const i = (position[a] ?? 0) * stride + (at[a + 1] ?? 0) - (sizes[a]?.[1] ?? 0);
        if (i < 0 || i >= (spatial[a] ?? 0)) {
          from = -1;
          break;
        }
        from += i * (strides[a + 1] ?? 1);
      }
      data[p * depth + q] = from;
    });
  });
  return { table: table(`im2col[${shape}]k[${kernel}]s${stride}${padding}`, data), out };
}

/** Groups [c, h, w] into size×size windows with stride size (entries past the last whole window: −1). */
export function poolTable(shape: Shape, size: number): { table: IndexTable; shape: Shape } {
  const [c, h, w] = shape as [number, number, number];
  const result = [c, Math.floor(h / size), Math.floor(w / size)];
  const [ho, wo] = [result[1] ?? 0, result[2] ?? 0];
  const data = new Int32Array(sizeOf(shape));
  forEachEntry(shape, (flat, [k = 0, y = 0, x = 0]) => {
    const [i, j] = [Math.floor(y / size), Math.floor(x / size)];
    data[flat] = i < ho && j < wo ? (k * ho + i) * wo + j : -1;
  });
  return { table: table(`pool[${shape}]:${size}`, data), shape: result };
}
