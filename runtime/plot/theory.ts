/**
 * What the theory predicts, for the report: the spectrum of K(w0) and the learning-rate
 * thresholds it fixes (η_crit = 2/λ1, 2/λ2, and η_max = 4/λ0 for a single example), and the
 * charts that hold measurements against them: the spectrum, and the loss along the top
 * eigen-directions of K(w0) per model (the paper's Theorem 3 and Figure 3).
 */
import type { TopLevelSpec } from "vega-lite";
import { clampSeries, downsample, formatLabel, logTicks, seriesSteps, stepTicks } from "./series.ts";
import type { LossNormalization, ModelKind, RunRecord, Spectrum } from "./types.ts";
import { MODEL_LABELS } from "./types.ts";

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
const MAX_POINTS = 300;
/** The directions chart's loss axis spans at most this factor below its largest value. */
const FLOOR_FACTOR = 1e-12;
/** Colours of the components: p1, p2, … then the rest (grey). */
const COMPONENT_COLORS = ["#e45756", "#4c78a8", "#54a24b", "#b279a2", "#f58518", "#72b7b2", "#9d755d", "#eeca3b"];
const REST_COLOR = "#7f7f7f";
/** Rates per row of the directions chart. */
const COLUMNS = 5;

/** A predicted threshold on the learning rate. */
export interface Threshold {
  readonly name: string;
  /** η, absolute. */
  readonly eta: number;
  /** η/η_crit. */
  readonly multiple: number;
  readonly meaning: string;
}

/**
 * The thresholds the spectrum predicts: 2/λ1 (η_crit: f_lin diverges above it), 2/λ2 (above it
 * the second direction is super-critical too), and for a single example η_max = 4/λ0, the NQM's
 * edge of divergence. For the mean loss every threshold is n times larger.
 */
export function predictedThresholds(spectrum: Spectrum, loss: LossNormalization, n: number): Threshold[] {
  const scale = loss === "mean" ? n : 1;
  const [l1, l2] = spectrum.values;
  if (l1 === undefined || !(l1 > 0)) return [];
  const crit = (2 / l1) * scale;
  const thresholds: Threshold[] = [
    {
      name: "η_crit = 2/λ1",
      eta: crit,
      multiple: 1,
      meaning: "f_lin diverges above it; f and f_quad catapult (their λ1 falls below 2/η)",
    },
  ];
  if (l2 !== undefined && l2 > 0)
    thresholds.push({
      name: "2/λ2",
      eta: (2 / l2) * scale,
      multiple: (2 / l2) * scale * (1 / crit),
      meaning:
        "between 2/λ1 and 2/λ2 only the top direction p1 is super-critical (Theorem 3: the catapult happens along p1, the p2 component decays)",
    });
  if (spectrum.rows === 1)
    thresholds.push({
      name: "η_max = 4/λ0",
      eta: (4 / l1) * scale,
      multiple: 2,
      meaning:
        "one example: f_quad (the NQM) converges below it and diverges above (Theorem 1); real ReLU nets were seen to converge up to about 12/λ0",
    });
  return thresholds;
}

/** Eigenvalues below this fraction of λ1 are rounding of zero: drawn on the spectrum chart's bottom edge. */
const SPECTRUM_FLOOR = 1e-10;

/**
 * The top eigenvalues of K(w0) against their rank, on a log axis, with the values in the
 * tooltips; a value below SPECTRUM_FLOOR·λ1 (zero up to rounding, or negative) sits on the
 * bottom edge as an open triangle.
 */
export function spectrumChart(spectrum: Spectrum, options: { title?: string } = {}): TopLevelSpec {
  const finite = spectrum.values.filter(Number.isFinite);
  const top = finite.reduce((a, v) => Math.max(a, v), 0) || 1;
  const floor = top * SPECTRUM_FLOOR;
  const smallest = finite.filter((v) => v >= floor).reduce((a, v) => Math.min(a, v), top);
  const low = Math.max(Math.min(smallest / 2, top / 100), floor);
  const points = finite.map((value, i) => ({
    rank: i + 1,
    value: Math.max(value, low),
    label: formatLabel(value, 5),
    zero: value < floor ? "≈ 0 (< 1e-10 λ1)" : "λ_i",
  }));
  return {
    $schema: SCHEMA,
    title: {
      text: options.title ?? "Spectrum of the tangent kernel K(w0)",
      subtitle: `top ${points.length} of ${spectrum.rows} eigenvalues (seed 0); η_crit = 2/λ1`,
    },
    width: 260,
    height: 150,
    data: { values: points },
    layer: [
      {
        mark: { type: "rule", color: "#4c78a8" },
        encoding: {
          x: { field: "rank", type: "ordinal", title: "rank i", axis: { labelAngle: 0 } },
          y: {
            field: "value",
            type: "quantitative",
            title: "λ_i",
            scale: { type: "log", domain: [low, top * 1.5], nice: false },
            axis: { values: logTicks(low, top * 1.5), format: ".0e" },
          },
          y2: { datum: low },
        },
      },
      {
        mark: { type: "point", filled: true, size: 40, color: "#4c78a8", clip: false },
        encoding: {
          x: { field: "rank", type: "ordinal" },
          y: { field: "value", type: "quantitative" },
          shape: {
            field: "zero",
            type: "nominal",
            title: null,
            scale: { domain: ["λ_i", "≈ 0 (< 1e-10 λ1)"], range: ["circle", "triangle-down"] },
          },
          tooltip: [
            { field: "rank", title: "i" },
            { field: "label", title: "λ_i" },
          ],
        },
      },
    ],
  };
}

/** Whether any run of `kind` recorded direction components. */
export function hasDirections(runs: readonly RunRecord[], kind: ModelKind): boolean {
  return runs.some((r) => r.model === kind && (r.directions?.length ?? 0) > 0);
}

/**
 * The loss along each of the top-k eigenvectors of K(w0) and along the rest against step, for
 * one model: a panel per learning rate (seed 0 when there are several), one line per component.
 */
export function directionsChart(runs: readonly RunRecord[], kind: ModelKind): TopLevelSpec {
  const chosen = runs
    .filter((r) => r.model === kind && (r.directions?.length ?? 0) > 0)
    .filter((r, _, all) => r.seed === Math.min(...all.map((s) => s.seed)))
    .sort((a, b) => a.lrMultiple - b.lrMultiple);
  const count = chosen.reduce((most, r) => Math.max(most, ...(r.directions ?? []).map((d) => d.length)), 0);
  const names = Array.from({ length: count }, (_, i) => (i === count - 1 ? "rest" : `p${i + 1}`));
  let high = 0;
  for (const run of chosen)
    for (const parts of run.directions ?? []) for (const v of parts) if (Number.isFinite(v) && v > high) high = v;
  high = high > 0 ? high * 2 : 1;
  let lowest = Number.POSITIVE_INFINITY;
  for (const run of chosen)
    for (const parts of run.directions ?? []) for (const v of parts) if (v > 0 && v < lowest) lowest = v;
  const low = Math.max(Number.isFinite(lowest) ? lowest / 2 : high * FLOOR_FACTOR, high * FLOOR_FACTOR);
  const lastStep = chosen.reduce((last, r) => Math.max(last, r.steps), 1);
  const rows: Array<{ rate: string; order: number; component: string; step: number; value: number }> = [];
  for (const run of chosen) {
    const directions = run.directions ?? [];
    const steps = seriesSteps(run, directions.length);
    for (const [c, name] of names.entries()) {
      const clamped = clampSeries(
        steps,
        directions.map((d) => d[c] ?? Number.NaN),
        low,
        high,
        true,
      );
      const thinned = downsample(clamped.steps, clamped.values, MAX_POINTS);
      thinned.steps.forEach((step, i) => {
        rows.push({
          rate: `${formatLabel(run.lrMultiple, 4)}×`,
          order: run.lrMultiple,
          component: name,
          step,
          value: thinned.values[i] ?? Number.NaN,
        });
      });
    }
  }
  const rates = chosen.map((r) => `${formatLabel(r.lrMultiple, 4)}×`);
  const colors = names.map((name, i) => (name === "rest" ? REST_COLOR : (COMPONENT_COLORS[i] ?? REST_COLOR)));
  return {
    $schema: SCHEMA,
    title: {
      text: `${MODEL_LABELS[kind]}: training loss along the top eigenvectors of K(w0) and the rest`,
      subtitle: "½(p_iᵀr)² per direction, ½‖r⊥‖² for the rest (they sum to the training loss); panels by η/η_crit",
    },
    data: { values: rows },
    facet: { field: "rate", type: "nominal", title: null, sort: rates },
    columns: COLUMNS,
    spec: {
      width: 180,
      height: 130,
      mark: { type: "line", strokeWidth: 1.3, clip: true },
      encoding: {
        x: {
          field: "step",
          type: "quantitative",
          title: "step (log scale)",
          scale: { type: "symlog", domain: [0, lastStep], nice: false },
          axis: { values: stepTicks(lastStep), format: "d" },
        },
        y: {
          field: "value",
          type: "quantitative",
          title: "loss component",
          scale: { type: "log", domain: [low, high], nice: false },
          axis: { values: logTicks(low, high), format: ".0e" },
        },
        color: { field: "component", type: "nominal", title: "direction", scale: { domain: names, range: colors } },
      },
    },
  };
}
