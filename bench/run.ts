/**
 * `npm run bench` (issue 11): the speed of the compiled kernels against their targets, measured
 * in one run so that the ratios compare figures taken under the same load.
 *
 *   npm run bench                 two_layer_relu and three_layer_relu, the GEMM, PyTorch side by side
 *   npm run bench -- --mnist      also the MNIST sweep (builds dist/ first; several minutes)
 *   npm run bench -- --no-torch   without the PyTorch reference
 *   npm run bench -- --linear     only the f_lin closed-form sweep (bench/linear.ts), merged into results.json
 *   npm run bench -- --no-cnn     without the CNN (examples/cnn_mnist.nqm, bench/cnn.ts)
 *
 * Each step is timed in this process: warm-up runs, then the best and the median of REPEATS runs
 * (NQM_BENCH_WARMUP, NQM_BENCH_REPEATS). Targets are checked on the best times, the figure least
 * disturbed by other processes on a shared machine. Compile times are taken in fresh child
 * processes (bench/load-time.ts). Writes bench/results.json, with the load average at the start
 * and at the end of the run.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { availableParallelism, cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import type { CompiledKernels, KernelArray } from "../compiler/codegen/api.ts";
import { compileModel } from "../compiler/codegen/compile.ts";
import type { Backend, Dtype } from "../compiler/codegen/api.ts";
import { loadModel } from "../compiler/frontend.ts";
import type { CheckedModel } from "../compiler/check/typed.ts";
import { defined } from "../foundation/defined.ts";
import { initializeFlat } from "../runtime/init.ts";
import { Rng } from "../runtime/rng.ts";
import { type CnnFigures, cnnBench, printCnn } from "./cnn.ts";
import { gemmRates } from "./gemm.ts";
import { createHandwrittenStep } from "./handwritten.ts";
import { type TorchFigures, torchBest, torchReference } from "./torch.ts";
import { type LinearSweepFigures, linearSweep, linearSweepText } from "./linear.ts";

const WARMUP = Number(process.env.NQM_BENCH_WARMUP ?? 3);
const REPEATS = Number(process.env.NQM_BENCH_REPEATS ?? 11);
const LR = 1e-3;
const RESULTS = "bench/results.json";
const argv = process.argv.slice(2);
const withMnist = argv.includes("--mnist");
const withTorch = !argv.includes("--no-torch");
const withCnn = !argv.includes("--no-cnn");

/** The f_lin sweep's target (issue 14): the closed form at least 20× faster than stepping. */
const linearTarget = (figures: LinearSweepFigures) =>
  target(
    "f_lin sweep, 20 rates: stepped / closed form (CPU)",
    figures.agreement < 1e-9 ? figures.cpuSpeedup : undefined,
    "≥",
    20,
  );

/** Milliseconds of one step: best and median wall clock, and the best CPU time of this process (all its threads). */
interface Timing {
  readonly best: number;
  readonly median: number;
  readonly cpu: number;
}

/** A target: `value` must be ≤ (or ≥) `bound`; n/a when a figure it needs is missing. */
interface Target {
  readonly name: string;
  readonly value: number | undefined;
  readonly op: "≤" | "≥";
  readonly bound: number;
  readonly status: "PASS" | "MISS" | "n/a";
}

function target(name: string, value: number | undefined, op: "≤" | "≥", bound: number): Target {
  const status =
    value === undefined || !Number.isFinite(value)
      ? "n/a"
      : (op === "≤" ? value <= bound : value >= bound)
        ? "PASS"
        : "MISS";
  return { name, value, op, bound, status };
}

/**
 * Times `step` over REPEATS runs after WARMUP runs (fewer once the warm-up has taken a second: a
 * step that slow is compiled by V8 well within its first run). The CPU time, unlike the wall
 * clock, leaves out the time other processes held the cores; for one thread it is the step's own
 * cost even on a loaded machine.
 */
function time(step: () => void, repeats = REPEATS): Timing {
  const warm = performance.now();
  for (let i = 0; i < WARMUP && (i === 0 || performance.now() - warm < 1000); i++) step();
  const samples: number[] = [];
  let cpu = Number.POSITIVE_INFINITY;
  for (let i = 0; i < repeats; i++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    step();
    samples.push(performance.now() - t0);
    const used = process.cpuUsage(cpu0);
    cpu = Math.min(cpu, (used.user + used.system) / 1000);
  }
  samples.sort((a, b) => a - b);
  const best = defined(samples[0], "a timing sample");
  return { best, median: defined(samples[Math.floor(samples.length / 2)], "a timing sample"), cpu };
}

type StepName = "f" | "f_lin" | "f_quad" | "generic_f_lin" | "generic_f_quad";

/**
 * One full-batch gradient-descent step (kernel, then the update) per model kind, on kernels of
 * either dtype; `generic_*` recompute every term at every step, as nested JVPs and VJPs would.
 */
function stepsOf<A extends KernelArray>(
  k: CompiledKernels<A>,
  alloc: (length: number) => A,
  w0: A,
  X: A[],
  y: A,
  n: number,
): Record<StepName, () => void> {
  const P = k.layout.paramCount;
  const g = alloc(P);
  const h = alloc(P);
  const w = alloc(P);
  w.set(w0);
  const dLin = alloc(P);
  const dQuad = alloc(P);
  const f0 = alloc(n);
  const jv = alloc(n);
  const q = alloc(n);
  const r = alloc(n);
  // The loops below are timed with the kernels (a check per entry would be measured too): indices stay below P and n.
  const update = (x: A) => {
    // biome-ignore lint/style/noNonNullAssertion: timed loop, see above
    for (let i = 0; i < P; i++) x[i]! -= LR * g[i]!;
  };
  k.prepare(w0, X, n);
  return {
    f: () => {
      k.lossAndGrad(w, X, y, n, g, false);
      update(w);
    },
    f_lin: () => {
      k.lossAndGradLin(dLin, y, g, false);
      update(dLin);
    },
    f_quad: () => {
      k.lossAndGradQuad(dQuad, y, g, false);
      update(dQuad);
    },
    generic_f_lin: () => {
      k.f(w0, X, n, f0);
      k.jvp(w0, dLin, X, n, jv);
      // biome-ignore lint/style/noNonNullAssertion: timed loop, see above
      for (let j = 0; j < n; j++) r[j] = f0[j]! + jv[j]! - y[j]!;
      k.vjp(w0, X, r, n, g);
      update(dLin);
    },
    generic_f_quad: () => {
      k.f(w0, X, n, f0);
      k.jvp(w0, dQuad, X, n, jv);
      k.quad(w0, dQuad, X, n, q);
      // biome-ignore lint/style/noNonNullAssertion: timed loop, see above
      for (let j = 0; j < n; j++) r[j] = f0[j]! + jv[j]! + 0.5 * q[j]! - y[j]!;
      k.vjp(w0, X, r, n, g);
      k.hvp(w0, dQuad, X, r, n, h);
      // biome-ignore lint/style/noNonNullAssertion: timed loop, see above
      for (let i = 0; i < P; i++) g[i]! += h[i]!;
      update(dQuad);
    },
  };
}

/** Max |a − b| / max |b|: how far a gradient is from the reference one. */
function relativeDifference(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let difference = 0;
  let peak = 0;
  if (a.length !== b.length) throw new Error(`bench: gradients of ${a.length} and ${b.length} entries`);
  Array.from(b).forEach((bi, i) => {
    difference = Math.max(difference, Math.abs(defined(a[i], "a gradient entry") - bi));
    peak = Math.max(peak, Math.abs(bi));
  });
  return difference / peak;
}

interface Case {
  readonly file: string;
  readonly set: { readonly d: number; readonly m: number };
  readonly n: number;
}

const TWO_LAYER: Case = { file: "examples/two_layer_relu.nqm", set: { d: 64, m: 2048 }, n: 256 };
const THREE_LAYER: Case = { file: "examples/three_layer_relu.nqm", set: { d: 64, m: 512 }, n: 256 };

/** Wall and CPU milliseconds of a cold compile and a cached load. */
interface CompileTimes {
  readonly coldMs: number;
  readonly coldCpuMs: number;
  readonly cachedMs: number;
  readonly cachedCpuMs: number;
}

/** Cold compile and cached load of one case, each in a fresh process (the first fills `cacheDir`). */
function compileTimes(c: Case, cacheDir: string, backend: Backend, dtype: Dtype): CompileTimes {
  const once = () =>
    JSON.parse(
      execFileSync(
        process.execPath,
        ["--import", "tsx", "bench/load-time.ts", c.file, JSON.stringify(c.set), String(c.n), cacheDir, backend, dtype],
        { encoding: "utf8" },
      ),
    ) as { ms: number; cpuMs: number; fromCache: boolean };
  const cold = once();
  const cached = once();
  if (cold.fromCache || !cached.fromCache)
    throw new Error(`bench: ${c.file} ${backend}: expected a cache miss, then a hit`);
  return { coldMs: cold.ms, coldCpuMs: cold.cpuMs, cachedMs: cached.ms, cachedCpuMs: cached.cpuMs };
}

/** "js cold 1234 ms (CPU 900), cached …" for both backends. */
function compileText(times: Record<Backend, CompileTimes>): string {
  return (Object.entries(times) as [Backend, CompileTimes][])
    .map(
      ([backend, t]) =>
        `${backend} cold ${fmt(t.coldMs, 0)} ms (CPU ${fmt(t.coldCpuMs, 0)}), cached ${fmt(t.cachedMs, 1)} ms (CPU ${fmt(t.cachedCpuMs, 1)})`,
    )
    .join("; ");
}

/** The model, its data (the same draw for every configuration) and its float32 copy. */
function setUp(c: Case) {
  const source = readFileSync(c.file, "utf8");
  const { model } = loadModel(source, { file: c.file, set: c.set });
  const rng = new Rng(7);
  const d = c.set.d;
  const X: [Float64Array] = [Float64Array.from({ length: c.n * d }, () => rng.normal())];
  const y = Float64Array.from({ length: c.n }, () => rng.rademacher());
  return { source, model, X, y, X32: X.map((x) => Float32Array.from(x)), y32: Float32Array.from(y) };
}

async function compiled(
  model: CheckedModel,
  source: string,
  c: Case,
  cacheDir: string,
  backend: Backend,
  dtype: Dtype,
  threads: number,
) {
  return compileModel(model, { source, file: c.file, maxBatch: c.n, cacheDir, backend, dtype, threads });
}

const f64 = (length: number) => new Float64Array(length);
const f32 = (length: number) => new Float32Array(length);
const fmt = (x: number | undefined, digits = 2) => (x === undefined ? "—" : x.toFixed(digits));
const pad = (text: string, width: number) => text.padStart(width);
const timingText = (t: Timing | undefined) =>
  t === undefined ? "—" : `${fmt(t.best, 1)} / ${fmt(t.median, 1)} / ${fmt(t.cpu, 1)}`;

function printTargets(targets: readonly Target[]): void {
  for (const t of targets)
    console.log(
      `    ${t.status.padEnd(4)}  ${t.name.padEnd(52)}${pad(fmt(t.value, t.value !== undefined && t.value >= 100 ? 0 : 3), 9)}  (${t.op} ${t.bound})`,
    );
}

if (argv.includes("--linear")) {
  // Only this section: its figures replace the `linear` entry of results.json, the rest is kept.
  const dir = mkdtempSync(join(tmpdir(), "nqm-bench-linear-"));
  const load = loadavg();
  const result = await linearSweep(dir);
  const loadEnd = loadavg();
  rmSync(dir, { recursive: true, force: true });
  for (const line of linearSweepText(result)) console.log(line);
  const goal = linearTarget(result);
  printTargets([goal]);
  const previous = existsSync(RESULTS) ? (JSON.parse(readFileSync(RESULTS, "utf8")) as Record<string, unknown>) : {};
  const linear = {
    date: new Date().toISOString(),
    loadAverage: { start: load, end: loadEnd },
    ...result,
    target: goal,
  };
  writeFileSync(RESULTS, `${JSON.stringify({ ...previous, linear }, null, 2)}\n`);
  console.log(`wrote the linear entry of ${RESULTS}`);
  process.exit(0);
}

const loadStart = loadavg();
const cores = availableParallelism();
const started = performance.now();
/** Seconds each part of the bench took, for its time budget. */
const phases: Record<string, number> = {};
let phaseStart = started;
const mark = (name: string) => {
  const now = performance.now();
  phases[name] = (now - phaseStart) / 1000;
  phaseStart = now;
};
console.log(
  `nqm bench: ${cpus()[0]?.model ?? "unknown CPU"}, ${cores} cores, Node ${process.version}; ` +
    `load average ${loadStart.map((x) => x.toFixed(2)).join(" ")}; warm-up ${WARMUP}, best / median of ${REPEATS} (ms)`,
);
const cacheDir = mkdtempSync(join(tmpdir(), "nqm-bench-"));

// ---- two_layer_relu: every backend, dtype and thread count of the targets ----
const two = setUp(TWO_LAYER);
const twoCompile = {
  js: compileTimes(TWO_LAYER, cacheDir, "js", "f64"),
  wasm: compileTimes(TWO_LAYER, cacheDir, "wasm", "f64"),
};
const js = await compiled(two.model, two.source, TWO_LAYER, cacheDir, "js", "f64", 1);
const wasm64 = await compiled(two.model, two.source, TWO_LAYER, cacheDir, "wasm", "f64", 1);
const wasm32 = await compiled(two.model, two.source, TWO_LAYER, cacheDir, "wasm", "f32", 2);
const layout = js.kernels.layout;
const w0 = initializeFlat(two.model, layout, 1).w;
const w032 = Float32Array.from(w0);
const kernels = {
  "js f64 ×1": js.kernels,
  "wasm f64 ×1": wasm64.kernels,
  "wasm f64 ×2": wasm64.module.createKernels({ threads: 2 }) as CompiledKernels,
  "wasm f32 ×2 (f64 API)": wasm32.kernels,
};
const pure32 = wasm32.module.createKernels({ threads: 2 }) as CompiledKernels<Float32Array>;
for (const [name, k] of [...Object.entries(kernels), ["wasm f32 ×2 (Float32Array)", pure32] as const])
  if (k.threads !== (name.includes("×2") ? 2 : 1)) throw new Error(`bench: ${name} runs on ${k.threads} threads`);
type Config = keyof typeof kernels | "wasm f32 ×2 (Float32Array)";

// The timed programs must compute the same thing: each gradient at w0 against the JS f64 one.
const reference = new Float64Array(layout.paramCount);
js.kernels.lossAndGrad(w0, two.X, two.y, TWO_LAYER.n, reference, false);
const agreement: Record<string, number> = {};
for (const [name, k] of Object.entries(kernels)) {
  const g = new Float64Array(layout.paramCount);
  k.lossAndGrad(w0, two.X, two.y, TWO_LAYER.n, g, false);
  agreement[name] = relativeDifference(g, reference);
}
{
  const g = new Float32Array(layout.paramCount);
  pure32.lossAndGrad(w032, two.X32, two.y32, TWO_LAYER.n, g, false);
  agreement["wasm f32 ×2 (Float32Array)"] = relativeDifference(g, reference);
}
const hand = createHandwrittenStep(TWO_LAYER.n, TWO_LAYER.set.d, TWO_LAYER.set.m);
{
  const g = new Float64Array(layout.paramCount);
  hand.lossAndGrad(w0, two.X[0], two.y, g);
  agreement.handwritten = relativeDifference(g, reference);
}

const twoMs: Partial<Record<Config, Partial<Record<StepName | "handwritten_f", Timing>>>> = {};
for (const [name, k] of Object.entries(kernels) as [keyof typeof kernels, CompiledKernels][]) {
  const steps = stepsOf(k, f64, w0, two.X, two.y, TWO_LAYER.n);
  const ms: Partial<Record<StepName | "handwritten_f", Timing>> = {};
  const which: StepName[] =
    name === "js f64 ×1" ? ["f", "f_lin", "f_quad", "generic_f_lin", "generic_f_quad"] : ["f", "f_lin", "f_quad"];
  for (const step of which) ms[step] = time(steps[step]);
  if (name === "js f64 ×1") {
    const w = Float64Array.from(w0);
    const g = new Float64Array(layout.paramCount);
    ms.handwritten_f = time(() => {
      hand.lossAndGrad(w, two.X[0], two.y, g);
      // biome-ignore lint/style/noNonNullAssertion: timed loop, as in stepsOf
      for (let i = 0; i < w.length; i++) w[i]! -= LR * g[i]!;
    });
  }
  twoMs[name] = ms;
}
{
  const steps = stepsOf(pure32, f32, w032, two.X32, two.y32, TWO_LAYER.n);
  twoMs["wasm f32 ×2 (Float32Array)"] = { f: time(steps.f), f_lin: time(steps.f_lin), f_quad: time(steps.f_quad) };
}
for (const k of Object.values(kernels)) k.dispose();
pure32.dispose();
mark("two_layer_relu");

// ---- the GEMM alone, one thread ----
const gemm = gemmRates(REPEATS);
const NET_PRODUCTS = gemm.filter((r) => r.product.startsWith("net "));
// Per thread: by CPU time, which on a shared machine leaves out the time other processes held the core.
const gemmPerThreadF64 = Math.min(...NET_PRODUCTS.filter((r) => r.dtype === "f64").map((r) => r.cpu));
const gemm1024F64 = defined(
  gemm.find((r) => r.dtype === "f64" && r.product.startsWith("1024")),
  "the 1024³ f64 GEMM",
);
mark("gemm");

// ---- three_layer_relu, both backends ----
const three = setUp(THREE_LAYER);
const threeCompile = {
  js: compileTimes(THREE_LAYER, cacheDir, "js", "f64"),
  wasm: compileTimes(THREE_LAYER, cacheDir, "wasm", "f64"),
};
const threeMs: Record<string, Partial<Record<StepName, Timing>>> = {};
for (const [name, backend, threads] of [
  ["js f64 ×1", "js", 1],
  ["wasm f64 ×2", "wasm", 2],
] as const) {
  const result = await compiled(three.model, three.source, THREE_LAYER, cacheDir, backend, "f64", threads);
  const w = initializeFlat(three.model, result.kernels.layout, 1).w;
  const steps = stepsOf(result.kernels, f64, w, three.X, three.y, THREE_LAYER.n);
  const ms: Partial<Record<StepName, Timing>> = {};
  // The unstaged path only on wasm: staging's gain does not depend on the backend, and JS's
  // generic f_quad step alone would take a quarter of the bench's time budget.
  const which: StepName[] =
    backend === "wasm" ? ["f", "f_lin", "f_quad", "generic_f_lin", "generic_f_quad"] : ["f", "f_lin", "f_quad"];
  for (const step of which) ms[step] = time(steps[step]);
  threeMs[name] = ms;
  result.kernels.dispose();
}
mark("three_layer_relu");

// ---- cnn_mnist, every backend and dtype, with its own PyTorch reference (bench/cnn.ts) ----
let cnn: CnnFigures | undefined;
if (withCnn) cnn = await cnnBench({ time, stepsOf, cacheDir, warmup: WARMUP, repeats: REPEATS, withTorch });
mark("cnn");

// ---- PyTorch, last: it takes the cores in processes of its own ----
let torch: TorchFigures | undefined;
if (withTorch) torch = torchReference({ threads: [1, 2], warmup: WARMUP, repeats: REPEATS });
mark("pytorch");

// ---- ratios and targets (two_layer_relu) ----
const { n } = TWO_LAYER;
const { d, m } = TWO_LAYER.set;
const STEP_FLOPS = 4 * n * m * d;
const best = (config: Config, step: StepName) => twoMs[config]?.[step]?.best;
const dgemm = new Map<number, number>();
for (const run of torch?.byThreads ?? []) dgemm.set(run.threads, run.f64.gflops.gemm);
/** Milliseconds of the step's 4·n·m·d flops at the machine's dgemm rate on `threads` threads. */
const ideal = (threads: number) => {
  const rate = dgemm.get(threads);
  return rate === undefined ? undefined : STEP_FLOPS / rate / 1e6;
};
const torchF64 = torch && torchBest(torch, "f64", "f");
const torchF32 = torch && torchBest(torch, "f32", "f");
const div = (a: number | undefined, b: number | undefined) => (a === undefined || b === undefined ? undefined : a / b);
type Timed = StepName | "handwritten_f";
/** Ratios of two steps of this process, numerator first. */
const STEP_RATIOS: Record<string, readonly [Config, Timed, Config, Timed]> = {
  "f32 / f64 ×2 (Float32Array)": ["wasm f32 ×2 (Float32Array)", "f", "wasm f64 ×2", "f"],
  "f32 / f64 ×2 (f64 API)": ["wasm f32 ×2 (f64 API)", "f", "wasm f64 ×2", "f"],
  "wasm ×2 f_lin / f": ["wasm f64 ×2", "f_lin", "wasm f64 ×2", "f"],
  "wasm ×2 f_quad / f": ["wasm f64 ×2", "f_quad", "wasm f64 ×2", "f"],
  "js f_lin / f": ["js f64 ×1", "f_lin", "js f64 ×1", "f"],
  "js f_quad / f": ["js f64 ×1", "f_quad", "js f64 ×1", "f"],
  "js generic f_lin / f_lin": ["js f64 ×1", "generic_f_lin", "js f64 ×1", "f_lin"],
  "js generic f_quad / f_quad": ["js f64 ×1", "generic_f_quad", "js f64 ×1", "f_quad"],
  "js f / handwritten": ["js f64 ×1", "f", "js f64 ×1", "handwritten_f"],
  "wasm f64 ×1 / js f64 ×1 (f)": ["wasm f64 ×1", "f", "js f64 ×1", "f"],
};
/**
 * STEP_RATIOS by best wall time, or by CPU time: the work each step costs (over all threads),
 * which the load on a shared machine barely moves.
 */
const stepRatios = (measure: "best" | "cpu"): Record<string, number | undefined> =>
  Object.fromEntries(
    Object.entries(STEP_RATIOS).map(([name, [a, stepA, b, stepB]]) => [
      name,
      div(twoMs[a]?.[stepA]?.[measure], twoMs[b]?.[stepB]?.[measure]),
    ]),
  );
const ratios: Record<string, number | undefined> = {
  "wasm f64 ×2 f / PyTorch best f64 f": div(best("wasm f64 ×2", "f"), torchF64?.ms),
  "wasm f64 ×1 f / PyTorch best f64 f": div(best("wasm f64 ×1", "f"), torchF64?.ms),
  "wasm f32 ×2 f / PyTorch best f32 f": div(best("wasm f32 ×2 (Float32Array)", "f"), torchF32?.ms),
  "wasm f64 ×1 f / ideal ×1": div(best("wasm f64 ×1", "f"), ideal(1)),
  "wasm f64 ×2 f / ideal ×2": div(best("wasm f64 ×2", "f"), ideal(2)),
  "fraction of dgemm rate ×1": div(ideal(1), best("wasm f64 ×1", "f")),
  "fraction of dgemm rate ×2": div(ideal(2), best("wasm f64 ×2", "f")),
  ...stepRatios("best"),
  "wasm f64 ×2 / ×1 (f)": div(best("wasm f64 ×2", "f"), best("wasm f64 ×1", "f")),
  "GEMM f64 1024³ / OpenBLAS dgemm 1024³, ×1 (wall)": div(gemm1024F64.wall, dgemm.get(1)),
  "GEMM f64 1024³ / OpenBLAS dgemm 1024³, ×1 (CPU time)": div(gemm1024F64.cpu, dgemm.get(1)),
};
const cpuRatios = stepRatios("cpu");
const targets: Target[] = [
  target("f step f64 ×2 / PyTorch best f64", ratios["wasm f64 ×2 f / PyTorch best f64 f"], "≤", 0.5),
  target("f step f64 ×2 / ideal at dgemm rate ×2", ratios["wasm f64 ×2 f / ideal ×2"], "≤", 10),
  target("f32 / f64 step ×2 (Float32Array module)", ratios["f32 / f64 ×2 (Float32Array)"], "≤", 0.55),
  target("f32 / f64 step ×2 (f64 API, adapter)", ratios["f32 / f64 ×2 (f64 API)"], "≤", 0.55),
  target("f_lin / f (wasm f64 ×2)", ratios["wasm ×2 f_lin / f"], "≤", 1.0),
  target("f_quad / f (wasm f64 ×2)", ratios["wasm ×2 f_quad / f"], "≤", 1.2),
  target("f_lin / f (js f64 ×1)", ratios["js f_lin / f"], "≤", 1.0),
  target("f_quad / f (js f64 ×1)", ratios["js f_quad / f"], "≤", 1.2),
  target("GEMM f64 GFLOP/s per thread (net products, CPU time)", gemmPerThreadF64, "≥", 10),
  target("cold compile js (ms)", twoCompile.js.coldMs, "≤", 1500),
  target("cold compile wasm (ms)", twoCompile.wasm.coldMs, "≤", 1500),
  target("cached load js (ms)", twoCompile.js.cachedMs, "≤", 50),
  target("cached load wasm (ms)", twoCompile.wasm.cachedMs, "≤", 50),
];
const threeRatio = (config: string, a: StepName, b: StepName) =>
  div(threeMs[config]?.[a]?.best, threeMs[config]?.[b]?.best);
const threeTargets: Target[] = [
  target("f_lin / f (js f64 ×1)", threeRatio("js f64 ×1", "f_lin", "f"), "≤", 1.0),
  target("f_quad / f (js f64 ×1)", threeRatio("js f64 ×1", "f_quad", "f"), "≤", 1.5),
  target("f_lin / f (wasm f64 ×2)", threeRatio("wasm f64 ×2", "f_lin", "f"), "≤", 1.0),
  target("f_quad / f (wasm f64 ×2)", threeRatio("wasm f64 ×2", "f_quad", "f"), "≤", 1.5),
  target("cold compile js (ms)", threeCompile.js.coldMs, "≤", 1500),
  target("cold compile wasm (ms)", threeCompile.wasm.coldMs, "≤", 1500),
  target("cached load js (ms)", threeCompile.js.cachedMs, "≤", 50),
  target("cached load wasm (ms)", threeCompile.wasm.cachedMs, "≤", 50),
];

// ---- the f_lin sweep in closed form against stepping (issue 14) ----
const linear = await linearSweep(cacheDir);
const linearTargets = [linearTarget(linear)];
rmSync(cacheDir, { recursive: true, force: true });
mark("linear");

// ---- the MNIST sweep (--mnist) ----
interface MnistFigures {
  readonly date: string;
  readonly command: string;
  readonly wallSeconds: number;
  readonly loadStart: number[];
  readonly loadEnd: number[];
  /** Best test loss (or the phase, when not finite) per model and η/η_crit, from summary.csv. */
  readonly bestTestLoss: Record<string, Record<string, number | string>>;
  readonly target: Target;
}
/** The sweep of the training issue, in the built CLI as a user runs it; fresh output and cache folders. */
function mnistSweep(): MnistFigures {
  execFileSync(process.execPath, ["scripts/build.mjs"], { stdio: "inherit" });
  const out = mkdtempSync(join(tmpdir(), "nqm-bench-mnist-"));
  const cache = mkdtempSync(join(tmpdir(), "nqm-bench-mnist-cache-"));
  const args = [
    "dist/nqm.js",
    "sweep",
    "examples/two_layer_relu.nqm",
    "--set",
    "m=2048",
    "--data",
    "mnist:classes=0+1,n=128,test=2000",
    "--lrs",
    "0.5x:2.5x:0.5x",
    "--models",
    "f,lin,quad",
    "--steps",
    "100",
    "--out",
    out,
  ];
  const before = loadavg();
  const t0 = performance.now();
  const run = spawnSync(process.execPath, args, {
    env: { ...process.env, NQM_CACHE: cache },
    stdio: ["ignore", "ignore", "inherit"],
  });
  const wallSeconds = (performance.now() - t0) / 1000;
  if (run.status !== 0) throw new Error(`bench: the MNIST sweep exited with ${run.status}`);
  const [header, ...rows] = readFileSync(join(out, "summary.csv"), "utf8").trim().split("\n");
  const columns = defined(header, "summary.csv's header").split(",");
  const bestTestLoss: Record<string, Record<string, number | string>> = {};
  for (const row of rows) {
    const cells = row.split(",");
    const cell = (name: string) => defined(cells[columns.indexOf(name)], `summary.csv's ${name}`);
    const loss = Number(cell("best_test_loss"));
    const phase = cell("phase");
    bestTestLoss[cell("model")] = {
      ...bestTestLoss[cell("model")],
      [cell("lr_multiple")]: Number.isFinite(loss) && phase !== "divergent" ? loss : phase,
    };
  }
  rmSync(out, { recursive: true, force: true });
  rmSync(cache, { recursive: true, force: true });
  return {
    date: new Date().toISOString(),
    command: `node ${args.join(" ").replace(out, "OUT")}`,
    wallSeconds,
    loadStart: before,
    loadEnd: loadavg(),
    bestTestLoss,
    target: target("MNIST sweep wall seconds (2 cores)", wallSeconds, "≤", 90),
  };
}
let mnist: MnistFigures | undefined;
let mnistError: string | undefined;
if (withMnist) {
  // A failed sweep must not cost the figures measured so far: report it, write the rest, exit 1.
  try {
    mnist = mnistSweep();
  } catch (error) {
    mnistError = error instanceof Error ? error.message : String(error);
    console.error(`MNIST sweep failed: ${mnistError}`);
    process.exitCode = 1;
  }
  mark("mnist");
} else if (existsSync(RESULTS)) {
  // Keep the last sweep's figures (with their own date) when this run skips it.
  const previous = JSON.parse(readFileSync(RESULTS, "utf8")) as { mnist?: MnistFigures };
  if (typeof previous.mnist?.wallSeconds === "number") mnist = previous.mnist;
}
const loadEnd = loadavg();
const seconds = (performance.now() - started) / 1000;

// ---- report ----
const configs: Config[] = [
  "js f64 ×1",
  "wasm f64 ×1",
  "wasm f64 ×2",
  "wasm f32 ×2 (f64 API)",
  "wasm f32 ×2 (Float32Array)",
];
const W = 25;
console.log(
  `\ntwo_layer_relu (n ${n}, d ${d}, m ${m}; ${layout.paramCount} params): ms per full-batch GD step: best / median wall, best CPU (this process, all threads)`,
);
console.log(`  ${"".padEnd(28)}${pad("f", W)}${pad("f_lin", W)}${pad("f_quad", W)}   grad vs js f64`);
for (const config of configs) {
  const ms = twoMs[config];
  console.log(
    `  ${config.padEnd(28)}${pad(timingText(ms?.f), W)}${pad(timingText(ms?.f_lin), W)}${pad(timingText(ms?.f_quad), W)}   ${config === "js f64 ×1" ? "" : defined(agreement[config], config).toExponential(1)}`,
  );
}
const jsMs = defined(twoMs["js f64 ×1"], "the js f64 ×1 timings");
console.log(
  `  ${"js f64 ×1 generic (unstaged)".padEnd(28)}${pad("", W)}${pad(timingText(jsMs.generic_f_lin), W)}${pad(timingText(jsMs.generic_f_quad), W)}`,
);
console.log(
  `  ${"hand-written JS f64 ×1".padEnd(28)}${pad(timingText(jsMs.handwritten_f), W)}${pad("", 2 * W)}   ${defined(agreement.handwritten, "the hand-written gradient").toExponential(1)}`,
);
if (torch === undefined)
  console.log(`  PyTorch: not available${withTorch ? " (/usr/bin/python3 cannot import torch)" : " (--no-torch)"}`);
else {
  const figures = torch;
  for (const dtype of ["f64", "f32"] as const) {
    const cells = (["f", "f_lin", "f_quad"] as const).map((step) => {
      const b = torchBest(figures, dtype, step);
      return pad(`${fmt(b.ms)} (×${b.threads})`, W);
    });
    console.log(`  ${`PyTorch ${dtype}, best of ×1, ×2`.padEnd(28)}${cells.join("")}   (f_lin, f_quad generic)`);
  }
  const { blas } = defined(torch.byThreads[0], "PyTorch's one-thread run");
  console.log(
    `  PyTorch ${torch.torchVersion}, ${blas.openblasConfig ?? blas.torchBlasInfo ?? "unknown BLAS"}; OpenBLAS kernel ${blas.openblasCorename ?? "?"}`,
  );
  console.log(
    `  ceiling: OpenBLAS 1024³ dgemm ${torch.byThreads.map((r) => `${fmt(r.f64.gflops.gemm, 1)} GFLOP/s ×${r.threads}`).join(", ")}` +
      ` (sgemm ${torch.byThreads.map((r) => `${fmt(r.f32.gflops.gemm, 1)} ×${r.threads}`).join(", ")});` +
      ` ideal step (4·n·m·d = ${(STEP_FLOPS / 1e6).toFixed(0)} MFLOP): ${[1, 2].map((t) => `${fmt(ideal(t), 2)} ms ×${t}`).join(", ")}`,
  );
}
console.log("\n  GEMM alone, one thread, GFLOP/s best wall / CPU time:");
for (const product of [...new Set(gemm.map((r) => r.product))]) {
  const cells = (["f64", "f32"] as const).map((dtype) => {
    const r = defined(
      gemm.find((x) => x.product === product && x.dtype === dtype),
      `the ${dtype} ${product} GEMM`,
    );
    return pad(`${dtype} ${fmt(r.wall, 1)} / ${fmt(r.cpu, 1)}`, 20);
  });
  console.log(`    ${product.padEnd(26)}${cells.join("")}`);
}
console.log(`\n  ratios${pad("wall", 51)}${pad("CPU", 9)}`);
for (const [name, value] of Object.entries(ratios))
  console.log(
    `    ${name.padEnd(52)}${pad(fmt(value, 3), 9)}${name in cpuRatios ? pad(fmt(cpuRatios[name], 3), 9) : ""}`,
  );
console.log(`  compile (fresh process, wall and this process's CPU): ${compileText(twoCompile)}`);
console.log("  targets:");
printTargets(targets);

console.log(
  `\nthree_layer_relu (n ${THREE_LAYER.n}, d ${THREE_LAYER.set.d}, m ${THREE_LAYER.set.m}): ms per full-batch GD step: best / median wall, best CPU`,
);
console.log(
  `  ${"".padEnd(14)}${pad("f", W)}${pad("f_lin", W)}${pad("f_quad", W)}${pad("generic f_lin", W)}${pad("generic f_quad", W)}`,
);
for (const [config, ms] of Object.entries(threeMs))
  console.log(
    `  ${config.padEnd(14)}${(["f", "f_lin", "f_quad", "generic_f_lin", "generic_f_quad"] as const).map((s) => pad(timingText(ms[s]), W)).join("")}`,
  );
console.log(`  compile (fresh process, wall and this process's CPU): ${compileText(threeCompile)}`);
console.log("  targets:");
printTargets(threeTargets);
if (cnn !== undefined) printCnn(cnn);

for (const line of linearSweepText(linear)) console.log(line);
console.log("  targets:");
printTargets(linearTargets);

if (mnist !== undefined) {
  console.log(
    `\nMNIST sweep (0/1, 128 train, 2000 test, m 2048, 5 rates × 3 models × 100 steps)${withMnist ? "" : `, from ${mnist.date} (not rerun: --mnist)`}:` +
      ` ${mnist.wallSeconds.toFixed(1)} s wall, load ${fmt(mnist.loadStart[0], 1)} → ${fmt(mnist.loadEnd[0], 1)}`,
  );
  for (const [model, losses] of Object.entries(mnist.bestTestLoss))
    console.log(
      `    ${model.padEnd(6)}${Object.entries(losses)
        .sort(([a], [b]) => Number(a) - Number(b))
        .map(([rate, loss]) => `${rate}x ${typeof loss === "number" ? loss.toFixed(4) : loss}`)
        .join("   ")}`,
    );
  printTargets([mnist.target]);
}
console.log(
  `\nload average: start ${loadStart.map((x) => x.toFixed(2)).join(" ")}, end ${loadEnd.map((x) => x.toFixed(2)).join(" ")}; ${seconds.toFixed(0)} s (${Object.entries(
    phases,
  )
    .map(([name, t]) => `${name} ${t.toFixed(0)}`)
    .join(", ")})`,
);

writeFileSync(
  RESULTS,
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores,
      warmup: WARMUP,
      repeats: REPEATS,
      loadAverage: { start: loadStart, end: loadEnd },
      seconds,
      phases,
      twoLayer: {
        model: two.model.name,
        file: TWO_LAYER.file,
        n,
        set: TWO_LAYER.set,
        params: layout.paramCount,
        stepFlops: STEP_FLOPS,
        ms: twoMs,
        gradientAgreement: agreement,
        compile: twoCompile,
        idealMs: { 1: ideal(1), 2: ideal(2) },
        ratios,
        cpuRatios,
        targets,
      },
      gemm,
      torch: torch ?? { available: false },
      threeLayer: {
        model: three.model.name,
        file: THREE_LAYER.file,
        n: THREE_LAYER.n,
        set: THREE_LAYER.set,
        ms: threeMs,
        compile: threeCompile,
        targets: threeTargets,
      },
      linear: { ...linear, target: linearTargets[0] },
      cnn: cnn ?? null,
      mnist: mnist ?? (mnistError === undefined ? null : { error: mnistError }),
    },
    null,
    2,
  )}\n`,
);
console.log(`wrote ${RESULTS}`);
