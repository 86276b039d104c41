/** Charts of sweep results (Vega-Lite specs, rendered to SVG and PNG headless) and the sweep report. */
export {
  ALL_DIVERGED,
  bestTestLossChart,
  type ChartOptions,
  eigenvaluesChart,
  groupRuns,
  lambdaMaxChart,
  lossChart,
  MODEL_DASHES,
  MODEL_SHAPES,
  majorityPhase,
  phaseChart,
  RATE_COLORS,
  rateGroups,
} from "./charts.ts";
export { type RateLoss, testLossAcrossCritical } from "./critical.ts";
export { PNG_SCALE, renderPng, renderSvg } from "./render.ts";
export { evaluationEarlyText, reportHtml, reportMarkdown, writeReport } from "./report.ts";
export type { LossNormalization, ModelKind, Phase, ReportMeta, RunRecord, SweepSettings } from "./types.ts";
export { MODEL_LABELS, MODEL_ORDER, PHASE_COLORS, PHASES, TEST_LOSS_LABEL, trainingLossLabel } from "./types.ts";
