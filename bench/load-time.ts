/**
 * Child process of the benchmark: times one compileModel call in a fresh process, so that a cold
 * compile pays what a first `nqm` run pays (ts-morph's import, esbuild's start-up) and a cached
 * load what every later run pays. Prints {ms, cpuMs, fromCache} as JSON.
 *
 *   node --import tsx bench/load-time.ts FILE SET_JSON MAX_BATCH CACHE_DIR BACKEND DTYPE
 */
import { readFileSync } from "node:fs";
import { compileModel } from "../compiler/codegen/compile.ts";
import type { Backend, Dtype } from "../compiler/codegen/api.ts";
import { loadModel } from "../compiler/frontend.ts";

const [file, setJson, maxBatch, cacheDir, backend, dtype] = process.argv.slice(2) as [
  string,
  string,
  string,
  string,
  Backend,
  Dtype,
];
const started = performance.now();
const cpu0 = process.cpuUsage();
const source = readFileSync(file, "utf8");
const { model } = loadModel(source, { file, set: JSON.parse(setJson) as Record<string, number> });
// One thread: starting workers is not part of loading the kernels.
const result = await compileModel(model, {
  source,
  file,
  maxBatch: Number(maxBatch),
  cacheDir,
  backend,
  dtype,
  threads: 1,
});
const ms = performance.now() - started;
const used = process.cpuUsage(cpu0);
result.kernels.dispose();
// CPU time of this process (esbuild's own process not included): a load-independent figure.
process.stdout.write(
  `${JSON.stringify({ ms, cpuMs: (used.user + used.system) / 1000, fromCache: result.fromCache })}\n`,
);
