/** Turning run records into plottable rows: step alignment, divergence clipping, downsampling. */
import { defined } from "../../foundation/defined.ts";
import type { RunRecord } from "./types.ts";

/** The steps at which a per-evaluation series was measured (see RunRecord). */
export function seriesSteps(run: RunRecord, length: number): number[] {
  if (length === run.evalSteps.length) return run.evalSteps;
  return Array.from({ length }, (_, i) => i);
}

/** A series cut at the first non-finite value or value above `ceiling`, and where it was cut. */
interface ClippedSeries {
  steps: number[];
  values: number[];
  /** The step of the first dropped value, if any was dropped for being non-finite or too large. */
  divergedAt?: number;
}

/**
 * Keeps the values of a series up to its divergence; values ≤ 0 are dropped when `positive`
 * (a log axis cannot show them) without ending the series.
 */
export function clipSeries(
  steps: readonly number[],
  values: readonly number[],
  ceiling: number,
  positive: boolean,
): ClippedSeries {
  const keptSteps: number[] = [];
  const kept: number[] = [];
  for (const [i, value] of values.entries()) {
    const step = defined(steps[i], "the step of a value");
    if (!Number.isFinite(value) || Math.abs(value) > ceiling)
      return { steps: keptSteps, values: kept, divergedAt: step };
    if (positive && !(value > 0)) continue;
    keptSteps.push(step);
    kept.push(value);
  }
  return { steps: keptSteps, values: kept };
}

/**
 * At most about `maxPoints` points, keeping the first and last and, per bucket, the minimum and
 * maximum, so the spike of a catapult survives downsampling.
 */
export function downsample(
  steps: readonly number[],
  values: readonly number[],
  maxPoints: number,
): { steps: number[]; values: number[] } {
  const n = values.length;
  if (n <= maxPoints) return { steps: [...steps], values: [...values] };
  const valueAt = (i: number) => defined(values[i], "a series value");
  const buckets = Math.max(1, Math.floor((maxPoints - 2) / 2));
  const keep = new Set<number>([0, n - 1]);
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * (n - 2)) / buckets);
    const to = 1 + Math.floor(((b + 1) * (n - 2)) / buckets);
    let lo = from;
    let hi = from;
    for (let i = from; i < to; i++) {
      if (valueAt(i) < valueAt(lo)) lo = i;
      if (valueAt(i) > valueAt(hi)) hi = i;
    }
    if (from < to) {
      keep.add(lo);
      keep.add(hi);
    }
  }
  const indices = [...keep].sort((a, b) => a - b);
  return { steps: indices.map((i) => defined(steps[i], "a series step")), values: indices.map(valueAt) };
}

/** The largest finite absolute value among the given numbers, or `fallback` when there is none. */
export function largestFinite(values: Iterable<number>, fallback: number): number {
  let best = -Infinity;
  for (const v of values) if (Number.isFinite(v) && Math.abs(v) > best) best = Math.abs(v);
  return best === -Infinity ? fallback : best;
}

/** A short rendering of a number for labels: `digits` significant digits, exponent form when tiny or huge. */
export function formatLabel(value: number, digits = 3): string {
  if (!Number.isFinite(value)) return String(value);
  if (value === 0) return "0";
  const magnitude = Math.abs(value);
  if (magnitude >= 1e5 || magnitude < 1e-3) return value.toExponential(digits - 1).replace(/\.?0+e/, "e");
  return String(Number(value.toPrecision(digits)));
}
