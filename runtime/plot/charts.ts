/**
 * Chart builders: each turns run records into a Vega-Lite spec (render it with renderSvg).
 * Divergent runs never reach a log axis as Infinity, NaN or 1e300: their curves stop at the
 * divergence, which is marked with a cross at the top of the plotted range.
 */
import type { TopLevelSpec } from "vega-lite";
import { defined } from "../../foundation/defined.ts";
import { clipSeries, downsample, formatLabel, largestFinite, seriesSteps } from "./series.ts";
import type { ModelKind, Phase, RunRecord } from "./types.ts";
import { MODEL_LABELS, MODEL_ORDER, PHASE_COLORS, PHASES } from "./types.ts";

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
/** Points kept per curve: enough to show a catapult's spike, small enough for a light SVG. */
const MAX_POINTS = 300;
/** Curves are cut at this many times the largest loss a converging run reached (or the initial loss). */
const LOSS_CEILING_FACTOR = 10;
/** The loss axis spans at most this factor below the largest initial loss (converged runs reach 1e-300). */
const LOSS_FLOOR_FACTOR = 1e-12;
/** λ curves are cut at this many times the largest λ_max a converging run reached. */
const LAMBDA_CEILING_FACTOR = 1.5;
const MODEL_SORT = MODEL_ORDER.map((m) => MODEL_LABELS[m]);
const PANEL = { width: 260, height: 190 } as const;

interface CurveRow {
  kind: "curve" | "diverged";
  model: string;
  multiple: number;
  run: string;
  step: number;
  value: number;
}

/** Rows for one per-run series, clipped at divergence and downsampled; adds a divergence marker. */
function curveRows(
  runs: readonly RunRecord[],
  pick: (run: RunRecord) => { steps: number[]; values: number[] },
  ceilingFactor: number,
  positive: boolean,
): CurveRow[] {
  // The ceiling is set by what the converging runs reach (the catapult's peak), so divergent
  // runs, cut there and marked, do not flatten every other curve.
  const converging = runs.filter((run) => run.phase !== "divergent");
  const reached = converging.flatMap((run) =>
    pick(run).values.filter((v) => Number.isFinite(v) && (!positive || v > 0)),
  );
  const initial = runs.map((run) => pick(run).values[0] ?? Number.NaN).filter((v) => !positive || v > 0);
  const ceiling = ceilingFactor * largestFinite([...initial, ...reached], 1);
  const rows: CurveRow[] = [];
  let top = 0;
  const markers: CurveRow[] = [];
  for (const run of runs) {
    const { steps, values } = pick(run);
    const clipped = clipSeries(steps, values, ceiling, positive);
    const thinned = downsample(clipped.steps, clipped.values, MAX_POINTS);
    const base = { model: MODEL_LABELS[run.model], multiple: run.lrMultiple, run: run.id };
    thinned.values.forEach((value, i) => {
      rows.push({ kind: "curve", ...base, step: defined(thinned.steps[i], "a thinned step"), value });
      top = Math.max(top, value);
    });
    const divergedAt = clipped.divergedAt ?? (run.phase === "divergent" ? (run.divergedAt ?? run.steps) : undefined);
    if (divergedAt !== undefined) markers.push({ kind: "diverged", ...base, step: divergedAt, value: 0 });
  }
  const markerHeight = top > 0 ? top : 1;
  for (const marker of markers) rows.push({ ...marker, value: markerHeight });
  return rows;
}

function lossSeries(run: RunRecord): { steps: number[]; values: number[] } {
  return { steps: run.lossSteps ?? run.trainLoss.map((_, t) => t), values: run.trainLoss };
}

function lambdaSeries(run: RunRecord): { steps: number[]; values: number[] } {
  return { steps: seriesSteps(run, run.lambdaMax.length), values: run.lambdaMax };
}

function multipleColor(title = "η/η_crit") {
  return { field: "multiple", type: "ordinal", title, scale: { scheme: "viridis" } } as const;
}

/** Training loss against step on a log axis, one line per run coloured by η/η_crit, one panel per model (the paper's Figure 2a). */
export function lossChart(runs: readonly RunRecord[], options: { title?: string } = {}): TopLevelSpec {
  const rows = curveRows(runs, lossSeries, LOSS_CEILING_FACTOR, true);
  const floor =
    LOSS_FLOOR_FACTOR *
    largestFinite(
      runs.map((run) => run.trainLoss[0] ?? Number.NaN),
      1,
    );
  const lowest = rows
    .filter((r) => r.kind === "curve")
    .map((r) => r.value)
    .reduce((a, b) => Math.min(a, b), Infinity);
  return curveChart(rows, {
    title: options.title ?? "Training loss",
    yTitle: "training loss",
    logY: true,
    rules: [],
    ...(lowest < floor ? { domainMin: floor } : {}),
  });
}

/** λ_max of the tangent kernel against step, one line per run, with the stability edge 2/η dashed for each super-critical η. */
export function lambdaMaxChart(runs: readonly RunRecord[], options: { title?: string } = {}): TopLevelSpec {
  const rules = runs
    .filter((run) => run.lrMultiple > 1 && run.lr > 0)
    .map((run) => ({ model: MODEL_LABELS[run.model], multiple: run.lrMultiple, edge: 2 / run.lr }));
  return curveChart(curveRows(runs, lambdaSeries, LAMBDA_CEILING_FACTOR, false), {
    title: options.title ?? "Top eigenvalue of the tangent kernel (dashed: 2/η)",
    yTitle: "λ_max",
    logY: false,
    rules,
  });
}

function curveChart(
  rows: CurveRow[],
  options: {
    title: string;
    yTitle: string;
    logY: boolean;
    rules: Array<{ model: string; multiple: number; edge: number }>;
    domainMin?: number;
  },
): TopLevelSpec {
  const models = new Set(rows.map((r) => r.model));
  const scale = options.logY
    ? ({ type: "log", ...(options.domainMin !== undefined ? { domainMin: options.domainMin } : {}) } as const)
    : ({ zero: false } as const);
  const y = { field: "value", type: "quantitative", title: options.yTitle, scale } as const;
  // A symmetric-log step axis shows the first steps (the catapult) and the long tail alike.
  const x = { field: "step", type: "quantitative", title: "step", scale: { type: "symlog" } } as const;
  const ruleRows = options.rules.map((r) => ({ kind: "edge", ...r, step: 0, value: r.edge }));
  return {
    $schema: SCHEMA,
    title: options.title,
    data: { values: [...rows, ...ruleRows] },
    facet: { column: { field: "model", type: "nominal", title: null, sort: MODEL_SORT.filter((m) => models.has(m)) } },
    spec: {
      ...PANEL,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'curve'" }],
          mark: { type: "line", strokeWidth: 1.3, clip: true },
          encoding: { x, y, color: multipleColor(), detail: { field: "run", type: "nominal" } },
        },
        {
          transform: [{ filter: "datum.kind === 'edge'" }],
          mark: { type: "rule", strokeDash: [4, 3], strokeWidth: 1, clip: true },
          encoding: { y, color: multipleColor() },
        },
        {
          transform: [{ filter: "datum.kind === 'diverged'" }],
          mark: { type: "point", shape: "cross", size: 90, filled: true, clip: false },
          encoding: { x, y, color: { value: PHASE_COLORS.divergent }, tooltip: [{ field: "run" }, { field: "step" }] },
        },
      ],
    },
    resolve: { scale: { y: "shared" } },
  };
}

/** The top kernel eigenvalues against step (the paper's Figure 3: λ1, λ2, ...), dash style by rank. */
export function eigenvaluesChart(runs: readonly RunRecord[], options: { title?: string } = {}): TopLevelSpec {
  const rows: Array<{ model: string; multiple: number; run: string; rank: string; step: number; value: number }> = [];
  const initial = runs.flatMap((run) => run.eigs?.[0] ?? []);
  const ceiling = LAMBDA_CEILING_FACTOR * largestFinite(initial, 1);
  for (const run of runs) {
    const eigs = run.eigs ?? [];
    const steps = seriesSteps(run, eigs.length);
    const count = eigs.reduce((most, e) => Math.max(most, e.length), 0);
    for (let rank = 0; rank < count; rank++) {
      const clipped = clipSeries(
        steps,
        eigs.map((e) => e[rank] ?? Number.NaN),
        ceiling,
        false,
      );
      const thinned = downsample(clipped.steps, clipped.values, MAX_POINTS);
      thinned.values.forEach((value, i) => {
        rows.push({
          model: MODEL_LABELS[run.model],
          multiple: run.lrMultiple,
          run: run.id,
          rank: `λ${rank + 1}`,
          step: defined(thinned.steps[i], "a thinned step"),
          value,
        });
      });
    }
  }
  const models = new Set(rows.map((r) => r.model));
  return {
    $schema: SCHEMA,
    title: options.title ?? "Top eigenvalues of the tangent kernel",
    data: { values: rows },
    facet: { column: { field: "model", type: "nominal", title: null, sort: MODEL_SORT.filter((m) => models.has(m)) } },
    spec: {
      ...PANEL,
      mark: { type: "line", strokeWidth: 1.3, clip: true },
      encoding: {
        x: { field: "step", type: "quantitative", title: "step" },
        y: { field: "value", type: "quantitative", title: "eigenvalue", scale: { zero: false } },
        color: multipleColor(),
        strokeDash: { field: "rank", type: "nominal", title: "eigenvalue" },
        detail: { field: "run", type: "nominal" },
      },
    },
  };
}

interface Aggregate {
  model: ModelKind;
  multiple: number;
  runs: RunRecord[];
}

/** Runs grouped by (model, η/η_crit), in model order then by multiple. */
export function groupRuns(runs: readonly RunRecord[]): Aggregate[] {
  const groups = new Map<string, Aggregate>();
  for (const run of runs) {
    const key = `${run.model}|${run.lrMultiple}`;
    const group = groups.get(key) ?? { model: run.model, multiple: run.lrMultiple, runs: [] };
    group.runs.push(run);
    groups.set(key, group);
  }
  return [...groups.values()].sort(
    (a, b) => MODEL_ORDER.indexOf(a.model) - MODEL_ORDER.indexOf(b.model) || a.multiple - b.multiple,
  );
}

/** The most common phase of a group (ties go to the earlier phase in PHASES) and how many runs had it. */
export function majorityPhase(runs: readonly RunRecord[]): { phase: Phase; count: number } {
  let best: Phase = "unfinished";
  let bestCount = -1;
  for (const phase of PHASES) {
    const count = runs.filter((r) => r.phase === phase).length;
    if (count > bestCount) {
      best = phase;
      bestCount = count;
    }
  }
  return { phase: best, count: bestCount };
}

/**
 * Best test loss against η/η_crit for f, f_lin and f_quad (the paper's Figure 2b): the mean over
 * seeds with a min–max bar; (model, η) whose runs all diverged get a cross at the top. Without any
 * test loss it falls back to the lowest training loss.
 */
export function bestTestLossChart(runs: readonly RunRecord[], options: { title?: string } = {}): TopLevelSpec {
  const haveTest = runs.some((r) => r.bestTestLoss !== null && Number.isFinite(r.bestTestLoss));
  const best = (run: RunRecord): number => {
    if (haveTest) return run.bestTestLoss ?? Number.NaN;
    let lowest = Number.NaN;
    for (const loss of run.trainLoss) if (Number.isFinite(loss) && !(loss >= lowest)) lowest = loss;
    return lowest;
  };
  const points: Array<{
    kind: string;
    model: string;
    multiple: number;
    mean: number;
    min: number;
    max: number;
    seeds: number;
  }> = [];
  const diverged: Array<{ kind: string; model: string; multiple: number }> = [];
  for (const group of groupRuns(runs)) {
    const values = group.runs
      .filter((r) => r.phase !== "divergent")
      .map(best)
      .filter(Number.isFinite);
    if (values.length === 0) {
      diverged.push({ kind: "diverged", model: MODEL_LABELS[group.model], multiple: group.multiple });
      continue;
    }
    const mean = values.reduce((a, b) => a + b, 0) / values.length;
    points.push({
      kind: "point",
      model: MODEL_LABELS[group.model],
      multiple: group.multiple,
      mean,
      min: values.reduce((a, b) => Math.min(a, b), Infinity),
      max: values.reduce((a, b) => Math.max(a, b), -Infinity),
      seeds: values.length,
    });
  }
  // Diverged (model, η) get a cross in a row of their own per model, just above the plotted range.
  const top = points.length > 0 ? points.reduce((top, p) => Math.max(top, p.max), -Infinity) : 1;
  const bottom = points.length > 0 ? points.reduce((bottom, p) => Math.min(bottom, p.min), Infinity) : 0;
  const step = 0.07 * (top > bottom ? top - bottom : Math.abs(top) || 1);
  const markerRow = (model: string): number => top + step * (1 + MODEL_SORT.indexOf(model));
  const multiples = runs.map((r) => r.lrMultiple).filter((m) => m > 0);
  const logX =
    multiples.length > 0 &&
    multiples.reduce((a, b) => Math.max(a, b), -Infinity) / multiples.reduce((a, b) => Math.min(a, b), Infinity) >= 16;
  const x = {
    field: "multiple",
    type: "quantitative",
    title: "η/η_crit",
    scale: logX ? ({ type: "log" } as const) : ({ zero: false } as const),
  } as const;
  const yTitle = haveTest ? "best test loss" : "best training loss";
  const color = { field: "model", type: "nominal", title: "model", sort: MODEL_SORT } as const;
  const edges = [
    { kind: "edge", multiple: 1, label: "η_crit" },
    { kind: "edge", multiple: 2, label: "2η_crit" },
  ];
  return {
    $schema: SCHEMA,
    title: {
      text:
        options.title ??
        (haveTest
          ? "Best test loss against the learning rate"
          : "Best training loss against the learning rate (no test set)"),
      subtitle:
        diverged.length > 0
          ? "mean over seeds, bars min–max; crosses above the curves: every seed diverged"
          : "mean over seeds, bars min–max",
    },
    width: 420,
    height: 260,
    data: { values: [...points, ...diverged.map((d) => ({ ...d, mean: markerRow(d.model) })), ...edges] },
    layer: [
      {
        transform: [{ filter: "datum.kind === 'edge'" }],
        mark: { type: "rule", strokeDash: [4, 3], color: "#888" },
        encoding: { x },
      },
      {
        transform: [{ filter: "datum.kind === 'edge'" }],
        mark: { type: "text", align: "left", dx: 3, dy: -4, baseline: "bottom", color: "#666" },
        encoding: { x, y: { value: 0 }, text: { field: "label" } },
      },
      {
        transform: [{ filter: "datum.kind === 'point' && datum.seeds > 1" }],
        mark: { type: "rule", strokeWidth: 1.5 },
        encoding: { x, y: { field: "min", type: "quantitative" }, y2: { field: "max" }, color },
      },
      {
        transform: [{ filter: "datum.kind === 'point'" }],
        mark: { type: "line", point: true },
        encoding: {
          x,
          y: { field: "mean", type: "quantitative", title: yTitle, scale: { zero: false } },
          color,
          tooltip: [{ field: "model" }, { field: "multiple" }, { field: "mean" }, { field: "seeds" }],
        },
      },
      {
        transform: [{ filter: "datum.kind === 'diverged'" }],
        mark: { type: "point", shape: "cross", size: 110, filled: true },
        encoding: {
          x,
          y: { field: "mean", type: "quantitative" },
          color,
          tooltip: [{ field: "model" }, { field: "multiple" }],
        },
      },
    ],
  };
}

/** The phase of each (model, η/η_crit) as a coloured grid; mixed seeds show the majority and its share. */
export function phaseChart(runs: readonly RunRecord[], options: { title?: string } = {}): TopLevelSpec {
  const cells = groupRuns(runs).map((group) => {
    const { phase, count } = majorityPhase(group.runs);
    const label = count === group.runs.length ? phase : `${phase} ${count}/${group.runs.length}`;
    return {
      model: MODEL_LABELS[group.model],
      multiple: group.multiple,
      multipleLabel: formatLabel(group.multiple),
      phase,
      label,
    };
  });
  const multiples = [...new Set(cells.map((c) => c.multiple))].sort((a, b) => a - b).map((value) => formatLabel(value));
  const models = MODEL_SORT.filter((m) => cells.some((c) => c.model === m));
  const x = {
    field: "multipleLabel",
    type: "ordinal",
    title: "η/η_crit",
    sort: multiples,
    axis: { labelAngle: 0 },
  } as const;
  const y = { field: "model", type: "nominal", title: "model", sort: models } as const;
  return {
    $schema: SCHEMA,
    title: options.title ?? "Phase of each run",
    width: Math.max(160, 64 * multiples.length),
    height: 34 * Math.max(1, models.length),
    data: { values: cells },
    layer: [
      {
        mark: { type: "rect", stroke: "white", strokeWidth: 2 },
        encoding: {
          x,
          y,
          color: {
            field: "phase",
            type: "nominal",
            title: "phase",
            scale: { domain: [...PHASES], range: PHASES.map((p) => PHASE_COLORS[p]) },
          },
        },
      },
      {
        mark: { type: "text", fontSize: 10, color: "white" },
        encoding: { x, y, text: { field: "label" } },
      },
    ],
  };
}
