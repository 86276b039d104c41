/** `nqm compile` and `nqm verify`. */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { compileModel, generateChecked, resolveBackend, transpile } from "../../compiler/codegen/compile.ts";
import { parameterCount } from "../../compiler/check/typed.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { checkWritableFolder, ensureWritableFolder, writeFailed } from "../../runtime/files.ts";
import { progress } from "../../runtime/progress.ts";
import { type CaseReport, verifyModel } from "../../runtime/verify.ts";
import { defined } from "../../foundation/defined.ts";
import { formatBytes } from "../../foundation/format.ts";
import { kernelChoice, loadModelFile, type KernelOptions, type ModelOptions } from "../io.ts";
import { alignColumns } from "../table.ts";

export async function compileCommand(
  file: string,
  options: ModelOptions & KernelOptions & { out: string; batch: number },
): Promise<number> {
  const { model, source } = loadModelFile(file, options);
  // Before the (possibly long) compile, without creating anything: a refused model writes nothing.
  checkWritableFolder(options.out);
  const started = performance.now();
  const backend = resolveBackend(options.backend);
  const dtype = options.dtype ?? "f64";
  const generated = await generateChecked(model, { source, file, maxBatch: options.batch, backend, dtype });
  const javascript = await transpile(generated.code);
  const tsPath = join(options.out, `${model.name}.ts`);
  const jsPath = join(options.out, `${model.name}.js`);
  ensureWritableFolder(options.out);
  for (const [path, text] of [
    [tsPath, generated.code],
    [jsPath, javascript],
  ] as const) {
    try {
      writeFileSync(path, text);
    } catch (error) {
      writeFailed(path, error);
    }
  }
  const ms = performance.now() - started;
  process.stdout.write(
    `${[
      `compiled model ${model.name} in ${ms.toFixed(0)} ms`,
      `  ${resolve(tsPath)}`,
      `  ${resolve(jsPath)}`,
      `  ${parameterCount(model)} parameters; batches of up to ${options.batch} examples; ${formatBytes(generated.workspaceBytes)} of buffers`,
      `  backend ${backend}, ${dtype === "f32" ? "Float32Array" : "Float64Array"} arrays${backend === "wasm" ? "; products on createKernels({ threads }) threads (default: the cores)" : ""}`,
      `  use: import { createKernels } from "./${model.name}.js"; const k = createKernels();`,
    ].join("\n")}\n`,
  );
  return 0;
}

/** Cases per property when --runs is not given: 50, and 50·2¹⁷/P (at least 10) above 2¹⁷ params, so a run stays near a minute. */
export function defaultRuns(params: number): number {
  return Math.max(10, Math.min(50, Math.round((50 * 2 ** 17) / Math.max(1, params))));
}

/** `nqm verify`: exit 0 when every property holds, 1 when one fails, 2 on an internal error in one. */
export async function verifyCommand(
  file: string,
  options: ModelOptions & KernelOptions & { seed: number; runs?: number; json?: boolean },
): Promise<number> {
  const { model, source } = loadModelFile(file, options);
  const runs = options.runs ?? defaultRuns(parameterCount(model));
  const maxExamples = 4;
  const compiled = await compileModel(model, {
    source,
    file,
    maxBatch: maxExamples,
    ...kernelChoice({ ...options, dtype: "f64" }),
  });
  const bar = progress(`verify ${model.name}`, runs, { unit: "cases" });
  const outcomes = verifyModel(model, deriveModel(model), compiled.kernels, {
    runs: runs,
    seed: options.seed,
    maxExamples,
    onCase: (done) => bar.update(done),
  });
  bar.finish();
  const errors = outcomes.filter((o) => o.status === "error");
  const failures = outcomes.filter((o) => o.status === "failed");
  const status = errors.length > 0 ? "error" : failures.length > 0 ? "failed" : "passed";
  const code = status === "error" ? 2 : status === "failed" ? 1 : 0;
  const moved = outcomes[0]?.moved ?? 0;
  const atKink = outcomes[0]?.atKink ?? 0;
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ model: model.name, seed: options.seed, runs: runs, status, passed: status === "passed", moved, atKink, properties: outcomes }, null, 2)}\n`,
    );
    return code;
  }
  const describe = (r: CaseReport | undefined): string => {
    if (r === undefined) return "-";
    if (r.range !== undefined && r.slope === undefined)
      return r.detail.endsWith("exact at this order") ? "exact" : "no slope";
    if (r.slope !== undefined) return `slope ${r.slope.toFixed(2)}`;
    return `diff ${Math.abs(r.left - r.right).toExponential(1)}, bound ${r.bound.toExponential(1)}`;
  };
  const header = ["property", "cases", "worst case", "result"];
  const rows = outcomes.map((o) => [
    o.property,
    String(o.cases),
    describe(o.worst),
    o.status === "passed" ? "pass" : o.status === "failed" ? "FAIL" : "ERROR",
  ]);
  const caseText = (r: CaseReport) => `${JSON.stringify({ seed: r.seed, n: r.n })}: ${r.detail}`;
  const lines = [
    `verify ${model.name} (seed ${options.seed}, ${runs} runs per property)`,
    ...alignColumns([header, ...rows], [1]),
    `points moved away from a kink: ${moved} of ${runs}${atKink > 0 ? ` (${atKink} still at one after 4 draws, checked on the piece held there)` : ""}`,
    "",
    "worst cases:",
    ...outcomes.flatMap((o) => (o.worst ? [`  ${o.property}: ${caseText(o.worst)}`] : [])),
  ];
  for (const o of failures)
    lines.push(
      `\ncounterexample for "${o.property}": ${caseText(defined(o.counterexample, "a failed property's counterexample"))}`,
    );
  for (const o of errors) lines.push(`\ninternal error in "${o.property}": ${o.error}`);
  lines.push(
    status === "passed"
      ? "all properties hold"
      : status === "failed"
        ? `${failures.length} propert${failures.length === 1 ? "y" : "ies"} failed`
        : `internal error in ${errors.length} propert${errors.length === 1 ? "y" : "ies"}${failures.length > 0 ? `; ${failures.length} failed` : ""}`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
  return code;
}
