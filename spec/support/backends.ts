/**
 * The kernel variants the codegen suites run against the interpreter: each backend (js, and wasm
 * where this machine has WebAssembly SIMD and shared memory) in each dtype (f64, f32). The
 * default backend (what `auto` picks here) gets a suite's full share of random cases, the others
 * a smaller one; NQM_PROPERTY_RUNS scales both (spec/support/runs.ts).
 */
import { resolveBackend, wasmAvailable } from "../../compiler/codegen/compile.ts";
import type { Backend, Dtype } from "../../compiler/codegen/api.ts";
import type { DerivativeProgram } from "../../compiler/diff/programs.ts";
import type { EvalPoint } from "../../runtime/point.ts";
import { kinkArguments, kinkMargin, largestIntermediate } from "./cases.ts";
import { F32_TOLERANCE, F64_TOLERANCE, type Tolerance } from "./kernel-check.ts";
import { bindingsOf } from "./points.ts";
import { propertyRuns } from "./runs.ts";

export interface Variant {
  readonly backend: Backend;
  readonly dtype: Dtype;
  /** "wasm f64 (default)" and the like, for test names. */
  readonly label: string;
  /** The default backend in f64: what the runtime uses unless told otherwise. */
  readonly primary: boolean;
  readonly tolerance: Tolerance;
  /** Why the variant cannot run on this machine (the test is then skipped, saying so). */
  readonly skip?: string;
}

/** The backend `auto` resolves to on this machine. */
export const DEFAULT_BACKEND: Backend = resolveBackend("auto");

/** Every backend × dtype, the primary one first. */
export const VARIANTS: readonly Variant[] = (["f64", "f32"] as const).flatMap((dtype) =>
  ([DEFAULT_BACKEND, DEFAULT_BACKEND === "wasm" ? "js" : "wasm"] as const).map((backend): Variant => {
    const primary = backend === DEFAULT_BACKEND && dtype === "f64";
    return {
      backend,
      dtype,
      label: `${backend} ${dtype}${backend === DEFAULT_BACKEND ? " (default backend)" : ""}`,
      primary,
      tolerance: dtype === "f32" ? F32_TOLERANCE : F64_TOLERANCE,
      ...(backend === "wasm" && !wasmAvailable()
        ? { skip: "this Node has no WebAssembly SIMD or no SharedArrayBuffer" }
        : {}),
    };
  }),
);

/** Runs for `variant`: `primaryRuns` for the primary variant, `share` of them for the others (scaled, ≥ 1). */
export function variantRuns(variant: Variant, primaryRuns: number, share: number): number {
  return propertyRuns(variant.primary ? primaryRuns : Math.max(1, Math.round(primaryRuns * share)));
}

/**
 * Whether every kink argument of the program (relu, abs, leaky_relu and their derivatives'
 * step and sign) stays out of float32 rounding's reach of 0 at `point`: |z| must exceed the
 * f32 rule's absolute allowance, rtol·floor·scale, or the f32 kernels may take the other
 * piece there (a step of 1 instead of 0: a whole term). Float64 needs no such margin: its
 * kernels and the interpreter round the same pre-activations from the same inputs.
 */
export function kinkSafeForFloat32(program: DerivativeProgram, point: EvalPoint): boolean {
  const roots = [program.f, program.jvp, program.quad, ...Object.values(program.grad), ...Object.values(program.hvp)];
  const args = kinkArguments(roots);
  if (args.length === 0) return true;
  const bindings = bindingsOf(point);
  const allowance = F32_TOLERANCE.rtol * F32_TOLERANCE.floor * largestIntermediate(roots, bindings);
  return kinkMargin(args, bindings) > allowance;
}
