/** `nqm derive` and `nqm eval`. */
import { NqmError, diagnostic } from "../../foundation/diagnostics.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { DERIVE_VIEWS, type DeriveView } from "../../compiler/diff/view-names.ts";
import { deriveView } from "../../compiler/diff/views.ts";
import { printGraph } from "../../compiler/ir/print.ts";
import { constantNamer } from "../../compiler/ir/constant-names.ts";
import { evaluateWithInterpreter, evaluateWithKernels, interpreterBytes } from "../../runtime/evaluate.ts";
import { checkMemory, defaultMemoryLimit } from "../../runtime/memory.ts";
import { parsePointJson, pointBytes, pointExampleCount, pointSet, resolvePoint } from "../../runtime/point.ts";
import { loadModelFile, MAX_POINT_FILE_BYTES, readSource, type ModelOptions } from "../io.ts";

function choice<T extends string>(option: string, value: string, allowed: readonly T[]): T {
  if (!(allowed as readonly string[]).includes(value)) {
    throw new NqmError([
      diagnostic("NQM3007", { option, reason: `expected one of ${allowed.join(", ")}, got \`${value}\`` }),
    ]);
  }
  return value as T;
}

export function deriveCommand(file: string, options: ModelOptions & { what: string }): number {
  const view: DeriveView = choice("--what", options.what, DERIVE_VIEWS);
  const { model } = loadModelFile(file, options);
  const program = deriveModel(model);
  const constants = constantNamer(model);
  const blocks = deriveView(program, view).map((section) => {
    const printed = printGraph(section.expressions, { constants });
    return [`# ${section.title}`, ...printed.lets, ...printed.results].join("\n");
  });
  process.stdout.write(`# model ${model.name}: the simplified derivative expressions\n\n${blocks.join("\n\n")}\n`);
  return 0;
}

export async function evalCommand(
  file: string,
  options: ModelOptions & { point: string; seed: number; backend: string; dtype?: "f64" | "f32" },
): Promise<number> {
  // The CLI parsed --backend (compiled, the old spelling, is auto).
  const backend = options.backend as "interpreter" | "auto" | "js" | "wasm";
  const raw = parsePointJson(readSource(options.point, MAX_POINT_FILE_BYTES));
  const { model, source } = loadModelFile(file, options, pointSet(raw));
  // Memory is estimated before the point's tensors are drawn or any value is computed.
  const limit = defaultMemoryLimit();
  const n = pointExampleCount(raw) ?? 1;
  checkMemory("the point's tensors", pointBytes(model, n), limit);
  const compiled = backend === "interpreter" ? undefined : backend;
  const program = compiled === undefined ? deriveModel(model) : undefined;
  if (program)
    checkMemory(
      "evaluating with the interpreter",
      pointBytes(model, n) + interpreterBytes(program, n),
      limit,
      "use --backend auto (compiled kernels), or lower the sizes",
    );
  const point = resolvePoint(raw, model, options.seed);
  const result =
    compiled === undefined
      ? evaluateWithInterpreter(program ?? deriveModel(model), point)
      : evaluateWithKernels(
          (
            await (
              await import("../../compiler/codegen/compile.ts")
            ).compileModel(model, {
              source,
              file,
              maxBatch: point.n,
              backend: compiled,
              ...(options.dtype ? { dtype: options.dtype } : {}),
            })
          ).kernels,
          point,
          model.outputShape,
        );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}
