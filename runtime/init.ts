/** Drawing params and fixed tensors from their initializers, seeded and reproducible. */
import type { CheckedModel, Initializer, TensorDecl } from "../compiler/check/typed.ts";
import type { Layout } from "../compiler/codegen/layout.ts";
import { defined } from "../foundation/defined.ts";
import { sizeOf } from "../foundation/shape.ts";
import { deriveSeed, Rng } from "./rng.ts";

/** Fills `out` from an initializer with the given generator. */
function draw(init: Initializer, rng: Rng, out: Float64Array): Float64Array {
  const [a = 0, b = 0] = init.args;
  for (let i = 0; i < out.length; i++) {
    switch (init.kind) {
      case "normal":
        out[i] = a + b * rng.normal();
        break;
      case "uniform":
        out[i] = a + (b - a) * rng.uniform();
        break;
      case "rademacher":
        out[i] = rng.rademacher();
        break;
      case "zeros":
        out[i] = 0;
        break;
      case "ones":
        out[i] = 1;
        break;
      case "constant":
        out[i] = a;
        break;
    }
  }
  return out;
}

/** Draws one tensor's values for `seed`. */
export function initializeTensor(tensor: TensorDecl, seed: number): Float64Array {
  return draw(
    tensor.init ?? { kind: "normal", args: [0, 1] },
    new Rng(deriveSeed(seed, `init/${tensor.name}`)),
    new Float64Array(sizeOf(tensor.shape)),
  );
}

/** Draws every param and fixed tensor of `model` for `seed`: the same seed gives the same values. */
export function initialize(
  model: CheckedModel,
  seed: number,
): { params: Record<string, Float64Array>; fixed: Record<string, Float64Array> } {
  const each = (tensors: readonly TensorDecl[]) =>
    Object.fromEntries(tensors.map((t) => [t.name, initializeTensor(t, seed)]));
  return { params: each(model.params), fixed: each(model.fixed) };
}

/** The same draw as `initialize`, packed into the flat vectors of a kernel layout. */
export function initializeFlat(
  model: CheckedModel,
  layout: Layout,
  seed: number,
): { w: Float64Array; fixed: Float64Array } {
  const init = initialize(model, seed);
  const w = new Float64Array(layout.paramCount);
  for (const slot of layout.params) w.set(defined(init.params[slot.name], `initial ${slot.name}`), slot.offset);
  const fixed = new Float64Array(layout.fixedCount);
  for (const slot of layout.fixed) fixed.set(defined(init.fixed[slot.name], `initial ${slot.name}`), slot.offset);
  return { w, fixed };
}
