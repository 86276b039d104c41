/**
 * `nqm train` and `nqm demo` as a user runs them: subprocesses of the bundled CLI. The bundle
 * (the CLI and the sweep worker beside it, as scripts/build.mjs lays out dist/) is built into
 * a folder under the OS temp folder, not dist/, which other runs may be rebuilding at the same time.
 *
 * What the outputs must show comes from the theory (paper-notes.md): at η = 1.5·η_crit = 3/λ0 on
 * one example, f and f_quad catapult and f_lin diverges; in the demo's sweep, every model is lazy
 * below η_crit, f and f_quad catapult between η_crit and 2·η_crit (= 4/λ_max) and f_lin diverges
 * everywhere above η_crit.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertNoStackTrace, bundledCli, runNode, type CliRun } from "../support/cli.ts";
import type { RunRecord } from "../../runtime/run-record.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
const { cli: CLI, work: WORK, built } = bundledCli("cli-train");
const CACHE = join(WORK, "cache");

type Run = CliRun;

/** Runs `nqm ...args` from the repository root with a private kernel cache. */
function nqm(...args: string[]): Promise<Run> {
  return runNode([CLI, ...args], { cwd: ROOT, timeout: 180_000, env: { ...process.env, NQM_CACHE: CACHE } });
}

const DEMO_OUT = join(WORK, "demo");
let demo: Promise<Run>;

before(async () => {
  await built();
  // The demo is the long one: it runs in the background while the other tests run.
  // A hang guard, not a benchmark: the demo takes under a minute on 2 idle cores, several on a loaded machine.
  demo = runNode([CLI, "demo", "--out", DEMO_OUT], {
    cwd: ROOT,
    timeout: 900_000,
    env: { ...process.env, NQM_CACHE: CACHE },
  });
});

const UV = ["examples/uv.nqm", "--data", "single:x=1,y=1", "--set", "m=1000", "--steps", "200"];

// Subprocesses overlap: each spends most of its time loading modules.
describe("nqm train", { concurrency: true }, () => {
  test("prints λ_max, η_crit and one line per model with its phase; exits 0", async () => {
    const run = await nqm("train", ...UV, "--lr", "1.5x");
    assert.equal(run.code, 0, run.stderr);
    assertNoStackTrace(run);
    assert.match(run.stderr, /d = 1 from the data/);
    const header =
      /λ_max\(K\(w0\)\) = ([\d.e+-]+)\s+η_crit = 2\/λ_max = ([\d.e+-]+)\s+η = ([\d.e+-]+) = 1\.5·η_crit/.exec(
        run.stdout,
      );
    assert.ok(header, run.stdout);
    const [lambda0, etaCrit, lr] = header.slice(1).map(Number) as [number, number, number];
    // Printed to 6 significant digits.
    assert.ok(Math.abs(etaCrit - 2 / lambda0) <= 1e-5 * etaCrit, `η_crit ${etaCrit} vs 2/${lambda0}`);
    assert.ok(Math.abs(lr - 1.5 * etaCrit) <= 1e-5 * lr);
    assert.match(run.stdout, /^model uv on single:x=1,y=1 \(n = 1\), seed 0, sum loss$/m);
    // η = 3/λ0: f and f_quad catapult, f_lin diverges (and says where).
    assert.match(
      run.stdout,
      /^f {7}catapult .*loss [\d.e+-]+ → peak [\d.e+-]+ → [\d.e+-]+ {3}λ_max [\d.e+-]+ → [\d.e+-]+/m,
    );
    assert.match(run.stdout, /^f_lin {3}divergent .*diverged at step \d+/m);
    assert.match(run.stdout, /^f_quad {2}catapult /m);
  });

  test("--eval-schedule uniform measures every --eval-every steps only", async () => {
    const run = await nqm(
      "train",
      ...UV,
      "--lr",
      "0.5",
      "--model",
      "f",
      "--json",
      "--eval-every",
      "20",
      "--eval-schedule",
      "uniform",
    );
    assert.equal(run.code, 0, run.stderr);
    const [record] = (JSON.parse(run.stdout) as { runs: RunRecord[] }).runs;
    assert.deepEqual(present(record).evalSteps, [0, 20, 40, 60, 80, 100, 120, 140, 160, 180, 200]);
    const refused = await nqm("train", ...UV, "--lr", "0.5", "--eval-schedule", "sparse");
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /NQM3007.*--eval-schedule.*dense-early, uniform/);
    assertNoStackTrace(refused);
  });

  test("--json with an absolute --lr: the session's λ0 and η_crit, and one full record per model", async () => {
    const run = await nqm("train", ...UV, "--lr", "0.5", "--json", "--eval-every", "20");
    assert.equal(run.code, 0, run.stderr);
    const result = JSON.parse(run.stdout) as {
      model: string;
      data: string;
      lambda0: number;
      etaCrit: number;
      lr: number;
      runs: RunRecord[];
    };
    assert.equal(result.model, "uv");
    assert.equal(result.data, "single:x=1,y=1");
    assert.equal(result.lr, 0.5);
    assert.equal(result.etaCrit, 2 / result.lambda0);
    // λ0 ≈ 2 at m = 1000 (E λ0 = (E u² + E v²)·x² = 2), so η = 0.5 is about η_crit/2: every model is lazy.
    assert.ok(result.lr < result.etaCrit);
    assert.deepEqual(
      result.runs.map((r) => r.model),
      ["f", "lin", "quad"],
    );
    for (const r of result.runs) {
      assert.equal(r.phase, "lazy", r.model);
      assert.equal(r.lr, 0.5);
      assert.equal(r.lrMultiple, 0.5 / result.etaCrit);
      assert.equal(r.steps, 200);
      assert.equal(r.trainLoss.length, 201);
      // Every 20th step, and by default the early steps: 1–10, then ×1.25 while below 4·20.
      assert.deepEqual(
        r.evalSteps,
        [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 20, 24, 31, 38, 40, 48, 60, 75, 80, 100, 120, 140, 160, 180, 200],
      );
      // Measured again at step 0 (f_lin keeps λ0 itself): equal to the tracking tolerance, 1e-6.
      const first = present(r.lambdaMax[0]);
      assert.ok(Math.abs(first - result.lambda0) <= 1e-6 * result.lambda0, `${r.model}: ${first} vs ${result.lambda0}`);
    }
  });

  test("--model lin runs in closed form by default and says so; --lin stepped and mini-batches take steps, to the same losses", async () => {
    const args = [...UV, "--model", "lin", "--lr", "0.8x", "--json", "--eval-every", "20", "--directions", "1"];
    const [exact, stepped, sgd, text] = await Promise.all([
      nqm("train", ...args),
      nqm("train", ...args, "--lin", "stepped"),
      nqm("train", ...args, "--batch", "1", "--data", "gauss1d:n=4,test=0"),
      nqm("train", ...UV, "--model", "lin", "--lr", "0.8x"),
    ]);
    for (const run of [exact, stepped, sgd, text]) assert.equal(run.code, 0, run.stderr);
    const record = (run: Run) => nth((JSON.parse(run.stdout) as { runs: RunRecord[] }).runs, 0);
    const [a, b] = [record(exact), record(stepped)];
    assert.equal(a.dynamics, "exact");
    assert.equal(b.dynamics, "stepped");
    // The loss falls by about (1 − 1.6)² = 0.36 per step on both sides; compared while it is far
    // above the rounding of f − y (by step 20 it is 1e-9 of L0; by step 50, 1e-22).
    for (const t of [0, 5, 10, 20]) {
      const [x, y] = [nth(a.trainLoss, t), nth(b.trainLoss, t)];
      assert.ok(Math.abs(x - y) <= 1e-9 * y, `step ${t}: ${x} vs ${y}`);
    }
    assert.deepEqual(
      present(a.directions).map((d) => d.length),
      a.evalSteps.map(() => 2),
    );
    assert.equal(record(sgd).dynamics, "stepped");
    assert.match(sgd.stderr, /f_lin is trained by gradient steps: mini-batch SGD has no closed form/);
    assert.doesNotMatch(exact.stderr, /gradient steps/);
    assert.match(text.stdout, /^f_lin {3}lazy .*\(closed form\)$/m);
  });

  const BAD: [string, string[], string, RegExp][] = [
    ["--lr abc", ["--lr", "abc"], "NQM3007", /--lr.*`abc`/],
    ["--lr 1e999x", ["--lr", "1e999x"], "NQM3007", /--lr.*`1e999x` is too large/],
    ["--lr 5e-324x", ["--lr", "5e-324x"], "NQM3007", /--lr.*`5e-324x` is zero/],
    ["--lr 1e999", ["--lr", "1e999"], "NQM3007", /--lr.*`1e999`/],
    [
      "--steps 1e300",
      ["--lr", "1x", "--steps", "1e300"],
      "NQM3007",
      /--steps: expected an integer from 1 to 1000000000/,
    ],
    ["--model xyz", ["--lr", "1x", "--model", "xyz"], "NQM3007", /--model.*`xyz`/],
    ["--loss foo", ["--lr", "1x", "--loss", "foo"], "NQM3007", /--loss.*`foo`/],
    ["--lin foo", ["--lr", "1x", "--lin", "foo"], "NQM3007", /--lin.*expected exact or stepped, got `foo`/],
    ["--data nonsense", ["--lr", "1x", "--data", "nonsense"], "NQM4003", /unknown kind `nonsense`/],
    ["--data gauss1d:n=1e9", ["--lr", "1x", "--data", "gauss1d:n=1e9"], "NQM3010", /about 14\.9 GiB of memory/],
    ["--data single:y=1e300", ["--lr", "1x", "--data", "single:y=1e300"], "NQM4003", /`1e300` is beyond/],
  ];
  for (const [name, args, code, message] of BAD) {
    test(`${name}: exit 1, ${code}, no stack trace`, async () => {
      // Later flags win, so the bad value overrides the good one in UV.
      const run = await nqm("train", ...UV, ...args);
      assert.equal(run.code, 1, `${run.stdout}\n${run.stderr}`);
      assertNoStackTrace(run);
      assert.match(run.stderr, new RegExp(code));
      assert.match(run.stderr, message);
      assert.equal(run.stdout, "");
    });
  }

  test("errors with --json go to stdout as JSON", async () => {
    const run = await nqm("train", ...UV, "--lr", "1x", "--set", "d=3", "--json");
    assert.equal(run.code, 1);
    assertNoStackTrace(run);
    const result = JSON.parse(run.stdout) as { ok: boolean; diagnostics: { code: string; message: string }[] };
    assert.equal(result.ok, false);
    // d = 3 is set by the user, so it is not bound from the data: the shapes disagree.
    assert.equal(nth(result.diagnostics, 0).code, "NQM4004");
    assert.match(nth(result.diagnostics, 0).message, /shape \[1\].*shape \[3\]/);
  });
});

describe("nqm sweep: its folder", { concurrency: true }, () => {
  const SWEEP = [...UV, "--lrs", "0.75x,1.5x", "--model", "f,lin", "--workers", "1", "--no-report"];

  test("an --out that cannot be a folder: NQM3009 naming the path and the cause, before any data is loaded", async () => {
    const file = join(WORK, "a-file");
    writeFileSync(file, "");
    // The data spec is bad too: the folder must be refused first, before the data is looked at.
    const run = await nqm("sweep", ...SWEEP, "--data", "csv:missing.csv", "--out", join(file, "out"));
    assert.equal(run.code, 1, run.stderr);
    assertNoStackTrace(run);
    assert.match(run.stderr, /NQM3009/);
    assert.ok(run.stderr.includes(`cannot write ${join(file, "out")}`), run.stderr);
    assert.match(run.stderr, /is a file, not a folder \(ENOTDIR\)|a file is in the way \(EEXIST\)/);
    assert.doesNotMatch(run.stderr, /missing\.csv/);
  });

  test("an --out without write permission (itself or its parent): NQM3009 naming the path and EACCES, before any data is loaded", {
    // Root passes every permission check; the test needs a user that file modes apply to.
    skip:
      process.platform === "win32" || process.getuid?.() === 0 ? "POSIX permissions, as a user other than root" : false,
  }, async () => {
    const locked = join(WORK, "read-only");
    mkdirSync(locked);
    chmodSync(locked, 0o500);
    try {
      for (const out of [locked, join(locked, "out")]) {
        const run = await nqm("sweep", ...SWEEP, "--data", "csv:missing.csv", "--out", out);
        assert.equal(run.code, 1, run.stderr);
        assertNoStackTrace(run);
        assert.ok(run.stderr.includes(`cannot write ${out}: permission denied (EACCES)`), run.stderr);
        assert.doesNotMatch(run.stderr, /missing\.csv/);
      }
    } finally {
      chmodSync(locked, 0o700);
    }
  });

  test("a full disk while writing the report: NQM3009 naming the file and ENOSPC, no stack trace", async () => {
    const out = join(WORK, "full-disk");
    mkdirSync(out, { recursive: true });
    symlinkSync("/dev/full", join(out, "loss.svg"));
    const run = await nqm("sweep", ...SWEEP.filter((a) => a !== "--no-report"), "--out", out);
    assert.equal(run.code, 1, run.stderr);
    assertNoStackTrace(run);
    assert.ok(run.stderr.includes(`cannot write ${join(out, "loss.svg")}: no space left on the device (ENOSPC)`));
    // What was written before stays resumable: the rerun redoes nothing.
    const runs = readFileSync(join(out, "runs.jsonl"), "utf8");
    assert.equal(runs.trim().split("\n").length, 4);
    rmSync(join(out, "loss.svg"));
    const rerun = await nqm("sweep", ...SWEEP, "--out", out);
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(readFileSync(join(out, "runs.jsonl"), "utf8"), runs);
  });

  test("a sweep's memory limit is shared by its 1 + workers sessions", async () => {
    // uv at m = 1000 needs about 150 KiB of kernel buffers: within 200 kB for one session, not within a third of it.
    const env = { ...process.env, NQM_CACHE: CACHE, NQM_MEMORY_LIMIT: "200000" };
    // The JavaScript backend: the WebAssembly one adds its fixed GEMM scratch (MiBs) to every session.
    const train = await runNode([CLI, "train", ...UV, "--lr", "1x", "--steps", "5", "--backend", "js"], {
      cwd: ROOT,
      env,
    });
    assert.equal(train.code, 0, train.stderr);
    const out = join(WORK, "memory-share");
    const sweep = await runNode([CLI, "sweep", ...SWEEP, "--workers", "2", "--out", out, "--backend", "js"], {
      cwd: ROOT,
      env,
    });
    assert.equal(sweep.code, 1, sweep.stderr);
    assertNoStackTrace(sweep);
    // The estimate fits the whole limit (the lone run above passed) but not the third each of
    // the 1 + 2 sessions gets.
    const refused = /NQM3008: .*about ([\d.]+) KiB of memory, more than the limit of ([\d.]+) KiB/.exec(sweep.stderr);
    assert.ok(refused, sweep.stderr);
    const [estimate, share] = [Number(refused[1]) * 1024, Number(refused[2]) * 1024];
    assert.ok(Math.abs(share - 200000 / 3) <= 0.05 * 1024, `each session's share: ${share} bytes`);
    assert.ok(estimate > share && estimate <= 200000, `the estimate: ${estimate} bytes`);
  });

  test("two sweeps started in one folder: the second exits 1 naming the first and writes nothing", async () => {
    const out = join(WORK, "two-sweeps");
    // A first sweep long enough (10^6 steps per run) to hold the folder for the whole test; killed at the end.
    const first = spawn(process.execPath, [CLI, "sweep", ...SWEEP, "--steps", "1000000", "--out", out], {
      cwd: ROOT,
      env: { ...process.env, NQM_CACHE: CACHE },
      stdio: "ignore",
    });
    try {
      // runs.jsonl is created last when a sweep opens its folder, after taking the lock.
      for (let waited = 0; !existsSync(join(out, "runs.jsonl")); waited += 20) {
        assert.ok(waited < 60_000, "the first sweep never opened the folder");
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      const before = readFileSync(join(out, "runs.jsonl"), "utf8");
      const second = await nqm("sweep", ...SWEEP, "--steps", "1000000", "--out", out);
      assert.equal(first.exitCode, null, "the first sweep is still running");
      assert.equal(second.code, 1, second.stderr);
      assertNoStackTrace(second);
      assert.match(second.stderr, /NQM4008/);
      assert.ok(second.stderr.includes(`in use by another sweep (process ${first.pid} on `), second.stderr);
      assert.doesNotMatch(second.stderr, /from the data/, "refused before loading the data");
      assert.ok(readFileSync(join(out, "runs.jsonl"), "utf8").startsWith(before));
    } finally {
      first.kill("SIGKILL");
    }
  });
});

describe("nqm sweep --set NAME=V1,V2: a sweep axis", { concurrency: true }, () => {
  test("one sweep per value in OUT/NAME=VALUE, then the plots across the values and OUT/report.md", async () => {
    const out = join(WORK, "axis");
    rmSync(out, { recursive: true, force: true });
    const run = await nqm(
      "sweep",
      "examples/uv.nqm",
      "--data",
      "single:x=1,y=1",
      "--set",
      "m=100,400",
      "--lrs",
      "0.5x,1.5x",
      "--models",
      "f,quad",
      "--steps",
      "30",
      "--workers",
      "1",
      "--out",
      out,
    );
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assertNoStackTrace(run);
    for (const value of [100, 400]) assert.ok(existsSync(join(out, `m=${value}`, "runs.jsonl")), `m=${value}`);
    for (const name of ["m-largest-converged.svg", "m-kernel-change.svg", "m-final-loss.svg", "report.md"])
      assert.ok(existsSync(join(out, name)), name);
    // One example: lazy at 0.5x and a catapult at 1.5x = 3/λ0 for both models at both widths.
    assert.match(run.stdout, /^100 +1\.5 +1\.5$/m);
    assert.match(run.stdout, /^400 +1\.5 +1\.5$/m);
    assert.match(run.stdout, /kernel change of lazy f runs against m, fitted log–log slope: 0\.5x -?\d/);
    const runs = readFileSync(join(out, "m=400", "runs.jsonl"), "utf8")
      .trim()
      .split("\n");
    const f = JSON.parse(present(runs[0])) as RunRecord;
    assert.ok(present(f.kernelChange) > 0, "f records carry the kernel change");
  });

  test("two names with several values: NQM3007", async () => {
    const run = await nqm("sweep", "examples/uv.nqm", "--data", "single", "--set", "m=100,200", "--set", "d=1,2");
    assert.equal(run.code, 1);
    assertNoStackTrace(run);
    assert.match(run.stderr, /NQM3007.*m and d both have several values/);
  });
});

describe("nqm demo", () => {
  test("finishes, writes the report, plots, runs and summary, and shows the three regimes", async () => {
    const run = await demo;
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    assertNoStackTrace(run);
    // The elapsed time is printed (its value depends on the machine and is not checked).
    assert.match(run.stdout, /\(\d+ runs, \d+(\.\d+)? s\)/);
    for (const name of [
      "report.md",
      "runs.jsonl",
      "summary.csv",
      "loss.svg",
      "lambda-max.svg",
      "best-test-loss.svg",
      "phases.svg",
      "spectrum.svg",
    ]) {
      assert.ok(existsSync(join(DEMO_OUT, name)), `${name} is missing`);
    }
    for (const name of ["loss.svg", "lambda-max.svg", "best-test-loss.svg", "phases.svg"]) {
      assert.match(readFileSync(join(DEMO_OUT, name), "utf8"), /<svg[\s>]/, name);
    }
    const report = readFileSync(join(DEMO_OUT, "report.md"), "utf8");
    for (const figure of ["loss.svg", "lambda-max.svg", "best-test-loss.svg", "phases.svg", "spectrum.svg"])
      assert.ok(report.includes(`(${figure})`), `report links ${figure}`);
    // The thresholds the measured spectrum predicts: η_crit = 2/λ1 is 1× by definition.
    assert.match(report, /\| η_crit = 2\/λ1 \| [\d.e+-]+ \| 1 \|/);

    const runs = readFileSync(join(DEMO_OUT, "runs.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as RunRecord);
    const summary = readFileSync(join(DEMO_OUT, "summary.csv"), "utf8").trim().split("\n");
    assert.equal(summary.length, runs.length + 1);
    const multiples = [...new Set(runs.map((r) => r.lrMultiple))].sort((a, b) => a - b);
    assert.ok(
      multiples.some((m) => m < 1) && multiples.some((m) => m > 1 && m < 2),
      `the sweep covers both sides of η_crit: ${multiples}`,
    );
    for (const model of ["f", "lin", "quad"] as const) {
      assert.equal(runs.filter((r) => r.model === model).length, multiples.length, model);
    }
    // The demo's f_lin (64 examples, one output) is solved in closed form.
    for (const r of runs.filter((r) => r.model === "lin")) assert.equal(r.dynamics, "exact", r.id);
    for (const r of runs) {
      const where = `${r.id}: ${r.phase}`;
      if (r.lrMultiple < 1) assert.equal(r.phase, "lazy", where);
      if (r.model === "lin" && r.lrMultiple > 1) assert.equal(r.phase, "divergent", where);
      if (r.model !== "lin" && r.lrMultiple > 1 && r.lrMultiple < 2) {
        // Between 2/λ1 and 4/λ1 (with a margin ε = Θ(log m/√m) ≈ 0.2 at the demo's m = 2000).
        assert.equal(r.phase, "catapult", where);
        assert.ok(
          present(r.lambdaMax.at(-1)) < 2 / r.lr,
          `${r.id}: λ_max ends at ${r.lambdaMax.at(-1)}, not below 2/η = ${2 / r.lr}`,
        );
      }
      if (r.model === "quad" && r.lrMultiple > 2.2) assert.equal(r.phase, "divergent", `${where} (η > 4/λ_max)`);
    }
    // The report's phase table says the same.
    const row = (label: string) =>
      report.split("\n").find((line) => line.startsWith(`| \`${label}\` |`) && /lazy|catapult|divergent/.test(line));
    for (const label of ["f", "f_quad"]) {
      assert.match(row(label) ?? "", /lazy.*catapult/, `${label} row`);
    }
    assert.match(row("f_lin") ?? "", /lazy.*divergent/, "f_lin row");
    assert.doesNotMatch(row("f_lin") ?? "", /catapult/);
  });

  test("its second sweep shows the paper's Figure 2b: f and f_quad reach a lower best test loss above η_crit than below", async () => {
    const run = await demo;
    assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
    const folder = join(DEMO_OUT, "figure-2b");
    for (const name of ["report.md", "report.html", "best-test-loss.svg", "runs.jsonl"])
      assert.ok(existsSync(join(folder, name)), `figure-2b/${name} is missing`);
    const runs = readFileSync(join(folder, "runs.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as RunRecord);
    const settings = JSON.parse(readFileSync(join(folder, "sweep.json"), "utf8")).settings;
    assert.match(settings.data, /^mnist:/, "a data set of more than one dimension");
    for (const model of ["f", "quad"] as const) {
      const best = (side: (m: number) => boolean) =>
        Math.min(
          ...runs
            .filter((r) => r.model === model && side(r.lrMultiple) && r.phase !== "divergent")
            .map((r) => present(r.bestTestLoss, r.id)),
        );
      const below = best((m) => m < 1);
      const above = best((m) => m > 1);
      assert.ok(above < below, `${model}: best test loss ${above} above η_crit, not below ${below} below it`);
    }
    // The main report says what was run for it and what it shows, and so does the output.
    const report = readFileSync(join(DEMO_OUT, "report.md"), "utf8");
    assert.match(report, /figure-2b\/report\.html/);
    assert.match(report, /f: best test loss below η_crit [^;]*: lower above η_crit/);
    assert.match(report, /f_quad: best test loss below η_crit [^;]*: lower above η_crit/);
    assert.match(run.stdout, /f_quad: best test loss below η_crit .*: lower above η_crit/);
  });
});
