/**
 * Source to loaded kernels: derive, generate the module, transpile it with esbuild, and load
 * it, through a content-hashed cache. Cache writes are atomic (write, then rename); an entry
 * whose content no longer matches its recorded hash is recompiled, never trusted.
 */
import { createHash } from "node:crypto";
import { readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { homedir, totalmem } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { transform, version as esbuildVersion } from "esbuild";
import type { CheckedModel } from "../check/typed.ts";
import { makeFolders } from "../../foundation/folders.ts";
import { formatBytes } from "../../foundation/format.ts";
import { fail } from "../../foundation/diagnostics.ts";
import { deriveModel } from "../diff/programs.ts";
import type { Backend, CompiledKernels, Dtype, KernelArray, KernelsModule } from "./api.ts";
import { widenedKernels } from "./float32.ts";
import { layoutOf } from "./layout.ts";
import { simdSupported } from "./wasm/gemm.ts";
import { COMPILER_VERSION, compilerHash } from "../version.ts";
import type { GeneratedModule } from "./module.ts";

export interface CompileOptions {
  /** The model file's text and name, for the cache key and the module header. */
  readonly source: string;
  readonly file?: string;
  readonly maxBatch: number;
  /** Where cached modules live; default $NQM_CACHE or the user's cache dir. */
  readonly cacheDir?: string;
  /** Refuse compiles whose buffers exceed this many bytes (default: half the machine's memory). */
  readonly memoryLimit?: number;
  /** Skip the cache entirely (always compile). */
  readonly noCache?: boolean;
  /** Element type of the kernels (default f64); f32 kernels are served through the f64 API. */
  readonly dtype?: Dtype;
  /** js, wasm, or auto (default): the fastest this machine runs. */
  readonly backend?: Backend | "auto";
  /** Threads for the wasm backend (default: the machine's cores). */
  readonly threads?: number;
}

export interface CompileResult {
  /** The kernels, float64 at their interface whatever their dtype. */
  readonly kernels: CompiledKernels;
  readonly module: KernelsModule<KernelArray>;
  /** The backend that was used (auto resolved). */
  readonly backend: Backend;
  /** Bytes of the buffers the kernels allocated (as held to the memory limit). */
  readonly workspaceBytes: number;
  /** The generated TypeScript, when it was generated in this call. */
  readonly typescript?: string;
  /** The cached module's path; empty when the cache folder could not be written (loaded from memory). */
  readonly javascriptPath: string;
  readonly fromCache: boolean;
  /** Milliseconds spent: derive+generate, transpile, load. */
  readonly timings: { readonly generate: number; readonly transpile: number; readonly load: number };
}

/** The default cache folder: $NQM_CACHE, else $XDG_CACHE_HOME/nqm, else ~/.cache/nqm. */
export function defaultCacheDir(): string {
  return process.env.NQM_CACHE ?? join(process.env.XDG_CACHE_HOME ?? join(homedir(), ".cache"), "nqm");
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

/**
 * The cache key: everything the generated code depends on, the compiler's own source (its hash)
 * and the transpiler's version included.
 */
export function cacheKey(
  model: CheckedModel,
  options: Pick<CompileOptions, "source" | "maxBatch" | "dtype"> & { readonly backend: Backend },
): string {
  return sha256(
    JSON.stringify({
      version: COMPILER_VERSION,
      compiler: compilerHash(),
      esbuild: esbuildVersion,
      source: options.source,
      model: model.name,
      dims: model.dims,
      consts: model.consts,
      maxBatch: options.maxBatch,
      dtype: options.dtype ?? "f64",
      backend: options.backend,
    }),
  ).slice(0, 32);
}

/**
 * A cache entry's file name: the model's name (for people browsing the folder) and the key. A
 * long name is cut and marked with a hash of itself, keeping the name under file systems' 255-byte
 * limit; the key alone already tells entries apart.
 */
export function cacheFileName(modelName: string, key: string): string {
  const name = modelName.length <= 64 ? modelName : `${modelName.slice(0, 48)}~${sha256(modelName).slice(0, 8)}`;
  return `${name}-${key}`;
}

function writeAtomic(path: string, text: string): void {
  const temporary = `${path}.${process.pid}.${Math.random().toString(36).slice(2)}.tmp`;
  try {
    writeFileSync(temporary, text, { mode: 0o600 });
    renameSync(temporary, path);
  } finally {
    rmSync(temporary, { force: true });
  }
}

/** Transpiles generated TypeScript to an ES module. */
export async function transpile(typescript: string): Promise<string> {
  const result = await transform(typescript, { loader: "ts", format: "esm", target: "node20" });
  return result.code;
}

/** Imports a module file; `version` (its content hash) makes a rewritten file a new import for Node's module cache. */
async function load(path: string, version: string): Promise<KernelsModule<KernelArray>> {
  return (await import(`${pathToFileURL(path).href}?sha256=${version}`)) as KernelsModule<KernelArray>;
}

async function loadText(javascript: string): Promise<KernelsModule<KernelArray>> {
  return (await import(
    `data:text/javascript;base64,${Buffer.from(javascript).toString("base64")}`
  )) as KernelsModule<KernelArray>;
}

/** Whether this machine runs the wasm backend: WebAssembly SIMD128 and shared memory. */
export function wasmAvailable(): boolean {
  return typeof SharedArrayBuffer !== "undefined" && simdSupported();
}

/** The backend `auto` stands for on this machine; an explicit choice is kept. */
export function resolveBackend(requested: Backend | "auto" | undefined): Backend {
  if (requested === "js" || requested === "wasm") return requested;
  return wasmAvailable() ? "wasm" : "js";
}

/** The kernels of a loaded module, float64 at their interface. */
function instantiate(module: KernelsModule<KernelArray>, options: CompileOptions): CompiledKernels {
  const created = module.createKernels(options.threads === undefined ? {} : { threads: options.threads });
  return created.dtype === "f32"
    ? widenedKernels(created as CompiledKernels<Float32Array>)
    : (created as CompiledKernels);
}

interface CacheMeta {
  /** The cache key the entry was written under: an entry moved to another key's name is not served there. */
  readonly key: string;
  readonly sha256: string;
  readonly version: string;
  /** The compiler hash of the compiler that wrote the entry. */
  readonly compiler: string;
  /** The buffers' bytes, so that a cached entry is held to the memory limit too. */
  readonly bytes: number;
}

/**
 * Reads a cache entry's metadata; undefined when missing, unreadable, written under another key
 * or not matching its recorded hash.
 */
function readCached(jsPath: string, metaPath: string, key: string): CacheMeta | undefined {
  try {
    const meta = JSON.parse(readFileSync(metaPath, "utf8")) as CacheMeta;
    const code = readFileSync(jsPath, "utf8");
    return meta.key === key &&
      meta.version === COMPILER_VERSION &&
      meta.compiler === compilerHash() &&
      meta.sha256 === sha256(code) &&
      typeof meta.bytes === "number"
      ? meta
      : undefined;
  } catch {
    return undefined;
  }
}

/** NQM3008 when `bytes` exceed `limit`, located at the model in its file (when known). */
function refuseAbove(bytes: number, limit: number, model: CheckedModel, file: string | undefined): void {
  if (bytes > limit)
    fail(
      "NQM3008",
      { estimate: formatBytes(bytes), limit: formatBytes(limit) },
      file === undefined ? {} : { file, span: model.span },
    );
}

/**
 * Generates the module of a checked model, refusing (NQM3008) one whose buffers would exceed
 * `limit` bytes; nothing is allocated before that check. ts-morph loads here, on a cache miss
 * only: a cache hit does not pay its start-up.
 */
export async function generateChecked(
  model: CheckedModel,
  options: Pick<CompileOptions, "source" | "file" | "maxBatch" | "dtype" | "backend">,
  limit = Math.floor(totalmem() / 2),
): Promise<GeneratedModule> {
  const { generateModule, WASM_MEMORY_BYTES } = await import("./module.ts");
  const dims = Object.entries(model.dims)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  const generated = generateModule(deriveModel(model), {
    maxBatch: options.maxBatch,
    header: `Kernels for model ${model.name}${options.file ? ` of ${options.file}` : ""} (${dims}${dims ? ", " : ""}batch ≤ ${options.maxBatch})`,
    source: options.source,
    dtype: options.dtype ?? "f64",
    backend: resolveBackend(options.backend),
    // The wasm backend: its buffers must also fit one WebAssembly memory.
    checkBytes: (bytes) => refuseAbove(bytes, Math.min(limit, WASM_MEMORY_BYTES), model, options.file),
  });
  refuseAbove(generated.workspaceBytes, limit, model, options.file);
  return generated;
}

/** Compiles (or loads from the cache) the kernels of a checked model. */
export async function compileModel(model: CheckedModel, options: CompileOptions): Promise<CompileResult> {
  const limit = options.memoryLimit ?? Math.floor(totalmem() / 2);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  const backend = resolveBackend(options.backend);
  const key = cacheKey(model, { ...options, backend });
  const jsPath = join(cacheDir, `${cacheFileName(model.name, key)}.mjs`);
  const metaPath = join(cacheDir, `${cacheFileName(model.name, key)}.json`);
  const t0 = performance.now();
  const cached = options.noCache ? undefined : readCached(jsPath, metaPath, key);
  // createKernels allocates the buffers: a cached entry meets the limit of this call too.
  if (cached) refuseAbove(cached.bytes, limit, model, options.file);
  const module = cached ? await load(jsPath, cached.sha256) : undefined;
  // The module must be this model's: its layout is checked before any kernel runs (else a miss).
  if (cached && module && JSON.stringify(module.LAYOUT) === JSON.stringify(layoutOf(model))) {
    const t1 = performance.now();
    return {
      kernels: instantiate(module, options),
      module,
      backend,
      workspaceBytes: cached.bytes,
      javascriptPath: jsPath,
      fromCache: true,
      timings: { generate: 0, transpile: 0, load: t1 - t0 },
    };
  }
  const generated = await generateChecked(model, { ...options, backend }, limit);
  const t1 = performance.now();
  const javascript = await transpile(generated.code);
  const t2 = performance.now();
  let written = true;
  try {
    // Owner-only: an entry is imported and run, so no one else may write (or read) it.
    makeFolders(cacheDir, 0o700);
    writeAtomic(jsPath, javascript);
    writeAtomic(
      metaPath,
      JSON.stringify({
        key,
        sha256: sha256(javascript),
        version: COMPILER_VERSION,
        compiler: compilerHash(),
        bytes: generated.workspaceBytes,
      } satisfies CacheMeta),
    );
  } catch {
    // A cache folder that cannot be written (read-only, a file in the way) costs the cache, not the compile.
    written = false;
  }
  const loaded = written ? await load(jsPath, sha256(javascript)) : await loadText(javascript);
  const t3 = performance.now();
  return {
    kernels: instantiate(loaded, options),
    module: loaded,
    backend,
    workspaceBytes: generated.workspaceBytes,
    typescript: generated.code,
    javascriptPath: written ? jsPath : "",
    fromCache: false,
    timings: { generate: t1 - t0, transpile: t2 - t1, load: t3 - t2 },
  };
}
