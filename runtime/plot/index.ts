/** Charts of sweep results (Vega-Lite specs, rendered to SVG headless) and the sweep report. */
export {
  bestTestLossChart,
  eigenvaluesChart,
  groupRuns,
  lambdaMaxChart,
  lossChart,
  majorityPhase,
  phaseChart,
} from "./charts.ts";
export { renderSvg } from "./render.ts";
export { reportMarkdown, writeReport } from "./report.ts";
export type { ModelKind, Phase, ReportMeta, RunRecord } from "./types.ts";
export { MODEL_LABELS, MODEL_ORDER, PHASE_COLORS, PHASES } from "./types.ts";
