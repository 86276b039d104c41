/** `nqm compile` and `nqm verify`: the library's compile and verify (api/model.ts), printed. */
import { resolve } from "node:path";
import { compile, defaultRuns, verify, type CaseReport } from "../../api/model.ts";
import { progress, type Progress } from "../../runtime/progress.ts";
import { defined } from "../../foundation/defined.ts";
import { formatBytes } from "../../foundation/format.ts";
import { kernelChoice, loadModelFile, modelChoice, type KernelOptions, type ModelOptions } from "../io.ts";
import { alignColumns } from "../table.ts";

export async function compileCommand(
  file: string,
  options: ModelOptions & KernelOptions & { out: string; batch: number },
): Promise<number> {
  const { source } = loadModelFile(file, options);
  const result = await compile(file, {
    ...modelChoice(options, source),
    ...kernelChoice(options),
    out: options.out,
    batch: options.batch,
  });
  const files = defined(result.files, "the files compile wrote");
  process.stdout.write(
    `${[
      `compiled model ${result.model} in ${result.milliseconds.toFixed(0)} ms`,
      `  ${resolve(files.typescript)}`,
      `  ${resolve(files.javascript)}`,
      `  ${result.parameterCount} parameters; batches of up to ${result.maxBatch} examples; ${formatBytes(result.workspaceBytes)} of buffers`,
      `  backend ${result.backend}, ${result.dtype === "f32" ? "Float32Array" : "Float64Array"} arrays${result.backend === "wasm" ? "; products on createKernels({ threads }) threads (default: the cores)" : ""}`,
      `  use: import { createKernels, initialize } from "./${result.model}.js"; const k = createKernels(); const { w, fixed } = initialize(0);`,
    ].join("\n")}\n`,
  );
  return 0;
}

export { defaultRuns };

/** `nqm verify`: exit 0 when every property holds, 1 when one fails, 2 on an internal error in one. */
export async function verifyCommand(
  file: string,
  options: ModelOptions & KernelOptions & { seed: number; runs?: number; json?: boolean },
): Promise<number> {
  const { source } = loadModelFile(file, options);
  let bar: Progress | undefined;
  const result = await verify(file, {
    ...modelChoice(options, source),
    ...kernelChoice({ ...options, dtype: "f64" }),
    seed: options.seed,
    ...(options.runs !== undefined ? { runs: options.runs } : {}),
    onCase: (done, total) => {
      bar ??= progress("verify", total, { unit: "cases" });
      bar.update(done);
    },
  });
  bar?.finish();
  const { status, runs, moved, atKink } = result;
  const outcomes = result.properties;
  const errors = outcomes.filter((o) => o.status === "error");
  const failures = outcomes.filter((o) => o.status === "failed");
  const code = status === "error" ? 2 : status === "failed" ? 1 : 0;
  if (options.json) {
    const { warnings: _, ...record } = result;
    process.stdout.write(`${JSON.stringify(record, null, 2)}\n`);
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
    `verify ${result.model} (seed ${options.seed}, ${runs} runs per property)`,
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
