/**
 * The library's model functions: initialize, compile and verify (and loadModel, from load.ts),
 * with the options of the matching commands (`nqm train --seed`, `nqm compile`, `nqm verify`) and plain records as results.
 * The CLI's commands are these functions plus printing.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { parameterCount } from "../compiler/check/typed.ts";
import { compileModel, generateChecked, resolveBackend, transpile } from "../compiler/codegen/compile.ts";
import { layoutOf } from "../compiler/codegen/layout.ts";
import { deriveModel } from "../compiler/diff/programs.ts";
import { checkWritableFolder, ensureWritableFolder, writeFailed } from "../runtime/files.ts";
import { initialize as drawTensors, initializeFlat } from "../runtime/init.ts";
import { type CaseReport, type PropertyOutcome, verifyModel } from "../runtime/verify.ts";
import { type KernelOptions, messageOf, type Message, type ModelOptions, openModel } from "./load.ts";

export {
  type KernelOptions,
  loadModel,
  type Message,
  type ModelInfo,
  type ModelOptions,
  modelInfo,
  openModel,
  type TensorInfo,
} from "./load.ts";

/** The initial parameters of a model for a seed. */
export interface Initialization {
  readonly model: string;
  readonly seed: number;
  /** Every param, flat in the kernels' layout (LAYOUT.params order): the w0 of `nqm train --seed`. */
  readonly w: Float64Array;
  /** Every fixed tensor, flat in LAYOUT.fixed order (for the kernels' setFixed). */
  readonly fixed: Float64Array;
  /** Each param and fixed tensor by name, row-major. */
  readonly tensors: Readonly<Record<string, Float64Array>>;
}

/** Draws a model's params and fixed tensors from their initializers, as `nqm train --seed` does. */
export function initialize(file: string, options: ModelOptions & { readonly seed?: number } = {}): Initialization {
  const seed = options.seed ?? 0;
  const { model } = openModel(file, options);
  const flat = initializeFlat(model, layoutOf(model), seed);
  const drawn = drawTensors(model, seed);
  return { model: model.name, seed, w: flat.w, fixed: flat.fixed, tensors: { ...drawn.params, ...drawn.fixed } };
}

/** What `compile` wrote (or, without `out`, would write). */
export interface CompileOutput {
  readonly model: string;
  readonly typescript: string;
  readonly javascript: string;
  /** The files written, with `out`. */
  readonly files?: { readonly typescript: string; readonly javascript: string };
  readonly parameterCount: number;
  readonly maxBatch: number;
  readonly backend: "js" | "wasm";
  readonly dtype: "f64" | "f32";
  /** Bytes of buffers the kernels allocate when created (one thread). */
  readonly workspaceBytes: number;
  readonly milliseconds: number;
  readonly warnings: readonly Message[];
}

/** The options of `compile`, as `nqm compile`'s: `out` is `-o DIR`, `batch` is `--batch`. */
export interface CompileOptions extends ModelOptions, Omit<KernelOptions, "threads"> {
  /** The folder to write NAME.ts and NAME.js into (created if missing); without it nothing is written. */
  readonly out?: string;
  /** The largest number of examples per call (default 256). */
  readonly batch?: number;
}

/** Generates the model's standalone kernel module (as `nqm compile`). */
export async function compile(file: string, options: CompileOptions = {}): Promise<CompileOutput> {
  const { model, source, warnings } = openModel(file, options);
  const batch = options.batch ?? 256;
  // Before the (possibly long) compile, without creating anything: a refused model writes nothing.
  if (options.out !== undefined) checkWritableFolder(options.out);
  const started = performance.now();
  const backend = resolveBackend(options.backend);
  const dtype = options.dtype ?? "f64";
  const generated = await generateChecked(model, { source, file, maxBatch: batch, backend, dtype });
  const javascript = await transpile(generated.code);
  let files: CompileOutput["files"];
  if (options.out !== undefined) {
    files = { typescript: join(options.out, `${model.name}.ts`), javascript: join(options.out, `${model.name}.js`) };
    ensureWritableFolder(options.out);
    for (const [path, text] of [
      [files.typescript, generated.code],
      [files.javascript, javascript],
    ] as const) {
      try {
        writeFileSync(path, text);
      } catch (error) {
        writeFailed(path, error);
      }
    }
  }
  return {
    model: model.name,
    typescript: generated.code,
    javascript,
    ...(files ? { files } : {}),
    parameterCount: parameterCount(model),
    maxBatch: batch,
    backend,
    dtype,
    workspaceBytes: generated.workspaceBytes,
    milliseconds: performance.now() - started,
    warnings: warnings.map(messageOf),
  };
}

/** Cases per property when `runs` is not given: 50, and 50·2¹⁷/P (at least 10) above 2¹⁷ params, so a run stays near a minute. */
export function defaultRuns(params: number): number {
  return Math.max(10, Math.min(50, Math.round((50 * 2 ** 17) / Math.max(1, params))));
}

/** The options of `verify`, as `nqm verify`'s. */
export interface VerifyOptions extends ModelOptions, Omit<KernelOptions, "dtype"> {
  /** The fast-check seed (default 1): a failure is reproduced by the same seed. */
  readonly seed?: number;
  /** Cases per property (default: defaultRuns of the parameter count). */
  readonly runs?: number;
  /** Called after each case, with the cases done. */
  readonly onCase?: (done: number, total: number) => void;
}

/** The result of `verify`, as `nqm verify --json` prints it. */
export interface VerifyReport {
  readonly model: string;
  readonly seed: number;
  readonly runs: number;
  readonly status: "passed" | "failed" | "error";
  readonly passed: boolean;
  readonly moved: number;
  readonly atKink: number;
  readonly properties: readonly PropertyOutcome[];
  readonly warnings: readonly Message[];
}

export type { CaseReport, PropertyOutcome };

/** Checks the model's derivatives and kernels with property-based tests (as `nqm verify`). */
export async function verify(file: string, options: VerifyOptions = {}): Promise<VerifyReport> {
  const { model, source, warnings } = openModel(file, options);
  const seed = options.seed ?? 1;
  const runs = options.runs ?? defaultRuns(parameterCount(model));
  const maxExamples = 4;
  // Verification compares in float64, whatever the kernels of a run use.
  const compiled = await compileModel(model, {
    source,
    file,
    maxBatch: maxExamples,
    dtype: "f64",
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
  });
  const outcomes = verifyModel(model, deriveModel(model), compiled.kernels, {
    runs,
    seed,
    maxExamples,
    onCase: (done) => options.onCase?.(done, runs),
  });
  const status = outcomes.some((o) => o.status === "error")
    ? "error"
    : outcomes.some((o) => o.status === "failed")
      ? "failed"
      : "passed";
  return {
    model: model.name,
    seed,
    runs,
    status,
    passed: status === "passed",
    moved: outcomes[0]?.moved ?? 0,
    atKink: outcomes[0]?.atKink ?? 0,
    properties: outcomes,
    warnings: warnings.map(messageOf),
  };
}
