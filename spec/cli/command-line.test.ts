/**
 * One command line (issue 13): the same spelling for the same idea in every command, old
 * spellings kept with a note, comma lists, required options marked, errors that name the
 * subcommand's help, one folder per sweep, scalar inputs fed from one-column data, and a closed
 * pipe that ends a command quietly. Each as a user meets it: the bundled CLI as a subprocess.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertNoStackTrace, bundledCli, runNode, type CliRun } from "../support/cli.ts";

const ROOT = join(import.meta.dirname, "../..");
const { cli: CLI, work: WORK, built } = bundledCli("cli-command-line");
const CACHE = join(WORK, "cache");
const UV = join(ROOT, "examples/uv.nqm");

before(built);

/** Runs `nqm ...args` in `cwd` (default: the work folder) with a private kernel cache. */
function nqm(args: readonly string[], cwd = WORK): Promise<CliRun> {
  return runNode([CLI, ...args], { cwd, timeout: 180_000, env: { ...process.env, NQM_CACHE: CACHE } });
}

/** A tiny sweep of the uv model: two rates, a few steps, no report. */
const tinySweep = (...extra: string[]) => [
  "sweep",
  UV,
  "--data",
  "single:x=1,y=1",
  "--set",
  "m=50",
  "--steps",
  "3",
  "--workers",
  "1",
  "--no-report",
  ...extra,
];

const modelsOf = (runsFile: string) =>
  readFileSync(runsFile, "utf8")
    .trim()
    .split("\n")
    .map((line) => (JSON.parse(line) as { model: string }).model);

describe("one spelling for one idea", { concurrency: true }, () => {
  test("sweep takes --model like train; --models still works, with a deprecation note on stderr", async () => {
    const now = await nqm([...tinySweep("--lrs", "1x", "--model", "f,quad", "--out", join(WORK, "model"))]);
    assert.equal(now.code, 0, now.stderr);
    assert.doesNotMatch(now.stderr, /deprecated/);
    assert.deepEqual(modelsOf(join(WORK, "model", "runs.jsonl")), ["f", "quad"]);
    const old = await nqm([...tinySweep("--lrs", "1x", "--models", "lin", "--out", join(WORK, "models"))]);
    assert.equal(old.code, 0, old.stderr);
    assert.match(old.stderr, /--models is deprecated: use --model/);
    assert.deepEqual(modelsOf(join(WORK, "models", "runs.jsonl")), ["lin"]);
  });

  test("--block chooses the model block; --model-name still works, with a deprecation note", async () => {
    const two = join(WORK, "two.nqm");
    writeFileSync(
      two,
      "model a {\n  input x: [2]\n  param w: [2]\n  output dot(w, x)\n}\nmodel b {\n  input x: [3]\n  param w: [3]\n  output dot(w, x)\n}\n",
    );
    const block = await nqm(["derive", two, "--block", "b", "--what", "f"]);
    assert.equal(block.code, 0, block.stderr);
    assert.match(block.stdout, /# model b:/);
    const old = await nqm(["derive", two, "--model-name", "a", "--what", "f"]);
    assert.equal(old.code, 0, old.stderr);
    assert.match(old.stdout, /# model a:/);
    assert.match(old.stderr, /--model-name is deprecated: use --block/);
    const neither = await nqm(["derive", two]);
    assert.equal(neither.code, 1);
    assert.match(neither.stderr, /NQM3005.*choose one with --block/);
  });

  test("derive --what takes a comma list: the sections in the order given", async () => {
    const run = await nqm(["derive", UV, "--what", "hvp,grad"]);
    assert.equal(run.code, 0, run.stderr);
    const titles = run.stdout.split("\n").filter((line) => line.startsWith("# ") && !line.startsWith("# model"));
    assert.equal(titles.length, 2, run.stdout);
    assert.match(titles[0] ?? "", /H_f/);
    assert.match(titles[1] ?? "", /∇_w f/);
    assert.match(run.stdout, /^hvp\[u\] = /m);
    assert.match(run.stdout, /^grad\[v\] = /m);
  });

  test("--help marks required options and lists the new spellings, not the old ones", async () => {
    const train = await nqm(["train", "--help"]);
    assert.equal(train.code, 0, train.stderr);
    assert.match(train.stdout, /--data <spec>\s+\(required\)/);
    assert.match(train.stdout, /--lr <rate>\s+\(required\)/);
    assert.doesNotMatch(train.stdout, /--steps <n>\s+\(required\)/);
    assert.match(train.stdout, /--block <name>/);
    assert.doesNotMatch(train.stdout, /--model-name/);
    const sweep = await nqm(["sweep", "--help"]);
    assert.match(sweep.stdout, /--model <kinds>/);
    assert.doesNotMatch(sweep.stdout, /--models/);
    const compile = await nqm(["compile", "--help"]);
    assert.match(compile.stdout, /-o, --out <dir>\s+\(required\)/);
  });

  test("errors point at the subcommand's help", async () => {
    const unknown = await nqm(["train", UV, "--data", "single", "--lr", "1x", "--bogus"]);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown option '--bogus'/);
    assert.ok(unknown.stderr.includes("(run `nqm train --help` for usage)"), unknown.stderr);
    const missing = await nqm(["sweep", UV]);
    assert.equal(missing.code, 2);
    assert.ok(missing.stderr.includes("(run `nqm sweep --help` for usage)"), missing.stderr);
    const invalid = await nqm(["derive", UV, "--what", "grad,gard"]);
    assert.equal(invalid.code, 1);
    assertNoStackTrace(invalid);
    assert.match(invalid.stderr, /NQM3007.*--what.*`gard`/);
    assert.ok(invalid.stderr.includes("(run `nqm derive --help` for usage)"), invalid.stderr);
    // An error in the model file is not a usage error: no hint.
    const bad = join(WORK, "bad.nqm");
    writeFileSync(bad, "model bad {\n  output y\n}\n");
    const file = await nqm(["check", bad]);
    assert.equal(file.code, 1);
    assert.doesNotMatch(file.stderr, /--help/);
  });
});

describe("sweep folders", () => {
  test("without --out, each sweep gets its own folder under nqm-out, named from the sweep; a rerun resumes it", async () => {
    const cwd = join(WORK, "folders");
    mkdirSync(cwd);
    const first = await nqm(tinySweep("--lrs", "1x"), cwd);
    assert.equal(first.code, 0, first.stderr);
    // A different sweep (as `nqm demo` then `nqm sweep` were): no NQM4007, a folder of its own.
    const second = await nqm(tinySweep("--lrs", "1x,2x"), cwd);
    assert.equal(second.code, 0, second.stderr);
    const folders = readdirSync(join(cwd, "nqm-out")).sort();
    assert.equal(folders.length, 2, folders.join(", "));
    for (const folder of folders) {
      assert.match(folder, /^uv-[0-9a-f]{16}$/);
      const recorded = JSON.parse(readFileSync(join(cwd, "nqm-out", folder, "sweep.json"), "utf8")) as { hash: string };
      assert.equal(folder, `uv-${recorded.hash}`);
    }
    assert.ok(first.stderr.includes("sweep folder nqm-out/uv-"), first.stderr);
    const again = await nqm(tinySweep("--lrs", "1x"), cwd);
    assert.equal(again.code, 0, again.stderr);
    assert.equal(readdirSync(join(cwd, "nqm-out")).length, 2, "the rerun resumed its own folder");
    // --out-root moves the root; an explicit --out is the folder itself.
    const rooted = await nqm(tinySweep("--lrs", "1x", "--out-root", "elsewhere"), cwd);
    assert.equal(rooted.code, 0, rooted.stderr);
    assert.equal(readdirSync(join(cwd, "elsewhere")).length, 1);
    const direct = await nqm(tinySweep("--lrs", "3x", "--out", "mine"), cwd);
    assert.equal(direct.code, 0, direct.stderr);
    assert.ok(existsSync(join(cwd, "mine", "runs.jsonl")));
    assert.ok(existsSync(join(cwd, "mine", "sweep.json")));
  });
});

test("a scalar input x: [] is fed from one-column data", async () => {
  const scalar = join(WORK, "scalar.nqm");
  writeFileSync(
    scalar,
    "model s {\n  dim m = 16\n  input x: []\n  param u: [m] ~ normal(0, 1)\n  param v: [m] ~ rademacher()\n  output dot(v, relu(u * x)) / sqrt(m)\n}\n",
  );
  const run = await nqm(["train", scalar, "--data", "gauss1d:n=8,test=16", "--lr", "0.5x", "--steps", "5", "--json"]);
  assert.equal(run.code, 0, run.stderr);
  const result = JSON.parse(run.stdout) as { runs: { model: string; trainLoss: number[] }[] };
  assert.equal(result.runs.length, 3);
  for (const r of result.runs) assert.ok(r.trainLoss.every(Number.isFinite), r.model);
  // A two-column data set still does not fit a scalar input.
  const csv = join(WORK, "two.csv");
  writeFileSync(csv, "a,b,y\n1,2,3\n4,5,6\n");
  const wide = await nqm(["train", scalar, "--data", `csv:${csv},label=y`, "--lr", "0.5x", "--steps", "2"]);
  assert.equal(wide.code, 1);
  assert.match(wide.stderr, /NQM4004/);
});

/** Runs `nqm ...args` with its stdout read by a reader that has already gone (as `| head` leaves it). */
function intoClosedReader(args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      cwd: ROOT,
      env: { ...process.env, NQM_CACHE: CACHE },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout.destroy();
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    child.on("close", (code) => resolve({ code: code ?? -1, stdout: "", stderr }));
  });
}

describe("a closed pipe", { concurrency: true }, () => {
  test("nqm eval, derive, check and train into a reader that closed: exit 0, no EPIPE stack trace", async () => {
    const point = join(WORK, "point.json");
    writeFileSync(point, JSON.stringify({ set: { m: 4 }, inputs: { x: [[1]] } }));
    for (const args of [
      ["eval", "examples/uv.nqm", "--point", point],
      ["derive", "examples/uv.nqm"],
      ["check", "examples/uv.nqm"],
      ["train", "examples/uv.nqm", "--data", "single:x=1,y=1", "--set", "m=50", "--steps", "3", "--lr", "1x"],
    ]) {
      const run = await intoClosedReader(args);
      assert.equal(run.code, 0, `${args[0]}: ${run.stderr}`);
      assertNoStackTrace(run);
      assert.doesNotMatch(run.stderr, /EPIPE/);
    }
  });
});
