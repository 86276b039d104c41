/**
 * runtime/plot/theory and the report's predictions: the thresholds the spectrum of K(w0) fixes,
 * the spectrum and eigen-direction charts, and the exact f_lin curves under the loss chart's f
 * and f_quad panels. The expected thresholds are the theory's formulas worked by hand.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { lossChart, renderSvg, writeReport, type RunRecord, type SweepSettings } from "../../runtime/plot/index.ts";
import { directionsChart, predictedThresholds, spectrumChart } from "../../runtime/plot/theory.ts";
import { phaseChart } from "../../runtime/plot/charts.ts";
import { nth, present } from "../support/entries.ts";

/** A run whose loss is ½(1 − ηλ)^{2t} along one direction plus a constant 0.5 along the rest. */
function run(model: "f" | "lin" | "quad", lrMultiple: number, directions: boolean): RunRecord {
  const lambda = 4;
  const lr = (lrMultiple * 2) / lambda;
  const steps = 20;
  const parts = Array.from({ length: steps + 1 }, (_, t) => [0.5 * (1 - lr * lambda) ** (2 * t), 0.5]);
  const trainLoss = parts.map(([a, b]) => (a ?? 0) + (b ?? 0));
  return {
    id: `${model}|${lrMultiple}|0`,
    model,
    ...(model === "lin" ? { dynamics: "exact" as const } : {}),
    lr,
    lrMultiple,
    etaCrit: 0.5,
    seed: 0,
    phase: lrMultiple < 1 ? "lazy" : "divergent",
    steps,
    trainLoss,
    evalSteps: trainLoss.map((_, t) => t),
    testLoss: [],
    lambdaMax: trainLoss.map(() => lambda),
    distance: trainLoss.map((_, t) => t),
    ...(directions ? { directions: parts } : {}),
    bestTestLoss: null,
    finalTrainLoss: present(trainLoss.at(-1)),
  };
}

test("predictedThresholds: 2/λ1 = η_crit, 2/λ2 as a multiple λ1/λ2, 4/λ0 only for a single example; ×n for the mean loss", () => {
  const many = predictedThresholds({ values: [4, 1, 0.5], rows: 16 }, "sum", 16);
  assert.deepEqual(
    many.map((t) => [t.name, t.eta, t.multiple]),
    [
      ["η_crit = 2/λ1", 0.5, 1],
      ["2/λ2", 2, 4],
    ],
  );
  const one = predictedThresholds({ values: [2], rows: 1 }, "sum", 1);
  assert.deepEqual(
    one.map((t) => [t.name, t.eta, t.multiple]),
    [
      ["η_crit = 2/λ1", 1, 1],
      ["η_max = 4/λ0", 2, 2],
    ],
  );
  const mean = predictedThresholds({ values: [4, 1], rows: 8 }, "mean", 8);
  assert.deepEqual(
    mean.map((t) => [t.eta, t.multiple]),
    [
      [4, 1],
      [16, 4],
    ],
  );
  assert.deepEqual(predictedThresholds({ values: [], rows: 0 }, "sum", 0), []);
});

test("spectrumChart: one point per eigenvalue; rounding-level zeros sit on the bottom edge as ≈ 0", async () => {
  const spec = spectrumChart({ values: [144.8, 136.35, 3.9e-13, -2e-14], rows: 64 });
  const values = (spec.data as { values: Array<{ rank: number; value: number; zero: string }> }).values;
  assert.deepEqual(
    values.map((v) => v.rank),
    [1, 2, 3, 4],
  );
  const low = nth(values, 2).value;
  assert.ok(low > 0 && low <= 144.8 / 100, `the floor ${low} is positive and at most λ1/100`);
  assert.equal(nth(values, 3).value, low, "a negative rounding value is drawn at the floor too");
  assert.deepEqual(
    values.map((v) => v.zero.startsWith("≈")),
    [false, false, true, true],
  );
  const svg = await renderSvg(spec);
  assert.match(svg, /top 4 of 64 eigenvalues/);
  assert.doesNotMatch(svg, /NaN|Infinity/);
});

test("directionsChart: a panel per rate, lines p1 and rest, for the chosen model only", async () => {
  const runs = [run("quad", 0.5, true), run("quad", 1.5, true), run("f", 0.5, true), run("lin", 0.5, false)];
  const spec = directionsChart(runs, "quad");
  const rows = (spec.data as { values: Array<{ rate: string; component: string }> }).values;
  assert.deepEqual([...new Set(rows.map((r) => r.rate))], ["0.5×", "1.5×"]);
  assert.deepEqual([...new Set(rows.map((r) => r.component))], ["p1", "rest"]);
  const svg = await renderSvg(spec);
  assert.match(svg, /f_quad: training loss along the top eigenvectors/);
  assert.doesNotMatch(svg, /NaN|Infinity/);
});

test("lossChart: the reference f_lin runs are drawn under the f and f_quad panels only, once per panel", () => {
  const runs = [run("f", 0.5, false), run("quad", 0.5, false), run("lin", 0.5, false)];
  const reference = [run("lin", 0.5, false)];
  const spec = lossChart(runs, { reference });
  const rows = (spec.data as { values: Array<{ kind: string; model: string }> }).values;
  const panels = rows.filter((r) => r.kind === "reference").map((r) => r.model);
  assert.deepEqual([...new Set(panels)].sort(), ["f", "f_quad"]);
  assert.equal(panels.filter((m) => m === "f").length, 21, "the 21 steps of the reference run, once");
  assert.match(String((spec as { title: string }).title), /thin: the exact f_lin run/);
  const plain = lossChart(runs);
  assert.equal(
    (plain.data as { values: Array<{ kind: string }> }).values.filter((r) => r.kind === "reference").length,
    0,
  );
});

test("phaseChart: predicted rows give the theory's phase at each measured rate, with 'edge' exactly at a threshold", () => {
  const runs = [run("f", 0.5, false), run("f", 1, false), run("f", 1.5, false)];
  const spec = phaseChart(runs, {
    predicted: [{ label: "f_lin, theory", phaseAt: (m) => (m < 1 ? "lazy" : m > 1 ? "divergent" : "unfinished") }],
  });
  const cells = (spec.data as { values: Array<{ model: string; multiple: number; label: string }> }).values;
  assert.deepEqual(
    cells.filter((c) => c.model === "f_lin, theory").map((c) => [c.multiple, c.label]),
    [
      [0.5, "lazy"],
      [1, "edge"],
      [1.5, "divergent"],
    ],
  );
});

test("the report states the spectrum, the predicted thresholds and, for one example, f and f_quad against 4/λ0", async () => {
  const settings: SweepSettings = {
    file: "examples/uv.nqm",
    fileSha256: "0".repeat(64),
    set: {},
    data: "single:x=1,y=0",
    dataSeed: 0,
    models: ["f", "lin", "quad"],
    lrMultiples: [0.5, 1.5],
    seeds: [0],
    steps: 20,
    loss: "sum",
    lossFormula: "½ Σ (f − y)²",
    testLossFormula: "½ · mean (f − y)²",
    evalEvery: 1,
    evalSchedule: "dense-early",
    eigs: 1,
    batch: null,
    divergenceFactor: 1e10,
    lin: "exact",
    directions: 1,
    dtype: "f64",
    backend: "auto",
    nqmVersion: "0",
    compilerHash: "0".repeat(64),
  };
  const runs = (["f", "lin", "quad"] as const).flatMap((m) => [run(m, 0.5, true), run(m, 1.5, true)]);
  const dir = mkdtempSync(join(tmpdir(), "nqm-plot-theory-"));
  const written = await writeReport(dir, runs, {
    modelFile: "examples/uv.nqm",
    data: "single",
    etaCrit: 0.5,
    lossNormalization: "sum",
    settings,
    spectrum: { values: [4], rows: 1 },
  });
  for (const name of ["spectrum", "directions-f", "directions-lin", "directions-quad"])
    assert.ok(written.includes(join(dir, `${name}.svg`)), `${name}.svg written`);
  const md = readFileSync(join(dir, "report.md"), "utf8");
  assert.match(md, /## Predicted thresholds/);
  assert.match(md, /λ1 = 4\b/);
  assert.match(md, /\| η_crit = 2\/λ1 \| 0\.5 \| 1 \|/);
  assert.match(md, /\| η_max = 4\/λ0 \| 1 \| 2 \|/);
  assert.match(md, /- f: largest η\/η_crit converged 0\.5, predicted η_max\/η_crit = 2 \(4\/λ0\)/);
  assert.match(md, /- f_quad: largest η\/η_crit converged 0\.5/);
  assert.match(md, /f_lin dynamics: closed form/);
  // The phase grid has the theory's rows beside the measured ones: f_lin diverges above η_crit;
  // one example's NQM catapults between η_crit and 4/λ0 = 2η_crit.
  const phases = readFileSync(join(dir, "phases.svg"), "utf8");
  assert.match(phases, /f_lin, theory/);
  assert.match(phases, /f_quad, theory \(one example\)/);
  const html = readFileSync(join(dir, "report.html"), "utf8");
  assert.match(html, /<h2>Predicted thresholds<\/h2>/);
});
