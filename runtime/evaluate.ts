/** `nqm eval`: every derivative quantity at one point, by a backend that meets the JSON contract. */
import type { DerivativeProgram } from "../compiler/diff/programs.ts";
import { defined } from "../foundation/defined.ts";
import { fail } from "../foundation/diagnostics.ts";
import { topologicalOrder, type Node } from "../compiler/ir/node.ts";
import { interpret, type Value } from "../compiler/ir/interpret.ts";
import { sizeOf } from "../foundation/shape.ts";
import { toNested, type Nested, type Tensor } from "../compiler/ir/tensor.ts";
import type { CompiledKernels } from "../compiler/codegen/api.ts";
import type { Slot } from "../compiler/codegen/layout.ts";
import type { EvalPoint } from "./point.ts";

export interface EvalResult {
  readonly f: Nested[];
  readonly grad: Record<string, Nested>;
  readonly jvp: Nested[];
  readonly hvp: Record<string, Nested>;
  readonly f_lin: Nested[];
  readonly f_quad: Nested[];
}

/** One tensor per example, whether or not the value varies per example. */
function perExample(value: Value, n: number): readonly Tensor[] {
  return Array.isArray(value) ? value : Array.from({ length: n }, () => value as Tensor);
}

function checkFinite(what: string, tensors: readonly Tensor[]): void {
  tensors.forEach((t, j) => {
    const bad = t.data.findIndex((v) => !Number.isFinite(v));
    if (bad >= 0) fail("NQM4006", { what, where: tensors.length > 1 ? `example ${j}, entry ${bad}` : `entry ${bad}` });
  });
}

/** The nodes the interpreter evaluates for the contract: f, jvp, f_lin, f_quad, then grad and hvp per param. */
function contractRoots(program: DerivativeProgram): Node[] {
  const params = program.model.params.map((p) => p.name);
  return [
    program.f,
    program.jvp,
    program.fLin,
    program.fQuad,
    ...params.map((p) => defined(program.grad[p], `grad[${p}]`)),
    ...params.map((p) => defined(program.hvp[p], `hvp[${p}]`)),
  ];
}

/** Bytes of a tensor beyond its doubles: the object, its typed array's header and the map entry. */
const TENSOR_OVERHEAD = 256;

/**
 * What the interpreter would allocate to evaluate the contract on n examples: it keeps every
 * node's value (n tensors for a batched node), so the sum over the nodes it visits.
 */
export function interpreterBytes(program: DerivativeProgram, n: number): number {
  let bytes = 0;
  for (const node of topologicalOrder(contractRoots(program)))
    bytes += (8 * sizeOf(node.shape) + TENSOR_OVERHEAD) * (node.batched ? n : 1);
  return bytes;
}

/** Evaluates every quantity of the contract with the reference interpreter. */
export function evaluateWithInterpreter(program: DerivativeProgram, point: EvalPoint): EvalResult {
  const params = program.model.params.map((p) => p.name);
  const values = interpret(contractRoots(program), {
    n: point.n,
    params: point.params,
    fixed: point.fixed,
    inputs: point.inputs,
    tangents: point.direction,
    cotangent: point.cotangent,
  });
  const output = (i: number, what: string) => {
    const tensors = perExample(defined(values[i], what), point.n);
    checkFinite(what, tensors);
    return tensors.map(toNested);
  };
  const f = output(0, "f");
  const jvp = output(1, "jvp");
  const fLin = output(2, "f_lin");
  const fQuad = output(3, "f_quad");
  const named = (offset: number, what: string) =>
    Object.fromEntries(
      params.map((p, i) => {
        const t = values[offset + i] as Tensor;
        checkFinite(`${what}[${p}]`, [t]);
        return [p, toNested(t)];
      }),
    );
  return {
    f,
    grad: named(4, "grad"),
    jvp,
    hvp: named(4 + params.length, "hvp"),
    f_lin: fLin,
    f_quad: fQuad,
  };
}

/** Packs named tensors into one flat vector in layout order. */
function packTensors(slots: readonly Slot[], tensors: Readonly<Record<string, Tensor>>, total: number): Float64Array {
  const flat = new Float64Array(total);
  for (const slot of slots) flat.set(defined(tensors[slot.name], slot.name).data, slot.offset);
  return flat;
}

/** Packs per-example tensors of one input into [n, size]. */
function packExamples(examples: readonly Tensor[], size: number): Float64Array {
  const flat = new Float64Array(examples.length * size);
  examples.forEach((t, j) => flat.set(t.data, j * size));
  return flat;
}

/** Evaluates every quantity of the contract with compiled kernels (built for ≥ point.n examples). */
export function evaluateWithKernels(
  kernels: CompiledKernels,
  point: EvalPoint,
  outputShape: readonly number[],
): EvalResult {
  const layout = kernels.layout;
  const n = point.n;
  const w = packTensors(layout.params, point.params, layout.paramCount);
  const dw = packTensors(layout.params, point.direction, layout.paramCount);
  kernels.setFixed(packTensors(layout.fixed, point.fixed, layout.fixedCount));
  const x = layout.inputs.map((slot) => packExamples(defined(point.inputs[slot.name], slot.name), slot.size));
  const c = packExamples(point.cotangent, layout.outputSize);
  const perExampleValues = (what: string, run: (out: Float64Array) => void): Nested[] => {
    const out = new Float64Array(n * layout.outputSize);
    run(out);
    const tensors = Array.from({ length: n }, (_, j) => ({
      shape: outputShape,
      data: out.subarray(j * layout.outputSize, (j + 1) * layout.outputSize),
    }));
    checkFinite(what, tensors);
    return tensors.map(toNested);
  };
  const perParamValues = (what: string, run: (out: Float64Array) => void): Record<string, Nested> => {
    const out = new Float64Array(layout.paramCount);
    run(out);
    return Object.fromEntries(
      layout.params.map((slot) => {
        const t = { shape: slot.shape, data: out.subarray(slot.offset, slot.offset + slot.size) };
        checkFinite(`${what}[${slot.name}]`, [t]);
        return [slot.name, toNested(t)];
      }),
    );
  };
  return {
    f: perExampleValues("f", (out) => kernels.f(w, x, n, out)),
    grad: perParamValues("grad", (out) => kernels.vjp(w, x, c, n, out)),
    jvp: perExampleValues("jvp", (out) => kernels.jvp(w, dw, x, n, out)),
    hvp: perParamValues("hvp", (out) => kernels.hvp(w, dw, x, c, n, out)),
    f_lin: perExampleValues("f_lin", (out) => kernels.fLin(w, dw, x, n, out)),
    f_quad: perExampleValues("f_quad", (out) => kernels.fQuad(w, dw, x, n, out)),
  };
}
