/**
 * Cross-entropy training as a user runs it (the bundled CLI in subprocesses): examples/mnist_ce.nqm
 * on 10 MNIST classes trains with η_crit from the sharpness and records test accuracy, and a
 * sweep writes it into runs.jsonl, summary.csv, the report and the accuracy plot.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "csv-parse/sync";
import { assertNoStackTrace, bundledCli, runNode, type CliRun } from "../support/cli.ts";
import type { RunRecord } from "../../runtime/run-record.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
const { cli: CLI, work: WORK, built } = bundledCli("cli-classification");
const CACHE = join(WORK, "cache");

function nqm(...args: string[]): Promise<CliRun> {
  return runNode([CLI, ...args], { cwd: ROOT, timeout: 300_000, env: { ...process.env, NQM_CACHE: CACHE } });
}

before(() => built());

const EXAMPLE = ["examples/mnist_ce.nqm", "--set", "m=64", "--data", "mnist:classes=all,n=60,test=200"];

describe("mnist_ce", { concurrency: true }, () => {
  test("nqm train: η_crit = 2/sharpness, said so; the loss starts near n·log 10 and every model learns", async () => {
    const run = await nqm("train", ...EXAMPLE, "--lr", "0.5x", "--steps", "30", "--json");
    assert.equal(run.code, 0, run.stderr);
    assertNoStackTrace(run);
    const result = JSON.parse(run.stdout) as {
      loss: string;
      lambda0: number;
      sharpness0: number;
      etaCrit: number;
      etaCritFrom: string;
      lr: number;
      runs: RunRecord[];
    };
    assert.equal(result.loss, "cross_entropy");
    assert.equal(result.etaCritFrom, "sharpness");
    assert.equal(result.etaCrit, 2 / result.sharpness0);
    // At w0 the softmax is near uniform, so H_ℓ ≈ (I − 11ᵀ/10)/10: the sharpness is about λ_max(K)/10, far below it.
    assert.ok(result.sharpness0 < result.lambda0 / 3, `sharpness ${result.sharpness0}, λ0 ${result.lambda0}`);
    assert.equal(result.lr, 0.5 * result.etaCrit);
    for (const r of result.runs) {
      assert.equal(r.loss, "cross_entropy");
      assert.equal(r.etaCritFrom, "sharpness");
      // Below η_crit the loss never rises above L0; 30 steps do not converge it (docs/training.md's rule).
      assert.ok(r.phase === "lazy" || r.phase === "unfinished", `${r.model}: ${r.phase}`);
      const initial = nth(r.trainLoss, 0);
      assert.ok(
        r.trainLoss.every((l) => l <= initial),
        `${r.model}: the loss rose above L0`,
      );
      assert.ok(Math.abs(initial / (60 * Math.log(10)) - 1) < 0.2, `${r.model}: L0 = ${initial}`);
      const accuracy = present(r.testAccuracy);
      assert.equal(accuracy.length, r.evalSteps.length);
      // Chance is 0.1; 30 full-batch steps on 60 examples reach well above it.
      assert.ok(nth(accuracy, accuracy.length - 1) > 0.4, `${r.model}: test accuracy ${accuracy.at(-1)}`);
      assert.equal(r.bestTestAccuracy, Math.max(...accuracy));
    }
  });

  test("nqm train prints the sharpness and says η_crit comes from it", async () => {
    const run = await nqm("train", ...EXAMPLE, "--lr", "0.5x", "--steps", "5", "--model", "f");
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /, sum cross_entropy loss$/m);
    const header = /sharpness λ_max\(∇²L\(w0\)\) = ([\d.e+-]+)\s+η_crit = 2\/sharpness = ([\d.e+-]+)/.exec(run.stdout);
    assert.ok(header, run.stdout);
    const [sharpness, etaCrit] = header.slice(1).map(Number) as [number, number];
    assert.ok(Math.abs(etaCrit - 2 / sharpness) <= 1e-5 * etaCrit);
    assert.match(run.stdout, /best test accuracy [\d.]+/);
  });

  test("nqm sweep: accuracy and η_crit's origin in runs.jsonl, summary.csv, the report and its plot", async () => {
    const out = join(WORK, "sweep");
    const run = await nqm(
      "sweep",
      "examples/mnist_ce.nqm",
      "--set",
      "m=32",
      "--data",
      "mnist:classes=all,n=40,test=100",
      "--lrs",
      "0.5x,1x",
      "--seeds",
      "1",
      "--steps",
      "15",
      "--workers",
      "2",
      "--out",
      out,
    );
    assert.equal(run.code, 0, run.stderr);
    const records = readFileSync(join(out, "runs.jsonl"), "utf8")
      .trim()
      .split("\n")
      .map((line) => JSON.parse(line) as RunRecord);
    assert.equal(records.length, 6);
    const rows = parse(readFileSync(join(out, "summary.csv"), "utf8"), { columns: true }) as Record<string, string>[];
    assert.equal(rows.length, 6);
    for (const [i, row] of rows.entries()) {
      const record = nth(records, i);
      assert.equal(row.id, record.id);
      assert.equal(row.loss, "cross_entropy");
      assert.equal(row.eta_crit_from, "sharpness");
      assert.equal(Number(row.eta_crit), 2 / Number(row.sharpness_initial));
      assert.equal(Number(row.best_test_accuracy), record.bestTestAccuracy);
      assert.equal(Number(row.final_test_accuracy), present(record.testAccuracy).at(-1));
      const accuracy = Number(row.final_test_accuracy);
      assert.ok(
        accuracy >= 0 && accuracy <= 1 && Number.isInteger(Math.round(accuracy * 100)),
        row.final_test_accuracy,
      );
    }
    const report = readFileSync(join(out, "report.md"), "utf8");
    assert.match(report, /measured η_crit = 2\/sharpness = [\d.e+-]+ \(sharpness = [\d.e+-]+\) for seed 0/);
    assert.match(report, /test loss: L_test = mean cross-entropy over the test set/);
    const settings = JSON.parse(readFileSync(join(out, "sweep.json"), "utf8")).settings;
    assert.equal(settings.modelLoss, "cross_entropy");
    assert.match(settings.lossFormula, /^Σ ℓ\(f, y\), ℓ the cross-entropy/);
    assert.equal(settings.testLossFormula, "mean cross-entropy over the test set");
    assert.ok(existsSync(join(out, "test-accuracy.png")));
    assert.ok(existsSync(join(out, "test-accuracy.svg")));
  });

  test("nqm check names the loss, in text and in JSON", async () => {
    const text = await nqm("check", "examples/mnist_ce.nqm");
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /^ {2}loss +cross_entropy: softmax, logsumexp\(f\) − y·f for one-hot labels$/m);
    const json = await nqm("check", "examples/mnist_multiclass.nqm", "--json");
    assert.equal(json.code, 0, json.stderr);
    assert.equal(nth((JSON.parse(json.stdout) as { models: { loss: string }[] }).models, 0).loss, "squared");
  });

  test("a cross-entropy model on data whose labels are not classes: NQM4003 naming the example, nothing trained", async () => {
    const run = await nqm(
      "train",
      "examples/mnist_ce.nqm",
      "--set",
      "m=8,k=1",
      "--data",
      "single:x=1,y=0.5",
      "--lr",
      "1x",
    );
    assert.equal(run.code, 1);
    assertNoStackTrace(run);
    assert.match(run.stderr, /NQM4003.*logistic loss and takes labels ±1.*training example 0 has 0\.5/);
    assert.doesNotMatch(run.stdout, /lazy|catapult/);
  });
});
