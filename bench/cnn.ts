/**
 * The CNN section of `npm run bench` (issue 12): examples/cnn_mnist.nqm at c = 32 channels on
 * n = 128 random 28×28 images, the f, f_lin and f_quad gradient-descent steps of nqm's wasm f64,
 * wasm f32 and js f64 backends against PyTorch (bench/torch_cnn.py, one process per thread count
 * with OpenBLAS pinned), with the ratios nqm / PyTorch per dtype and step. PyTorch's programs are
 * checked against nqm's f-step gradient at w0, which the script reads with w0 and the data.
 * bench/run.ts passes its timer and its gradient-descent steps in, so both sections time alike.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import type { Backend, CompiledKernels, Dtype, KernelArray } from "../compiler/codegen/api.ts";
import { compileModel } from "../compiler/codegen/compile.ts";
import { loadModel } from "../compiler/frontend.ts";
import { defined } from "../foundation/defined.ts";
import { initializeFlat } from "../runtime/init.ts";
import { Rng } from "../runtime/rng.ts";
import { torchAvailable } from "./torch.ts";

const FILE = "examples/cnn_mnist.nqm";
const C = 32;
const H = 28;
const N = 128;
const STEPS = ["f", "f_lin", "f_quad"] as const;
type CnnStep = (typeof STEPS)[number];
const PYTHON = "/usr/bin/python3";
const SCRIPT = fileURLToPath(new URL("torch_cnn.py", import.meta.url));

/** Milliseconds of one step: best wall clock (and median, for nqm) and best CPU time. */
interface CnnTiming {
  readonly best: number;
  readonly median?: number;
  readonly cpu: number;
}

/** What bench/run.ts lends this section: its timer and its gradient-descent steps. */
export interface CnnTools {
  readonly time: (step: () => void, repeats?: number) => CnnTiming;
  readonly stepsOf: <A extends KernelArray>(
    k: CompiledKernels<A>,
    alloc: (length: number) => A,
    w0: A,
    X: A[],
    y: A,
    n: number,
  ) => Record<CnnStep, () => void>;
  readonly cacheDir: string;
  readonly warmup: number;
  readonly repeats: number;
  readonly withTorch: boolean;
}

/** PyTorch at one thread count: ms per step and dtype, and each program's gradient at w0 against nqm's. */
interface TorchCnnRun {
  readonly threads: number;
  readonly functional: string;
  readonly ms: Record<Dtype, Record<CnnStep, CnnTiming>>;
  readonly agreement: Record<Dtype, Record<CnnStep, number>>;
  readonly loadAverage: number[];
}

/** The CNN section's figures, as stored under "cnn" in bench/results.json. */
export interface CnnFigures {
  readonly file: string;
  readonly set: { readonly c: number };
  readonly n: number;
  /** Timed runs per step, nqm and PyTorch alike. */
  readonly repeats: number;
  readonly params: number;
  /** Load average (1, 5, 15 min) before the section and after it. */
  readonly loadAverage: { readonly start: number[]; readonly end: number[] };
  readonly compileSeconds: Record<string, number>;
  /** nqm per configuration ("wasm f64 ×1", …) and step. */
  readonly ms: Record<string, Partial<Record<CnnStep, CnnTiming>>>;
  /** Max relative difference of each configuration's f gradient at w0 from js f64's. */
  readonly gradientAgreement: Record<string, number>;
  readonly torch?: { readonly version: string; readonly byThreads: readonly TorchCnnRun[] };
  /** nqm best wall / PyTorch best wall (over its thread counts), per nqm configuration and step. */
  readonly ratios: Record<string, Partial<Record<CnnStep, number>>>;
  /** The same ratios by CPU time (all threads of each process). */
  readonly cpuRatios: Record<string, Partial<Record<CnnStep, number>>>;
}

/** nqm's configurations: name, backend, dtype, threads; each is compared with PyTorch of its dtype. */
const CONFIGS: readonly (readonly [string, Backend, Dtype, number])[] = [
  ["js f64 ×1", "js", "f64", 1],
  ["wasm f64 ×1", "wasm", "f64", 1],
  ["wasm f64 ×2", "wasm", "f64", 2],
  ["wasm f32 ×1", "wasm", "f32", 1],
];
/**
 * Timed runs per step (at most the bench's REPEATS): a step takes 0.1–1 s, so 5 runs keep the
 * section within a few minutes on a loaded machine (NQM_BENCH_CNN_REPEATS).
 */
const CNN_REPEATS = Number(process.env.NQM_BENCH_CNN_REPEATS ?? 5);

function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let difference = 0;
  let peak = 0;
  for (let i = 0; i < b.length; i++) {
    const bi = defined(b[i], "a gradient entry");
    difference = Math.max(difference, Math.abs(defined(a[i], "a gradient entry") - bi));
    peak = Math.max(peak, Math.abs(bi));
  }
  return difference / peak;
}

type Json = Record<string, unknown>;

function object(value: unknown, what: string): Json {
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new Error(`torch_cnn.py: ${what} is not an object`);
  return value as Json;
}

function finite(value: unknown, what: string): number {
  if (typeof value !== "number" || !Number.isFinite(value)) throw new Error(`torch_cnn.py: ${what} is not a number`);
  return value;
}

/** One run of bench/torch_cnn.py at `threads`, or undefined when it reports torch unavailable. */
function torchAt(
  dataFile: string,
  threads: number,
  tools: CnnTools,
): { version: string; run: TorchCnnRun } | undefined {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    OPENBLAS_NUM_THREADS: String(threads),
    OMP_NUM_THREADS: String(threads),
  };
  for (const name of ["OPENBLAS_CORETYPE", "OPENBLAS_L2_SIZE"]) delete env[name];
  const args = [SCRIPT, dataFile, "--n", String(N), "--c", String(C), "--h", String(H), "--threads", String(threads)];
  args.push("--warmup", String(tools.warmup), "--repeats", String(Math.min(tools.repeats, CNN_REPEATS)));
  const output = execFileSync(PYTHON, args, {
    env,
    encoding: "utf8",
    timeout: 30 * 60_000,
    stdio: ["ignore", "pipe", "inherit"],
  });
  const top = object(JSON.parse(output), "the output");
  if (top.available !== true) return undefined;
  const ms = {} as Record<Dtype, Record<CnnStep, CnnTiming>>;
  const agreement = {} as Record<Dtype, Record<CnnStep, number>>;
  let functional = "";
  for (const dtype of ["f64", "f32"] as const) {
    const one = object(top[dtype], dtype);
    const times = object(one.ms, `${dtype}.ms`);
    const agree = object(one.agreement, `${dtype}.agreement`);
    ms[dtype] = {} as Record<CnnStep, CnnTiming>;
    agreement[dtype] = {} as Record<CnnStep, number>;
    for (const step of STEPS) {
      const t = object(times[step], `${dtype}.ms.${step}`);
      ms[dtype][step] = {
        best: finite(t.best, `${dtype}.ms.${step}.best`),
        cpu: finite(t.cpu, `${dtype}.ms.${step}.cpu`),
      };
      agreement[dtype][step] = finite(agree[step], `${dtype}.agreement.${step}`);
    }
    functional = typeof one.functional === "string" ? one.functional : "";
  }
  return {
    version: typeof top.torch_version === "string" ? top.torch_version : "",
    run: { threads, functional, ms, agreement, loadAverage: loadavg() },
  };
}

/** PyTorch's fastest run of `step` in `dtype` by `measure`, over the thread counts run. */
function torchBestOf(
  runs: readonly TorchCnnRun[],
  dtype: Dtype,
  step: CnnStep,
  measure: "best" | "cpu",
): number | undefined {
  const values = runs.map((r) => r.ms[dtype][step][measure]);
  return values.length === 0 ? undefined : Math.min(...values);
}

/** Times the CNN steps of every configuration, then PyTorch's; returns the figures for results.json. */
export async function cnnBench(tools: CnnTools): Promise<CnnFigures> {
  const start = loadavg();
  const repeats = Math.min(tools.repeats, CNN_REPEATS);
  const source = readFileSync(FILE, "utf8");
  const set = { c: C };
  const { model } = loadModel(source, { file: FILE, set });
  const rng = new Rng(11);
  const X: [Float64Array] = [Float64Array.from({ length: N * H * H }, () => rng.normal())];
  const y = Float64Array.from({ length: N }, () => rng.rademacher());
  const X32 = X.map((x) => Float32Array.from(x));
  const y32 = Float32Array.from(y);

  const ms: Record<string, Partial<Record<CnnStep, CnnTiming>>> = {};
  const gradientAgreement: Record<string, number> = {};
  const compileSeconds: Record<string, number> = {};
  let reference: Float64Array | undefined;
  let w0: Float64Array | undefined;
  for (const [name, backend, dtype, threads] of CONFIGS) {
    const t0 = performance.now();
    const result = await compileModel(model, {
      source,
      file: FILE,
      maxBatch: N,
      cacheDir: tools.cacheDir,
      backend,
      dtype,
      threads,
    });
    compileSeconds[name] = (performance.now() - t0) / 1000;
    const layout = result.kernels.layout;
    w0 ??= initializeFlat(model, layout, 1).w;
    if (dtype === "f64") {
      const k = result.kernels;
      if (k.threads !== threads) throw new Error(`bench: cnn ${name} runs on ${k.threads} threads`);
      const g = new Float64Array(layout.paramCount);
      k.lossAndGrad(w0, X, y, N, g, false);
      if (reference === undefined) reference = g;
      gradientAgreement[name] = relativeDifference(g, reference);
      const steps = tools.stepsOf(k, (length) => new Float64Array(length), w0, X, y, N);
      ms[name] = Object.fromEntries(STEPS.map((step) => [step, tools.time(steps[step], repeats)]));
      k.dispose();
    } else {
      result.kernels.dispose();
      const k = result.module.createKernels({ threads }) as CompiledKernels<Float32Array>;
      if (k.threads !== threads) throw new Error(`bench: cnn ${name} runs on ${k.threads} threads`);
      const w032 = Float32Array.from(w0);
      const g = new Float32Array(layout.paramCount);
      k.lossAndGrad(w032, X32, y32, N, g, false);
      gradientAgreement[name] = relativeDifference(g, defined(reference, "the js f64 gradient (first config)"));
      const steps = tools.stepsOf(k, (length) => new Float32Array(length), w032, X32, y32, N);
      ms[name] = Object.fromEntries(STEPS.map((step) => [step, tools.time(steps[step], repeats)]));
      k.dispose();
    }
  }
  const gradient = defined(reference, "the js f64 gradient");
  const weights = defined(w0, "w0");

  let torch: CnnFigures["torch"];
  if (tools.withTorch && torchAvailable()) {
    const dir = mkdtempSync(join(tmpdir(), "nqm-bench-cnn-"));
    const dataFile = join(dir, "data.f64");
    const data = new Float64Array(2 * weights.length + X[0].length + y.length);
    data.set(weights, 0);
    data.set(X[0], weights.length);
    data.set(y, weights.length + X[0].length);
    data.set(gradient, weights.length + X[0].length + y.length);
    writeFileSync(dataFile, new Uint8Array(data.buffer));
    const byThreads: TorchCnnRun[] = [];
    let version = "";
    try {
      for (const threads of [1, 2]) {
        const one = torchAt(dataFile, threads, tools);
        if (one === undefined) break;
        version = one.version;
        byThreads.push(one.run);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    if (byThreads.length > 0) torch = { version, byThreads };
  }

  const ratiosBy = (measure: "best" | "cpu") =>
    Object.fromEntries(
      CONFIGS.map(([name, , dtype]) => [
        name,
        Object.fromEntries(
          STEPS.flatMap((step) => {
            const mine = ms[name]?.[step]?.[measure];
            const theirs = torchBestOf(torch?.byThreads ?? [], dtype, step, measure);
            return mine === undefined || theirs === undefined ? [] : [[step, mine / theirs]];
          }),
        ),
      ]),
    );
  return {
    file: FILE,
    set,
    n: N,
    repeats,
    params: weights.length,
    loadAverage: { start, end: loadavg() },
    compileSeconds,
    ms,
    gradientAgreement,
    torch,
    ratios: ratiosBy("best"),
    cpuRatios: ratiosBy("cpu"),
  };
}

const fmt = (x: number | undefined, digits = 1) => (x === undefined ? "—" : x.toFixed(digits));
const load = (l: readonly number[]) => l.map((x) => x.toFixed(2)).join(" ");

/** Prints the CNN section of the bench report. */
export function printCnn(figures: CnnFigures): void {
  const W = 26;
  console.log(
    `\ncnn_mnist (${FILE}: c ${figures.set.c}, n ${figures.n}, ${H}×${H}; ${figures.params} params): ms per full-batch GD step, best / median wall, best CPU; load ${load(figures.loadAverage.start)} → ${load(figures.loadAverage.end)}`,
  );
  console.log(`  ${"".padEnd(24)}${STEPS.map((s) => s.padStart(W)).join("")}   grad vs js f64`);
  for (const [name] of CONFIGS) {
    const row = figures.ms[name];
    const cells = STEPS.map((s) => {
      const t = row?.[s];
      return (t === undefined ? "—" : `${fmt(t.best)} / ${fmt(t.median)} / ${fmt(t.cpu)}`).padStart(W);
    });
    const agree = figures.gradientAgreement[name];
    console.log(
      `  ${name.padEnd(24)}${cells.join("")}   ${name === "js f64 ×1" || agree === undefined ? "" : agree.toExponential(1)}`,
    );
  }
  const torch = figures.torch;
  if (torch === undefined) {
    console.log("  PyTorch: not run");
    return;
  }
  for (const run of torch.byThreads)
    for (const dtype of ["f64", "f32"] as const) {
      const cells = STEPS.map((s) => {
        const t = run.ms[dtype][s];
        return `${fmt(t.best)} / — / ${fmt(t.cpu)}`.padStart(W);
      });
      const agree = STEPS.map((s) => run.agreement[dtype][s].toExponential(1)).join(" ");
      console.log(
        `  ${`PyTorch ${dtype} ×${run.threads}`.padEnd(24)}${cells.join("")}   ${agree} (f, f_lin, f_quad; load ${fmt(run.loadAverage[0], 2)})`,
      );
    }
  console.log(
    `  PyTorch ${torch.version}, ${torch.byThreads[0]?.functional ?? ""}; f_lin and f_quad generic (jvp, grad, recomputed each step)`,
  );
  console.log(`  nqm / PyTorch best of ×1, ×2 (same dtype): wall, CPU`);
  for (const [name] of CONFIGS) {
    const cells = STEPS.map((s) =>
      `${fmt(figures.ratios[name]?.[s], 2)}, ${fmt(figures.cpuRatios[name]?.[s], 2)}`.padStart(W),
    );
    console.log(`  ${name.padEnd(24)}${cells.join("")}`);
  }
}
