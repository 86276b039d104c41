/**
 * Chart builders: each turns run records into a Vega-Lite spec (render it with renderSvg).
 * Nothing out of range is dropped: a curve that leaves the plotted range runs along the edge it
 * crossed, and a triangle marks where it left, with the value in its tooltip; a run that diverged
 * ends in a cross. Non-finite values never reach an axis.
 */
import type { TopLevelSpec } from "vega-lite";
import { clampSeries, downsample, formatLabel, largestFinite, logTicks, seriesSteps, stepTicks } from "./series.ts";
import type { LossNormalization, ModelKind, Phase, RunRecord } from "./types.ts";
import type { LossName } from "./types.ts";
import { MODEL_LABELS, MODEL_ORDER, PHASE_COLORS, PHASES, testLossLabel, trainingLossLabel } from "./types.ts";

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
/** Points kept per curve: enough to show a catapult's spike, small enough for a light SVG. */
const MAX_POINTS = 300;
/** The loss axis ends at this many times the largest loss a converging run reached (or the initial loss). */
const LOSS_CEILING_FACTOR = 10;
/** The loss axis spans at most this factor below the largest initial loss (converged runs reach 1e-300). */
const LOSS_FLOOR_FACTOR = 1e-12;
/** The λ axis ends at this many times the largest λ_max a converging run reached. */
const LAMBDA_CEILING_FACTOR = 1.5;
const MODEL_SORT = MODEL_ORDER.map((m) => MODEL_LABELS[m]);
const PANEL = { width: 260, height: 190 } as const;
/** Pixels between stacked divergence crosses. */
const CROSS_SPACING = 9;

/**
 * Colours for learning rates that can be told apart (Tableau 10 without its red, kept for
 * divergence, and its grey); a panel shows at most this many rates, more are split into rows.
 */
export const RATE_COLORS = ["#4c78a8", "#f58518", "#54a24b", "#b279a2", "#9d755d", "#eeca3b", "#72b7b2", "#ff9da6"];
/** A line per model that stays visible where curves coincide: f solid, f_lin dotted, f_quad dashed (drawn last, over f). */
export const MODEL_DASHES: Record<string, number[]> = { f: [1, 0], f_lin: [2, 2], f_quad: [6, 3] };
export const MODEL_SHAPES: Record<string, string> = { f: "circle", f_lin: "square", f_quad: "triangle-up" };
/** The legend entries of the markers on curve charts. */
const MARKS = {
  diverged: "diverged",
  above: "left the axis above",
  below: "left the axis below",
} as const;

/** The learning rates split into rows of at most RATE_COLORS.length, of near-equal size, in increasing order. */
/**
 * The step axis of the training plots: symmetric-log (log-like, with room for step 0), labelled
 * 1, 2, 5, 10, 20, 50, …, because the catapult happens in the first steps.
 */
function stepAxis(lastStep: number) {
  return {
    field: "step",
    type: "quantitative",
    title: "step (log scale)",
    scale: { type: "symlog", domain: span(0, lastStep), nice: false },
    axis: { values: stepTicks(lastStep), format: "d" },
  } as const;
}

export function rateGroups(multiples: Iterable<number>): number[][] {
  const sorted = [...new Set(multiples)].sort((a, b) => a - b);
  const rows = Math.max(1, Math.ceil(sorted.length / RATE_COLORS.length));
  const size = Math.ceil(sorted.length / rows);
  return Array.from({ length: rows }, (_, r) => sorted.slice(r * size, (r + 1) * size));
}

function rateLabel(multiple: number): string {
  return `${formatLabel(multiple, 4)}×`;
}

interface CurveRow {
  kind: "curve";
  model: string;
  rate: string;
  group: number;
  run: string;
  step: number;
  value: number;
}

interface MarkRow {
  kind: "mark";
  mark: string;
  model: string;
  rate: string;
  group: number;
  run: string;
  step: number;
  value: number;
  /** The value that was out of range (or non-finite), as text. */
  actual: string;
}

interface EdgeRow {
  kind: "edge";
  model: string;
  rate: string;
  group: number;
  step: number;
  value: number;
  label: string;
}

/** A thin reference curve under a panel's measured ones (the exact f_lin run of the same rate). */
interface ReferenceRow {
  kind: "reference";
  model: string;
  rate: string;
  group: number;
  run: string;
  step: number;
  value: number;
}

type Row = CurveRow | MarkRow | EdgeRow | ReferenceRow;

interface Series {
  steps: number[];
  values: number[];
}

interface Axis {
  low: number;
  high: number;
  log: boolean;
}

/**
 * Rows for one per-run series: clamped into the axis and downsampled, with a triangle where it
 * left the axis and a cross where the run diverged (stacked at the top edge when they coincide).
 */
function curveRows(runs: readonly RunRecord[], pick: (run: RunRecord) => Series, axis: Axis, lastStep: number): Row[] {
  const groups = rateGroups(runs.map((r) => r.lrMultiple));
  const groupOf = (multiple: number) => groups.findIndex((g) => g.includes(multiple));
  const rows: Row[] = [];
  const crosses: MarkRow[] = [];
  for (const run of runs) {
    const { steps, values } = pick(run);
    const clamped = clampSeries(steps, values, axis.low, axis.high, axis.log);
    const thinned = downsample(clamped.steps, clamped.values, MAX_POINTS);
    const base = {
      model: MODEL_LABELS[run.model],
      rate: rateLabel(run.lrMultiple),
      group: groupOf(run.lrMultiple),
      run: run.id,
    };
    thinned.steps.forEach((step, i) => {
      rows.push({ kind: "curve", ...base, step, value: thinned.values[i] ?? Number.NaN });
    });
    const divergedAt = run.phase === "divergent" ? (run.divergedAt ?? clamped.stoppedAt ?? run.steps) : undefined;
    for (const excursion of clamped.excursions) {
      if (excursion.step === divergedAt) continue; // the cross says it
      rows.push({
        kind: "mark",
        mark: excursion.side === "above" ? MARKS.above : MARKS.below,
        ...base,
        step: excursion.step,
        value: excursion.side === "above" ? axis.high : axis.low,
        actual: formatLabel(excursion.extreme, 4),
      });
    }
    const endedAt = divergedAt ?? clamped.stoppedAt;
    if (endedAt !== undefined) {
      const index = steps.indexOf(endedAt);
      const value = index >= 0 ? (values[index] ?? Number.NaN) : (clamped.stoppedValue ?? Number.NaN);
      crosses.push({
        kind: "mark",
        mark: MARKS.diverged,
        ...base,
        step: endedAt,
        value: axis.high,
        actual: index >= 0 || clamped.stoppedValue !== undefined ? formatLabel(value, 4) : "not recorded",
      });
    }
  }
  rows.push(...stackCrosses(crosses, axis, lastStep));
  return rows;
}

/** Crosses at the top edge, moved down one spacing each where they would overlap one in the same panel. */
function stackCrosses(crosses: MarkRow[], axis: Axis, lastStep: number): MarkRow[] {
  const x = (step: number) => (PANEL.width * Math.log1p(Math.max(0, step))) / Math.log1p(Math.max(1, lastStep));
  const down = (levels: number): number => {
    const fraction = (levels * CROSS_SPACING) / PANEL.height;
    if (axis.log) return axis.high * (axis.low / axis.high) ** fraction;
    return axis.high - fraction * (axis.high - axis.low);
  };
  const placed: Array<{ panel: string; x: number; level: number }> = [];
  return [...crosses]
    .sort((a, b) => a.step - b.step)
    .map((cross) => {
      const panel = `${cross.group}|${cross.model}`;
      const at = x(cross.step);
      let level = 0;
      while (placed.some((p) => p.panel === panel && p.level === level && Math.abs(p.x - at) < CROSS_SPACING)) level++;
      placed.push({ panel, x: at, level });
      return { ...cross, value: down(level) };
    });
}

function lossSeries(run: RunRecord): Series {
  return { steps: run.lossSteps ?? run.trainLoss.map((_, t) => t), values: run.trainLoss };
}

function lambdaSeries(run: RunRecord): Series {
  return { steps: seriesSteps(run, run.lambdaMax.length), values: run.lambdaMax };
}

/** A scale domain (a mutable array, as Vega-Lite's types want it). */
function span(low: number, high: number): number[] {
  return [low, high];
}

/** The last step any run reached. */
function lastStepOf(runs: readonly RunRecord[]): number {
  return runs.reduce((last, run) => Math.max(last, run.steps), 1);
}

/**
 * The top of the axis: `factor` times the largest value a non-divergent run reached (or any run
 * started from), so that divergent runs, clamped there and marked, do not flatten the others.
 */
function ceilingOf(runs: readonly RunRecord[], pick: (run: RunRecord) => Series, factor: number, positive: boolean) {
  const usable = (v: number) => Number.isFinite(v) && (!positive || v > 0);
  const reached = runs.filter((run) => run.phase !== "divergent").flatMap((run) => pick(run).values.filter(usable));
  const initial = runs.map((run) => pick(run).values[0] ?? Number.NaN).filter(usable);
  return factor * largestFinite([...initial, ...reached], 1);
}

/** Options shared by the chart builders. */
export interface ChartOptions {
  title?: string;
  /** How the training loss was normalized (labels the loss axes); default sum. */
  lossNormalization?: LossNormalization;
  /** The model's loss (labels the loss axes); default squared. */
  lossName?: LossName;
  /** f_lin runs drawn thin under the f and f_quad panels' curves of the same rate (the loss chart). */
  reference?: readonly RunRecord[];
}

/** Rows of the reference runs, once per panel (f, f_quad) of `runs`, clamped into the axis like the curves. */
function referenceRows(runs: readonly RunRecord[], reference: readonly RunRecord[], axis: Axis): ReferenceRow[] {
  const groups = rateGroups(runs.map((r) => r.lrMultiple));
  const panels = (["f", "quad"] as const).filter((kind) => runs.some((r) => r.model === kind));
  const rows: ReferenceRow[] = [];
  for (const ref of reference) {
    const group = groups.findIndex((g) => g.includes(ref.lrMultiple));
    if (group < 0) continue;
    const { steps, values } = lossSeries(ref);
    const clamped = clampSeries(steps, values, axis.low, axis.high, axis.log);
    const thinned = downsample(clamped.steps, clamped.values, MAX_POINTS);
    for (const kind of panels)
      thinned.steps.forEach((step, i) => {
        rows.push({
          kind: "reference",
          model: MODEL_LABELS[kind],
          rate: rateLabel(ref.lrMultiple),
          group,
          run: `${ref.id} under ${MODEL_LABELS[kind]}`,
          step,
          value: thinned.values[i] ?? Number.NaN,
        });
      });
  }
  return rows;
}

/**
 * Training loss against step on a log axis, one line per run coloured by η/η_crit, one panel per
 * model (the paper's Figure 2a); more than RATE_COLORS.length rates are split into rows.
 */
export function lossChart(runs: readonly RunRecord[], options: ChartOptions = {}): TopLevelSpec {
  const high = ceilingOf(runs, lossSeries, LOSS_CEILING_FACTOR, true);
  const floor =
    LOSS_FLOOR_FACTOR *
    largestFinite(
      runs.map((run) => run.trainLoss[0] ?? Number.NaN),
      1,
    );
  let lowest = Infinity;
  for (const run of runs) for (const v of run.trainLoss) if (v > 0 && v < lowest) lowest = v;
  // Half the lowest loss: converged runs stay visible above the bottom edge instead of running along it.
  const low = Math.min(high / 10, Math.max(floor, Number.isFinite(lowest) ? lowest / 2 : floor));
  const axis = { low, high, log: true };
  const lastStep = lastStepOf(runs);
  const reference = referenceRows(runs, options.reference ?? [], axis);
  return curveChart(runs, [...reference, ...curveRows(runs, lossSeries, axis, lastStep)], axis, lastStep, {
    title:
      options.title ??
      (reference.length > 0
        ? "Training loss (thin: the exact f_lin run of the same η under f and f_quad)"
        : "Training loss"),
    yTitle: trainingLossLabel(options.lossNormalization ?? "sum", options.lossName),
  });
}

/** λ_max of the tangent kernel against step, one line per run, with the stability edge 2/η dashed and labelled for each super-critical η. */
export function lambdaMaxChart(runs: readonly RunRecord[], options: ChartOptions = {}): TopLevelSpec {
  const high = ceilingOf(runs, lambdaSeries, LAMBDA_CEILING_FACTOR, false);
  const lastStep = lastStepOf(runs);
  const groups = rateGroups(runs.map((r) => r.lrMultiple));
  const edges = new Map<string, EdgeRow>();
  const superCritical = [...new Set(runs.filter((r) => r.lrMultiple > 1).map((r) => r.lrMultiple))].sort(
    (a, b) => a - b,
  );
  for (const run of runs)
    if (run.lrMultiple > 1 && run.lr > 0) {
      // Neighbouring edges lie close together: their labels alternate between the right end and the middle.
      const alternate = superCritical.indexOf(run.lrMultiple) % 2 === 1;
      const edge: EdgeRow = {
        kind: "edge",
        model: MODEL_LABELS[run.model],
        rate: rateLabel(run.lrMultiple),
        group: groups.findIndex((g) => g.includes(run.lrMultiple)),
        step: alternate ? Math.round(Math.sqrt(lastStep)) : lastStep,
        value: 2 / run.lr,
        label: `2/η, ${rateLabel(run.lrMultiple)}`,
      };
      edges.set(`${edge.model}|${edge.rate}|${edge.value}`, edge);
    }
  let low = Infinity;
  for (const run of runs) for (const v of run.lambdaMax) if (Number.isFinite(v) && v < low) low = v;
  for (const edge of edges.values()) low = Math.min(low, edge.value);
  low = Number.isFinite(low) && low < high ? Math.max(0, low - 0.05 * (high - low)) : 0;
  const axis = { low, high, log: false };
  return curveChart(runs, [...curveRows(runs, lambdaSeries, axis, lastStep), ...edges.values()], axis, lastStep, {
    title: options.title ?? "Top eigenvalue of the tangent kernel (dashed: the stability edge 2/η)",
    yTitle: "λ_max",
  });
}

/** One view of a vertical concatenation. */
type ConcatMember = Extract<TopLevelSpec, { vconcat: unknown }>["vconcat"][number];

function curveChart(
  runs: readonly RunRecord[],
  rows: Row[],
  axis: Axis,
  lastStep: number,
  options: { title: string; yTitle: string },
): TopLevelSpec {
  const models = MODEL_SORT.filter((m) => rows.some((r) => r.model === m));
  const groups = rateGroups(runs.map((r) => r.lrMultiple));
  const y = {
    field: "value",
    type: "quantitative",
    title: options.yTitle,
    scale: axis.log
      ? ({ type: "log", domain: span(axis.low, axis.high), nice: false } as const)
      : ({ domain: span(axis.low, axis.high), nice: false, zero: false } as const),
    ...(axis.log ? { axis: { values: logTicks(axis.low, axis.high), format: ".0e" } } : {}),
  } as const;
  const x = stepAxis(lastStep);
  const markShapes = {
    field: "mark",
    type: "nominal",
    title: "markers",
    scale: { domain: Object.values(MARKS), range: ["cross", "triangle-up", "triangle-down"] },
  } as const;
  const strokeDash = {
    field: "model",
    type: "nominal",
    title: "model",
    scale: { domain: models, range: models.map((m) => MODEL_DASHES[m] ?? [1, 0]) },
  } as const;
  const rows_ = groups.map((group, index): ConcatMember => {
    const color = {
      field: "rate",
      type: "nominal",
      title: "η/η_crit",
      scale: { domain: group.map(rateLabel), range: RATE_COLORS.slice(0, group.length) },
    } as const;
    return {
      ...(groups.length > 1
        ? { title: { text: `η/η_crit ${rateLabel(group[0] ?? 0)} to ${rateLabel(group.at(-1) ?? 0)}`, fontSize: 11 } }
        : {}),
      transform: [{ filter: { field: "group", equal: index } }],
      facet: { column: { field: "model", type: "nominal", title: null, sort: models } },
      spec: {
        ...PANEL,
        layer: [
          {
            transform: [{ filter: "datum.kind === 'edge'" }],
            mark: { type: "rule", strokeDash: [4, 3], strokeWidth: 1, clip: true },
            encoding: { y, color },
          },
          {
            transform: [{ filter: "datum.kind === 'edge'" }],
            mark: { type: "text", align: "right", baseline: "bottom", dy: -1, fontSize: 8, clip: true },
            encoding: { x, y, color, text: { field: "label" } },
          },
          // Only when there are reference rows: a chart without them keeps its layers as they were.
          ...(rows.some((r) => r.kind === "reference")
            ? [
                {
                  transform: [{ filter: "datum.kind === 'reference'" }],
                  mark: { type: "line" as const, strokeWidth: 0.7, opacity: 0.55, clip: true },
                  encoding: { x, y, color, detail: { field: "run", type: "nominal" as const } },
                },
              ]
            : []),
          {
            transform: [{ filter: "datum.kind === 'curve'" }],
            mark: { type: "line", strokeWidth: 1.4, clip: true },
            encoding: {
              x,
              y,
              color,
              strokeDash,
              detail: { field: "run", type: "nominal" },
            },
          },
          {
            transform: [{ filter: "datum.kind === 'mark'" }],
            mark: { type: "point", size: 70, filled: true, opacity: 1, clip: false },
            encoding: {
              x,
              y,
              color,
              shape: markShapes,
              tooltip: [
                { field: "run", title: "run" },
                { field: "mark", title: "marker" },
                { field: "step", title: "step" },
                { field: "actual", title: "value" },
              ],
            },
          },
        ],
      },
    };
  });
  return {
    $schema: SCHEMA,
    title: options.title,
    data: { values: rows },
    vconcat: rows_,
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
  };
}

/** The top kernel eigenvalues against step (the paper's Figure 3: λ1, λ2, ...), dash style by rank. */
export function eigenvaluesChart(runs: readonly RunRecord[], options: ChartOptions = {}): TopLevelSpec {
  const rows: Array<{ model: string; rate: string; run: string; rank: string; step: number; value: number }> = [];
  const marks: Array<{
    model: string;
    rate: string;
    run: string;
    rank: string;
    step: number;
    value: number;
    actual: string;
  }> = [];
  const initial = runs.flatMap((run) => run.eigs?.[0] ?? []);
  const high = LAMBDA_CEILING_FACTOR * largestFinite(initial, 1);
  const lastStep = lastStepOf(runs);
  for (const run of runs) {
    const eigs = run.eigs ?? [];
    const steps = seriesSteps(run, eigs.length);
    const count = eigs.reduce((most, e) => Math.max(most, e.length), 0);
    for (let rank = 0; rank < count; rank++) {
      const clamped = clampSeries(
        steps,
        eigs.map((e) => e[rank] ?? Number.NaN),
        -high,
        high,
        false,
      );
      const thinned = downsample(clamped.steps, clamped.values, MAX_POINTS);
      const base = {
        model: MODEL_LABELS[run.model],
        rate: rateLabel(run.lrMultiple),
        run: run.id,
        rank: `λ${rank + 1}`,
      };
      thinned.steps.forEach((step, i) => {
        rows.push({ ...base, step, value: thinned.values[i] ?? Number.NaN });
      });
      for (const e of clamped.excursions)
        marks.push({
          ...base,
          step: e.step,
          value: e.side === "above" ? high : -high,
          actual: formatLabel(e.extreme, 4),
        });
    }
  }
  const models = MODEL_SORT.filter((m) => rows.some((r) => r.model === m));
  const rates = rateGroups(runs.map((r) => r.lrMultiple)).flat();
  const x = stepAxis(lastStep);
  const y = { field: "value", type: "quantitative", title: "eigenvalue", scale: { zero: false } } as const;
  // Colours repeat past RATE_COLORS.length rates; the tooltip names each run.
  const color = {
    field: "rate",
    type: "nominal",
    title: "η/η_crit",
    scale: { domain: rates.map(rateLabel), range: RATE_COLORS },
  } as const;
  return {
    $schema: SCHEMA,
    title: options.title ?? "Top eigenvalues of the tangent kernel",
    data: { values: [...rows.map((r) => ({ kind: "curve", ...r })), ...marks.map((m) => ({ kind: "mark", ...m }))] },
    facet: { column: { field: "model", type: "nominal", title: null, sort: models } },
    spec: {
      ...PANEL,
      layer: [
        {
          transform: [{ filter: "datum.kind === 'curve'" }],
          mark: { type: "line", strokeWidth: 1.3, clip: true },
          encoding: {
            x,
            y,
            color,
            strokeDash: { field: "rank", type: "nominal", title: "eigenvalue" },
            detail: { field: "run", type: "nominal" },
            tooltip: [{ field: "run" }, { field: "rank" }],
          },
        },
        {
          transform: [{ filter: "datum.kind === 'mark'" }],
          mark: { type: "point", shape: "triangle-up", size: 60, filled: true, clip: false },
          encoding: {
            x,
            y,
            color,
            tooltip: [{ field: "run" }, { field: "rank" }, { field: "step" }, { field: "actual" }],
          },
        },
      ],
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

/** The legend entry of the crosses on the best-test-loss chart. */
export const ALL_DIVERGED = "every seed diverged";

/** The η/η_crit axis of a chart against the rate: logarithmic when the rates span 16× or more. */
function rateAxis(multiples: readonly number[]) {
  const logX =
    multiples.length > 0 &&
    multiples.reduce((a, b) => Math.max(a, b), -Infinity) / multiples.reduce((a, b) => Math.min(a, b), Infinity) >= 16;
  return {
    field: "multiple",
    type: "quantitative",
    title: "η/η_crit",
    scale: logX ? ({ type: "log" } as const) : ({ zero: false } as const),
  } as const;
}

/**
 * A mean-over-seeds chart's bars (min–max, where there are several seeds) and its line per model
 * (dashed by model, so coinciding curves stay visible), over the rows `filter` selects.
 */
function seedSpreadLayers<X, Y, C>(parts: {
  readonly x: X;
  readonly y: Y;
  readonly color: C;
  readonly models: readonly string[];
  readonly filter: string;
}) {
  const { x, y, color, models, filter } = parts;
  return [
    {
      transform: [{ filter: `(${filter}) && datum.seeds > 1` }],
      mark: { type: "rule" as const, strokeWidth: 1.5 },
      encoding: { x, y: { field: "min", type: "quantitative" as const }, y2: { field: "max" }, color },
    },
    {
      transform: [{ filter }],
      mark: { type: "line" as const, strokeWidth: 1.6 },
      encoding: {
        x,
        y,
        color,
        strokeDash: {
          field: "model",
          type: "nominal" as const,
          title: "model",
          scale: { domain: models, range: models.map((m) => MODEL_DASHES[m] ?? [1, 0]) },
        },
        order: { field: "multiple", type: "quantitative" as const },
      },
    },
  ];
}

/**
 * Best test loss against η/η_crit for f, f_lin and f_quad (the paper's Figure 2b) on a log axis,
 * so one unconverged point does not flatten the rest: the mean over seeds with a min–max bar, a
 * dash style and a symbol per model (f_quad dashed over f stays visible where they coincide);
 * (model, η) whose runs all diverged get a cross above the curves. Without a test set the chart
 * says so and shows the final training loss instead.
 */
export function bestTestLossChart(runs: readonly RunRecord[], options: ChartOptions = {}): TopLevelSpec {
  const haveTest = runs.some((r) => r.bestTestLoss !== null && Number.isFinite(r.bestTestLoss));
  const value = (run: RunRecord): number => (haveTest ? (run.bestTestLoss ?? Number.NaN) : run.finalTrainLoss);
  const points: Array<{
    kind: "point";
    model: string;
    multiple: number;
    mean: number;
    min: number;
    max: number;
    seeds: number;
    phase: string;
  }> = [];
  const diverged: Array<{ kind: "diverged"; model: string; multiple: number; shape: string }> = [];
  for (const group of groupRuns(runs)) {
    // A log axis cannot show 0: an exact zero is drawn at the smallest positive value instead (see the tooltip).
    const values = group.runs
      .filter((r) => r.phase !== "divergent")
      .map(value)
      .filter((v) => Number.isFinite(v) && v >= 0);
    if (values.length === 0) {
      diverged.push({
        kind: "diverged",
        model: MODEL_LABELS[group.model],
        multiple: group.multiple,
        shape: ALL_DIVERGED,
      });
      continue;
    }
    const { phase, count } = majorityPhase(group.runs);
    points.push({
      kind: "point",
      model: MODEL_LABELS[group.model],
      multiple: group.multiple,
      mean: values.reduce((a, b) => a + b, 0) / values.length,
      min: values.reduce((a, b) => Math.min(a, b), Infinity),
      max: values.reduce((a, b) => Math.max(a, b), -Infinity),
      seeds: values.length,
      phase: count === group.runs.length ? phase : `${phase} ${count}/${group.runs.length}`,
    });
  }
  const positive = points.flatMap((p) => [p.min, p.mean, p.max]).filter((v) => v > 0);
  const top = positive.length > 0 ? positive.reduce((a, b) => Math.max(a, b), -Infinity) : 1;
  const bottomFound = positive.length > 0 ? positive.reduce((a, b) => Math.min(a, b), Infinity) : top / 10;
  const bottom = Math.min(bottomFound, top / 10) / 1.5;
  for (const p of points) for (const key of ["min", "mean", "max"] as const) if (!(p[key] > 0)) p[key] = bottom;
  // Crosses in a row of their own per model, above the highest point (a log axis: a factor per row).
  const rowFactor = (top / bottom) ** 0.07;
  const markerRow = (model: string): number => top * rowFactor ** (1 + Math.max(0, MODEL_SORT.indexOf(model)));
  const axisTop = diverged.length > 0 ? top * rowFactor ** (1 + MODEL_SORT.length) : top * 1.5;
  const x = rateAxis(runs.map((r) => r.lrMultiple).filter((m) => m > 0));
  const lossLabel = haveTest
    ? testLossLabel(options.lossName)
    : trainingLossLabel(options.lossNormalization ?? "sum", options.lossName);
  const yTitle = haveTest ? `best ${lossLabel}` : `final ${lossLabel} (no test set)`;
  const y = {
    field: "mean",
    type: "quantitative",
    title: yTitle,
    scale: { type: "log", domain: span(bottom, axisTop), nice: false },
    axis: { values: logTicks(bottom, axisTop), format: ".0e" },
  } as const;
  const models = MODEL_SORT.filter((m) => runs.some((r) => MODEL_LABELS[r.model] === m));
  const color = { field: "model", type: "nominal", title: "model", sort: MODEL_SORT } as const;
  const shape = {
    field: "model",
    type: "nominal",
    title: "symbol",
    scale: { domain: models, range: models.map((m) => MODEL_SHAPES[m] ?? "circle") },
  } as const;
  const edges = [
    { kind: "edge", multiple: 1, label: "η_crit" },
    { kind: "edge", multiple: 2, label: "2η_crit" },
  ];
  const subtitle = [
    haveTest
      ? "mean over seeds, bars min–max; log axis"
      : "NO TEST SET: the final training loss is shown instead; mean over seeds, bars min–max",
    ...(diverged.length > 0 ? ["crosses above the curves: every seed diverged at that η"] : []),
  ];
  return {
    $schema: SCHEMA,
    title: {
      text:
        options.title ??
        (haveTest
          ? "Best test loss against the learning rate"
          : "Final training loss against the learning rate (no test set)"),
      subtitle,
    },
    width: 420,
    height: 260,
    data: {
      values: [...points, ...diverged.map((d) => ({ ...d, mean: markerRow(d.model) })), ...edges],
    },
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
      ...seedSpreadLayers({ x, y, color, models, filter: "datum.kind === 'point'" }),
      {
        transform: [{ filter: "datum.kind === 'point'" }],
        mark: { type: "point", size: 55, filled: false, strokeWidth: 1.6, opacity: 1 },
        encoding: {
          x,
          y,
          color,
          shape,
          tooltip: [
            { field: "model" },
            { field: "multiple", title: "η/η_crit" },
            { field: "mean", title: haveTest ? "best test loss (mean)" : "final training loss (mean)" },
            { field: "seeds" },
            { field: "phase" },
          ],
        },
      },
      {
        transform: [{ filter: "datum.kind === 'diverged'" }],
        mark: { type: "point", size: 80, filled: true, opacity: 1 },
        encoding: {
          x,
          y,
          color,
          shape: {
            field: "shape",
            type: "nominal",
            title: "markers",
            scale: { domain: [ALL_DIVERGED], range: ["cross"] },
          },
          tooltip: [{ field: "model" }, { field: "multiple", title: "η/η_crit" }, { field: "shape", title: "phase" }],
        },
      },
    ],
    resolve: { scale: { shape: "independent" } },
  };
}

/**
 * Best test accuracy against η/η_crit for f, f_lin and f_quad (classification runs: records with
 * testAccuracy): the mean over seeds that did not diverge, a min–max bar, a symbol and dash per
 * model as on the best-test-loss chart; (model, η) whose runs all diverged are left out, as the
 * subtitle says.
 */
export function testAccuracyChart(runs: readonly RunRecord[], options: { title?: string } = {}): TopLevelSpec {
  const points: Array<{ model: string; multiple: number; mean: number; min: number; max: number; seeds: number }> = [];
  let left = 0;
  for (const group of groupRuns(runs)) {
    const values = group.runs
      .filter((r) => r.phase !== "divergent")
      .map((r) => r.bestTestAccuracy ?? Number.NaN)
      .filter((v) => Number.isFinite(v));
    if (values.length === 0) {
      left++;
      continue;
    }
    points.push({
      model: MODEL_LABELS[group.model],
      multiple: group.multiple,
      mean: values.reduce((a, b) => a + b, 0) / values.length,
      min: Math.min(...values),
      max: Math.max(...values),
      seeds: values.length,
    });
  }
  const lowest = points.reduce((a, p) => Math.min(a, p.min), 1);
  // Down to a round tenth below the lowest point, so differences near 1 stay visible.
  const bottom = Math.max(0, Math.floor(lowest * 10 - 0.5) / 10);
  const models = MODEL_SORT.filter((m) => points.some((p) => p.model === m));
  const x = rateAxis(points.map((p) => p.multiple));
  const y = {
    field: "mean",
    type: "quantitative",
    title: "best test accuracy",
    scale: { domain: span(bottom, 1), nice: false },
    axis: { format: ".0%" },
  } as const;
  const color = { field: "model", type: "nominal", title: "model", sort: MODEL_SORT } as const;
  return {
    $schema: SCHEMA,
    title: {
      text: options.title ?? "Best test accuracy against the learning rate",
      subtitle: [
        "mean over seeds, bars min–max",
        ...(left > 0 ? [`${left} (model, η) left out: every seed diverged`] : []),
      ],
    },
    width: 420,
    height: 260,
    data: { values: points },
    layer: [
      ...seedSpreadLayers({ x, y, color, models, filter: "true" }),
      {
        mark: { type: "point", size: 55, filled: false, strokeWidth: 1.6, opacity: 1 },
        encoding: {
          x,
          y,
          color,
          shape: {
            field: "model",
            type: "nominal",
            title: "symbol",
            scale: { domain: models, range: models.map((m) => MODEL_SHAPES[m] ?? "circle") },
          },
          tooltip: [
            { field: "model" },
            { field: "multiple", title: "η/η_crit" },
            { field: "mean", title: "best test accuracy (mean)", format: ".2%" },
            { field: "seeds" },
          ],
        },
      },
    ],
  };
}

/**
 * The phase of each (model, η/η_crit) as a coloured grid; mixed seeds show the majority and its
 * share. `predicted` rows (e.g. "f_lin, theory") give the phase the theory predicts at each rate,
 * so the predicted boundaries sit beside the measured ones.
 */
export function phaseChart(
  runs: readonly RunRecord[],
  options: { title?: string; predicted?: ReadonlyArray<{ label: string; phaseAt: (multiple: number) => Phase }> } = {},
): TopLevelSpec {
  const measured = groupRuns(runs).map((group) => {
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
  const rates = [...new Set(measured.map((c) => c.multiple))].sort((a, b) => a - b);
  const predictedRows = (options.predicted ?? []).flatMap((row) =>
    rates.map((multiple) => {
      const phase = row.phaseAt(multiple);
      // A rate exactly at a threshold is neither side: the theory's "unfinished" there reads "edge".
      const label = phase === "unfinished" ? "edge" : phase;
      return { model: row.label, multiple, multipleLabel: formatLabel(multiple), phase, label };
    }),
  );
  const cells = [...measured, ...predictedRows];
  const multiples = rates.map((value) => formatLabel(value));
  const models = [
    ...MODEL_SORT.filter((m) => measured.some((c) => c.model === m)),
    ...(options.predicted ?? []).map((row) => row.label),
  ];
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
