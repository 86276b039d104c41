/** The `nqm` command line: thin; parses flags, calls the stages, prints. */
import { Command, CommanderError, Help, Option } from "commander";
import { NqmError } from "../foundation/diagnostics.ts";
import { versionLabel } from "../compiler/version.ts";
import { DERIVE_VIEWS } from "../compiler/diff/view-names.ts";
import { SCHEDULE_KINDS } from "../runtime/schedule.ts";
import type { SweepOptions, TrainingOptions } from "./commands/train.ts";
import type { WorkerOptions } from "./commands/worker.ts";
import { diagnosticsJson, output, report, type KernelOptions, type ModelOptions } from "./io.ts";

// Command modules load on use, so `nqm check` does not pay for ts-morph, esbuild or vega.
const frontend = () => import("./commands/frontend.ts");
const derive = () => import("./commands/derive.ts");
const compile = () => import("./commands/compile.ts");
const training = () => import("./commands/train.ts");
const worker = () => import("./commands/worker.ts");

/** Far beyond any experiment (days of steps); records stay bounded, and the step count stays exact. */
const MAX_STEPS = 1e9;
const DATA_HELP = `Data sets (--data), each with key=value options after a colon (docs/training.md lists them all):
  gauss1d, single, mnist          built in, e.g. gauss1d:n=128,test=2000 or mnist:classes=0+1,n=128
  csv:PATH                        a header row, then one example per row, e.g. csv:train.csv,label=y,test=0.2
  npy:X.npy,Y.npy[,TX.npy,TY.npy] NumPy arrays (float32/64, uint8, int8/16/32/64, C order)
  npz:FILE.npz                    arrays x_train, y_train[, x_test, y_test] (np.savez, np.savez_compressed)
  idx:IMAGES,LABELS[,TEST_IMAGES,TEST_LABELS]  MNIST/Fashion-MNIST IDX files, gzipped or not
  cifar:DIR                       CIFAR-10 binary batches (data_batch_1..5.bin, test_batch.bin)
The file kinds take classes=0+2 (or all), n=, test=, scale=, center=, normalize=; integer labels are
classes (two: -1/+1, more: one-hot), float labels targets. E.g. cifar:data/cifar-10-batches-bin,classes=0+2,n=128`;
import { collectSet, collectSetValues, deprecated, parseChoice, parseFloatOption, parseInteger } from "./options.ts";

const BACKEND_HELP =
  "kernels: js (portable loops), wasm (WebAssembly SIMD products and elementwise loops on threads) or auto, the fastest here";

/** --backend, --dtype and (where kernels run here) --threads. */
function withKernels(command: Command, options: { dtype?: boolean; threads?: boolean } = {}): Command {
  command.option("--backend <name>", BACKEND_HELP, parseChoice("--backend", ["auto", "js", "wasm"] as const), "auto");
  if (options.dtype !== false)
    command.option(
      "--dtype <type>",
      "the kernels' arithmetic: f64, or f32 (float32 products and loops; training state stays f64)",
      parseChoice("--dtype", ["f64", "f32"] as const),
      "f64",
    );
  if (options.threads !== false)
    command.option(
      "--threads <n>",
      "threads of the wasm kernels (default: the cores for one run, 1 per run in a sweep)",
      parseInteger("--threads", 1),
    );
  return command;
}

/** Help that marks the options a command cannot run without. */
function markRequired(): Partial<Help> {
  const plain = new Help();
  return {
    optionDescription: (option) => `${option.mandatory ? "(required) " : ""}${plain.optionDescription(option)}`,
  };
}

/** An old spelling of `replacement`: left out of --help, accepted with a note on stderr. */
function deprecatedAlias(flags: string, replacement: string): Option {
  const option = new Option(flags).hideHelp();
  return option.argParser(deprecated(option.long ?? flags, replacement));
}

/** Where a user who got an option wrong finds the right spelling. */
const helpHint = (command: string | undefined) => `(run \`nqm${command ? ` ${command}` : ""} --help\` for usage)`;

/** The codes of errors in what the user typed on the command line (not in a file or the data). */
const COMMAND_LINE_CODES: ReadonlySet<string> = new Set(["NQM3001", "NQM3002", "NQM3003", "NQM3005", "NQM3007"]);

/** Builds the command tree; each action returns the process exit code. */
function buildProgram(setExitCode: (code: number) => void): Command {
  const program = new Command("nqm")
    .description("Compile neural-network model files to derivatives and fast kernels for f, f_lin and f_quad")
    .version(versionLabel())
    .showHelpAfterError("(run `nqm --help` for usage)")
    .configureHelp(markRequired())
    .exitOverride();

  const withModel = (command: Command, sweep = false) =>
    (sweep
      ? command
          .argument("<file>", "model file (.nqm)")
          .option(
            "--set <name=value>",
            "set a dim or const (repeatable, or comma-separated); NAME=V1,V2,… sweeps those values as an axis",
            collectSetValues,
          )
      : command
          .argument("<file>", "model file (.nqm)")
          .option("--set <name=value>", "set a dim or const (repeatable, or comma-separated)", collectSet)
    )
      .option("--block <name>", "the model block to use when the file holds several")
      .addOption(deprecatedAlias("--model-name <name>", "--block"))
      .hook("preAction", (command) => {
        const { modelName } = command.opts<{ modelName?: string }>();
        if (modelName !== undefined && command.getOptionValue("block") === undefined)
          command.setOptionValue("block", modelName);
      });

  program
    .command("check")
    .description("parse and check a model file; print each model's tensors, shapes and parameter count")
    .argument("<file>", "model file (.nqm)")
    .option("--set <name=value>", "set a dim or const (repeatable, or comma-separated)", collectSet)
    .option("--json", "print the result and diagnostics as JSON")
    .action(async (file: string, options: { set?: Record<string, number>; json?: boolean }) =>
      setExitCode((await frontend()).checkCommand(file, options)),
    );

  program
    .command("fmt")
    .description("print the canonical formatting of a model file, or rewrite (--write) or check (--check) files")
    .argument("<file>", "model file (.nqm)")
    .argument("[more...]", "more model files (with --write or --check)")
    .option("--write", "rewrite each file that is not in canonical form")
    .option("--check", "change nothing; exit 1 and name each file that is not in canonical form")
    .action(async (file: string, more: string[], options: { write?: boolean; check?: boolean }) =>
      setExitCode((await frontend()).fmtCommand([file, ...more], options)),
    );

  withModel(program.command("derive").description("print the simplified symbolic derivatives of a model"))
    .option("--what <views>", `which expressions: ${DERIVE_VIEWS.join(", ")}, or a comma list`, "all")
    .action(async (file: string, options: ModelOptions & { what: string }) =>
      setExitCode((await derive()).deriveCommand(file, options)),
    );

  withModel(
    program
      .command("eval")
      .description("evaluate f, its gradient, jvp, hvp, f_lin and f_quad at a point (JSON in, JSON out)"),
  )
    .requiredOption("--point <file.json>", "the point: {set, params, fixed, inputs, direction, cotangent}")
    .option("--seed <n>", "seed for the params and fixed tensors the point leaves out", parseInteger("--seed", 0), 0)
    .option(
      "--backend <name>",
      "interpreter (the reference), or compiled kernels: js, wasm, or auto (the fastest here)",
      parseChoice("--backend", ["interpreter", "auto", "js", "wasm"] as const, {
        compiled: { value: "auto", note: "use --backend auto (or js, wasm)" },
      }),
      "interpreter",
    )
    .option(
      "--dtype <type>",
      "the compiled kernels' arithmetic: f64 or f32",
      parseChoice("--dtype", ["f64", "f32"] as const),
      "f64",
    )
    .action(
      async (file: string, options: ModelOptions & KernelOptions & { point: string; seed: number; backend: string }) =>
        setExitCode(await (await derive()).evalCommand(file, options)),
    );

  withKernels(
    withModel(
      program
        .command("compile")
        .description("write the model's kernels as a standalone TypeScript and JavaScript module"),
    ),
    { threads: false },
  )
    .requiredOption("-o, --out <dir>", "output folder")
    .option("--batch <n>", "the largest number of examples per call", parseInteger("--batch", 1), 256)
    .action(async (file: string, options: ModelOptions & KernelOptions & { out: string; batch: number }) =>
      setExitCode(await (await compile()).compileCommand(file, options)),
    );

  withKernels(
    withModel(
      program.command("verify").description("check the model's derivatives and kernels with property-based tests"),
    ),
    // Verification compares in float64, whatever the kernels of a run use.
    { dtype: false },
  )
    .option("--seed <n>", "fast-check seed (a failure is reproduced by the same seed)", parseInteger("--seed", 0), 1)
    .option(
      "--runs <n>",
      "cases per property (default 50, fewer above 2^17 params; see docs/verify.md)",
      parseInteger("--runs", 1),
    )
    .option("--json", "print one record per property as JSON")
    .action(
      async (file: string, options: ModelOptions & KernelOptions & { seed: number; runs?: number; json?: boolean }) =>
        setExitCode(await (await compile()).verifyCommand(file, options)),
    );

  const withTraining = (command: Command, sweep = false) =>
    withKernels(withModel(command, sweep))
      .requiredOption(
        "--data <spec>",
        "the data set: gauss1d, single, mnist, csv:PATH, npy:X,Y, npz:FILE, idx:IMAGES,LABELS, cifar:DIR (see --help)",
      )
      .option("--data-seed <n>", "seed of the data draw", parseInteger("--data-seed", 0), 0)
      .option("--steps <n>", "gradient steps per run (at most 1e9)", parseInteger("--steps", 1, MAX_STEPS), 500)
      .option("--loss <kind>", "sum: ½Σ(f−y)² as in the paper; mean: divided by n (η thresholds scale by n)", "sum")
      .option(
        "--eval-every <k>",
        "measure test loss, λ_max and ‖w−w0‖ every k steps (default max(10, steps/50))",
        parseInteger("--eval-every", 1),
      )
      .option(
        "--eval-schedule <kind>",
        "dense-early: also every step up to 10, then ~10 per decade up to 4k (a catapult's fall); uniform: every k only",
        parseChoice("--eval-schedule", SCHEDULE_KINDS),
        "dense-early",
      )
      .option("--eigs <k>", "track the top k eigenvalues of the tangent kernel (0: none)", parseInteger("--eigs", 0), 1)
      .option("--batch <b>", "mini-batch size for SGD (default: full batch)", parseInteger("--batch", 1))
      .option(
        "--lin <how>",
        "f_lin: exact (closed form from the eigendecomposition of K(w0), where it applies) or stepped",
        "exact",
      )
      .option(
        "--directions <k>",
        "record the loss along the top k eigenvectors of K(w0) and along the rest (0: none)",
        parseInteger("--directions", 0),
        0,
      )
      .option(
        "--cap <factor>",
        "a loss above factor × the initial loss counts as divergence",
        parseFloatOption("--cap"),
        1e10,
      )
      .addHelpText("after", `\n${DATA_HELP}`);

  withTraining(
    program.command("train").description("train f, f_lin and/or f_quad by gradient descent and print what happened"),
  )
    .requiredOption("--lr <rate>", "learning rate: absolute (0.05) or a multiple of η_crit (2.5x)")
    .option("--model <kinds>", "f, lin, quad, a comma list, or all", "all")
    .option("--seed <n>", "initialization seed", parseInteger("--seed", 0), 0)
    .option("--json", "print the run records as JSON")
    .action(
      async (file: string, options: TrainingOptions & { lr: string; model: string; seed: number; json?: boolean }) =>
        setExitCode(await (await training()).trainCommand(file, options)),
    );

  const sweep = withTraining(
    program
      .command("sweep")
      .description(
        "sweep learning rates across f, f_lin and f_quad in parallel; write runs, summary, plots and report",
      ),
    true,
  )
    .option("--lrs <range>", "η/η_crit values: START:STOP:STEP or a comma list", "0.5x:4.5x:0.25x")
    .option("--model <kinds>", "f, lin, quad, a comma list, or all", "all")
    .addOption(deprecatedAlias("--models <kinds>", "--model"))
    .option("--seeds <n>", "initialization seeds: a count n (seeds 0..n-1) or a comma list such as 0,3,7", "1")
    .option("--out <dir>", "the sweep's folder (default: a folder named from the sweep under --out-root)")
    .option("--out-root <dir>", "where sweeps get their own folders when --out is not given", "nqm-out")
    .option("--workers <n>", "worker threads (default: the number of cores)", parseInteger("--workers", 1))
    .option("--no-report", "skip the plots and report.md")
    .option(
      "--queue <url>",
      "coordinate the sweep on Redis (redis://HOST:PORT[/DB]); `nqm worker` processes on any machine run it (docs/distributed.md)",
    )
    .option(
      "--attempts <n>",
      "with --queue: tries per run before it is reported as failed",
      parseInteger("--attempts", 1, 100),
      3,
    )
    .option("--shard <i/n>", "run only the i-th of n slices of the sweep (merge the folders with `nqm sweep merge`)")
    .action(async (file: string, options: SweepOptions) =>
      setExitCode(await (await training()).sweepCommand(file, options)),
    );
  // `--data` is required of a sweep, not of its merge: commander checks a parent's required options too.
  // And `nqm sweep merge … --out DIR` is the merge's --out, not the sweep's (commander needs the
  // whole chain positional for that; nqm's own options, --version and --help, come first anyway).
  program.enablePositionalOptions();
  sweep.enablePositionalOptions();
  sweep.hook("preSubcommand", (command) => {
    if (command.getOptionValue("data") === undefined) command.setOptionValue("data", "");
  });
  sweep
    .command("merge")
    .description("merge the folders of a sharded sweep (--shard) into one sweep folder, with its summary and report")
    .argument("<dirs...>", "the shards' output folders")
    .option("--out <dir>", "the merged sweep's folder", "nqm-out")
    .option("--no-report", "skip the plots and report.md")
    .action(async (dirs: string[], options: { out: string; report: boolean }) =>
      setExitCode(await (await training()).mergeCommand(dirs, options)),
    );

  program
    .command("worker")
    .description("train the runs of sweeps queued on Redis (`nqm sweep … --queue URL`), until stopped")
    .requiredOption("--queue <url>", "the Redis of the queue: redis://HOST:PORT[/DB]")
    .option("--concurrency <n>", "runs trained at once (one thread each)", parseInteger("--concurrency", 1, 256), 1)
    .option(
      "--stall-interval <s>",
      "seconds after which a run whose worker died (or froze) goes to another worker",
      parseInteger("--stall-interval", 1, 86_400),
      30,
    )
    .option("--exit-when-idle <s>", "stop after this many seconds without a run", parseInteger("--exit-when-idle", 1))
    .action(async (options: WorkerOptions) => setExitCode(await (await worker()).workerCommand(options)));

  program
    .command("demo")
    .description(
      "the three regimes on the paper's two-layer ReLU net and 1-D data: sweep, plots and report in a folder under ./nqm-out",
    )
    .option("--out <dir>", "the demo's folder (default: a folder named from the sweep under --out-root)")
    .option("--out-root <dir>", "where sweeps get their own folders when --out is not given", "nqm-out")
    .option("--workers <n>", "worker threads (default: the number of cores)", parseInteger("--workers", 1))
    .action(async (options: { out?: string; outRoot: string; workers?: number }) =>
      setExitCode(await (await training()).demoCommand(options)),
    );

  // A usage error names the subcommand's own help.
  for (const command of program.commands) command.showHelpAfterError(helpHint(command.name()));
  return program;
}

/** Runs the CLI on `argv` (without the node and script entries); returns the exit code. */
export async function run(argv: readonly string[]): Promise<number> {
  let exitCode = 0;
  output.json = argv.includes("--json");
  const program = buildProgram((code) => {
    exitCode = code;
  });
  let subcommand: string | undefined;
  program.hook("preSubcommand", (_program, command) => {
    subcommand = command.name();
  });
  try {
    await program.parseAsync([...argv], { from: "user" });
    return exitCode;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode === 0 ? 0 : 2;
    if (error instanceof NqmError) {
      if (output.json)
        process.stdout.write(
          `${JSON.stringify({ ok: false, diagnostics: diagnosticsJson(error.diagnostics) }, null, 2)}\n`,
        );
      else {
        report(error.diagnostics);
        if (error.diagnostics.some((d) => COMMAND_LINE_CODES.has(d.code)))
          process.stderr.write(`${helpHint(subcommand)}\n`);
      }
      return 1;
    }
    throw error;
  }
}
