/**
 * Sweeps along a dim or const (`nqm sweep --set m=500,1000,2000`): one learning-rate sweep per
 * value, and the plots the paper makes across them: the largest convergent η/η_crit against the
 * value (the catapult window does not depend on the width m), the kernel's relative change
 * ‖K(w_T) − K(w0)‖/‖K(w0)‖ of lazy f runs against the value on log–log axes with its fitted
 * slope (about −1 against m), and the final training loss against the value and against η
 * (the paper's Figure 8 for γ of the general quadratic model).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { writeFailed } from "../files.ts";
import { groupRuns } from "./charts.ts";
import { renderPng, renderSvg } from "./render.ts";
import { formatLabel, logTicks } from "./series.ts";
import type { ModelKind, RunRecord } from "./types.ts";
import { MODEL_LABELS, MODEL_ORDER } from "./types.ts";

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";
const MODEL_SORT = MODEL_ORDER.map((m) => MODEL_LABELS[m]);

/** The runs of one value of the axis. */
export interface AxisPoint {
  readonly value: number;
  readonly runs: readonly RunRecord[];
}

/** The largest η/η_crit at which every seed of `model` converged (lazy or catapult), or undefined. */
export function largestConverged(runs: readonly RunRecord[], model: ModelKind): number | undefined {
  return groupRuns(runs)
    .filter((g) => g.model === model && g.runs.every((r) => r.phase === "lazy" || r.phase === "catapult"))
    .at(-1)?.multiple;
}

/** Least-squares slope and intercept of log10 y against log10 x over the points with x, y > 0. */
export function logLogFit(
  points: ReadonlyArray<readonly [number, number]>,
): { slope: number; intercept: number } | undefined {
  const usable = points.filter(([x, y]) => x > 0 && y > 0 && Number.isFinite(x) && Number.isFinite(y));
  if (new Set(usable.map(([x]) => x)).size < 2) return undefined;
  const xs = usable.map(([x]) => Math.log10(x));
  const ys = usable.map(([, y]) => Math.log10(y));
  const mx = xs.reduce((a, b) => a + b, 0) / xs.length;
  const my = ys.reduce((a, b) => a + b, 0) / ys.length;
  let sxy = 0;
  let sxx = 0;
  for (const [i, x] of xs.entries()) {
    sxy += (x - mx) * ((ys[i] ?? my) - my);
    sxx += (x - mx) ** 2;
  }
  const slope = sxy / sxx;
  return { slope, intercept: my - slope * mx };
}

/**
 * The relative kernel change of the lazy f runs per (value, η/η_crit), averaged over seeds, and
 * the log–log fit of each rate's change against the value.
 */
export function kernelChanges(points: readonly AxisPoint[]): {
  rows: Array<{ value: number; multiple: number; change: number }>;
  fits: Array<{ multiple: number; slope: number; intercept: number }>;
} {
  const rows: Array<{ value: number; multiple: number; change: number }> = [];
  for (const point of points)
    for (const group of groupRuns(point.runs)) {
      if (group.model !== "f" || !group.runs.every((r) => r.phase === "lazy")) continue;
      const changes = group.runs.map((r) => r.kernelChange ?? Number.NaN).filter((c) => Number.isFinite(c) && c > 0);
      if (changes.length === 0) continue;
      rows.push({
        value: point.value,
        multiple: group.multiple,
        change: changes.reduce((a, b) => a + b, 0) / changes.length,
      });
    }
  const fits: Array<{ multiple: number; slope: number; intercept: number }> = [];
  for (const multiple of [...new Set(rows.map((r) => r.multiple))].sort((a, b) => a - b)) {
    const fit = logLogFit(rows.filter((r) => r.multiple === multiple).map((r) => [r.value, r.change] as const));
    if (fit) fits.push({ multiple, ...fit });
  }
  return { rows, fits };
}

/** The largest convergent η/η_crit of each model against the axis value. */
export function convergedChart(name: string, points: readonly AxisPoint[]): TopLevelSpec {
  const rows = points.flatMap((point) =>
    MODEL_ORDER.filter((m) => point.runs.some((r) => r.model === m)).map((model) => ({
      value: point.value,
      model: MODEL_LABELS[model],
      largest: largestConverged(point.runs, model) ?? 0,
    })),
  );
  return {
    $schema: SCHEMA,
    title: {
      text: `Largest convergent η/η_crit against ${name}`,
      subtitle:
        "every seed lazy or catapult; 0: none of the rates converged. The theory: the window does not depend on the width",
    },
    width: 360,
    height: 220,
    data: { values: rows },
    mark: { type: "line", point: true },
    encoding: {
      x: { field: "value", type: "quantitative", title: name, scale: { type: "log" } },
      y: { field: "largest", type: "quantitative", title: "largest convergent η/η_crit", scale: { zero: true } },
      color: { field: "model", type: "nominal", title: "model", sort: MODEL_SORT },
      tooltip: [{ field: "model" }, { field: "value", title: name }, { field: "largest", title: "η/η_crit" }],
    },
  };
}

/** The relative kernel change of lazy f runs against the axis value, log–log, with each rate's fitted line. */
export function kernelChangeChart(name: string, points: readonly AxisPoint[]): TopLevelSpec {
  const { rows, fits } = kernelChanges(points);
  const values = points.map((p) => p.value);
  const lines = fits.flatMap((fit) =>
    [Math.min(...values), Math.max(...values)].map((value) => ({
      kind: "fit",
      value,
      rate: `${formatLabel(fit.multiple, 4)}×`,
      change: 10 ** (fit.intercept + fit.slope * Math.log10(value)),
    })),
  );
  const measured = rows.map((r) => ({
    kind: "measured",
    value: r.value,
    rate: `${formatLabel(r.multiple, 4)}×`,
    change: r.change,
  }));
  const changes = [...measured, ...lines].map((r) => r.change).filter((c) => c > 0);
  const low = changes.length > 0 ? Math.min(...changes) / 2 : 1e-6;
  const high = changes.length > 0 ? Math.max(...changes) * 2 : 1;
  const slopes = fits.map((f) => `${formatLabel(f.multiple, 4)}×: ${f.slope.toFixed(2)}`).join(", ");
  const x = { field: "value", type: "quantitative", title: `${name} (log scale)`, scale: { type: "log" } } as const;
  const y = {
    field: "change",
    type: "quantitative",
    title: "‖K(w_T) − K(w0)‖_F / ‖K(w0)‖_F",
    scale: { type: "log", domain: span(low, high), nice: false },
    axis: { values: logTicks(low, high), format: ".0e" },
  } as const;
  const color = { field: "rate", type: "nominal", title: "η/η_crit" } as const;
  return {
    $schema: SCHEMA,
    title: {
      text: `Kernel change of lazy f runs against ${name}`,
      subtitle:
        fits.length > 0
          ? `fitted log–log slopes (dashed): ${slopes}`
          : "fewer than two values with lazy f runs: no fit",
    },
    width: 360,
    height: 220,
    data: { values: [...measured, ...lines] },
    layer: [
      {
        transform: [{ filter: "datum.kind === 'measured'" }],
        mark: { type: "point", filled: true, size: 45 },
        encoding: { x, y, color, tooltip: [{ field: "rate" }, { field: "value", title: name }, { field: "change" }] },
      },
      {
        transform: [{ filter: "datum.kind === 'fit'" }],
        mark: { type: "line", strokeDash: [5, 3], strokeWidth: 1.2 },
        encoding: { x, y, color },
      },
    ],
  };
}

/**
 * The final training loss against the axis value (one line per η/η_crit) and against η/η_crit
 * (one line per value), per model, on log axes (the paper's Figure 8 for γ); diverged runs are left out.
 */
export function finalLossChart(name: string, points: readonly AxisPoint[]): TopLevelSpec {
  const rows = points.flatMap((point) =>
    groupRuns(point.runs)
      .map((group) => {
        const finals = group.runs
          .filter((r) => r.phase !== "divergent")
          .map((r) => r.finalTrainLoss)
          .filter((l) => Number.isFinite(l) && l > 0);
        return {
          model: MODEL_LABELS[group.model],
          value: point.value,
          valueLabel: `${name} = ${formatLabel(point.value, 4)}`,
          multiple: group.multiple,
          rate: `${formatLabel(group.multiple, 4)}×`,
          loss: finals.length > 0 ? finals.reduce((a, b) => a + b, 0) / finals.length : Number.NaN,
        };
      })
      .filter((r) => Number.isFinite(r.loss)),
  );
  const losses = rows.map((r) => r.loss);
  const low = losses.length > 0 ? Math.min(...losses) / 2 : 1e-6;
  const high = losses.length > 0 ? Math.max(...losses) * 2 : 1;
  const y = {
    field: "loss",
    type: "quantitative",
    title: "final training loss",
    scale: { type: "log", domain: span(low, high), nice: false },
    axis: { values: logTicks(low, high), format: ".0e" },
  } as const;
  const models = MODEL_SORT.filter((m) => rows.some((r) => r.model === m));
  const panel = (x: object, color: object) => ({
    facet: { column: { field: "model", type: "nominal", title: null, sort: models } },
    spec: {
      width: 220,
      height: 170,
      mark: { type: "line", point: true, clip: true },
      encoding: {
        x,
        y,
        color,
        tooltip: [{ field: "model" }, { field: "valueLabel" }, { field: "rate" }, { field: "loss" }],
      },
    },
  });
  return {
    $schema: SCHEMA,
    title: {
      text: `Final training loss against ${name} and against η/η_crit`,
      subtitle: "mean over seeds; diverged runs left out",
    },
    data: { values: rows },
    vconcat: [
      panel(
        { field: "value", type: "quantitative", title: `${name} (log scale)`, scale: { type: "log" } },
        { field: "rate", type: "nominal", title: "η/η_crit", sort: { field: "multiple" } },
      ),
      panel(
        { field: "multiple", type: "quantitative", title: "η/η_crit" },
        { field: "valueLabel", type: "nominal", title: name, sort: { field: "value" } },
      ),
    ],
    resolve: { scale: { color: "independent" }, legend: { color: "independent" } },
  } as TopLevelSpec;
}

/**
 * Writes the axis plots (SVG and PNG) and `DIR/report.md`, which links them and each value's own
 * sweep report; returns the written paths, report.md last.
 */
export async function writeAxisReport(dir: string, name: string, points: readonly AxisPoint[]): Promise<string[]> {
  const write = async (path: string, data: string | Buffer) => {
    try {
      await writeFile(path, data);
    } catch (error) {
      writeFailed(path, error);
    }
  };
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    writeFailed(dir, error);
  }
  const figures = [
    {
      file: `${name}-largest-converged`,
      title: `Largest convergent η/η_crit against ${name}`,
      spec: convergedChart(name, points),
    },
    {
      file: `${name}-kernel-change`,
      title: `Kernel change of lazy f runs against ${name}`,
      spec: kernelChangeChart(name, points),
    },
    {
      file: `${name}-final-loss`,
      title: `Final training loss against ${name} and η/η_crit`,
      spec: finalLossChart(name, points),
    },
  ];
  const written: string[] = [];
  for (const figure of figures) {
    const svg = await renderSvg(figure.spec);
    await write(join(dir, `${figure.file}.svg`), svg);
    await write(join(dir, `${figure.file}.png`), renderPng(svg));
    written.push(join(dir, `${figure.file}.svg`), join(dir, `${figure.file}.png`));
  }
  const models = MODEL_ORDER.filter((m) => points.some((p) => p.runs.some((r) => r.model === m)));
  const { fits } = kernelChanges(points);
  const lines = [
    `# Sweep over ${name}`,
    "",
    `One learning-rate sweep per value of ${name}, each in its folder with its own report.`,
    "",
    `| ${name} | ${models.map((m) => `largest convergent η/η_crit, ${MODEL_LABELS[m]}`).join(" | ")} | report |`,
    `| --- | ${models.map(() => "---").join(" | ")} | --- |`,
    ...points.map(
      (p) =>
        `| ${formatLabel(p.value, 6)} | ${models.map((m) => formatLabel(largestConverged(p.runs, m) ?? 0, 4)).join(" | ")} | [report](${name}=${p.value}/report.md) |`,
    ),
    "",
    "## Kernel change in the lazy regime",
    "",
    fits.length > 0
      ? `Fitted slope of log ‖K(w_T) − K(w0)‖_F/‖K(w0)‖_F against log ${name}, per η/η_crit (f runs lazy at every value): ${fits.map((f) => `${formatLabel(f.multiple, 4)}×: ${f.slope.toFixed(3)}`).join(", ")}.`
      : "No fit: fewer than two values with lazy f runs whose kernel change was measured.",
    "",
    "## Figures",
    "",
    ...figures.flatMap((f) => [`### ${f.title}`, "", `![${f.title}](${f.file}.png) ([SVG](${f.file}.svg))`, ""]),
  ];
  const reportPath = join(dir, "report.md");
  await write(reportPath, lines.join("\n"));
  written.push(reportPath);
  return written;
}

/** A scale domain (a mutable array, as Vega-Lite's types want it). */
function span(low: number, high: number): number[] {
  return [low, high];
}
