/**
 * When a training run takes its slower measurements (test loss, kernel eigenvalues, ‖w − w0‖):
 * densely during the first steps, where a catapult spikes the loss and λ_max falls within a few
 * dozen steps, then every `evalEvery` steps. A pure function of the step, so training can ask it
 * step by step without holding a list as long as the run.
 */

/** The ratio between consecutive early measurement steps: about ten per decade. */
const EARLY_RATIO = 1.25;

/** The early steps of a schedule: every step up to 10, then ×1.25 (rounded), while that is denser than every `evalEvery`. */
export function earlyEvaluationSteps(evalEvery: number): number[] {
  const every = Math.max(1, Math.floor(evalEvery));
  const steps: number[] = [];
  // Up to 10, every step; past it, a geometric grid until its spacing reaches `every` (t·0.25 ≥ every).
  for (let t = 1; t <= 10 && t < 4 * every; t++) steps.push(t);
  for (let x = 10 * EARLY_RATIO; x < 4 * every; x *= EARLY_RATIO) {
    const t = Math.round(x);
    if (t > (steps.at(-1) ?? 0)) steps.push(t);
  }
  return steps;
}

/**
 * Which schedule a run measures on: `dense-early` (the default: evaluationSchedule) or `uniform`
 * (step 0, every `evalEvery` steps and the last step, as nqm did before the early steps were added).
 */
export type ScheduleKind = "dense-early" | "uniform";

/** The schedule kinds, for option parsing. */
export const SCHEDULE_KINDS: readonly ScheduleKind[] = ["dense-early", "uniform"];

/** A run's measurement schedule: `has(t)` says whether step t is measured. */
export interface EvaluationSchedule {
  readonly has: (step: number) => boolean;
  /** The early steps (below 4·evalEvery) measured besides the multiples of evalEvery. */
  readonly early: readonly number[];
}

/**
 * The schedule of a run of `steps` steps: step 0, the early steps (earlyEvaluationSteps), every
 * multiple of `evalEvery`, and the last step.
 */
export function evaluationSchedule(steps: number, evalEvery: number): EvaluationSchedule {
  const every = Math.max(1, Math.floor(evalEvery));
  const early = earlyEvaluationSteps(every).filter((t) => t <= steps);
  const earlySet = new Set(early);
  return {
    early,
    has: (step) => step === 0 || step === steps || step % every === 0 || earlySet.has(step),
  };
}

/** The schedule of a run of `steps` steps of the given kind. */
export function scheduleOfKind(kind: ScheduleKind, steps: number, evalEvery: number): EvaluationSchedule {
  if (kind === "dense-early") return evaluationSchedule(steps, evalEvery);
  const every = Math.max(1, Math.floor(evalEvery));
  return { early: [], has: (step) => step === 0 || step === steps || step % every === 0 };
}

/** Every measured step of a run, in order (for short runs and tests; long runs ask `has`). */
export function evaluationSteps(steps: number, evalEvery: number): number[] {
  const schedule = evaluationSchedule(steps, evalEvery);
  const every = Math.max(1, Math.floor(evalEvery));
  const all = new Set<number>([0, ...schedule.early, steps]);
  for (let t = every; t <= steps; t += every) all.add(t);
  return [...all].filter((t) => t <= steps).sort((a, b) => a - b);
}
