/**
 * Random evaluation points for a checked model, and the numeric helpers the derivative tests
 * share: evaluating IR nodes per example, moving params along a direction, inner products.
 */
import fc from "fast-check";
import type { CheckedModel, TensorDecl } from "../../compiler/check/typed.ts";
import { interpret, type Bindings, type Value } from "../../compiler/ir/interpret.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import type { EvalPoint } from "../../runtime/point.ts";
import { type Shape, sizeOf } from "../../foundation/shape.ts";
import type { Node } from "../../compiler/ir/node.ts";
import { nth } from "./entries.ts";

export type TensorMap = Record<string, Tensor>;

/** A point of `nqm eval` plus a second direction (for the symmetry of the Hessian). */
export interface TestPoint extends EvalPoint {
  readonly other: TensorMap;
}

/** Moderate magnitudes: large enough to leave the linear regime of tanh and friends, small enough that nothing overflows. */
// Unbiased on a grid of 1e-3 (fast-check's double arbitrary favours 0, subnormals and the
// bounds, which would make most cases numerically trivial).
const entry = (bound: number) => fc.noBias(fc.integer({ min: -1000 * bound, max: 1000 * bound })).map((i) => i / 1000);

function tensorArbitrary(shape: Shape, bound: number): fc.Arbitrary<Tensor> {
  const size = sizeOf(shape);
  return fc.array(entry(bound), { minLength: size, maxLength: size }).map((values) => tensor(shape, values));
}

function tensorsArbitrary(decls: readonly TensorDecl[], bound: number): fc.Arbitrary<TensorMap> {
  return fc.record(
    Object.fromEntries(decls.map((d) => [d.name, tensorArbitrary(d.shape, bound)])),
  ) as fc.Arbitrary<TensorMap>;
}

/** Random points for `model`: 1–3 examples, params and inputs in [−1.5, 1.5], directions in [−1, 1]. */
export function pointArbitrary(model: CheckedModel): fc.Arbitrary<TestPoint> {
  return fc.integer({ min: 1, max: 3 }).chain((n) =>
    fc
      .record({
        params: tensorsArbitrary(model.params, 1.5),
        fixed: tensorsArbitrary(model.fixed, 1),
        inputs: fc.record(
          Object.fromEntries(
            model.inputs.map((d) => [d.name, fc.array(tensorArbitrary(d.shape, 1.5), { minLength: n, maxLength: n })]),
          ),
        ) as fc.Arbitrary<Record<string, Tensor[]>>,
        direction: tensorsArbitrary(model.params, 1),
        other: tensorsArbitrary(model.params, 1),
        cotangent: fc.array(tensorArbitrary(model.outputShape, 1.5), { minLength: n, maxLength: n }),
      })
      .map((parts) => ({ n, ...parts })),
  );
}

/** The interpreter's bindings for `point`, with the params and the direction optionally replaced. */
export function bindingsOf(
  point: EvalPoint,
  params: TensorMap = point.params,
  direction: TensorMap = point.direction,
): Bindings {
  return {
    n: point.n,
    params,
    fixed: point.fixed,
    inputs: point.inputs,
    tangents: direction,
    cotangent: point.cotangent,
  };
}

/** One tensor per example, whether or not the value varies per example. */
export function perExample(value: Value, n: number): Tensor[] {
  return Array.isArray(value) ? [...value] : Array.from({ length: n }, () => value as Tensor);
}

/** The values of `nodes`, each as one tensor per example. */
export function evaluatePerExample(nodes: readonly Node[], bindings: Bindings): Tensor[][] {
  return interpret(nodes, bindings).map((v) => perExample(v, bindings.n));
}

/** The value of shared (not per-example) nodes, such as gradients and hvps. */
export function evaluateShared(nodes: readonly Node[], bindings: Bindings): Tensor[] {
  return interpret(nodes, bindings).map((v) => {
    if (Array.isArray(v)) throw new Error("expected a value shared by all examples");
    return v as Tensor;
  });
}

export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += nth(a, i) * nth(b, i);
  return s;
}

/** Σ |a_i b_i|: the scale of the rounding error of dot(a, b). */
export function absDot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += Math.abs(nth(a, i) * nth(b, i));
  return s;
}

export function maxAbs(...arrays: ArrayLike<number>[]): number {
  let m = 0;
  for (const a of arrays) for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(nth(a, i)));
  return m;
}

/** params + t·direction, per param. */
export function moved(params: TensorMap, direction: TensorMap, t: number): TensorMap {
  return Object.fromEntries(
    Object.entries(params).map(([name, p]) => {
      const d = nth(direction, name);
      return [name, { shape: p.shape, data: p.data.map((v, i) => v + t * nth(d.data, i)) }];
    }),
  );
}

/** The direction scaled by t. */
export function scaled(direction: TensorMap, t: number): TensorMap {
  return Object.fromEntries(
    Object.entries(direction).map(([name, d]) => [name, { shape: d.shape, data: d.data.map((v) => t * v) }]),
  );
}

/** The unit vector along entry `index` of param `name` (zeros elsewhere). */
export function basisDirection(params: TensorMap, name: string, index: number): TensorMap {
  return Object.fromEntries(
    Object.entries(params).map(([n, p]) => {
      const data = new Float64Array(p.data.length);
      if (n === name) data[index] = 1;
      return [n, { shape: p.shape, data }];
    }),
  );
}

/** Σ over params of ⟨a, b⟩. */
export function dotMaps(a: TensorMap, b: TensorMap): number {
  return Object.keys(a).reduce((s, name) => s + dot(nth(a, name).data, nth(b, name).data), 0);
}

export function absDotMaps(a: TensorMap, b: TensorMap): number {
  return Object.keys(a).reduce((s, name) => s + absDot(nth(a, name).data, nth(b, name).data), 0);
}

/** Σ_j ⟨c_j, y_j⟩ and its rounding scale Σ_j Σ_i |c_ji y_ji|. */
export function contract(cotangent: readonly Tensor[], values: readonly Tensor[]): { value: number; scale: number } {
  let value = 0;
  let scale = 0;
  values.forEach((y, j) => {
    value += dot(nth(cotangent, j).data, y.data);
    scale += absDot(nth(cotangent, j).data, y.data);
  });
  return { value, scale };
}

/** A readable dump of a failing case. */
export function describeCase(source: string, point: EvalPoint): string {
  const show = (m: Record<string, Tensor | Tensor[]>) =>
    JSON.stringify(
      Object.fromEntries(
        Object.entries(m).map(([k, v]) => [
          k,
          Array.isArray(v) ? v.map((t) => Array.from(t.data)) : Array.from(v.data),
        ]),
      ),
    );
  return `${source}params ${show(point.params)}\ninputs ${show(point.inputs)}\nfixed ${show(point.fixed)}\ndirection ${show(point.direction)}\ncotangent ${JSON.stringify(point.cotangent.map((t) => Array.from(t.data)))}`;
}
