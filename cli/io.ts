/** What every command shares: reading files, printing diagnostics, loading a model. */
import type { Diagnostic } from "../foundation/diagnostics.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import { diagnosticToJson, renderDiagnostics, SourceIndex } from "./render.ts";

import { openModel } from "../api/load.ts";
import { sources } from "../api/source.ts";

export { MAX_MODEL_FILE_BYTES, MAX_POINT_FILE_BYTES, readSource, sources } from "../api/source.ts";

/** Output mode: with --json, diagnostics go into the JSON on stdout instead of stderr. */
export const output = { json: false };

/** Prints diagnostics to stderr (not in --json mode, where the caller includes them). */
export function report(diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length === 0 || output.json) return;
  process.stderr.write(`${renderDiagnostics(diagnostics, sources)}\n`);
}

/** Diagnostics in their JSON form: all of them (editors filter), each file's lines indexed once. */
export function diagnosticsJson(diagnostics: readonly Diagnostic[]): Record<string, unknown>[] {
  const index = new SourceIndex(sources);
  return diagnostics.map((d) => diagnosticToJson(d, index));
}

export interface ModelOptions {
  set?: Record<string, number>;
  /** The model block, when the file holds several (--block; --model-name is its old spelling). */
  block?: string;
}

/** How compiled kernels run (--backend, --dtype, --threads). */
export interface KernelOptions {
  backend?: "auto" | "js" | "wasm";
  dtype?: "f64" | "f32";
  threads?: number;
}

/** The kernel options that are set, as compile options take them. */
export function kernelChoice(options: KernelOptions): KernelOptions {
  return {
    ...(options.backend ? { backend: options.backend } : {}),
    ...(options.dtype ? { dtype: options.dtype } : {}),
    ...(options.threads ? { threads: options.threads } : {}),
  };
}

/** Reads, parses and checks a model file; prints warnings; throws on errors. */
export function loadModelFile(
  file: string,
  options: ModelOptions,
  extraSet: Record<string, number> = {},
): { model: CheckedModel; source: string } {
  const { model, source, warnings } = openModel(file, options, extraSet);
  report(warnings);
  return { model, source };
}

/** The model options of the library's functions, with the source already read (and its warnings shown). */
export function modelChoice(
  options: ModelOptions,
  source: string,
): { set?: Record<string, number>; block?: string; source: string } {
  return { ...(options.set ? { set: options.set } : {}), ...(options.block ? { block: options.block } : {}), source };
}

/**
 * A reader that stops early (`nqm eval … | head`) closes the pipe: the next write fails with
 * EPIPE. The rest of the output is unwanted, so the process ends quietly with exit code 0 (so that
 * `set -o pipefail` scripts do not fail on a `| head`), not with an unhandled 'error' event.
 */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr]) {
    // Once per stream: a process that runs the CLI several times (a test driver) adds no more.
    if (stream.listeners("error").includes(onClosedPipe)) continue;
    stream.on("error", onClosedPipe);
  }
}

function onClosedPipe(error: NodeJS.ErrnoException): void {
  if (error.code !== "EPIPE") throw error;
  process.exit(0);
}
