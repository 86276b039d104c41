/** The `nqm` command line: thin; parses flags, calls the stages, prints. */
import { Command, CommanderError } from "commander";
import { NqmError } from "../compiler/diagnostics.ts";
import { DERIVE_VIEWS } from "../compiler/diff/views.ts";
import { compileCommand, verifyCommand } from "./commands/compile.ts";
import { deriveCommand, evalCommand } from "./commands/derive.ts";
import { checkCommand, fmtCommand } from "./commands/frontend.ts";
import { diagnosticsJson, output, report, type ModelOptions } from "./io.ts";
import { collectSet, parseInteger } from "./options.ts";

/** Builds the command tree; each action returns the process exit code. */
export function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command("nqm")
    .description("Compile neural-network model files to derivatives and fast kernels for f, f_lin and f_quad")
    .version("0.1.0")
    .showHelpAfterError("(run `nqm --help` for usage)")
    .exitOverride();

  const withModel = (command: Command) =>
    command
      .argument("<file>", "model file (.nqm)")
      .option("--set <name=value>", "set a dim or const (repeatable, or comma-separated)", collectSet)
      .option("--model-name <name>", "the model to use when the file holds several");

  program
    .command("check")
    .description("parse and check a model file; print each model's tensors, shapes and parameter count")
    .argument("<file>", "model file (.nqm)")
    .option("--set <name=value>", "set a dim or const (repeatable, or comma-separated)", collectSet)
    .option("--json", "print the result and diagnostics as JSON")
    .action((file: string, options: { set?: Record<string, number>; json?: boolean }) => setExitCode(checkCommand(file, options)));

  program
    .command("fmt")
    .description("print the canonical formatting of a model file")
    .argument("<file>", "model file (.nqm)")
    .action((file: string) => setExitCode(fmtCommand(file)));

  withModel(program.command("derive").description("print the simplified symbolic derivatives of a model"))
    .option("--what <view>", `which expressions: ${DERIVE_VIEWS.join(", ")}`, "all")
    .action((file: string, options: ModelOptions & { what: string }) => setExitCode(deriveCommand(file, options)));

  withModel(program.command("eval").description("evaluate f, its gradient, jvp, hvp, f_lin and f_quad at a point (JSON in, JSON out)"))
    .requiredOption("--point <file.json>", "the point: {set, params, fixed, inputs, direction, cotangent}")
    .option("--seed <n>", "seed for the params and fixed tensors the point leaves out", parseInteger("--seed", 0), 0)
    .option("--backend <name>", "interpreter (the reference) or compiled", "interpreter")
    .action(async (file: string, options: ModelOptions & { point: string; seed: number; backend: string }) => setExitCode(await evalCommand(file, options)));

  withModel(program.command("compile").description("write the model's kernels as a standalone TypeScript and JavaScript module"))
    .requiredOption("-o, --out <dir>", "output folder")
    .option("--batch <n>", "the largest number of examples per call", parseInteger("--batch", 1), 256)
    .action(async (file: string, options: ModelOptions & { out: string; batch: number }) => setExitCode(await compileCommand(file, options)));

  withModel(program.command("verify").description("check the model's derivatives and kernels with property-based tests"))
    .option("--seed <n>", "fast-check seed (a failure is reproduced by the same seed)", parseInteger("--seed", 0), 1)
    .option("--runs <n>", "cases per property", parseInteger("--runs", 1), 50)
    .option("--json", "print the outcomes as JSON")
    .action(async (file: string, options: ModelOptions & { seed: number; runs: number; json?: boolean }) => setExitCode(await verifyCommand(file, options)));

  return program;
}

/** Runs the CLI on `argv` (without the node and script entries); returns the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  output.json = argv.includes("--json");
  const program = buildProgram((code) => {
    exitCode = code;
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof NqmError) {
      if (output.json) process.stdout.write(JSON.stringify({ ok: false, diagnostics: diagnosticsJson(error.diagnostics) }, null, 2) + "\n");
      else report(error.diagnostics);
      return 1;
    }
    throw error;
  }
}

process.exitCode = await run(process.argv.slice(2));
