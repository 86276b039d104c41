/**
 * A dense numeric array read from a file, left in the file's bytes: only the examples a data set
 * keeps are converted to doubles, so n=128 of a large file costs 128 examples, not the file.
 */

import { defined } from "../../foundation/defined.ts";

/** The element types nqm reads from NumPy and IDX files. */
export type ElementType = "float64" | "float32" | "uint8" | "int8" | "int16" | "int32" | "int64";

/** Bytes per element of each type. */
export const ELEMENT_SIZE: Readonly<Record<ElementType, number>> = {
  float64: 8,
  float32: 4,
  uint8: 1,
  int8: 1,
  int16: 2,
  int32: 4,
  int64: 8,
};

/** An array whose row-major entries are read on demand. */
export interface NumericArray {
  /** Where it came from, as messages name it (a path, or `file.npz:member.npy`). */
  readonly path: string;
  readonly type: ElementType;
  /** [examples, ...one example's shape]. */
  readonly shape: readonly number[];
  /** The entry at a row-major flat index. */
  get(index: number): number;
  /** Copies `count` entries from flat index `start` into `out` at `at` (one call per example: fast). */
  read(start: number, count: number, out: Float64Array, at: number): void;
}

/** True for the integer element types (class labels must be one of these, or integral floats). */
export function isIntegerType(type: ElementType): boolean {
  return type !== "float64" && type !== "float32";
}

/** An array of `type` laid out row-major from byte `offset` of `bytes`, in the given byte order. */
export function viewArray(
  path: string,
  type: ElementType,
  shape: readonly number[],
  bytes: Uint8Array,
  offset: number,
  littleEndian: boolean,
): NumericArray {
  const step = ELEMENT_SIZE[type];
  const start = bytes.byteOffset + offset;
  // A typed-array view reads several times faster than DataView; it needs the host's byte order
  // and an aligned start (a .npz member or an IDX header can leave the data unaligned).
  if (type !== "int64" && (step === 1 || (littleEndian === HOST_LITTLE_ENDIAN && start % step === 0))) {
    const count = Math.floor((bytes.byteLength - offset) / step);
    const typed = TYPED[type](bytes.buffer, start, count);
    return {
      path,
      type,
      shape,
      get: (index) => defined(typed[index], "an entry within the array"),
      // One bulk copy, converting each element to a double as an assignment would.
      read: (from, length, out, at) => out.set(typed.subarray(from, from + length), at),
    };
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const readers: Record<ElementType, (at: number) => number> = {
    float64: (at) => view.getFloat64(at, littleEndian),
    float32: (at) => view.getFloat32(at, littleEndian),
    uint8: (at) => view.getUint8(at),
    int8: (at) => view.getInt8(at),
    int16: (at) => view.getInt16(at, littleEndian),
    int32: (at) => view.getInt32(at, littleEndian),
    // Beyond 2^53 the nearest double; such values fail the data magnitude checks long before mattering.
    int64: (at) => Number(view.getBigInt64(at, littleEndian)),
  };
  const read = readers[type];
  const get = (index: number): number => read(offset + index * step);
  return {
    path,
    type,
    shape,
    get,
    read: (from, length, out, at) => {
      for (let i = 0; i < length; i++) out[at + i] = get(from + i);
    },
  };
}

const HOST_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

type TypedView = Float64Array | Float32Array | Uint8Array | Int8Array | Int16Array | Int32Array;

const TYPED: Readonly<
  Record<Exclude<ElementType, "int64">, (buffer: ArrayBufferLike, start: number, count: number) => TypedView>
> = {
  float64: (buffer, start, count) => new Float64Array(buffer, start, count),
  float32: (buffer, start, count) => new Float32Array(buffer, start, count),
  uint8: (buffer, start, count) => new Uint8Array(buffer, start, count),
  int8: (buffer, start, count) => new Int8Array(buffer, start, count),
  int16: (buffer, start, count) => new Int16Array(buffer, start, count),
  int32: (buffer, start, count) => new Int32Array(buffer, start, count),
};

/** The product of a shape's sizes (1 for a scalar). */
export function sizeOfShape(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

/** A shape as NumPy writes it in messages: (60000, 28, 28). */
export function tupleText(shape: readonly number[]): string {
  return shape.length === 1 ? `(${shape[0]},)` : `(${shape.join(", ")})`;
}
