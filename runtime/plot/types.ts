/** What the charts and the report read: run records (owned by training, runtime/run-record.ts) and their display order. */
import type { Phase } from "../run-record.ts";

export type { ModelKind, Phase, RunRecord } from "../run-record.ts";
export { MODEL_LABELS, MODEL_ORDER } from "../run-record.ts";

/** What the report needs to know besides the runs. */
export interface ReportMeta {
  modelFile: string;
  data: string;
  etaCrit: number;
  lossNormalization: "sum" | "mean";
  notes?: string[];
}

/** The order and colours of phases in charts and tables. */
export const PHASES: readonly Phase[] = ["lazy", "catapult", "divergent", "unfinished"];
export const PHASE_COLORS: Record<Phase, string> = {
  lazy: "#4c78a8",
  catapult: "#f58518",
  divergent: "#e45756",
  unfinished: "#bab0ac",
};
