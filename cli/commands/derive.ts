/** `nqm derive` and `nqm eval`. */
import { NqmError, diagnostic } from "../../compiler/diagnostics.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { DERIVE_VIEWS, deriveView, type DeriveView } from "../../compiler/diff/views.ts";
import { printGraph } from "../../compiler/ir/print.ts";
import { evaluateWithInterpreter, evaluateWithKernels, interpreterBytes } from "../../runtime/evaluate.ts";
import { checkMemory, defaultMemoryLimit } from "../../runtime/memory.ts";
import { parsePointJson, pointBytes, pointExampleCount, pointSet, resolvePoint } from "../../runtime/point.ts";
import { loadModelFile, readSource, type ModelOptions } from "../io.ts";

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

const BACKENDS = ["interpreter", "compiled"] as const;

export async function evalCommand(
  file: string,
  options: ModelOptions & { point: string; seed: number; backend: string },
): Promise<number> {
  const backend = choice("--backend", options.backend, BACKENDS);
  const raw = parsePointJson(readSource(options.point));
  const { model, source } = loadModelFile(file, options, pointSet(raw));
  // Memory is estimated before the point's tensors are drawn or any value is computed.
  const limit = defaultMemoryLimit();
  const n = pointExampleCount(raw) ?? 1;
  checkMemory("the point's tensors", pointBytes(model, n), limit);
  const program = backend === "interpreter" ? deriveModel(model) : undefined;
  if (program)
    checkMemory(
      "evaluating with the interpreter",
      pointBytes(model, n) + interpreterBytes(program, n),
      limit,
      "use --backend compiled, or lower the sizes",
    );
  const point = resolvePoint(raw, model, options.seed);
  const result =
    program !== undefined
      ? evaluateWithInterpreter(program, point)
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
