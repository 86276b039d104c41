/** `nqm compile` and `nqm verify`. */
import { writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  compileModel,
  formatBytes,
  generateChecked,
  resolveBackend,
  transpile,
} from "../../compiler/codegen/compile.ts";
import { parameterCount } from "../../compiler/check/typed.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { checkWritableFolder, ensureWritableFolder, writeFailed } from "../../runtime/files.ts";
import { verifyModel } from "../../runtime/verify.ts";
import { kernelChoice, loadModelFile, type KernelOptions, type ModelOptions } from "../io.ts";

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

export async function verifyCommand(
  file: string,
  options: ModelOptions & KernelOptions & { seed: number; runs: number; json?: boolean },
): Promise<number> {
  const { model, source } = loadModelFile(file, options);
  const maxExamples = 4;
  const compiled = await compileModel(model, {
    source,
    file,
    maxBatch: maxExamples,
    ...kernelChoice({ ...options, dtype: "f64" }),
  });
  const outcomes = verifyModel(model, deriveModel(model), compiled.kernels, {
    runs: options.runs,
    seed: options.seed,
    maxExamples,
  });
  const passed = outcomes.every((o) => o.passed);
  if (options.json) {
    process.stdout.write(
      `${JSON.stringify({ model: model.name, seed: options.seed, passed, properties: outcomes }, null, 2)}\n`,
    );
    return passed ? 0 : 1;
  }
  const header = ["property", "cases", "worst", "result"];
  const rows = outcomes.map((o) => [
    o.property,
    `${o.cases}${o.skipped ? ` (+${o.skipped} skipped)` : ""}`,
    o.worst,
    o.passed ? "pass" : "FAIL",
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => (i === 1 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!)))
      .join("  ")
      .trimEnd();
  const lines = [
    `verify ${model.name} (seed ${options.seed}, ${options.runs} runs per property)`,
    line(header),
    ...rows.map(line),
  ];
  for (const o of outcomes) if (!o.passed) lines.push(`\ncounterexample for "${o.property}": ${o.counterexample}`);
  lines.push(
    passed
      ? "all properties hold"
      : `${outcomes.filter((o) => !o.passed).length} propert${outcomes.filter((o) => !o.passed).length === 1 ? "y" : "ies"} failed`,
  );
  process.stdout.write(`${lines.join("\n")}\n`);
  return passed ? 0 : 1;
}
