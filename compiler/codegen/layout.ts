/** The flat layouts of params, fixed tensors and inputs that compiled kernels read and write. */
import type { CheckedModel, TensorDecl } from "../check/typed.ts";
import { type Shape, sizeOf } from "../../foundation/shape.ts";

export interface Slot {
  readonly name: string;
  readonly shape: Shape;
  readonly offset: number;
  readonly size: number;
}

export interface Layout {
  /** Every param in one flat vector w (and likewise Δ and gradients), in declaration order. */
  readonly params: readonly Slot[];
  readonly paramCount: number;
  /** Every fixed tensor in one flat vector. */
  readonly fixed: readonly Slot[];
  readonly fixedCount: number;
  /** One array per input, [n, size] row-major; `offset` is unused (0). */
  readonly inputs: readonly Slot[];
  /** Entries of the output per example: 1 for a scalar output, k for a vector output. */
  readonly outputSize: number;
}

function slots(decls: readonly TensorDecl[]): { slots: Slot[]; total: number } {
  let offset = 0;
  const result = decls.map((d) => {
    const slot = { name: d.name, shape: d.shape, offset, size: sizeOf(d.shape) };
    offset += slot.size;
    return slot;
  });
  return { slots: result, total: offset };
}

/** The layout of a checked model. */
export function layoutOf(model: CheckedModel): Layout {
  const params = slots(model.params);
  const fixed = slots(model.fixed);
  return {
    params: params.slots,
    paramCount: params.total,
    fixed: fixed.slots,
    fixedCount: fixed.total,
    inputs: model.inputs.map((d) => ({ name: d.name, shape: d.shape, offset: 0, size: sizeOf(d.shape) })),
    outputSize: sizeOf(model.outputShape),
  };
}
