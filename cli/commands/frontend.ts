/** `nqm check` and `nqm fmt`. */
import { NqmError, fail } from "../../foundation/diagnostics.ts";
import { writeTextAtomic } from "../../runtime/files.ts";
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

/** The options of `nqm fmt`. */
export interface FmtOptions {
  /** Rewrite each file that is not in canonical form. */
  write?: boolean;
  /** Change nothing; exit 1 when a file is not in canonical form. */
  check?: boolean;
}

/**
 * `nqm fmt FILE...`: the canonical form of one file on stdout, or with --write every file
 * rewritten in place, or with --check a list of the files that are not formatted (exit 1).
 * Every file is parsed before any is written, so a syntax error anywhere changes nothing.
 */
export function fmtCommand(files: readonly string[], options: FmtOptions = {}): number {
  if (options.write && options.check)
    fail("NQM3007", { option: "--write", reason: "--write and --check exclude each other; give one" });
  if (!options.write && !options.check && files.length > 1)
    fail("NQM3007", {
      option: "<file>",
      reason: `${files.length} files given; printing formats one file (--write or --check take several)`,
    });
  const formatted = files.map((file) => {
    const source = readSource(file);
    const parsed = parseSource(source, file);
    if (!parsed.ast) throw new NqmError(parsed.diagnostics);
    return { file, source, text: printFile(parsed.ast, source) };
  });
  const changed = formatted.filter((f) => f.text !== f.source);
  if (options.check) {
    for (const { file } of changed) process.stderr.write(`${file}: not formatted (nqm fmt --write ${file})\n`);
    return changed.length > 0 ? 1 : 0;
  }
  if (options.write) {
    for (const { file, text } of changed) {
      writeTextAtomic(file, text);
      process.stderr.write(`formatted ${file}\n`);
    }
    return 0;
  }
  for (const { text } of formatted) process.stdout.write(text);
  return 0;
}
