/**
 * `npm run bench`: milliseconds per full-batch gradient step on f, f_lin and f_quad with the
 * compiled kernels, with the generic unstaged path (f_lin as f(w0) + JVP and f_quad with nested
 * JVPs, all recomputed every step), and with a hand-written kernel; plus compile times.
 * Ratios are taken within one run, so a noisy shared machine affects both sides alike.
 * Writes bench/results.json.
 */
import { execFileSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { cpus, tmpdir } from "node:os";
import { join } from "node:path";
import { compileModel } from "../compiler/codegen/compile.ts";
import type { CompiledKernels } from "../compiler/codegen/api.ts";
import { loadModel } from "../compiler/frontend.ts";
import { initializeFlat } from "../runtime/init.ts";
import { Rng } from "../runtime/rng.ts";
import { createHandwrittenStep } from "./handwritten.ts";

interface Case {
  readonly file: string;
  readonly set: Record<string, number>;
  readonly n: number;
  readonly handwritten: boolean;
}

const CASES: Case[] = [
  { file: "examples/two_layer_relu.nqm", set: { d: 64, m: 2048 }, n: 256, handwritten: true },
  { file: "examples/three_layer_relu.nqm", set: { d: 64, m: 512 }, n: 256, handwritten: false },
];
const WARMUP = Number(process.env.NQM_BENCH_WARMUP ?? 3);
const REPEATS = Number(process.env.NQM_BENCH_REPEATS ?? 11);
const LR = 1e-3;

/** Median milliseconds of `step` over REPEATS runs after WARMUP runs. */
function time(step: () => void): number {
  for (let i = 0; i < WARMUP; i++) step();
  const samples: number[] = [];
  for (let i = 0; i < REPEATS; i++) {
    const t0 = performance.now();
    step();
    samples.push(performance.now() - t0);
  }
  samples.sort((a, b) => a - b);
  return samples[Math.floor(samples.length / 2)]!;
}

function update(w: Float64Array, g: Float64Array): void {
  for (let i = 0; i < w.length; i++) w[i]! -= LR * g[i]!;
}

function steps(k: CompiledKernels, w0: Float64Array, X: Float64Array[], y: Float64Array, n: number) {
  const P = k.layout.paramCount;
  const g = new Float64Array(P);
  const h = new Float64Array(P);
  const w = Float64Array.from(w0);
  const dLin = new Float64Array(P);
  const dQuad = new Float64Array(P);
  const f0 = new Float64Array(n);
  const jv = new Float64Array(n);
  const q = new Float64Array(n);
  const r = new Float64Array(n);
  k.prepare(w0, X, n);
  return {
    f: () => {
      k.lossAndGrad(w, X, y, n, g, false);
      update(w, g);
    },
    lin: () => {
      k.lossAndGradLin(dLin, y, g, false);
      update(dLin, g);
    },
    quad: () => {
      k.lossAndGradQuad(dQuad, y, g, false);
      update(dQuad, g);
    },
    // The generic path: every term from scratch at every step, as nested JVPs and VJPs would.
    genericLin: () => {
      k.f(w0, X, n, f0);
      k.jvp(w0, dLin, X, n, jv);
      for (let j = 0; j < n; j++) r[j] = f0[j]! + jv[j]! - y[j]!;
      k.vjp(w0, X, r, n, g);
      update(dLin, g);
    },
    genericQuad: () => {
      k.f(w0, X, n, f0);
      k.jvp(w0, dQuad, X, n, jv);
      k.quad(w0, dQuad, X, n, q);
      for (let j = 0; j < n; j++) r[j] = f0[j]! + jv[j]! + 0.5 * q[j]! - y[j]!;
      k.vjp(w0, X, r, n, g);
      k.hvp(w0, dQuad, X, r, n, h);
      for (let i = 0; i < P; i++) g[i]! += h[i]!;
      update(dQuad, g);
    },
  };
}

const results: Record<string, unknown>[] = [];
const fmt = (x: number) => x.toFixed(2).padStart(9);
for (const c of CASES) {
  const source = readFileSync(c.file, "utf8");
  const cacheDir = mkdtempSync(join(tmpdir(), "nqm-bench-"));
  const coldStart = performance.now();
  const { model } = loadModel(source, { file: c.file, set: c.set });
  const compiled = await compileModel(model, { source, file: c.file, maxBatch: c.n, cacheDir });
  const coldMs = performance.now() - coldStart;
  const cached = JSON.parse(
    execFileSync(
      process.execPath,
      ["--import", "tsx", "bench/load-time.ts", c.file, JSON.stringify(c.set), String(c.n), cacheDir],
      { encoding: "utf8" },
    ),
  ) as { ms: number; fromCache: boolean };
  rmSync(cacheDir, { recursive: true, force: true });

  const k = compiled.kernels;
  const rng = new Rng(7);
  const d = c.set.d!;
  const X = [Float64Array.from({ length: c.n * d }, () => rng.normal())];
  const y = Float64Array.from({ length: c.n }, () => rng.rademacher());
  const w0 = initializeFlat(model, k.layout, 1).w;
  const s = steps(k, w0, X, y, c.n);
  const ms: Record<string, number> = {
    f: time(s.f),
    f_lin: time(s.lin),
    f_quad: time(s.quad),
    generic_f_lin: time(s.genericLin),
    generic_f_quad: time(s.genericQuad),
  };
  let gradientAgreement: number | undefined;
  if (c.handwritten) {
    const hand = createHandwrittenStep(c.n, d, c.set.m!);
    const wh = Float64Array.from(w0);
    const gh = new Float64Array(k.layout.paramCount);
    ms.handwritten_f = time(() => {
      hand.lossAndGrad(wh, X[0]!, y, gh);
      update(wh, gh);
    });
    // The baseline must compute the same thing: compare its gradient with the compiled one.
    const gc = new Float64Array(k.layout.paramCount);
    hand.lossAndGrad(w0, X[0]!, y, gh);
    k.lossAndGrad(w0, X, y, c.n, gc, false);
    let difference = 0;
    let peak = 0;
    for (let i = 0; i < gc.length; i++) {
      difference = Math.max(difference, Math.abs(gc[i]! - gh[i]!));
      peak = Math.max(peak, Math.abs(gc[i]!));
    }
    gradientAgreement = difference / peak;
  }
  const ratios: Record<string, number> = {
    "f_quad / f": ms.f_quad! / ms.f!,
    "f_lin / f": ms.f_lin! / ms.f!,
    "generic f_lin / f_lin": ms.generic_f_lin! / ms.f_lin!,
    "generic f_quad / f_quad": ms.generic_f_quad! / ms.f_quad!,
  };
  if (ms.handwritten_f !== undefined) ratios["f / handwritten"] = ms.f! / ms.handwritten_f;
  const targets: Record<string, boolean> = {
    "f_quad ≤ 1.5× f": ratios["f_quad / f"]! <= 1.5,
    "f_lin ≤ 1.0× f": ratios["f_lin / f"]! <= 1.0,
    "cold compile < 1.5 s": coldMs < 1500,
    "cached load < 50 ms": cached.ms < 50,
  };
  if (ratios["f / handwritten"] !== undefined) targets["f ≤ 1.25× handwritten"] = ratios["f / handwritten"] <= 1.25;

  const dims = Object.entries(c.set)
    .map(([key, v]) => `${key}=${v}`)
    .join(", ");
  console.log(`\n${model.name} (n=${c.n}, ${dims}; ${k.layout.paramCount} params)`);
  console.log(`  ms per full-batch gradient step (median of ${REPEATS}):`);
  for (const [name, value] of Object.entries(ms)) console.log(`    ${name.padEnd(22)}${fmt(value)}`);
  console.log("  ratios:");
  for (const [name, value] of Object.entries(ratios)) console.log(`    ${name.padEnd(22)}${fmt(value)}`);
  console.log(
    `  compile: cold ${coldMs.toFixed(0)} ms (source to loaded kernels), cached ${cached.ms.toFixed(1)} ms${cached.fromCache ? "" : " (CACHE MISS)"}`,
  );
  if (gradientAgreement !== undefined)
    console.log(`  handwritten vs compiled gradient: max rel. difference ${gradientAgreement.toExponential(1)}`);
  console.log(
    "  targets: " +
      Object.entries(targets)
        .map(([name, ok]) => `${ok ? "met" : "MISSED"}: ${name}`)
        .join("; "),
  );
  results.push({
    model: model.name,
    file: c.file,
    n: c.n,
    set: c.set,
    params: k.layout.paramCount,
    ms,
    ratios,
    compile: { coldMs, cachedMs: cached.ms },
    gradientAgreement,
    targets,
  });
}
writeFileSync(
  "bench/results.json",
  `${JSON.stringify(
    {
      date: new Date().toISOString(),
      node: process.version,
      cpu: cpus()[0]?.model,
      cores: cpus().length,
      warmup: WARMUP,
      repeats: REPEATS,
      results,
    },
    null,
    2,
  )}\n`,
);
console.log("\nwrote bench/results.json");
