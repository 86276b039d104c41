/** Turning run records into plottable rows: step alignment, clamping to the axis range, downsampling, ticks. */
import type { RunRecord } from "./types.ts";

/** The steps at which a per-evaluation series was measured (see RunRecord). */
export function seriesSteps(run: RunRecord, length: number): number[] {
  if (length === run.evalSteps.length) return run.evalSteps;
  return Array.from({ length }, (_, i) => i);
}

/** Where a series left the plotted range: the first step outside it and the most extreme value of that stretch. */
export interface Excursion {
  side: "above" | "below";
  step: number;
  /** The value furthest outside the range during the stretch (what the marker's tooltip shows). */
  extreme: number;
}

/** A series with its values clamped into [low, high], where it left that range, and where it stopped. */
export interface ClampedSeries {
  steps: number[];
  /** The values, each clamped to [low, high]: a value outside is drawn at the edge it crossed. */
  values: number[];
  excursions: Excursion[];
  /** The step of the first non-finite value, where the series ends. */
  stoppedAt?: number;
  /** That value (NaN or ±Infinity). */
  stoppedValue?: number;
}

/**
 * Clamps a series into [low, high] and records each stretch outside it, so nothing out of range is
 * dropped: the curve runs along the edge and the caller marks where it left. The series ends at the
 * first non-finite value; with `positive`, a value ≤ 0 (which a log axis cannot show) counts as below.
 */
export function clampSeries(
  steps: readonly number[],
  values: readonly number[],
  low: number,
  high: number,
  positive: boolean,
): ClampedSeries {
  const out: ClampedSeries = { steps: [], values: [], excursions: [] };
  let open: Excursion | undefined;
  for (let i = 0; i < values.length && i < steps.length; i++) {
    const value = values[i] ?? Number.NaN;
    const step = steps[i] ?? i;
    if (!Number.isFinite(value)) {
      out.stoppedAt = step;
      out.stoppedValue = value;
      break;
    }
    const side = value > high ? "above" : value < low || (positive && !(value > 0)) ? "below" : undefined;
    if (side === undefined) open = undefined;
    else if (open !== undefined && open.side === side) {
      if (side === "above" ? value > open.extreme : value < open.extreme) open.extreme = value;
    } else {
      open = { side, step, extreme: value };
      out.excursions.push(open);
    }
    out.steps.push(step);
    out.values.push(side === "above" ? high : side === "below" ? low : value);
  }
  return out;
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
  const at = (i: number) => values[i] ?? Number.NaN;
  const buckets = Math.max(1, Math.floor((maxPoints - 2) / 2));
  const keep = new Set<number>([0, n - 1]);
  for (let b = 0; b < buckets; b++) {
    const from = 1 + Math.floor((b * (n - 2)) / buckets);
    const to = 1 + Math.floor(((b + 1) * (n - 2)) / buckets);
    let lo = from;
    let hi = from;
    for (let i = from; i < to; i++) {
      if (at(i) < at(lo)) lo = i;
      if (at(i) > at(hi)) hi = i;
    }
    if (from < to) {
      keep.add(lo);
      keep.add(hi);
    }
  }
  const indices = [...keep].sort((a, b) => a - b);
  return { steps: indices.map((i) => steps[i] ?? i), values: indices.map(at) };
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

/** Ticks 0, 1, 2, 5, 10, 20, 50, … up to `last` (and `last` itself when it is not near one): a log step axis that labels the early steps. */
export function stepTicks(last: number): number[] {
  const ticks = [0];
  for (let decade = 1; decade <= last; decade *= 10)
    for (const digit of [1, 2, 5]) if (digit * decade <= last) ticks.push(digit * decade);
  const end = ticks.at(-1) ?? 0;
  // The last step is labelled unless it would crowd the tick before it (within a factor 1.5).
  if (last > 0 && last > end * 1.5) ticks.push(last);
  return ticks;
}

/** Ticks for a log axis over [low, high]: the powers of ten (thinned to at most 7), or 1-2-5 steps when the range spans at most two decades. */
export function logTicks(low: number, high: number): number[] {
  if (!(low > 0) || !(high >= low)) return [];
  const first = Math.floor(Math.log10(low));
  const last = Math.ceil(Math.log10(high));
  const inRange = (v: number) => v >= low * (1 - 1e-9) && v <= high * (1 + 1e-9);
  if (Math.log10(high / low) <= 2) {
    const ticks: number[] = [];
    for (let e = first; e <= last; e++)
      for (const digit of [1, 2, 5]) {
        const v = Number((digit * 10 ** e).toPrecision(12));
        if (inRange(v)) ticks.push(v);
      }
    return ticks;
  }
  const stride = Math.ceil((last - first + 1) / 7);
  const ticks: number[] = [];
  for (let e = first; e <= last; e++) {
    const v = Number((10 ** e).toPrecision(12));
    if ((e - first) % stride === 0 && inRange(v)) ticks.push(v);
  }
  return ticks;
}
