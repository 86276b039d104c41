/**
 * The library's model loading: loadModel (as `nqm check`) and what every function shares (the
 * model options, the checked model, messages as records). Light on purpose: the CLI loads it for
 * every command, so it imports the front end only, not codegen, fast-check or vega.
 */
import type { CheckedModel, TensorDecl } from "../compiler/check/typed.ts";
import { parameterCount } from "../compiler/check/typed.ts";
import { loadModel as checkModel } from "../compiler/frontend.ts";
import type { Diagnostic } from "../foundation/diagnostics.ts";
import { readSource } from "./source.ts";

/** Which model: the file, its `--set` values and its block (`--block`, when the file holds several). */
export interface ModelOptions {
  /** Dims and consts to override, as `--set NAME=VALUE`. */
  readonly set?: Readonly<Record<string, number>>;
  /** The model block to use when the file holds several. */
  readonly block?: string;
  /** The file's text, when it is not to be read from `file` (which then only names it in messages). */
  readonly source?: string;
}

/** How compiled kernels run, as `--backend`, `--dtype` and `--threads`. */
export interface KernelOptions {
  readonly backend?: "auto" | "js" | "wasm";
  readonly dtype?: "f64" | "f32";
  readonly threads?: number;
}

/** A warning or error, as `nqm check --json` lists it. */
export interface Message {
  readonly code: string;
  readonly severity: "error" | "warning";
  readonly message: string;
}

/** One declared tensor. */
export interface TensorInfo {
  readonly name: string;
  readonly shape: readonly number[];
  readonly init?: { readonly kind: string; readonly args: readonly number[] };
}

/** A checked model, as `nqm check --json` prints it. */
export interface ModelInfo {
  readonly name: string;
  readonly dims: Readonly<Record<string, number>>;
  readonly consts: Readonly<Record<string, number>>;
  readonly inputs: readonly TensorInfo[];
  readonly params: readonly TensorInfo[];
  readonly fixed: readonly TensorInfo[];
  readonly outputShape: readonly number[];
  readonly parameterCount: number;
  readonly warnings: readonly Message[];
}

/** A diagnostic as a plain record. */
export function messageOf(d: Diagnostic): Message {
  return { code: d.code, severity: d.severity === "error" ? "error" : "warning", message: d.message };
}

/** The checked model of a file (the CLI's commands share it; warnings are the caller's to show). */
export function openModel(
  file: string,
  options: ModelOptions,
  extraSet: Readonly<Record<string, number>> = {},
): { model: CheckedModel; source: string; warnings: readonly Diagnostic[] } {
  const source = options.source ?? readSource(file);
  const { model, warnings } = checkModel(source, {
    file,
    set: { ...extraSet, ...(options.set ?? {}) },
    ...(options.block ? { name: options.block } : {}),
  });
  return { model, source, warnings };
}

const tensorInfo = (t: TensorDecl, withInit: boolean): TensorInfo => ({
  name: t.name,
  shape: [...t.shape],
  ...(withInit && t.init ? { init: { kind: t.init.kind, args: [...t.init.args] } } : {}),
});

/** The model record of a checked model. */
export function modelInfo(model: CheckedModel, warnings: readonly Diagnostic[] = []): ModelInfo {
  return {
    name: model.name,
    dims: { ...model.dims },
    consts: { ...model.consts },
    inputs: model.inputs.map((t) => tensorInfo(t, false)),
    params: model.params.map((t) => tensorInfo(t, true)),
    fixed: model.fixed.map((t) => tensorInfo(t, true)),
    outputShape: [...model.outputShape],
    parameterCount: parameterCount(model),
    warnings: warnings.map(messageOf),
  };
}

/** Parses and checks a model file (as `nqm check`); throws NqmError with the diagnostics of a bad file. */
export function loadModel(file: string, options: ModelOptions = {}): ModelInfo {
  const { model, warnings } = openModel(file, options);
  return modelInfo(model, warnings);
}
