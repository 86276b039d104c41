/**
 * The PyTorch side-by-side reference of `npm run bench` (issue 11): runs bench/torch_reference.py
 * through /usr/bin/python3, once per thread count, when `import torch` works there, and returns
 * its figures typed. PyTorch is never a dependency of nqm: without it the bench runs without the
 * reference. Run alone (`node --import tsx bench/torch.ts`) it prints the figures as JSON.
 */
import { execFileSync } from "node:child_process";
import { fileURLToPath } from "node:url";

const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("torch_reference.py", import.meta.url));
/** OpenBLAS variables that would override its choice of kernel for this machine. */
const UNSET = ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"] as const;

/** The steps timed, each one full-batch gradient-descent step (forward, backward, update). */
type TorchStep = "f" | "f_lin" | "f_quad";
type TorchDtype = "f64" | "f32";

/** One dtype at one thread count. */
interface TorchDtypeFigures {
  /** Best milliseconds per step, and of one 1024³ matrix product (`gemm`). */
  readonly ms: Readonly<Record<TorchStep | "gemm", number>>;
  /** The f step's 4·n·m·d flops and the product's 2·1024³ flops per second, in GFLOP/s. */
  readonly gflops: Readonly<Record<"f" | "gemm", number>>;
  /**
   * Max relative differences: of the f_lin and f_quad gradients from f's at w0 (where all three
   * agree), and of their values at a random step from the net with its activation pattern frozen
   * at w0 (f_quad exactly, f_lin its first-order part). Near rounding error, or the timings compare
   * different programs.
   */
  readonly agreement: Readonly<Record<"f_lin" | "f_quad" | "f_lin_value" | "f_quad_value", number>>;
  /** Where jvp and grad came from: "torch.func" or "functorch". */
  readonly functional: string;
}

/** What torch and the loaded OpenBLAS report about the BLAS that ran. */
interface TorchBlas {
  readonly torchBlasInfo?: string;
  readonly torchCpuCapability?: string;
  readonly openblasLibrary?: string;
  readonly openblasConfig?: string;
  /** The kernel OpenBLAS chose for this CPU, e.g. "Zen", "Haswell", "SkylakeX". */
  readonly openblasCorename?: string;
  readonly openblasThreads?: number;
}

/** One thread count (OPENBLAS_NUM_THREADS, OMP_NUM_THREADS and torch.set_num_threads alike). */
interface TorchThreadFigures {
  readonly threads: number;
  readonly blas: TorchBlas;
  readonly f64: TorchDtypeFigures;
  readonly f32: TorchDtypeFigures;
}

export interface TorchFigures {
  readonly torchVersion: string;
  readonly python: string;
  readonly sizes: Readonly<Record<"n" | "d" | "m" | "gemm", number>>;
  readonly warmup: number;
  readonly repeats: number;
  /** In the order of the thread counts asked for. */
  readonly byThreads: readonly TorchThreadFigures[];
}

interface TorchOptions {
  readonly threads?: readonly number[];
  readonly warmup?: number;
  readonly repeats?: number;
}

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error(`torch_reference.py: ${what} is not an object`);
  return value as Json;
}

function numbers<K extends string>(value: unknown, keys: readonly K[], what: string): Record<K, number> {
  const source = object(value, what);
  const result = {} as Record<K, number>;
  for (const key of keys) {
    const x = source[key];
    if (typeof x !== "number" || !Number.isFinite(x))
      throw new Error(`torch_reference.py: ${what}.${key} is not a number`);
    result[key] = x;
  }
  return result;
}

function text(value: unknown): string | undefined {
  return typeof value === "string" ? value : undefined;
}

function dtypeFigures(value: unknown, what: string): TorchDtypeFigures {
  const source = object(value, what);
  return {
    ms: numbers(source.ms, ["f", "f_lin", "f_quad", "gemm"], `${what}.ms`),
    gflops: numbers(source.gflops, ["f", "gemm"], `${what}.gflops`),
    agreement: numbers(source.agreement, ["f_lin", "f_quad", "f_lin_value", "f_quad_value"], `${what}.agreement`),
    functional: text(source.functional) ?? "",
  };
}

function blasOf(value: unknown): TorchBlas {
  const source = object(value, "blas");
  const threads = source.openblas_threads;
  return {
    torchBlasInfo: text(source.torch_blas_info),
    torchCpuCapability: text(source.torch_cpu_capability),
    openblasLibrary: text(source.openblas_library),
    openblasConfig: text(source.openblas_config),
    openblasCorename: text(source.openblas_corename),
    openblasThreads: typeof threads === "number" ? threads : undefined,
  };
}

/** Whether /usr/bin/python3 can import torch. */
export function torchAvailable(): boolean {
  try {
    execFileSync(PYTHON, ["-c", "import torch"], { stdio: "ignore", timeout: 60_000 });
    return true;
  } catch {
    return false;
  }
}

/** Runs the script at one thread count with the BLAS environment pinned; undefined when it reports torch unavailable. */
function runAt(
  threads: number,
  warmup: number,
  repeats: number,
): { top: Json; figures: TorchThreadFigures } | undefined {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENBLAS_NUM_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
  };
  for (const name of UNSET) delete env[name];
  const output = execFileSync(
    PYTHON,
    [SCRIPT, "--threads", String(threads), "--warmup", String(warmup), "--repeats", String(repeats)],
    { env, encoding: "utf8", timeout: 30 * 60_000, stdio: ["ignore", "pipe", "inherit"] },
  );
  const top = object(JSON.parse(output), "the output");
  if (top.available !== true) return undefined;
  const results = object(top.results, "results");
  const one = object(results[String(threads)], `results.${threads}`);
  return {
    top,
    figures: {
      threads,
      blas: blasOf(top.blas),
      f64: dtypeFigures(one.f64, `results.${threads}.f64`),
      f32: dtypeFigures(one.f32, `results.${threads}.f32`),
    },
  };
}

/**
 * The PyTorch reference figures at each thread count (default 1 and 2), or undefined when
 * /usr/bin/python3 has no torch. A script that fails or prints malformed JSON throws.
 */
export function torchReference(options: TorchOptions = {}): TorchFigures | undefined {
  if (!torchAvailable()) return undefined;
  const warmup = options.warmup ?? 3;
  const repeats = options.repeats ?? 10;
  const runs: { top: Json; figures: TorchThreadFigures }[] = [];
  for (const threads of options.threads ?? [1, 2]) {
    const run = runAt(threads, warmup, repeats);
    if (run === undefined) return undefined;
    runs.push(run);
  }
  const first = runs[0];
  if (first === undefined) return undefined;
  return {
    torchVersion: text(first.top.torch_version) ?? "",
    python: text(first.top.python) ?? "",
    sizes: numbers(first.top.sizes, ["n", "d", "m", "gemm"], "sizes"),
    warmup,
    repeats,
    byThreads: runs.map((run) => run.figures),
  };
}

/** PyTorch's fastest time for `step` (or `gemm`) in `dtype` over the thread counts run, and at which count. */
export function torchBest(
  figures: TorchFigures,
  dtype: TorchDtype,
  step: TorchStep | "gemm",
): { readonly ms: number; readonly threads: number } {
  let best = { ms: Number.POSITIVE_INFINITY, threads: 0 };
  for (const run of figures.byThreads)
    if (run[dtype].ms[step] < best.ms) best = { ms: run[dtype].ms[step], threads: run.threads };
  return best;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const figures = torchReference();
  console.log(figures === undefined ? JSON.stringify({ available: false }) : JSON.stringify(figures, null, 2));
}
