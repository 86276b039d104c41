/**
 * runtime/sweep: learning-rate parsing, job order, and the promise that an interrupted sweep —
 * stopped after a few runs, cut in the middle of a line, or killed with SIGKILL — resumes to a
 * runs.jsonl byte-identical to that of an uninterrupted sweep, whatever the number of workers.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import { appendFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { NqmError } from "../../foundation/diagnostics.ts";
import {
  identityHash,
  parseLearningRates,
  readRuns,
  runSweep,
  sweepJobs,
  type SweepSpec,
} from "../../runtime/sweep.ts";
import { runId } from "../../runtime/train.ts";
import { bundledCli } from "../support/cli.ts";
import { nth } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
// The CLI is bundled (as scripts/build.mjs does, with the sweep worker beside it); started through
// tsx instead, every worker would transpile the sources again.
const { cli: CLI, work: WORK } = bundledCli("sweep");
const CACHE = join(WORK, "cache");

function throwsNqm(run: () => unknown, code: string, pattern?: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof NqmError, String(error));
    assert.equal(nth(error.diagnostics, 0).code, code);
    if (pattern) assert.match(nth(error.diagnostics, 0).message, pattern);
    return true;
  });
}

describe("parseLearningRates", () => {
  test("a START:STOP:STEP range is inclusive and free of rounding noise", () => {
    const values = parseLearningRates("0.5x:4.5x:0.25x");
    assert.equal(values.length, 17);
    assert.equal(values[0], 0.5);
    assert.equal(values.at(-1), 4.5);
    assert.equal(values[3], 1.25);
    assert.deepEqual(parseLearningRates("0.1x:0.3x:0.1x"), [0.1, 0.2, 0.3]);
    assert.deepEqual(parseLearningRates("1x:1x:1x"), [1]);
  });

  test("a comma list, with spaces and exponents", () => {
    assert.deepEqual(parseLearningRates("1x, 2.5x,1e-1x"), [1, 2.5, 0.1]);
  });

  test("rates that agree to 6 digits stay distinct, and their run ids too", () => {
    const values = parseLearningRates("1.0000001x,1.0000002x,1.0000003x");
    assert.deepEqual(values, [1.0000001, 1.0000002, 1.0000003]);
    assert.deepEqual(
      values.map((v) => runId("f", v, 0)),
      ["f|1.0000001|0", "f|1.0000002|0", "f|1.0000003|0"],
    );
  });

  const BAD = [
    "1,2",
    "abc",
    "1x:2x",
    "2x:1x:0.5x",
    "1x:2x:0x",
    "0x:1000x:0.5x",
    "x",
    "1x:2x:0.5x:3x",
    "1e999x",
    "5e-324x",
    "1x,2x,1.0x",
    "1x:1.0000000000001x:1e-14x",
  ];
  for (const bad of BAD) {
    test(`\`${bad}\` is NQM3007`, () => throwsNqm(() => parseLearningRates(bad), "NQM3007", /--lrs/));
  }
});

test("sweepJobs: by seed, then learning rate, then model; indices in order", () => {
  const jobs = sweepJobs({ seeds: [0, 1], lrMultiples: [0.5, 2], models: ["f", "quad"] });
  assert.deepEqual(
    jobs.map((j) => `${j.index}:${j.seed}:${j.lrMultiple}:${j.kind}`),
    ["0:0:0.5:f", "1:0:0.5:quad", "2:0:2:f", "3:0:2:quad", "4:1:0.5:f", "5:1:0.5:quad", "6:1:2:f", "7:1:2:quad"],
  );
});

/** A minimal valid run record with this id. */
function record(id: string): Record<string, unknown> {
  return {
    id,
    model: "f",
    lr: 1,
    lrMultiple: 1,
    etaCrit: 1,
    seed: 0,
    phase: "lazy",
    steps: 1,
    trainLoss: [2, 1],
    evalSteps: [0, 1],
    testLoss: [],
    lambdaMax: [1, 1],
    distance: [0, 0.1],
    bestTestLoss: null,
    finalTrainLoss: 1,
  };
}

test("readRuns drops a line cut short and truncates the file to the whole lines", () => {
  const dir = join(WORK, "read-runs");
  mkdirSync(dir, { recursive: true });
  const path = join(dir, "runs.jsonl");
  const whole = `${JSON.stringify(record("a"))}\n${JSON.stringify(record("b"))}\n`;
  writeFileSync(path, `${whole}{"id":"c","trainLo`);
  assert.deepEqual(
    readRuns(path).map((r) => r.id),
    ["a", "b"],
  );
  assert.equal(readFileSync(path, "utf8"), whole);
  // A whole record whose newline was cut off is redone too: the next record must start a line.
  writeFileSync(path, `${whole}${JSON.stringify(record("c"))}`);
  assert.deepEqual(
    readRuns(path).map((r) => r.id),
    ["a", "b"],
  );
  assert.equal(readFileSync(path, "utf8"), whole);
  // Non-ASCII text before the cut (character and byte offsets differ).
  const accented = `${JSON.stringify(record("η→λ"))}\n`;
  writeFileSync(path, `${accented}{"id":"λ`);
  assert.deepEqual(
    readRuns(path).map((r) => r.id),
    ["η→λ"],
  );
  assert.equal(readFileSync(path, "utf8"), accented);
  assert.deepEqual(readRuns(join(dir, "missing.jsonl")), []);
});

test("readRuns refuses a damaged whole line (NQM4007 with the line) instead of dropping the runs after it", () => {
  const path = join(WORK, "read-runs", "damaged.jsonl");
  const text = `${JSON.stringify(record("a"))}\n{"id":"b"}\n${JSON.stringify(record("c"))}\n`;
  writeFileSync(path, text);
  throwsNqm(() => readRuns(path), "NQM4007", /damaged\.jsonl:2 is not a run record/);
  writeFileSync(path, `${JSON.stringify(record("a"))}\nnot json\n`);
  throwsNqm(() => readRuns(path), "NQM4007", /damaged\.jsonl:2 is not JSON/);
  assert.equal(readFileSync(path, "utf8"), `${JSON.stringify(record("a"))}\nnot json\n`, "nothing is truncated");
});

// ---------------------------------------------------------------- interruption and resumption

/**
 * uv with one example (cheap: 2m = 2000 parameters, n = 1), in all three regimes: η/η_crit =
 * 0.75 (lazy), 1.5 (catapult; f_lin diverges), 2.25 (ηλ0 = 4.5: divergent), two seeds: 18 runs.
 * The same sweep as the CLI command in SWEEP_ARGS, so their records can be compared.
 */
const SPEC: SweepSpec = {
  file: join(ROOT, "examples/uv.nqm"),
  source: readFileSync(join(ROOT, "examples/uv.nqm"), "utf8"),
  set: { m: 1000 },
  data: "single:x=1,y=1",
  dataSeed: 0,
  models: ["f", "lin", "quad"],
  lrMultiples: [0.75, 1.5, 2.25],
  seeds: [0, 1],
  steps: 200,
  loss: "sum",
  evalEvery: 10,
  eigs: 1,
  divergenceFactor: 1e10,
  cacheDir: CACHE,
};
const TOTAL = 18;
const SWEEP_ARGS = [
  "examples/uv.nqm",
  "--data",
  "single:x=1,y=1",
  "--set",
  "m=1000",
  "--lrs",
  "0.75x,1.5x,2.25x",
  "--model",
  "f,lin,quad",
  "--seeds",
  "2",
  "--steps",
  "200",
  "--eval-every",
  "10",
];

const read = (dir: string, name = "runs.jsonl") => readFileSync(join(dir, name), "utf8");
const lines = (text: string) => text.split("\n").filter((l) => l !== "");

describe("sweeps resume to the same runs.jsonl", () => {
  const A = join(WORK, "A");
  let reference: string;

  before(async () => {
    const runs = await runSweep(SPEC, { outDir: A, workers: 2 });
    assert.equal(runs.length, TOTAL);
    reference = read(A);
  });

  test("the uninterrupted sweep: every job once, in job order, with the theory's phases", () => {
    const records = lines(reference).map(
      (l) => JSON.parse(l) as { id: string; phase: string; model: string; lrMultiple: number },
    );
    assert.deepEqual(
      records.map((r) => r.id),
      sweepJobs(SPEC).map((j) => `${j.kind}|${j.lrMultiple}|${j.seed}`),
    );
    for (const r of records) {
      const expected =
        r.lrMultiple < 1 ? "lazy" : r.lrMultiple < 2 ? (r.model === "lin" ? "divergent" : "catapult") : "divergent";
      assert.equal(r.phase, expected, r.id);
    }
    const summary = lines(read(A, "summary.csv"));
    assert.equal(summary.length, TOTAL + 1);
    assert.match(nth(summary, 0), /^id,model,seed,lr,lr_multiple,eta_crit,phase,/);
  });

  test("rerunning a finished sweep changes nothing", async () => {
    const runs = await runSweep(SPEC, { outDir: A, workers: 2 });
    assert.equal(runs.length, TOTAL);
    assert.equal(read(A), reference, "a finished sweep starts no worker and writes nothing");
  });

  test("stopped after 5 runs, a 6th cut mid-line by a kill, resumed: byte-identical to the sweep run by two workers", async () => {
    const B = join(WORK, "B");
    const partial = await runSweep(SPEC, { outDir: B, workers: 1, stopAfter: 5 });
    assert.equal(partial.length, 5);
    assert.equal(read(B), `${lines(reference).slice(0, 5).join("\n")}\n`);
    // summary.csv describes what runs.jsonl holds.
    assert.equal(lines(read(B, "summary.csv")).length, 1 + 5);
    // A kill in the middle of writing the 6th line leaves part of it; the resume redoes that run.
    appendFileSync(join(B, "runs.jsonl"), nth(lines(reference), 5).slice(0, 100));
    const runs = await runSweep(SPEC, { outDir: B, workers: 1 });
    assert.equal(runs.length, TOTAL);
    assert.equal(read(B), reference);
    assert.equal(read(B, "summary.csv"), read(A, "summary.csv"));
  });

  test("a different sweep in the same folder is refused (NQM4007)", async () => {
    await assert.rejects(
      () => runSweep({ ...SPEC, steps: 201 }, { outDir: A, workers: 1 }),
      (error: unknown) => error instanceof NqmError && nth(error.diagnostics, 0).code === "NQM4007",
    );
    assert.equal(read(A), reference);
  });

  test("the evaluation schedule is part of the identity: a sweep measured on another schedule is refused (NQM4007)", async () => {
    assert.equal(
      identityHash({ ...SPEC, evalSchedule: "dense-early" }),
      identityHash(SPEC),
      "dense-early is the default",
    );
    assert.notEqual(identityHash({ ...SPEC, evalSchedule: "uniform" }), identityHash(SPEC));
    await assert.rejects(
      () => runSweep({ ...SPEC, evalSchedule: "uniform" }, { outDir: A, workers: 1 }),
      (error: unknown) => error instanceof NqmError && nth(error.diagnostics, 0).code === "NQM4007",
    );
    assert.equal(read(A), reference);
  });

  test("every record carries the sweep's identity hash, as sweep.json does", () => {
    const hash = identityHash(SPEC);
    assert.match(hash, /^[0-9a-f]{16}$/);
    assert.equal(JSON.parse(read(A, "sweep.json")).hash, hash);
    for (const line of lines(reference)) assert.equal(JSON.parse(line).sweep, hash);
    assert.notEqual(identityHash({ ...SPEC, steps: 50 }), hash);
  });

  test("sweep.json records every setting that changes a result, with the model file's hash and nqm's version", () => {
    const settings = JSON.parse(read(A, "sweep.json")).settings;
    const packageVersion = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")).version;
    assert.deepEqual(settings, {
      file: SPEC.file,
      fileSha256: createHash("sha256")
        .update(readFileSync(join(ROOT, "examples/uv.nqm")))
        .digest("hex"),
      set: { m: 1000 },
      data: "single:x=1,y=1",
      dataSeed: 0,
      models: ["f", "lin", "quad"],
      lrMultiples: [0.75, 1.5, 2.25],
      seeds: [0, 1],
      steps: 200,
      loss: "sum",
      lossFormula: "½ Σ (f − y)² (sum over the training set)",
      testLossFormula: "½ · mean (f − y)² over the test set",
      evalEvery: 10,
      evalSchedule: "dense-early",
      eigs: 1,
      batch: null,
      divergenceFactor: 1e10,
      lin: "exact",
      directions: 0,
      dtype: "f64",
      backend: "auto",
      nqmVersion: packageVersion,
      compilerHash: settings.compilerHash,
    });
    assert.match(settings.compilerHash, /^[0-9a-f]{64}$/);
  });

  /** A copy of the finished sweep A, with its sweep.json replaced by `identityFile` (undefined: deleted). */
  const damagedCopy = (name: string, identityFile: string | undefined): string => {
    const dir = join(WORK, name);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "runs.jsonl"), reference);
    if (identityFile !== undefined) writeFileSync(join(dir, "sweep.json"), identityFile);
    return dir;
  };
  const damages: [string, (text: string) => string | undefined][] = [
    ["empty", () => ""],
    ["truncated", (text) => text.slice(0, 20)],
    ["deleted", () => undefined],
  ];
  for (const [what, damage] of damages) {
    test(`a ${what} sweep.json: a different sweep is refused by the records, the same one rebuilds it and resumes`, async () => {
      const dir = damagedCopy(`damaged-${what}`, damage(read(A, "sweep.json")));
      // A last line cut short too: the refused sweep must not even truncate it.
      const cut = `${reference}${nth(lines(reference), 0).slice(0, 50)}`;
      writeFileSync(join(dir, "runs.jsonl"), cut);
      await assert.rejects(
        () => runSweep({ ...SPEC, steps: 50 }, { outDir: dir, workers: 1 }),
        (error: unknown) =>
          error instanceof NqmError &&
          nth(error.diagnostics, 0).code === "NQM4007" &&
          /holds run f\|0\.75\|0 of sweep [0-9a-f]{16}, not of this one/.test(nth(error.diagnostics, 0).message),
      );
      assert.equal(read(dir), cut, "the refused sweep changed nothing");
      const runs = await runSweep(SPEC, { outDir: dir, workers: 1 });
      assert.equal(runs.length, TOTAL);
      assert.equal(read(dir), reference, "nothing was redone");
      assert.equal(read(dir, "sweep.json"), read(A, "sweep.json"));
    });
  }

  test("records without an identity (another tool, an older nqm) are not adopted", async () => {
    const foreign = lines(reference)
      .map((line) => {
        const { sweep: _, ...rest } = JSON.parse(line) as Record<string, unknown>;
        return `${JSON.stringify(rest)}\n`;
      })
      .join("");
    const dir = damagedCopy("unidentified", undefined);
    writeFileSync(join(dir, "runs.jsonl"), foreign);
    await assert.rejects(
      () => runSweep(SPEC, { outDir: dir, workers: 1 }),
      (error: unknown) =>
        error instanceof NqmError &&
        /written by an earlier nqm, whose runs started from other initial weights/.test(
          nth(error.diagnostics, 0).message,
        ),
    );
  });

  test("a second sweep in a folder in use is refused (NQM4008 naming the holder); the first is unharmed", async () => {
    const C = join(WORK, "C");
    const first = runSweep(SPEC, { outDir: C, workers: 1, stopAfter: 2 });
    await assert.rejects(
      () => runSweep(SPEC, { outDir: C, workers: 1 }),
      (error: unknown) =>
        error instanceof NqmError &&
        nth(error.diagnostics, 0).code === "NQM4008" &&
        nth(error.diagnostics, 0).message.includes(`process ${process.pid} on ${hostname()}`),
    );
    assert.equal((await first).length, 2);
    assert.equal(read(C), `${lines(reference).slice(0, 2).join("\n")}\n`);
    assert.ok(!existsSync(join(C, "sweep.lock")), "the lock is released");
  });

  test("the lock of a process that no longer exists is taken over", async () => {
    const dead = spawnSync(process.execPath, ["-e", "process.stdout.write(String(process.pid))"], {
      encoding: "utf8",
    });
    const pid = Number(dead.stdout);
    assert.ok(pid > 0);
    const dir = damagedCopy("stale-lock", read(A, "sweep.json"));
    writeFileSync(join(dir, "sweep.lock"), JSON.stringify({ pid, host: hostname(), started: "then" }));
    const runs = await runSweep(SPEC, { outDir: dir, workers: 1 });
    assert.equal(runs.length, TOTAL);
    assert.ok(!existsSync(join(dir, "sweep.lock")));
  });

  test("`nqm sweep` killed with SIGKILL after its first runs, then rerun: byte-identical", async () => {
    const B2 = join(WORK, "B2");
    const args = [...SWEEP_ARGS, "--out", B2, "--workers", "1", "--no-report"];
    const env = { ...process.env, NQM_CACHE: CACHE };
    const cli = (onStart?: (kill: () => void) => void) =>
      new Promise<{ code: number | null; signal: string | null; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, "sweep", ...args], {
          cwd: ROOT,
          env,
          stdio: ["ignore", "ignore", "pipe"],
        });
        let stderr = "";
        child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
        onStart?.(() => child.kill("SIGKILL"));
        child.on("exit", (code, signal) => resolve({ code, signal, stderr }));
      });

    let linesAtKill = -1;
    const killed = await cli((kill) => {
      const poll = setInterval(() => {
        const path = join(B2, "runs.jsonl");
        const count = existsSync(path) ? lines(readFileSync(path, "utf8")).length : 0;
        if (count >= 1) {
          clearInterval(poll);
          linesAtKill = count;
          kill();
        }
      }, 5);
      poll.unref();
    });
    assert.equal(killed.signal, "SIGKILL", `the sweep ended before the kill: ${killed.stderr}`);
    assert.ok(linesAtKill >= 1 && linesAtKill < TOTAL, `killed with ${linesAtKill} of ${TOTAL} runs written`);
    const kept = read(B2);
    assert.ok(lines(kept).length < TOTAL);

    // The killed sweep's lock is left behind; the rerun takes it over.
    assert.ok(existsSync(join(B2, "sweep.lock")));
    const rerun = await cli();
    assert.equal(rerun.code, 0, rerun.stderr);
    assert.equal(read(B2), reference);
  });
});
