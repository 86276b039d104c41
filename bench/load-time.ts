/** Child process of the benchmark: times one compileModel call that should hit the cache. */
import { readFileSync } from "node:fs";
import { compileModel } from "../compiler/codegen/compile.ts";
import { loadModel } from "../compiler/frontend.ts";

const [file, setJson, maxBatch, cacheDir] = process.argv.slice(2) as [string, string, string, string];
const started = performance.now();
const source = readFileSync(file, "utf8");
const { model } = loadModel(source, { file, set: JSON.parse(setJson) as Record<string, number> });
const result = await compileModel(model, { source, file, maxBatch: Number(maxBatch), cacheDir });
const ms = performance.now() - started;
process.stdout.write(`${JSON.stringify({ ms, fromCache: result.fromCache })}\n`);
