/** What every command shares: reading files, printing diagnostics, loading a model. */
import { closeSync, openSync, readSync } from "node:fs";
import { NqmError, diagnostic, type Diagnostic } from "../foundation/diagnostics.ts";
import { loadModel } from "../compiler/frontend.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import { diagnosticToJson, renderDiagnostics, SourceIndex } from "./render.ts";

/** Source texts read so far, for rendering diagnostics with their lines. */
export const sources = new Map<string, string>();

/** Output mode: with --json, diagnostics go into the JSON on stdout instead of stderr. */
export const output = { json: false };

/** Model files larger than this are refused (a model of thousands of lines is a few hundred KB). */
export const MAX_MODEL_FILE_BYTES = 1 << 20;

/** Point files may hold many examples; still bounded, so that a device like /dev/zero cannot fill memory. */
export const MAX_POINT_FILE_BYTES = 256 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads at most `limit` + 1 bytes of `file`, in chunks: a file that never ends (/dev/zero) or is
 * too large is refused without reading it whole.
 */
function readBounded(file: string, limit: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(1 << 16, limit + 1 - total));
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
      total += read;
      if (total > limit) break;
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** The text of `bytes`, or the reason they are not a text file: too large, a NUL byte, invalid UTF-8. */
function decodeText(bytes: Buffer, limit: number): { text: string } | { reason: string } {
  if (bytes.length > limit)
    return { reason: `it is larger than ${formatLimit(limit)}, the limit for this kind of file` };
  const nul = bytes.indexOf(0);
  if (nul >= 0) return { reason: `it is not a text file (it holds a NUL byte at offset ${nul})` };
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { reason: "it is not UTF-8 text" };
  }
}

const formatLimit = (bytes: number) => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`);

/**
 * Reads a UTF-8 text file of at most `limit` bytes, or throws one NQM3006 naming it and the
 * reason (missing, a directory, too large, not text).
 */
export function readSource(file: string, limit = MAX_MODEL_FILE_BYTES): string {
  let bytes: Buffer;
  try {
    bytes = readBounded(file, limit);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (error as Error).message;
    throw new NqmError([diagnostic("NQM3006", { file, reason })]);
  }
  const decoded = decodeText(bytes, limit);
  if ("reason" in decoded) throw new NqmError([diagnostic("NQM3006", { file, reason: decoded.reason })]);
  sources.set(file, decoded.text);
  return decoded.text;
}

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
  const source = readSource(file);
  const { model, warnings } = loadModel(source, {
    file,
    set: { ...extraSet, ...(options.set ?? {}) },
    ...(options.block ? { name: options.block } : {}),
  });
  report(warnings);
  return { model, source };
}

/**
 * A reader that stops early (`nqm eval … | head`) closes the pipe: the next write fails with
 * EPIPE. The rest of the output is unwanted, so the process ends quietly with exit code 0 (so that
 * `set -o pipefail` scripts do not fail on a `| head`), not with an unhandled 'error' event.
 */
export function exitQuietlyOnClosedPipe(): void {
  for (const stream of [process.stdout, process.stderr])
    stream.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "EPIPE") throw error;
      process.exit(0);
    });
}
