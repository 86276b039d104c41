/** `nqm derive` and `nqm eval`. */
import { NqmError, diagnostic } from "../../foundation/diagnostics.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { DERIVE_VIEWS, type DeriveView } from "../../compiler/diff/view-names.ts";
import { deriveView } from "../../compiler/diff/views.ts";
import { printGraph } from "../../compiler/ir/print.ts";
import { evaluateWithInterpreter, evaluateWithKernels } from "../../runtime/evaluate.ts";
import { parsePointJson, pointSet, resolvePoint } from "../../runtime/point.ts";
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
  const blocks = deriveView(program, view).map((section) => {
    const printed = printGraph(section.expressions);
    return [`# ${section.title}`, ...printed.lets, ...printed.results].join("\n");
  });
  process.stdout.write(`# model ${model.name}: the simplified derivative expressions\n\n${blocks.join("\n\n")}\n`);
  return 0;
}

export const BACKENDS = ["interpreter", "compiled"] as const;

export async function evalCommand(
  file: string,
  options: ModelOptions & { point: string; seed: number; backend: string },
): Promise<number> {
  const backend = choice("--backend", options.backend, BACKENDS);
  const raw = parsePointJson(readSource(options.point, MAX_POINT_FILE_BYTES));
  const { model, source } = loadModelFile(file, options, pointSet(raw));
  const point = resolvePoint(raw, model, options.seed);
  const result =
    backend === "interpreter"
      ? evaluateWithInterpreter(deriveModel(model), point)
      : evaluateWithKernels(
          (
            await (
              await import("../../compiler/codegen/compile.ts")
            ).compileModel(model, { source, file, maxBatch: point.n })
          ).kernels,
          point,
          model.outputShape,
        );
  process.stdout.write(`${JSON.stringify(result)}\n`);
  return 0;
}
