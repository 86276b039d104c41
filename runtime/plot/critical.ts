/**
 * The paper's Figure 2b as numbers: for each model, the lowest best test loss below η_crit and
 * the lowest above it (each rate's value the mean over its seeds), so a report can say whether
 * the catapult lowered it.
 */
import { MODEL_ORDER, type ModelKind, type RunRecord } from "./types.ts";

/** A rate's best test loss, the mean over its seeds. */
export interface RateLoss {
  readonly multiple: number;
  readonly loss: number;
}

/**
 * The lowest best test loss below and above η_crit, per model. A rate counts on a side only when
 * every seed ran to its end with a finite best test loss (a diverged seed leaves the rate out).
 */
export function testLossAcrossCritical(
  runs: readonly RunRecord[],
): { model: ModelKind; below?: RateLoss; above?: RateLoss }[] {
  const kinds = MODEL_ORDER.filter((k) => runs.some((r) => r.model === k));
  return kinds.map((model) => {
    const means = [...new Set(runs.filter((r) => r.model === model).map((r) => r.lrMultiple))].flatMap((multiple) => {
      const losses = runs
        .filter((r) => r.model === model && r.lrMultiple === multiple)
        .map((r) => (r.phase === "divergent" ? null : r.bestTestLoss));
      if (losses.length === 0 || losses.some((l) => l === null || !Number.isFinite(l))) return [];
      return [{ multiple, loss: losses.reduce<number>((a, b) => a + (b ?? 0), 0) / losses.length }];
    });
    const lowest = (side: typeof means) =>
      side.reduce<(typeof means)[number] | undefined>(
        (a, b) => (a === undefined || b.loss < a.loss ? b : a),
        undefined,
      );
    const below = lowest(means.filter((m) => m.multiple < 1));
    const above = lowest(means.filter((m) => m.multiple > 1));
    return { model, ...(below ? { below } : {}), ...(above ? { above } : {}) };
  });
}
