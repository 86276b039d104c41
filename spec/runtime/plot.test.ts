import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  bestTestLossChart,
  eigenvaluesChart,
  evaluationEarlyText,
  testLossAcrossCritical,
  lambdaMaxChart,
  lossChart,
  phaseChart,
  renderSvg,
  writeReport,
  type ModelKind,
  type Phase,
  type RunRecord,
  type SweepSettings,
  PNG_SCALE,
  RATE_COLORS,
} from "../../runtime/plot/index.ts";
import { clampSeries, downsample, logTicks, stepTicks } from "../../runtime/plot/series.ts";
import type { TopLevelSpec } from "vega-lite";
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
    finalTrainLoss: present(trainLoss.at(-1), "the last training loss"),
  };
  if (divergedIndex >= 0) run.divergedAt = divergedIndex;
  return run;
}

const MULTIPLES = [0.5, 1.5, 2.5];

/** The settings of a sweep as the report receives them (values chosen to be recognizable). */
const SETTINGS: SweepSettings = {
  file: "examples/uv.nqm",
  fileSha256: `ab12cd34ef56ab78${"0".repeat(48)}`,
  set: { m: 500, c: 0.25 },
  data: "single:x=1,y=0",
  dataSeed: 3,
  models: ["f", "lin", "quad"],
  lrMultiples: [0.5, 1.5, 2.5],
  seeds: [0, 1],
  steps: 150,
  loss: "sum",
  lossFormula: "½ Σ (f − y)² (sum over the training set)",
  testLossFormula: "½ · mean (f − y)² over the test set",
  evalEvery: 3,
  evalSchedule: "dense-early",
  eigs: 2,
  batch: null,
  divergenceFactor: 1e10,
  dtype: "f64",
  backend: "auto",
  nqmVersion: "0.1.0",
  compilerHash: `0123456789ab${"c".repeat(52)}`,
};
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
    else stack.push(present(name, "an element name"));
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
    present(
      SWEEP.find((r) => r.model === model && r.lrMultiple === m),
      `the run of ${model} at ${m}`,
    ).phase;
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
  assert.equal(count(svg, "marker: diverged;"), divergent, "one cross per divergent run");
  for (const title of ["training loss (½ Σ, sum)", "step (log scale)", "η/η_crit", "f_lin", "f_quad", "diverged"])
    assert.ok(svg.includes(`>${title}<`), `title ${title}`);
});

test("λ_max chart: one line per run and a dashed, labelled 2/η rule per super-critical (model, η)", async () => {
  const svg = await renderSvg(lambdaMaxChart(SWEEP));
  assertWellFormed(svg);
  assertFiniteGeometry(svg);
  assert.equal(count(svg, 'aria-roledescription="line mark"'), SWEEP.length);
  const edges = new Set(SWEEP.filter((r) => r.lrMultiple > 1).map((r) => `${r.model}|${r.lrMultiple}`));
  assert.equal(count(svg, 'aria-roledescription="rule mark"'), edges.size);
  assert.ok(svg.includes(">λ_max<"));
  for (const label of ["2/η, 1.5×", "2/η, 2.5×"]) assert.equal(count(svg, `>${label}<`), 3, `${label} in each panel`);
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
  for (const title of ["best test loss (½ · mean)", "η/η_crit", "η_crit", "2η_crit", "every seed diverged"])
    assert.ok(svg.includes(`>${title}<`), `title ${title}`);
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
    settings: SETTINGS,
    backend: "js",
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
  for (const path of svgs)
    assert.ok(report.includes(`](${path.slice(dir.length + 1).replace(/svg$/, "png")})`), `shows the PNG of ${path}`);
  assert.match(report, /- a synthetic sweep/);
});

test("writeReport handles a sweep without runs", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nqm-report-empty-"));
  const paths = await writeReport(dir, [], {
    modelFile: "m.nqm",
    data: "gauss1d",
    etaCrit: 0.01,
    lossNormalization: "mean",
    settings: { ...SETTINGS, loss: "mean", set: {} },
  });
  assert.ok(paths.every((p) => existsSync(p)));
  assert.match(readFileSync(join(dir, "report.md"), "utf8"), /runs: 0/);
});

test("downsample keeps the endpoints and the extremes; clampSeries clamps, records excursions, stops at non-finite", () => {
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
  const clamped = clampSeries([0, 1, 2, 3, 4], [1, 0, 2, Infinity, 3], 0.5, 100, true);
  assert.deepEqual(clamped, {
    steps: [0, 1, 2],
    values: [1, 0.5, 2],
    excursions: [{ side: "below", step: 1, extreme: 0 }],
    stoppedAt: 3,
    stoppedValue: Infinity,
  });
  // Out of range above: drawn at the edge, the stretch's peak kept for the marker; a new stretch after a return.
  assert.deepEqual(clampSeries([0, 1, 2, 3, 4], [1, 500, 900, 2, 300], 0, 100, false), {
    steps: [0, 1, 2, 3, 4],
    values: [1, 100, 100, 2, 100],
    excursions: [
      { side: "above", step: 1, extreme: 900 },
      { side: "above", step: 4, extreme: 300 },
    ],
  });
});

// ---------------------------------------------------------------- what the charts must not hide (issue 13)

/** The parts of a generated spec the tests look into. */
interface Layer {
  transform?: Array<{ filter: unknown }>;
  mark: { type: string };
  encoding: Record<string, Record<string, unknown> & { scale?: Record<string, unknown> }>;
}
interface CurveSpec {
  data: { values: Array<Record<string, unknown>> };
  vconcat: Array<{ spec: { layer: Layer[] } }>;
}
interface LayerSpec {
  title: { text: string; subtitle: string[] };
  data: { values: Array<Record<string, unknown>> };
  layer: Layer[];
}

/** An encoding channel of a layer, which must be there. */
interface Channel {
  field?: unknown;
  type?: unknown;
  title?: unknown;
  axis: { values?: number[]; format?: string };
  scale: Record<string, unknown>;
}
function channel(layer: Layer, name: string): Channel {
  const found = layer.encoding[name];
  assert.ok(found, `the ${name} channel`);
  return { ...found, axis: (found.axis ?? {}) as Channel["axis"], scale: found.scale ?? {} };
}

/** The layers of the first row of a curve chart. */
function firstRow(spec: TopLevelSpec): Layer[] {
  const row = (spec as unknown as CurveSpec).vconcat[0];
  assert.ok(row, "a first row");
  return row.spec.layer;
}

function layerOf(layers: readonly Layer[], type: string): Layer {
  const found = layers.find((l) => l.mark.type === type);
  assert.ok(found, `a ${type} layer`);
  return found;
}

/** A uv run with its λ_max series replaced (as measured at evalSteps 0, 1, 2, …). */
function withLambdas(model: ModelKind, multiple: number, lambdas: number[], divergedAt?: number): RunRecord {
  const base = uvRun(model, multiple, 0, 30);
  const run: RunRecord = {
    ...base,
    id: `${model}-${multiple}-lambda`,
    evalSteps: lambdas.map((_, i) => i),
    lambdaMax: lambdas,
    eigs: lambdas.map((l) => [l]),
    phase: divergedAt === undefined ? "catapult" : "divergent",
  };
  if (divergedAt === undefined) delete run.divergedAt;
  else run.divergedAt = divergedAt;
  return run;
}

test("λ_max chart: a value above the axis stays on the curve at the top edge and is marked with its value", () => {
  // The runs: f at 2.5 η_crit measured [143.6, 143.1, 2259.8] and was drawn flat; f at 2 η_crit
  // measured [143.6, 136.1, 39.3, 819] and was drawn falling to 39.
  const runs = [
    withLambdas("f", 1.5, [143.6, 120, 90, 80]),
    withLambdas("f", 2.5, [143.6, 143.1, 2259.8], 2),
    withLambdas("f", 2, [143.6, 136.1, 39.3, 819], 5),
  ];
  const chart = lambdaMaxChart(runs);
  const spec = chart as unknown as CurveSpec;
  const top = (channel(layerOf(firstRow(chart), "line"), "y").scale.domain as number[])[1] ?? Number.NaN;
  assert.ok(top >= 143.6 && top < 819, `the axis ends at ${top}, above every converging value`);
  const curve = (id: string) => spec.data.values.filter((r) => r.kind === "curve" && r.run === id);
  const marks = (id: string) => spec.data.values.filter((r) => r.kind === "mark" && r.run === id);
  assert.deepEqual(
    curve("f-2.5-lambda").map((r) => [r.step, r.value]),
    [
      [0, 143.6],
      [1, 143.1],
      [2, top],
    ],
  );
  assert.deepEqual(
    marks("f-2.5-lambda").map((r) => [r.mark, r.step, r.actual]),
    [["diverged", 2, "2260"]],
  );
  assert.deepEqual(
    curve("f-2-lambda").map((r) => [r.step, r.value]),
    [
      [0, 143.6],
      [1, 136.1],
      [2, 39.3],
      [3, top],
    ],
  );
  assert.deepEqual(
    marks("f-2-lambda").map((r) => [r.mark, r.step, r.actual]),
    [
      ["left the axis above", 3, "819"],
      ["diverged", 5, "not recorded"],
    ],
  );
});

test("curve charts: a log step axis labelled 1, 2, 5, 10, 20, 50, … and loss ticks in one number format", () => {
  assert.deepEqual(stepTicks(400), [0, 1, 2, 5, 10, 20, 50, 100, 200, 400]);
  assert.deepEqual(stepTicks(60), [0, 1, 2, 5, 10, 20, 50]);
  assert.deepEqual(logTicks(1e-8, 1e3), [1e-8, 1e-6, 1e-4, 1e-2, 1, 100]);
  assert.deepEqual(logTicks(0.05, 3), [0.05, 0.1, 0.2, 0.5, 1, 2]);
  for (const spec of [lossChart(SWEEP), lambdaMaxChart(SWEEP)]) {
    const x = channel(layerOf(firstRow(spec), "line"), "x");
    assert.equal(x.scale.type, "symlog");
    const ticks = x.axis.values ?? [];
    for (const tick of [1, 2, 5, 10, 20, 50]) assert.ok(ticks.includes(tick), `tick ${tick} in ${ticks}`);
  }
  const loss = channel(layerOf(firstRow(lossChart(SWEEP)), "line"), "y");
  assert.equal(loss.scale.type, "log");
  // One format for every label: 1e-8 and 1e+2, never 0.000001 beside 1e-8.
  assert.equal(loss.axis.format, ".0e");
});

test("curve charts: categorical rate colours, at most 8 to a panel row; more rates are split into rows", async () => {
  const multiples = [0.5, 0.75, 1, 1.25, 1.5, 1.75, 2, 2.25, 2.5];
  const runs = multiples.map((m) => uvRun("f", m, 0, 40));
  const spec = lossChart(runs) as unknown as CurveSpec;
  assert.doesNotMatch(JSON.stringify(spec), /viridis|scheme/);
  assert.equal(spec.vconcat.length, 2);
  const seen: string[] = [];
  for (const row of spec.vconcat) {
    const color = channel(layerOf(row.spec.layer, "line"), "color");
    assert.equal(color.type, "nominal");
    const range = color.scale.range as string[];
    const domain = color.scale.domain as string[];
    assert.ok(range.length <= 8 && range.length === domain.length);
    assert.equal(new Set(range).size, range.length, "distinct colours within a row");
    for (const c of range) assert.ok(RATE_COLORS.includes(c));
    seen.push(...domain);
  }
  assert.deepEqual(seen, ["0.5×", "0.75×", "1×", "1.25×", "1.5×", "1.75×", "2×", "2.25×", "2.5×"]);
  const few = lossChart(SWEEP) as unknown as CurveSpec;
  assert.equal(few.vconcat.length, 1);
  const svg = await renderSvg(lossChart(runs));
  assertWellFormed(svg);
  assert.ok(svg.includes(">η/η_crit 0.5× to 1.5×<") && svg.includes(">η/η_crit 1.75× to 2.5×<"), "row titles");
});

test("curve and best-test-loss charts: a dash style per model, so f_quad stays visible over f", async () => {
  const dashes = (layer: Layer) => {
    const dash = channel(layer, "strokeDash");
    assert.equal(dash.field, "model");
    const domain = dash.scale.domain as string[];
    const range = (dash.scale.range as number[][]).map((d) => d.join(","));
    return new Map(domain.map((m, i) => [m, range[i]]));
  };
  const curve = dashes(layerOf(firstRow(lossChart(SWEEP)), "line"));
  const best = dashes(layerOf((bestTestLossChart(SWEEP) as unknown as LayerSpec).layer, "line"));
  for (const byModel of [curve, best]) {
    assert.equal(new Set(byModel.values()).size, 3, "three different dash styles");
    assert.notEqual(byModel.get("f_quad"), byModel.get("f"));
  }
  // Identical f and f_quad values: both lines are drawn, f_quad dashed.
  const same = SWEEP.filter((r) => r.model !== "lin").map((r) => ({ ...r, bestTestLoss: 0.25 }));
  const svg = await renderSvg(bestTestLossChart(same));
  assert.equal(count(svg, 'aria-roledescription="line mark"'), 2);
  assert.ok(svg.includes('stroke-dasharray="6,3"'));
});

test("best test loss chart: a log axis, so one unconverged point does not flatten the others", () => {
  const runs = SWEEP.map((r) => (r.model === "lin" && r.lrMultiple === 0.5 ? { ...r, bestTestLoss: 300 } : r));
  const spec = bestTestLossChart(runs) as unknown as LayerSpec;
  const y = channel(layerOf(spec.layer, "line"), "y");
  assert.equal(y.scale.type, "log");
  assert.equal(y.title, "best test loss (½ · mean)");
});

test("best test loss chart without a test set: says so and shows the final training loss", () => {
  const noTest = SWEEP.map((r) => ({ ...r, testLoss: [], bestTestLoss: null }));
  const spec = bestTestLossChart(noTest, { lossNormalization: "mean" }) as unknown as LayerSpec;
  assert.match(spec.title.text, /no test set/);
  assert.match(spec.title.subtitle.join(" "), /NO TEST SET: the final training loss is shown instead/);
  assert.equal(channel(layerOf(spec.layer, "line"), "y").title, "final training loss (½ · mean) (no test set)");
  const point = spec.data.values.find((r) => r.kind === "point" && r.model === "f" && r.multiple === 1.5);
  const finals = SWEEP.filter((r) => r.model === "f" && r.lrMultiple === 1.5).map((r) => r.finalTrainLoss);
  const [first, second] = finals;
  assert.ok(finals.length === 2 && first !== undefined && second !== undefined);
  assert.equal(point?.mean, (first + second) / 2);
});

test("the report names the early evaluation steps of the dense-early schedule", () => {
  assert.equal(evaluationEarlyText(10), "steps 1–10, 13, 16, 20, 24, 31, 38");
  assert.equal(evaluationEarlyText(100), "steps 1–10, 13, 16, 20, …, 355");
  assert.equal(evaluationEarlyText(1), "steps 1–3");
});

test("writeReport: report.md and report.html list every setting; a PNG beside every SVG, at twice its size", async () => {
  const dir = mkdtempSync(join(tmpdir(), "nqm-report-settings-"));
  const paths = await writeReport(dir, SWEEP, {
    modelFile: "examples/uv.nqm",
    data: "single (1 example)",
    etaCrit: 0.5,
    lossNormalization: "sum",
    settings: SETTINGS,
    backend: "js",
  });
  const markdown = readFileSync(join(dir, "report.md"), "utf8");
  const html = readFileSync(join(dir, "report.html"), "utf8");
  const expected: Array<[string, string]> = [
    ["model file", "examples/uv.nqm (SHA-256 ab12cd34ef56ab78)"],
    ["--set", "m=500, c=0.25"],
    ["data", "single:x=1,y=0 (loaded as single (1 example); data seed 3)"],
    ["training loss", "sum: L = ½ Σ (f − y)² (sum over the training set)"],
    ["test loss", "L_test = ½ · mean (f − y)² over the test set"],
    ["learning rates", "η/η_crit = 0.5, 1.5, 2.5"],
    ["steps", "150"],
    ["seeds", "0, 1"],
    [
      "evaluation interval",
      "steps 1–10, then every 3 steps and at the last step (test loss, top 2 eigenvalues, ‖w − w0‖)",
    ],
    ["batch", "full batch (gradient descent)"],
    ["dtype / backend", "f64 / auto (ran on js)"],
    ["nqm version", "0.1.0 (compiler 0123456789ab)"],
  ];
  for (const [key, value] of expected) {
    assert.ok(markdown.includes(`\n- ${key}: ${value}\n`), `report.md: ${key}: ${value}`);
    assert.ok(html.includes(`<tr><th>${key}</th><td>${value}</td></tr>`), `report.html: ${key}: ${value}`);
  }
  const svgs = paths.filter((p) => p.endsWith(".svg"));
  assert.equal(count(html, "<svg"), svgs.length, "report.html embeds every plot");
  assert.equal(count(html, "<table"), 3, "settings, largest converged rate, phases");
  // The converged-rate table states the convergence threshold of the phases.
  assert.ok(markdown.includes("final training loss at most 1% of L0"), "the threshold in report.md");
  assert.ok(html.includes("<td>catapult</td>"));
  for (const svgPath of svgs) {
    const pngPath = svgPath.replace(/svg$/, "png");
    assert.ok(paths.includes(pngPath), `${pngPath} is written`);
    const png = readFileSync(pngPath);
    assert.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], "PNG signature");
    const svg = readFileSync(svgPath, "utf8");
    const size = /^<svg[^>]*\swidth="(\d+(?:\.\d+)?)"[^>]*\sheight="(\d+(?:\.\d+)?)"/.exec(svg);
    assert.ok(size, "the SVG states its size");
    // IHDR: width and height as big-endian 32-bit integers at bytes 16 and 20.
    assert.equal(png.readUInt32BE(16), Math.ceil(Number(size[1]) * PNG_SCALE), pngPath);
    assert.equal(png.readUInt32BE(20), Math.ceil(Number(size[2]) * PNG_SCALE), pngPath);
    assert.ok(png.length > 10_000, `${pngPath} has content (${png.length} bytes)`);
  }
});

test("testLossAcrossCritical: per model, the lowest mean-over-seeds best test loss below and above η_crit", () => {
  const run = (model: ModelKind, lrMultiple: number, seed: number, best: number | null, phase: Phase = "lazy") => ({
    ...uvRun(model, lrMultiple, seed, 10),
    phase,
    bestTestLoss: best,
  });
  const runs: RunRecord[] = [
    run("f", 0.5, 0, 0.3),
    run("f", 0.5, 1, 0.2),
    run("f", 0.9, 0, 0.22),
    run("f", 0.9, 1, 0.24),
    run("f", 1.25, 0, 0.18, "catapult"),
    run("f", 1.25, 1, 0.16, "catapult"),
    // A rate where one seed diverged is left out, however low the other's best test loss.
    run("f", 1.5, 0, 0.01, "divergent"),
    run("f", 1.5, 1, 0.05, "catapult"),
    run("quad", 0.5, 0, 0.4),
    run("quad", 1.25, 0, null, "catapult"),
    run("lin", 1.5, 0, 0.02, "divergent"),
  ];
  const result = testLossAcrossCritical(runs);
  assert.deepEqual(
    result.map((r) => r.model),
    ["f", "lin", "quad"],
  );
  const [f, lin, quad] = result;
  assert.equal(f?.below?.multiple, 0.9);
  assert.ok(Math.abs((f?.below?.loss ?? 0) - 0.23) < 1e-15);
  assert.equal(f?.above?.multiple, 1.25);
  assert.ok(Math.abs((f?.above?.loss ?? 0) - 0.17) < 1e-15);
  assert.deepEqual(lin, { model: "lin" });
  assert.deepEqual(quad, { model: "quad", below: { multiple: 0.5, loss: 0.4 } });
});
