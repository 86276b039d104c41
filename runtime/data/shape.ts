/**
 * Whether a data set's examples fit a model's input. Image sets keep their shape ([c, h, w], or
 * [h, w] for one channel) beside the flattened input: an image fits an input of its flattened
 * size, or of exactly its shape (the same row-major values).
 */
import { fail } from "../../foundation/diagnostics.ts";
import { formatShape, sameShape, type Shape, sizeOf } from "../../foundation/shape.ts";
import type { Dataset } from "./types.ts";

/** Throws NQM4004, naming both shapes, unless `data`'s examples fit the model's input `name` of shape `expected`. */
export function checkInputShape(data: Dataset, name: string, expected: Shape): void {
  if (sameShape(expected, data.inputShape)) return;
  const image = data.imageShape;
  if (image !== undefined && sameShape(expected, image)) return;
  const found =
    image === undefined
      ? formatShape(data.inputShape)
      : `${formatShape(image)} (${sizeOf(image)} values, flattened to ${formatShape(data.inputShape)})`;
  const size = sizeOf(expected);
  fail("NQM4004", {
    found,
    name,
    expected: expected.length > 1 ? `${formatShape(expected)} (${size} values)` : formatShape(expected),
  });
}
