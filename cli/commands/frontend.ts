/** `nqm check` and `nqm fmt`. */
import { NqmError } from "../../foundation/diagnostics.ts";
import { checkSource } from "../../compiler/frontend.ts";
import { parameterCount, type CheckedModel, type TensorDecl } from "../../compiler/check/typed.ts";
import { parseSource } from "../../grammar/build-ast.ts";
import { printFile } from "../../grammar/printer.ts";
import { diagnosticsJson, readSource, report } from "../io.ts";
import { formatShape, sizeOf } from "../../foundation/shape.ts";
import { alignColumns } from "../table.ts";

function describeInit(tensor: TensorDecl): string {
  return tensor.init ? `${tensor.init.kind}(${tensor.init.args.join(", ")})` : "";
}

/** The loss as training computes it for this model's output (docs/training.md). */
function lossDescription(model: CheckedModel): string {
  if (model.loss === "squared") return "squared: ½ Σ (f − y)²";
  return sizeOf(model.outputShape) === 1
    ? "cross_entropy: logistic, log(1 + exp(−y f)) for labels ±1"
    : "cross_entropy: softmax, logsumexp(f) − y·f for one-hot labels";
}

/** The per-model summary `nqm check` prints. */
function describeModel(model: CheckedModel): string {
  const rows: string[][] = [
    ...model.inputs.map((t) => ["input", t.name, formatShape(t.shape), ""]),
    ...model.params.map((t) => ["param", t.name, formatShape(t.shape), describeInit(t)]),
    ...model.fixed.map((t) => ["fixed", t.name, formatShape(t.shape), describeInit(t)]),
    [
      "output",
      "",
      formatShape(model.outputShape),
      model.outputShape.length === 0 ? "scalar" : `vector of ${model.outputShape[0]}`,
    ],
    ["loss", "", "", lossDescription(model)],
  ];
  const table = alignColumns(rows).map((line) => `  ${line}`);
  const terms = model.params.map((p) => `${p.name} ${sizeOf(p.shape)}`).join(" + ");
  const dims = Object.entries(model.dims)
    .map(([k, v]) => `${k}=${v}`)
    .join(", ");
  return [
    `model ${model.name}${dims ? ` (${dims})` : ""}`,
    ...table,
    `  trainable parameters: ${parameterCount(model)}${model.params.length > 1 ? ` (${terms})` : ""}`,
  ].join("\n");
}

export function checkCommand(file: string, options: { set?: Record<string, number>; json?: boolean }): number {
  const source = readSource(file);
  const result = checkSource(source, { file, set: options.set ?? {} });
  const ok = result.models !== undefined;
  if (options.json) {
    const models = (result.models ?? []).map((m) => ({
      name: m.name,
      dims: m.dims,
      consts: m.consts,
      inputs: m.inputs.map((t) => ({ name: t.name, shape: t.shape })),
      params: m.params.map((t) => ({ name: t.name, shape: t.shape, init: t.init })),
      fixed: m.fixed.map((t) => ({ name: t.name, shape: t.shape, init: t.init })),
      outputShape: m.outputShape,
      loss: m.loss,
      parameterCount: parameterCount(m),
    }));
    process.stdout.write(
      `${JSON.stringify({ ok, models, diagnostics: diagnosticsJson(result.diagnostics) }, null, 2)}\n`,
    );
  } else {
    report(result.diagnostics);
    if (result.models) process.stdout.write(`${result.models.map(describeModel).join("\n\n")}\n`);
  }
  return ok ? 0 : 1;
}

export function fmtCommand(file: string): number {
  const source = readSource(file);
  const parsed = parseSource(source, file);
  if (!parsed.ast) throw new NqmError(parsed.diagnostics);
  process.stdout.write(printFile(parsed.ast));
  return 0;
}
