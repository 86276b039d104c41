/**
 * The sweep report: every chart as SVG and PNG, and one page in two forms, report.md (linking the
 * PNGs) and a self-contained report.html (embedding the SVGs), built from the same sections:
 * the settings that decide the results, the largest converged rate per model, the phases.
 */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import { writeFailed } from "../files.ts";
import { lossFormula, testLossFormula } from "../sweep-settings.ts";
import {
  bestTestLossChart,
  eigenvaluesChart,
  groupRuns,
  lambdaMaxChart,
  lossChart,
  majorityPhase,
  phaseChart,
  testAccuracyChart,
} from "./charts.ts";
import { renderPng, renderSvg } from "./render.ts";
import { formatLabel } from "./series.ts";
import { directionsChart, hasDirections, predictedThresholds, spectrumChart } from "./theory.ts";
import { earlyEvaluationSteps } from "../schedule.ts";
import { CONVERGED_FRACTION } from "../run-record.ts";
import type { Phase, ReportMeta, RunRecord } from "./types.ts";
import { MODEL_LABELS, MODEL_ORDER } from "./types.ts";

interface Figure {
  /** The file name without its extension (NAME.svg and NAME.png are written). */
  name: string;
  title: string;
  spec: TopLevelSpec;
}

/** A figure as the page refers to it. */
export interface FigureRef {
  name: string;
  title: string;
}

/** A table of the report: a header and rows of cell text. */
interface Table {
  header: string[];
  rows: string[][];
}

/** The page's content, shared by report.md and report.html. */
interface ReportContent {
  summary: string[];
  settings: Array<[string, string]>;
  converged: Table;
  phases: Table;
  /** The thresholds the spectrum of K(w0) predicts, and how the measured ones compare (empty without a spectrum). */
  thresholds: Table;
  comparisons: string[];
  notes: string[];
}

/** Writes NAME.svg and NAME.png for each chart, report.html and report.md into `dir` (created if needed); returns the written paths, report.md last. */
export async function writeReport(dir: string, runs: readonly RunRecord[], meta: ReportMeta): Promise<string[]> {
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
  const lossNormalization = meta.lossNormalization;
  const lossName = meta.loss ?? meta.settings.modelLoss ?? "squared";
  const figures: Figure[] = [
    {
      name: "loss",
      title: "Training loss",
      spec: lossChart(runs, { lossNormalization, lossName, reference: meta.reference ?? exactReference(runs) }),
    },
    { name: "lambda-max", title: "λ_max of the tangent kernel", spec: lambdaMaxChart(runs) },
    {
      name: "best-test-loss",
      title: "Best test loss against η/η_crit",
      spec: bestTestLossChart(runs, { lossNormalization, lossName }),
    },
    { name: "phases", title: "Phases", spec: phaseChart(runs, { predicted: predictedPhases(meta) }) },
  ];
  if (runs.some((r) => r.testAccuracy !== undefined))
    figures.push({
      name: "test-accuracy",
      title: "Best test accuracy against η/η_crit",
      spec: testAccuracyChart(runs),
    });
  if (runs.some((r) => (r.eigs?.length ?? 0) > 0))
    figures.push({ name: "eigenvalues", title: "Top kernel eigenvalues", spec: eigenvaluesChart(runs) });
  if (meta.spectrum && meta.spectrum.values.length > 0)
    figures.push({ name: "spectrum", title: "Spectrum of K(w0)", spec: spectrumChart(meta.spectrum) });
  for (const kind of MODEL_ORDER)
    if (hasDirections(runs, kind))
      figures.push({
        name: `directions-${kind}`,
        title: `${MODEL_LABELS[kind]}: loss along the eigen-directions of K(w0)`,
        spec: directionsChart(runs, kind),
      });
  const written: string[] = [];
  const svgs = new Map<string, string>();
  for (const figure of figures) {
    const svg = await renderSvg(figure.spec);
    svgs.set(figure.name, svg);
    const svgPath = join(dir, `${figure.name}.svg`);
    const pngPath = join(dir, `${figure.name}.png`);
    await write(svgPath, svg);
    await write(pngPath, renderPng(svg));
    written.push(svgPath, pngPath);
  }
  const htmlPath = join(dir, "report.html");
  await write(htmlPath, reportHtml(runs, meta, figures, svgs));
  written.push(htmlPath);
  const reportPath = join(dir, "report.md");
  await write(reportPath, reportMarkdown(runs, meta, figures));
  written.push(reportPath);
  return written;
}

/**
 * The phase rows the theory predicts, from the spectrum (none without one): f_lin is lazy up to
 * η_crit and diverges above; with one example, the NQM is lazy below η_crit, catapults up to
 * η_max = 4/λ0 = 2η_crit and diverges above (η/η_crit exactly at a threshold: the edge).
 */
function predictedPhases(meta: ReportMeta): Array<{ label: string; phaseAt: (multiple: number) => Phase }> {
  if (!meta.spectrum || meta.spectrum.values.length === 0) return [];
  const rows: Array<{ label: string; phaseAt: (multiple: number) => Phase }> = [
    { label: "f_lin, theory", phaseAt: (m) => (m < 1 ? "lazy" : m > 1 ? "divergent" : "unfinished") },
  ];
  if (meta.spectrum.rows === 1)
    rows.push({
      label: "f_quad, theory (one example)",
      phaseAt: (m) => (m < 1 ? "lazy" : m > 1 && m < 2 ? "catapult" : m > 2 ? "divergent" : "unfinished"),
    });
  return rows;
}

/** The exact f_lin runs of the first seed: the loss chart draws them under f and f_quad. */
function exactReference(runs: readonly RunRecord[]): RunRecord[] {
  const seed = Math.min(...runs.map((r) => r.seed));
  return runs.filter((r) => r.model === "lin" && r.dynamics === "exact" && r.seed === seed);
}

function plural(count: number, word: string): string {
  return `${count} ${word}${count === 1 ? "" : "s"}`;
}

/** The early steps of the dense-early schedule for an interval, as text: `steps 1–10, 13, 16, 20, 24, 31, 38`. */
export function evaluationEarlyText(evalEvery: number): string {
  const early = earlyEvaluationSteps(evalEvery);
  let run = 0; // the leading steps 1, 2, …, run
  while (early[run] === run + 1) run++;
  const rest = early.slice(run);
  const shown = rest.length <= 8 ? rest.map(String) : [...rest.slice(0, 3).map(String), "…", String(rest.at(-1))];
  return `steps ${[...(run > 1 ? [`1–${run}`] : run === 1 ? ["1"] : []), ...shown].join(", ")}`;
}

/** The report's sections as text, table cells included. */
function reportContent(runs: readonly RunRecord[], meta: ReportMeta): ReportContent {
  const groups = groupRuns(runs);
  const models = MODEL_ORDER.filter((m) => runs.some((r) => r.model === m));
  const multiples = [...new Set(runs.map((r) => r.lrMultiple))].sort((a, b) => a - b);
  const seeds = new Set(runs.map((r) => r.seed)).size;
  const s = meta.settings;
  const lossName = meta.loss ?? s.modelLoss;
  const set = Object.entries(s.set);
  const settings: Array<[string, string]> = [
    ["model file", `${s.file} (SHA-256 ${s.fileSha256.slice(0, 16)})`],
    ...(s.modelName !== undefined ? ([["model block", s.modelName]] as Array<[string, string]>) : []),
    ["--set", set.length > 0 ? set.map(([k, v]) => `${k}=${v}`).join(", ") : "none (the file's values)"],
    ["data", `${s.data} (loaded as ${meta.data}; data seed ${s.dataSeed})`],
    ["training loss", `${s.loss}: L = ${lossFormula(s.loss, lossName)}`],
    ["test loss", `L_test = ${testLossFormula(lossName)}`],
    ["models", s.models.map((m) => MODEL_LABELS[m as keyof typeof MODEL_LABELS] ?? m).join(", ")],
    ["learning rates", `η/η_crit = ${s.lrMultiples.map((m) => formatLabel(m, 6)).join(", ")}`],
    ["steps", String(s.steps)],
    ["seeds", s.seeds.join(", ")],
    [
      "evaluation interval",
      `${s.evalSchedule === "uniform" ? "" : `${evaluationEarlyText(s.evalEvery)}, then `}every ${plural(s.evalEvery, "step")} and at the last step (test loss, top ${plural(s.eigs, "eigenvalue")}, ‖w − w0‖)`,
    ],
    ["batch", s.batch === null ? "full batch (gradient descent)" : `mini-batches of ${s.batch}`],
    ["divergence cap", `${formatLabel(s.divergenceFactor)} × max(L0, L_zero)`],
    [
      "f_lin dynamics",
      s.lin === "stepped"
        ? "gradient steps (--lin stepped)"
        : "closed form from the eigendecomposition of K(w0) where it applies (records say `exact` or `stepped`)",
    ],
    ...((s.directions ?? 0) > 0
      ? ([
          ["directions", `the loss along the top ${plural(s.directions ?? 0, "eigenvector")} of K(w0) and the rest`],
        ] as Array<[string, string]>)
      : []),
    [
      "dtype / backend",
      `${s.dtype} / ${s.backend}${meta.backend !== undefined && meta.backend !== s.backend ? ` (ran on ${meta.backend})` : ""}`,
    ],
    ["nqm version", `${s.nqmVersion} (compiler ${s.compilerHash.slice(0, 12)})`],
  ];
  const summary = [
    meta.etaCritFrom === "sharpness"
      ? `measured η_crit = 2/sharpness${s.loss === "mean" ? "·n" : ""} = ${formatLabel(meta.etaCrit)}${meta.etaCrit > 0 && s.loss === "sum" ? ` (sharpness = ${formatLabel(2 / meta.etaCrit)})` : ""} for seed ${s.seeds[0] ?? 0}: the sharpness is λ_max of the loss Hessian at w0 (the tangent-kernel threshold 2/λ_max(K) is the paper's for squared loss only)`
      : `measured η_crit = 2/λ_max(K(w0))${s.loss === "mean" ? "·n" : ""} = ${formatLabel(meta.etaCrit)}${meta.etaCrit > 0 && s.loss === "sum" ? ` (λ_max = ${formatLabel(2 / meta.etaCrit)})` : ""} for seed ${s.seeds[0] ?? 0}`,
    `runs: ${runs.length} (${plural(models.length, "model")} × ${plural(multiples.length, "learning rate")} × ${plural(seeds, "seed")})`,
  ];
  const converged: Table = {
    header: ["model", "largest η/η_crit converged", "η", "smallest η/η_crit diverged"],
    rows: models.map((model) => {
      const own = groups.filter((g) => g.model === model);
      const largest = own.filter((g) => g.runs.every((r) => r.phase === "lazy" || r.phase === "catapult")).at(-1);
      const smallestDiverged = own.find((g) => g.runs.some((r) => r.phase === "divergent"));
      return [
        MODEL_LABELS[model],
        largest === undefined ? "none" : formatLabel(largest.multiple),
        largest?.runs[0] === undefined ? "–" : formatLabel(largest.runs[0].lr),
        smallestDiverged === undefined ? "none" : formatLabel(smallestDiverged.multiple),
      ];
    }),
  };
  const phases: Table = {
    header: ["model", ...multiples.map((m) => `${formatLabel(m)}×`)],
    rows: models.map((model) => [
      MODEL_LABELS[model],
      ...multiples.map((multiple) => {
        const group = groups.find((g) => g.model === model && g.multiple === multiple);
        if (group === undefined) return "";
        const { phase, count } = majorityPhase(group.runs);
        return count === group.runs.length ? phase : `${phase} ${count}/${group.runs.length}`;
      }),
    ]),
  };
  const n = meta.spectrum?.rows ?? 0;
  const predicted = meta.spectrum ? predictedThresholds(meta.spectrum, s.loss, n) : [];
  const thresholds: Table = {
    header: ["threshold", "η", "η/η_crit", "what the theory says"],
    rows: predicted.map((t) => [t.name, formatLabel(t.eta, 5), formatLabel(t.multiple, 4), t.meaning]),
  };
  const comparisons: string[] = [];
  const etaMax = predicted.find((t) => t.name.startsWith("η_max"));
  if (etaMax)
    for (const model of ["f", "quad"] as const) {
      const row = converged.rows.find((r) => r[0] === MODEL_LABELS[model]);
      if (row) {
        const largest = row[1] ?? "none";
        comparisons.push(
          `${MODEL_LABELS[model]}: largest η/η_crit converged ${largest}, predicted η_max/η_crit = ${formatLabel(etaMax.multiple)} (4/λ0)`,
        );
      }
    }
  return { summary, settings, converged, phases, thresholds, comparisons, notes: meta.notes ?? [] };
}

const CONVERGED_PERCENT = `${CONVERGED_FRACTION * 100}%`;
const CONVERGED_NOTE = `A learning rate counts as converged when every seed ended lazy or catapult: its final training loss at most ${CONVERGED_PERCENT} of L0, or below L0 with the gradient norm at most ${CONVERGED_PERCENT} of its initial value (the floor of what the model can fit). A loss that only fell is unfinished.`;
const PHASES_NOTE = "Majority phase over seeds; a share like 2/3 means the seeds disagreed.";
/** The sentence above the thresholds table: the measured spectrum it comes from. */
const SPECTRUM_NOTE = (meta: ReportMeta): string =>
  `From the measured spectrum of K(w0) (seed 0, ${meta.spectrum?.rows ?? 0} × ${meta.spectrum?.rows ?? 0}): ${(
    meta.spectrum?.values ?? []
  )
    .slice(0, 6)
    .map((v, i) => `λ${i + 1} = ${formatLabel(v, 5)}`)
    .join(", ")}${(meta.spectrum?.values.length ?? 0) > 6 ? ", …" : ""}.`;

function markdownTable(table: Table, code: boolean): string[] {
  const cell = (text: string, i: number) => (code && i === 0 ? `\`${text}\`` : text);
  return [
    `| ${table.header.join(" | ")} |`,
    `| ${table.header.map(() => "---").join(" | ")} |`,
    ...table.rows.map((row) => `| ${row.map(cell).join(" | ")} |`),
  ];
}

/** The text of report.md (figures linked as NAME.png, the SVG beside each). */
export function reportMarkdown(
  runs: readonly RunRecord[],
  meta: ReportMeta,
  figures: ReadonlyArray<FigureRef>,
): string {
  const content = reportContent(runs, meta);
  const lines: string[] = [
    "# Learning-rate sweep",
    "",
    ...content.summary.map((line) => `- ${line}`),
    "- also as report.html (plots embedded)",
    "",
    "## Settings",
    "",
    ...content.settings.map(([key, value]) => `- ${key}: ${value}`),
    "",
    "## Largest learning rate that converged",
    "",
    CONVERGED_NOTE,
    "",
    ...markdownTable(content.converged, true),
    "",
    "## Phases",
    "",
    PHASES_NOTE,
    "",
    ...markdownTable(content.phases, true),
    "",
    ...(content.thresholds.rows.length > 0
      ? [
          "## Predicted thresholds",
          "",
          SPECTRUM_NOTE(meta),
          "",
          ...markdownTable(content.thresholds, false),
          "",
          ...content.comparisons.map((line) => `- ${line}`),
          ...(content.comparisons.length > 0 ? [""] : []),
        ]
      : []),
    "## Figures",
    "",
  ];
  for (const figure of figures)
    lines.push(`### ${figure.title}`, "", `![${figure.title}](${figure.name}.png) ([SVG](${figure.name}.svg))`, "");
  if (content.notes.length > 0) {
    lines.push("## Notes", "");
    for (const note of content.notes) lines.push(`- ${note}`);
    lines.push("");
  }
  return lines.join("\n");
}

function escapeHtml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}

function htmlTable(table: Table): string {
  const head = table.header.map((h) => `<th>${escapeHtml(h)}</th>`).join("");
  const body = table.rows
    .map((row) => `<tr>${row.map((cell) => `<td>${escapeHtml(cell)}</td>`).join("")}</tr>`)
    .join("\n");
  return `<table>\n<thead><tr>${head}</tr></thead>\n<tbody>\n${body}\n</tbody>\n</table>`;
}

/** The text of report.html: one self-contained page, the SVGs inline. */
export function reportHtml(
  runs: readonly RunRecord[],
  meta: ReportMeta,
  figures: ReadonlyArray<FigureRef>,
  svgs: ReadonlyMap<string, string>,
): string {
  const content = reportContent(runs, meta);
  const list = (items: string[]) => `<ul>\n${items.map((i) => `<li>${escapeHtml(i)}</li>`).join("\n")}\n</ul>`;
  const settings = content.settings
    .map(([key, value]) => `<tr><th>${escapeHtml(key)}</th><td>${escapeHtml(value)}</td></tr>`)
    .join("\n");
  const figureHtml = figures
    .map(
      (f) =>
        `<figure id="${escapeHtml(f.name)}">\n${svgs.get(f.name) ?? ""}\n<figcaption>${escapeHtml(f.title)} (<a href="${escapeHtml(f.name)}.svg">SVG</a>, <a href="${escapeHtml(f.name)}.png">PNG</a>)</figcaption>\n</figure>`,
    )
    .join("\n");
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Learning-rate sweep: ${escapeHtml(meta.settings.file)}</title>
<style>
body { font-family: sans-serif; max-width: 1400px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 0.5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: left; }
figure { margin: 1em 0 2em; overflow-x: auto; }
figcaption { color: #555; }
</style>
</head>
<body>
<h1>Learning-rate sweep</h1>
${list(content.summary)}
<h2>Settings</h2>
<table class="settings">
${settings}
</table>
<h2>Largest learning rate that converged</h2>
<p>${escapeHtml(CONVERGED_NOTE)}</p>
${htmlTable(content.converged)}
<h2>Phases</h2>
<p>${escapeHtml(PHASES_NOTE)}</p>
${htmlTable(content.phases)}
${
  content.thresholds.rows.length > 0
    ? `<h2>Predicted thresholds</h2>\n<p>${escapeHtml(SPECTRUM_NOTE(meta))}</p>\n${htmlTable(content.thresholds)}\n${content.comparisons.length > 0 ? list(content.comparisons) : ""}`
    : ""
}
<h2>Figures</h2>
${figureHtml}
${content.notes.length > 0 ? `<h2>Notes</h2>\n${list(content.notes)}` : ""}
</body>
</html>
`;
}
