/** `nqm eval`: every derivative quantity at one point, by a backend that meets the JSON contract. */
import type { DerivativeProgram } from "../compiler/diff/programs.ts";
import { fail } from "../compiler/diagnostics.ts";
import { interpret, type Value } from "../compiler/ir/interpret.ts";
import { toNested, type Nested, type Tensor } from "../compiler/ir/tensor.ts";
import type { Point } from "./point.ts";

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

/** Evaluates every quantity of the contract with the reference interpreter. */
export function evaluateWithInterpreter(program: DerivativeProgram, point: Point): EvalResult {
  const params = program.model.params.map((p) => p.name);
  const roots = [program.f, program.jvp, program.fLin, program.fQuad, ...params.map((p) => program.grad[p]!), ...params.map((p) => program.hvp[p]!)];
  const values = interpret(roots, {
    n: point.n,
    params: point.params,
    fixed: point.fixed,
    inputs: point.inputs,
    tangents: point.direction,
    cotangent: point.cotangent,
  });
  const [f, jvp, fLin, fQuad] = ["f", "jvp", "f_lin", "f_quad"].map((what, i) => {
    const tensors = perExample(values[i]!, point.n);
    checkFinite(what, tensors);
    return tensors.map(toNested);
  });
  const named = (offset: number, what: string) =>
    Object.fromEntries(
      params.map((p, i) => {
        const t = values[offset + i] as Tensor;
        checkFinite(`${what}[${p}]`, [t]);
        return [p, toNested(t)];
      }),
    );
  return { f: f!, grad: named(4, "grad"), jvp: jvp!, hvp: named(4 + params.length, "hvp"), f_lin: fLin!, f_quad: fQuad! };
}
