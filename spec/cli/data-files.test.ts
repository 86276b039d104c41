/**
 * `nqm train` on data files, as a user runs it: the bundled CLI as a subprocess, on NumPy files
 * the test writes under the OS temp folder. A good file trains and exits 0; a truncated one exits
 * 1 with its located message and no stack trace, before anything is trained.
 */
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildCli } from "../../scripts/build.mjs";
import { runNode, type CliRun } from "../support/cli.ts";
import { npy, put, tempFolder } from "../support/data-files.ts";
import { scratchFolder } from "../support/scratch.ts";

const ROOT = join(import.meta.dirname, "../..");
const SCRATCH = scratchFolder("spec-cli-data");
const CLI = join(SCRATCH, "nqm.js");
const DIR = tempFolder("cli-data");

before(async () => {
  await buildCli(SCRATCH);
});
after(() => rmSync(SCRATCH, { recursive: true, force: true }));

function nqm(...args: string[]): Promise<CliRun> {
  return runNode([CLI, ...args], {
    cwd: DIR,
    timeout: 180_000,
    env: { ...process.env, NQM_CACHE: join(DIR, "cache") },
  });
}

function assertNoStackTrace(run: CliRun): void {
  for (const stream of [run.stdout, run.stderr]) {
    assert.doesNotMatch(stream, /^\s+at /m, `a stack trace:\n${stream}`);
    assert.doesNotMatch(stream, /\w+Error\b(?!.*NQM)/, `an exception name:\n${stream}`);
  }
}

// Eight examples of three features, two classes.
const X = npy(
  "<f8",
  [8, 3],
  Array.from({ length: 24 }, (_, i) => Math.sin(i + 1)),
);
const Y = npy("<i8", [8], [0, 1, 0, 1, 1, 0, 1, 0]);
put(DIR, "x.npy", X);
put(DIR, "y.npy", Y);
put(DIR, "x-cut.npy", X.subarray(0, X.length - 20));

const MODEL = join(ROOT, "examples/two_layer_relu.nqm");
const RUN = ["--set", "m=64", "--steps", "20", "--lr", "0.5x", "--model", "f"];

test("nqm train on an npy data set trains and exits 0", async () => {
  const run = await nqm("train", MODEL, "--data", "npy:x.npy,y.npy", ...RUN);
  assert.equal(run.code, 0, run.stderr);
  assertNoStackTrace(run);
  assert.match(run.stderr, /d = 3 from the data/);
  assert.match(run.stdout, /on npy:x\.npy,y\.npy,classes=0\+1,n=8,test=0,.* \(n = 8\)/);
});

test("nqm train on a truncated npy file exits 1 with the located message, no stack trace", async () => {
  const run = await nqm("train", MODEL, "--data", "npy:x-cut.npy,y.npy", ...RUN);
  assert.equal(run.code, 1, run.stdout);
  assertNoStackTrace(run);
  assert.match(
    run.stderr,
    /error NQM4009: malformed data file x-cut\.npy: byte 128: header says shape \(8, 3\) of float64 \(192 bytes\), the file holds 172 bytes/,
  );
  assert.doesNotMatch(run.stdout, /η_crit/);
});
