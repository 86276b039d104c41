/** The `nqm` command line: thin; parses flags, calls the stages, prints. */
import { readFileSync } from "node:fs";
import { Command, CommanderError } from "commander";
import { NqmError, diagnostic, type Diagnostic } from "../compiler/diagnostics.ts";
import { parseSource } from "../grammar/build-ast.ts";
import { printFile } from "../grammar/printer.ts";
import { checkSource, loadModel } from "../compiler/frontend.ts";
import { deriveModel } from "../compiler/diff/programs.ts";
import { DERIVE_VIEWS, deriveView, type DeriveView } from "../compiler/diff/views.ts";
import { printGraph } from "../compiler/ir/print.ts";
import { parsePointJson, pointSet, resolvePoint } from "../runtime/point.ts";
import { evaluateWithInterpreter } from "../runtime/evaluate.ts";
import { formatShape } from "../compiler/check/builtins.ts";
import { parameterCount, sizeOf, type CheckedModel, type TensorDecl } from "../compiler/check/typed.ts";
import { collectSet, parseInteger } from "./options.ts";
import { diagnosticToJson, renderDiagnostic } from "./render.ts";

/** Source texts read so far, for rendering diagnostics with their lines. */
const sources = new Map<string, string>();

function readSource(file: string): string {
  try {
    const text = readFileSync(file, "utf8");
    sources.set(file, text);
    return text;
  } catch (error) {
    throw new NqmError([diagnostic("NQM3006", { file, reason: (error as NodeJS.ErrnoException).code === "ENOENT" ? "no such file" : String((error as Error).message) })]);
  }
}

let jsonOutput = false;

/** Prints diagnostics to stderr (or as JSON to stdout with --json). */
function report(diagnostics: readonly Diagnostic[]): void {
  if (diagnostics.length === 0) return;
  if (jsonOutput) return;
  process.stderr.write(diagnostics.map((d) => renderDiagnostic(d, sources)).join("\n\n") + "\n");
}

function describeInit(tensor: TensorDecl): string {
  return tensor.init ? `${tensor.init.kind}(${tensor.init.args.join(", ")})` : "";
}

function describeModel(model: CheckedModel): string {
  const rows: string[][] = [
    ...model.inputs.map((t) => ["input", t.name, formatShape(t.shape), ""]),
    ...model.params.map((t) => ["param", t.name, formatShape(t.shape), describeInit(t)]),
    ...model.fixed.map((t) => ["fixed", t.name, formatShape(t.shape), describeInit(t)]),
    ["output", "", formatShape(model.outputShape), model.outputShape.length === 0 ? "scalar" : `vector of ${model.outputShape[0]}`],
  ];
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  const table = rows.map((r) => `  ${r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join("  ").trimEnd()}`);
  const terms = model.params.map((p) => `${p.name} ${sizeOf(p.shape)}`).join(" + ");
  const dims = Object.entries(model.dims).map(([k, v]) => `${k}=${v}`).join(", ");
  return [
    `model ${model.name}${dims ? ` (${dims})` : ""}`,
    ...table,
    `  trainable parameters: ${parameterCount(model)}${model.params.length > 1 ? ` (${terms})` : ""}`,
  ].join("\n");
}

function checkCommand(file: string, options: { set?: Record<string, number>; json?: boolean }): number {
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
    process.stdout.write(JSON.stringify({ ok, models, diagnostics: result.diagnostics.map((d) => diagnosticToJson(d, sources)) }, null, 2) + "\n");
  } else {
    report(result.diagnostics);
    if (result.models) process.stdout.write(result.models.map(describeModel).join("\n\n") + "\n");
  }
  return ok ? 0 : 1;
}

function fmtCommand(file: string): number {
  const source = readSource(file);
  const parsed = parseSource(source, file);
  if (!parsed.ast) throw new NqmError(parsed.diagnostics);
  process.stdout.write(printFile(parsed.ast));
  return 0;
}

interface ModelOptions {
  set?: Record<string, number>;
  modelName?: string;
}

/** Reads, parses and checks a model file; prints warnings; throws on errors. */
function loadModelFile(file: string, options: ModelOptions, extraSet: Record<string, number> = {}): CheckedModel {
  const source = readSource(file);
  const { model, warnings } = loadModel(source, { file, set: { ...extraSet, ...(options.set ?? {}) }, ...(options.modelName ? { name: options.modelName } : {}) });
  report(warnings);
  return model;
}

function deriveCommand(file: string, options: ModelOptions & { what: string }): number {
  if (!(DERIVE_VIEWS as readonly string[]).includes(options.what)) {
    throw new NqmError([diagnostic("NQM3007", { option: "--what", reason: `expected one of ${DERIVE_VIEWS.join(", ")}, got \`${options.what}\`` })]);
  }
  const model = loadModelFile(file, options);
  const program = deriveModel(model);
  const blocks = deriveView(program, options.what as DeriveView).map((section) => {
    const printed = printGraph(section.expressions);
    return [`# ${section.title}`, ...printed.lets, ...printed.results].join("\n");
  });
  process.stdout.write(`# model ${model.name}: the simplified derivative expressions\n\n${blocks.join("\n\n")}\n`);
  return 0;
}

function evalCommand(file: string, options: ModelOptions & { point: string; seed: number; backend: string }): number {
  const raw = parsePointJson(readSource(options.point));
  const model = loadModelFile(file, options, pointSet(raw));
  const point = resolvePoint(raw, model, options.seed);
  const result = evaluateWithInterpreter(deriveModel(model), point);
  process.stdout.write(JSON.stringify(result) + "\n");
  return 0;
}

/** Builds the command tree; `run` executes it. */
export function buildProgram(): Command {
  const program = new Command("nqm")
    .description("Compile neural-network model files to derivatives and fast kernels for f, f_lin and f_quad")
    .version("0.1.0")
    .showHelpAfterError("(run `nqm --help` for usage)")
    .exitOverride();

  const setOption = ["--set <name=value>", "set a dim or const (repeatable; or a,b=...)", collectSet] as const;

  program
    .command("check")
    .description("parse and check a model file; print each model's tensors, shapes and parameter count")
    .argument("<file>", "model file (.nqm)")
    .option(...setOption)
    .option("--json", "print the result and diagnostics as JSON")
    .action((file: string, options: { set?: Record<string, number>; json?: boolean }) => {
      jsonOutput = options.json === true;
      exitCode = checkCommand(file, options);
    });

  program
    .command("fmt")
    .description("print the canonical formatting of a model file")
    .argument("<file>", "model file (.nqm)")
    .action((file: string) => {
      exitCode = fmtCommand(file);
    });

  program
    .command("derive")
    .description("print the simplified symbolic derivatives of a model")
    .argument("<file>", "model file (.nqm)")
    .option("--what <view>", `which expressions: ${DERIVE_VIEWS.join(", ")}`, "all")
    .option(...setOption)
    .option("--model-name <name>", "the model to use when the file holds several")
    .action((file: string, options: ModelOptions & { what: string }) => {
      exitCode = deriveCommand(file, options);
    });

  program
    .command("eval")
    .description("evaluate f, its gradient, jvp, hvp, f_lin and f_quad at a point (JSON in, JSON out)")
    .argument("<file>", "model file (.nqm)")
    .requiredOption("--point <file.json>", "the point: {set, params, fixed, inputs, direction, cotangent}")
    .option("--seed <n>", "seed for params and fixed tensors the point leaves out", parseInteger("--seed", 0), 0)
    .option("--backend <name>", "interpreter (the reference)", "interpreter")
    .option(...setOption)
    .option("--model-name <name>", "the model to use when the file holds several")
    .action((file: string, options: ModelOptions & { point: string; seed: number; backend: string }) => {
      exitCode = evalCommand(file, options);
    });

  return program;
}

let exitCode = 0;

/** Runs the CLI on `argv` (without the node and script entries); returns the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  exitCode = 0;
  jsonOutput = argv.includes("--json");
  const program = buildProgram();
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof NqmError) {
      if (jsonOutput) process.stdout.write(JSON.stringify({ ok: false, diagnostics: error.diagnostics.map((d) => diagnosticToJson(d, sources)) }, null, 2) + "\n");
      else report(error.diagnostics);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await run(process.argv.slice(2));
