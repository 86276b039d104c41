import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bestTestLossChart,
  eigenvaluesChart,
  lambdaMaxChart,
  lossChart,
  phaseChart,
  renderSvg,
  writeReport,
  type ModelKind,
  type Phase,
  type RunRecord,
} from "../../runtime/plot/index.ts";
import { clipSeries, downsample } from "../../runtime/plot/series.ts";
import { nth, present } from "../support/entries.ts";

// ---------------------------------------------------------------- synthetic runs

/**
 * A sweep of Lewkowycz et al.'s uv model (single example x = 1, y = 0): f ← (1 − ηλ + η²f²/m) f,
 * λ ← λ + (ηf²/m)(ηλ − 4); its linearization keeps λ fixed. Theory: lazy for η < 2/λ0, catapult
 * for 2/λ0 < η < 4/λ0, divergent beyond; the linear model diverges beyond 2/λ0.
 */
function uvRun(model: ModelKind, lrMultiple: number, seed: number, steps = 150): RunRecord {
  const lambda0 = 4;
  const etaCrit = 2 / lambda0;
  const lr = lrMultiple * etaCrit;
  const width = 500;
  let f = 1 + 0.05 * seed;
  let lambda = lambda0;
  const trainLoss: number[] = [];
  const lambdas: number[] = [];
  for (let t = 0; t <= steps; t++) {
    trainLoss.push(0.5 * f * f);
    lambdas.push(lambda);
    const nextF = model === "lin" ? (1 - lr * lambda) * f : (1 - lr * lambda + (lr * lr * f * f) / width) * f;
    if (model !== "lin") lambda += ((lr * f * f) / width) * (lr * lambda - 4);
    f = nextF;
  }
  const divergedIndex = trainLoss.findIndex((l) => !Number.isFinite(l) || l > 1e6);
  const phase: Phase =
    divergedIndex >= 0
      ? "divergent"
      : trainLoss.reduce((a, b) => Math.max(a, b), -Infinity) > nth(trainLoss, 0)
        ? "catapult"
        : "lazy";
  const evalSteps = trainLoss.map((_, t) => t).filter((t) => t % 3 === 0);
  const testLoss = evalSteps.map((t) => nth(trainLoss, t) + 0.05);
  const finiteTest = testLoss.filter(Number.isFinite);
  const run: RunRecord = {
    id: `${model}-${lrMultiple}-${seed}`,
    model,
    lr,
    lrMultiple,
    etaCrit,
    seed,
    phase,
    steps,
    trainLoss,
    evalSteps,
    testLoss,
    lambdaMax: evalSteps.map((t) => nth(lambdas, t)),
    eigs: evalSteps.map((t) => [nth(lambdas, t), 0.5 * lambda0]),
    distance: evalSteps.map((t) => Math.sqrt(t)),
    bestTestLoss:
      phase === "divergent" || finiteTest.length === 0 ? null : finiteTest.reduce((a, b) => Math.min(a, b), Infinity),
    finalTrainLoss: present(trainLoss.at(-1)),
  };
  if (divergedIndex >= 0) run.divergedAt = divergedIndex;
  return run;
}

const MULTIPLES = [0.5, 1.5, 2.5];
const SWEEP: RunRecord[] = (["f", "lin", "quad"] as const).flatMap((model) =>
  MULTIPLES.flatMap((m) => [0, 1].map((seed) => uvRun(model, m, seed))),
);

// ---------------------------------------------------------------- SVG checks

/** Well-formedness of the tag structure: every opened element is closed in order. */
function assertWellFormed(svg: string): void {
  assert.ok(svg.startsWith("<svg"), `starts with ${svg.slice(0, 20)}`);
  assert.ok(svg.trimEnd().endsWith("</svg>"));
  const stack: string[] = [];
  for (const match of svg.matchAll(/<(\/?)([A-Za-z][\w:.-]*)(?:\s[^>]*?)?(\/?)>/g)) {
    const [, closing, name, selfClosing] = match;
    if (selfClosing === "/") continue;
    if (closing === "/") assert.equal(stack.pop(), name, `</${name}> closes the wrong element`);
    else stack.push(present(name));
  }
  assert.deepEqual(stack, [], "unclosed elements");
}

function count(svg: string, text: string): number {
  return svg.split(text).length - 1;
}

/** The numbers drawn into path and position attributes must all be finite. */
function assertFiniteGeometry(svg: string): void {
  assert.doesNotMatch(svg, /(d|x|y|transform)="[^"]*(NaN|Infinity)/);
}

// ---------------------------------------------------------------- tests

test("the synthetic sweep has the phases the theory predicts (a check of the fixture itself)", () => {
  const phase = (model: ModelKind, m: number): Phase =>
    present(SWEEP.find((r) => r.model === model && r.lrMultiple === m)).phase;
  assert.equal(phase("f", 0.5), "lazy");
  assert.equal(phase("f", 1.5), "catapult");
  assert.equal(phase("f", 2.5), "divergent");
  assert.equal(phase("lin", 1.5), "divergent");
  assert.ok(
    SWEEP.some((r) => r.trainLoss.some((l) => !Number.isFinite(l))),
    "some losses overflow to Infinity/NaN",
  );
});

test("loss chart: one line per run, a log axis with its titles, divergence crosses, finite geometry", async () => {
  const svg = await renderSvg(lossChart(SWEEP));
  assertWellFormed(svg);
  assertFiniteGeometry(svg);
  assert.equal(count(svg, 'aria-roledescription="line mark"'), SWEEP.length);
  const divergent = SWEEP.filter((r) => r.phase === "divergent").length;
  assert.equal(count(svg, "child_layer_2_marks"), 3, "one marker group per model panel");
  assert.equal(count(svg, 'aria-roledescription="point"'), divergent, "one cross per divergent run");
  for (const title of ["training loss", "step", "η/η_crit", "f_lin", "f_quad"])
    assert.ok(svg.includes(`>${title}<`), `title ${title}`);
});

test("λ_max chart: one line per run and a dashed 2/η rule per super-critical run", async () => {
  const svg = await renderSvg(lambdaMaxChart(SWEEP));
  assertWellFormed(svg);
  assertFiniteGeometry(svg);
  assert.equal(count(svg, 'aria-roledescription="line mark"'), SWEEP.length);
  assert.equal(count(svg, 'aria-roledescription="rule mark"'), SWEEP.filter((r) => r.lrMultiple > 1).length);
  assert.ok(svg.includes(">λ_max<"));
});

test("eigenvalue chart: a line per run and eigenvalue rank", async () => {
  const svg = await renderSvg(eigenvaluesChart(SWEEP));
  assertWellFormed(svg);
  assertFiniteGeometry(svg);
  assert.equal(count(svg, 'aria-roledescription="line mark"'), 2 * SWEEP.length);
  assert.ok(svg.includes(">λ2<"));
});

test("best test loss chart: a point per converged (model, η), crosses for all-divergent ones", async () => {
  const spec = bestTestLossChart(SWEEP);
  const svg = await renderSvg(spec);
  assertWellFormed(svg);
  assertFiniteGeometry(svg);
  const groups = new Set(SWEEP.map((r) => `${r.model}|${r.lrMultiple}`));
  // The points of the mean lines plus the crosses of all-divergent groups: one symbol per group.
  assert.equal(count(svg, 'aria-roledescription="point"'), groups.size);
  const modelsWithConvergedRuns = new Set(SWEEP.filter((r) => r.phase !== "divergent").map((r) => r.model));
  assert.equal(count(svg, 'aria-roledescription="line mark"'), modelsWithConvergedRuns.size);
  // Min–max bars: one per converged group (two seeds each).
  const convergedGroups = new Set(
    SWEEP.filter((r) => r.phase !== "divergent").map((r) => `${r.model}|${r.lrMultiple}`),
  );
  assert.equal(count(svg, 'aria-roledescription="rule mark"'), convergedGroups.size + 2);
  for (const title of ["best test loss", "η/η_crit", "η_crit", "2η_crit"])
    assert.ok(svg.includes(`>${title}<`), `title ${title}`);
  const noTest = SWEEP.map((r) => ({ ...r, testLoss: [], bestTestLoss: null }));
  const fallback = await renderSvg(bestTestLossChart(noTest));
  assert.ok(fallback.includes(">best training loss<"));
});

test("phase chart: a cell per (model, η), mixed seeds show the majority share", async () => {
  const mixed = [...SWEEP, { ...uvRun("f", 1.5, 2), phase: "unfinished" as const, id: "extra" }];
  const svg = await renderSvg(phaseChart(mixed));
  assertWellFormed(svg);
  const groups = new Set(mixed.map((r) => `${r.model}|${r.lrMultiple}`));
  assert.equal(count(svg, 'aria-roledescription="rect mark"'), groups.size);
  assert.ok(svg.includes(">catapult 2/3<"));
  assert.ok(svg.includes(">divergent<"));
  assert.ok(svg.includes(">lazy<"));
});

test("runs made only of Infinity and NaN render without throwing", async () => {
  const broken: RunRecord = {
    ...uvRun("f", 3, 0, 5),
    id: "broken",
    phase: "divergent",
    trainLoss: [Infinity, NaN, 1e308, -Infinity],
    lambdaMax: [NaN, Infinity],
    evalSteps: [0, 1],
    testLoss: [NaN, NaN],
    eigs: [[NaN, Infinity]],
    bestTestLoss: null,
    finalTrainLoss: NaN,
  };
  for (const spec of [
    lossChart([broken]),
    lambdaMaxChart([broken]),
    bestTestLossChart([broken]),
    phaseChart([broken]),
    eigenvaluesChart([broken]),
  ]) {
    const svg = await renderSvg(spec);
    assertWellFormed(svg);
    assertFiniteGeometry(svg);
  }
});

test("writeReport writes the SVGs and a report with η_crit, the largest converged η per model and the phases", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nqm-report-"));
  const paths = await writeReport(dir, SWEEP, {
    modelFile: "examples/uv.nqm",
    data: "single:x=1,y=0",
    etaCrit: 0.5,
    lossNormalization: "sum",
    notes: ["a synthetic sweep"],
  });
  assert.equal(paths.at(-1), join(dir, "report.md"));
  for (const path of paths) assert.ok(existsSync(path), path);
  const svgs = paths.filter((p) => p.endsWith(".svg"));
  assert.ok(svgs.length >= 4);
  for (const path of svgs) assertWellFormed(readFileSync(path, "utf8"));
  const report = readFileSync(join(dir, "report.md"), "utf8");
  assert.match(report, /η_crit = 2\/λ_max\(K\(w0\)\) = 0\.5 \(λ_max = 4\)/);
  assert.match(report, /examples\/uv\.nqm/);
  // Theory for the uv model: f and f_quad converge up to 2η_crit (so 1.5 here), f_lin only below η_crit.
  assert.match(report, /\| `f` \| 1\.5 \| 0\.75 \| 2\.5 \|/);
  assert.match(report, /\| `f_lin` \| 0\.5 \| 0\.25 \| 1\.5 \|/);
  assert.match(report, /\| `f_quad` \| 1\.5 \| 0\.75 \| 2\.5 \|/);
  assert.match(report, /\| model \| 0\.5× \| 1\.5× \| 2\.5× \|/);
  assert.match(report, /\| `f` \| lazy \| catapult \| divergent \|/);
  assert.match(report, /\| `f_lin` \| lazy \| divergent \| divergent \|/);
  for (const path of svgs) assert.ok(report.includes(`](${path.slice(dir.length + 1)})`), `links ${path}`);
  assert.match(report, /- a synthetic sweep/);
});

test("writeReport handles a sweep without runs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nqm-report-empty-"));
  const paths = await writeReport(dir, [], {
    modelFile: "m.nqm",
    data: "gauss1d",
    etaCrit: 0.01,
    lossNormalization: "mean",
  });
  assert.ok(paths.every((p) => existsSync(p)));
  assert.match(readFileSync(join(dir, "report.md"), "utf8"), /runs: 0/);
});

test("downsample keeps the endpoints and the extremes; clipSeries stops at divergence", () => {
  const steps = Array.from({ length: 10000 }, (_, i) => i);
  const values = steps.map((i) => (i === 4321 ? 1e6 : i === 777 ? -5 : Math.sin(i)));
  const thin = downsample(steps, values, 300);
  assert.ok(thin.values.length <= 300);
  assert.equal(thin.steps[0], 0);
  assert.equal(thin.steps.at(-1), 9999);
  assert.ok(thin.values.includes(1e6) && thin.values.includes(-5));
  assert.ok(
    thin.steps.every((s, i) => i === 0 || s > nth(thin.steps, i - 1)),
    "steps stay increasing",
  );
  const clipped = clipSeries([0, 1, 2, 3, 4], [1, 0, 2, Infinity, 3], 100, true);
  assert.deepEqual(clipped, { steps: [0, 2], values: [1, 2], divergedAt: 3 });
  assert.deepEqual(clipSeries([0, 1, 2], [1, 500, 2], 100, false).divergedAt, 1);
});
