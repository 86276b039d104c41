/** What every command shares: reading files, printing diagnostics, loading a model. */
import { readFileSync } from "node:fs";
import { NqmError, diagnostic, type Diagnostic } from "../foundation/diagnostics.ts";
import { loadModel } from "../compiler/frontend.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import { diagnosticToJson, renderDiagnostic } from "./render.ts";

/** Source texts read so far, for rendering diagnostics with their lines. */
export const sources = new Map<string, string>();

/** Output mode: with --json, diagnostics go into the JSON on stdout instead of stderr. */
export const output = { json: false };

/** Reads a text file, or throws NQM3006 naming it. */
export function readSource(file: string): string {
  try {
    const text = readFileSync(file, "utf8");
    sources.set(file, text);
    return text;
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (error as Error).message;
    throw new NqmError([diagnostic("NQM3006", { file, reason })]);
  }
}

/** Prints diagnostics to stderr (not in --json mode, where the caller includes them). */
export function report(diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length === 0 || output.json) return;
  process.stderr.write(`${diagnostics.map((d) => renderDiagnostic(d, sources)).join("\n\n")}\n`);
}

/** Diagnostics in their JSON form. */
export function diagnosticsJson(diagnostics: readonly Diagnostic[]): Record<string, unknown>[] {
  return diagnostics.map((d) => diagnosticToJson(d, sources));
}

export interface ModelOptions {
  set?: Record<string, number>;
  modelName?: string;
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
  const source = readSource(file);
  const { model, warnings } = loadModel(source, {
    file,
    set: { ...extraSet, ...(options.set ?? {}) },
    ...(options.modelName ? { name: options.modelName } : {}),
  });
  report(warnings);
  return { model, source };
}
