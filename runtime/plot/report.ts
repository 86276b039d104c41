/** The sweep report: the charts as SVG files and a one-page report.md that links them. */
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { TopLevelSpec } from "vega-lite";
import {
  bestTestLossChart,
  eigenvaluesChart,
  groupRuns,
  lambdaMaxChart,
  lossChart,
  majorityPhase,
  phaseChart,
} from "./charts.ts";
import { writeFailed } from "../files.ts";
import { renderSvg } from "./render.ts";
import { formatLabel } from "./series.ts";
import type { ModelKind, ReportMeta, RunRecord } from "./types.ts";
import { MODEL_LABELS, MODEL_ORDER } from "./types.ts";

interface Figure {
  file: string;
  title: string;
  spec: TopLevelSpec;
}

/** Writes the charts and report.md into `dir` (created if needed); returns the written paths, report.md last. */
export async function writeReport(dir: string, runs: readonly RunRecord[], meta: ReportMeta): Promise<string[]> {
  const write = async (path: string, text: string) => {
    try {
      await writeFile(path, text);
    } catch (error) {
      writeFailed(path, error);
    }
  };
  try {
    await mkdir(dir, { recursive: true });
  } catch (error) {
    writeFailed(dir, error);
  }
  const figures: Figure[] = [
    { file: "loss.svg", title: "Training loss", spec: lossChart(runs) },
    { file: "lambda-max.svg", title: "λ_max of the tangent kernel", spec: lambdaMaxChart(runs) },
    { file: "best-test-loss.svg", title: "Best test loss against η/η_crit", spec: bestTestLossChart(runs) },
    { file: "phases.svg", title: "Phases", spec: phaseChart(runs) },
  ];
  if (runs.some((r) => (r.eigs?.length ?? 0) > 0))
    figures.push({ file: "eigenvalues.svg", title: "Top kernel eigenvalues", spec: eigenvaluesChart(runs) });
  const written: string[] = [];
  for (const figure of figures) {
    const path = join(dir, figure.file);
    await write(path, await renderSvg(figure.spec));
    written.push(path);
  }
  const reportPath = join(dir, "report.md");
  await write(reportPath, reportMarkdown(runs, meta, figures));
  written.push(reportPath);
  return written;
}

/** The text of report.md. */
export function reportMarkdown(
  runs: readonly RunRecord[],
  meta: ReportMeta,
  figures: ReadonlyArray<{ file: string; title: string }>,
): string {
  const groups = groupRuns(runs);
  const models = MODEL_ORDER.filter((m) => runs.some((r) => r.model === m));
  const multiples = [...new Set(runs.map((r) => r.lrMultiple))].sort((a, b) => a - b);
  const seeds = new Set(runs.map((r) => r.seed)).size;
  const lossText =
    meta.lossNormalization === "sum"
      ? "sum, L = ½ Σ (f − y)²"
      : "mean, L = 1/(2n) Σ (f − y)² (every η threshold is n times the sum's)";
  const lines: string[] = [
    "# Learning-rate sweep",
    "",
    `- model file: \`${meta.modelFile}\``,
    `- data: \`${meta.data}\``,
    `- loss: ${lossText}`,
    `- measured η_crit = 2/λ_max(K(w0)) = ${formatLabel(meta.etaCrit)}${meta.etaCrit > 0 ? ` (λ_max = ${formatLabel(2 / meta.etaCrit)})` : ""}`,
    `- runs: ${runs.length} (${models.length} model${models.length === 1 ? "" : "s"} × ${multiples.length} learning rate${multiples.length === 1 ? "" : "s"} × ${seeds} seed${seeds === 1 ? "" : "s"})`,
    "",
    "## Largest learning rate that converged",
    "",
    "A learning rate counts as converged when every seed ended lazy or catapult.",
    "",
    "| model | largest η/η_crit converged | η | smallest η/η_crit diverged |",
    "| --- | --- | --- | --- |",
  ];
  for (const model of models) {
    const own = groups.filter((g) => g.model === model);
    const converged = own.filter((g) => g.runs.every((r) => r.phase === "lazy" || r.phase === "catapult"));
    const diverged = own.filter((g) => g.runs.some((r) => r.phase === "divergent"));
    const largest = converged.at(-1);
    const largestRate = largest?.runs[0]?.lr;
    const smallestDiverged = diverged[0];
    lines.push(
      `| ${label(model)} | ${largest === undefined ? "none" : formatLabel(largest.multiple)} | ${largestRate === undefined ? "–" : formatLabel(largestRate)} | ${smallestDiverged === undefined ? "none" : formatLabel(smallestDiverged.multiple)} |`,
    );
  }
  lines.push("", "## Phases", "", "Majority phase over seeds; a share like 2/3 means the seeds disagreed.", "");
  lines.push(`| model | ${multiples.map((m) => `${formatLabel(m)}×`).join(" | ")} |`);
  lines.push(`| --- | ${multiples.map(() => "---").join(" | ")} |`);
  for (const model of models) {
    const cells = multiples.map((multiple) => {
      const group = groups.find((g) => g.model === model && g.multiple === multiple);
      if (group === undefined) return "";
      const { phase, count } = majorityPhase(group.runs);
      return count === group.runs.length ? phase : `${phase} ${count}/${group.runs.length}`;
    });
    lines.push(`| ${label(model)} | ${cells.join(" | ")} |`);
  }
  lines.push("", "## Figures", "");
  for (const figure of figures) lines.push(`### ${figure.title}`, "", `![${figure.title}](${figure.file})`, "");
  if (meta.notes !== undefined && meta.notes.length > 0) {
    lines.push("## Notes", "");
    for (const note of meta.notes) lines.push(`- ${note}`);
    lines.push("");
  }
  return lines.join("\n");
}

function label(model: ModelKind): string {
  return `\`${MODEL_LABELS[model]}\``;
}
