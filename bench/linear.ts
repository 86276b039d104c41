/**
 * The f_lin sweep of issue 14: the demo's net and data (two_layer_relu, m = 2000, gauss1d with
 * 64 training and 500 test points, 400 steps, evaluations every 2 steps) over 20 learning rates,
 * once by gradient steps (trainRun) and once in closed form (exactLinearRun, including forming
 * K(w0), K(X_test, X) and the eigendecomposition, from a cold cache), one thread each, as a
 * sweep worker runs them. The two must agree (final and best test losses) for the timing to count.
 */
import { readFileSync } from "node:fs";
import { exactLinearRun } from "../runtime/linear-exact.ts";
import { initialParameters, openSession, topEigenvalues } from "../runtime/session.ts";
import { trainRun, type RunConfig, type RunStart } from "../runtime/train.ts";
import type { RunRecord } from "../runtime/run-record.ts";
import { defined } from "../foundation/defined.ts";

/** What the section measures and prints. */
export interface LinearSweepFigures {
  readonly model: string;
  readonly set: Record<string, number>;
  readonly data: string;
  readonly steps: number;
  readonly evalEvery: number;
  readonly rates: readonly number[];
  /** Seconds for all 20 stepped runs (once), and for the closed form (system + 20 runs, best of `repeats`). */
  readonly steppedSeconds: number;
  readonly exactSeconds: number;
  /** Of exactSeconds: forming K and K(X_test, X) and decomposing K (the rest is the 20 runs). */
  readonly systemSeconds: number;
  /** The same in CPU seconds of this process (one kernel thread: the runs' own cost, even on a loaded machine). */
  readonly steppedCpuSeconds: number;
  readonly exactCpuSeconds: number;
  /** Stepped over closed form, wall clock and CPU time; the target is checked on the CPU ratio. */
  readonly speedup: number;
  readonly cpuSpeedup: number;
  /** The largest relative difference of final training loss and best test loss between the two. */
  readonly agreement: number;
  readonly repeats: number;
}

const MODEL = "examples/two_layer_relu.nqm";
const SET = { m: 2000 };
const DATA = "gauss1d:n=64,test=500";
const STEPS = 400;
const EVAL_EVERY = 2;
/** 0.1x … 2.0x: ten rates below η_crit (400 steps each when stepped), ten above (diverging early). */
const RATES = Array.from({ length: 20 }, (_, i) => Number(((i + 1) * 0.1).toFixed(1)));

/** Times the demo-sized f_lin sweep both ways (see the module comment). */
export async function linearSweep(cacheDir: string, repeats = 3): Promise<LinearSweepFigures> {
  const session = await openSession({
    file: MODEL,
    source: readFileSync(MODEL, "utf8"),
    set: SET,
    data: DATA,
    dataSeed: 0,
    cacheDir,
    threads: 1,
  });
  const w0 = initialParameters(session, 0);
  const top = topEigenvalues(session, w0, 1);
  const lambda0 = defined(top.values[0], "λ_max");
  const configOf = (multiple: number): RunConfig => ({
    kind: "lin",
    lr: (multiple * 2) / lambda0,
    lrMultiple: multiple,
    steps: STEPS,
    loss: "sum",
    evalEvery: EVAL_EVERY,
    eigs: 1,
    seed: 0,
    divergenceFactor: 1e10,
  });
  const sweep = (run: (start: RunStart, config: RunConfig) => RunRecord, start: RunStart) =>
    RATES.map((rate) => run(start, configOf(rate)));

  // A fresh copy of w0 each time: the closed form's system is cached per w0, and must be built.
  const start = (): RunStart => ({
    w0: Float64Array.from(w0),
    lambda0,
    eigenvector0: defined(top.vectors[0], "the top eigenvector"),
  });
  // Stepping takes half a minute: once. The closed form takes a second: best of `repeats`.
  const cpuSeconds = (since: NodeJS.CpuUsage) => {
    const used = process.cpuUsage(since);
    return (used.user + used.system) / 1e6;
  };
  let t0 = performance.now();
  let cpu0 = process.cpuUsage();
  const stepped = sweep((s, c) => trainRun(session, s, c), start());
  const steppedSeconds = (performance.now() - t0) / 1000;
  const steppedCpuSeconds = cpuSeconds(cpu0);
  let exact: RunRecord[] = [];
  let exactSeconds = Number.POSITIVE_INFINITY;
  let systemSeconds = Number.POSITIVE_INFINITY;
  let exactCpuSeconds = Number.POSITIVE_INFINITY;
  for (let r = 0; r < repeats; r++) {
    const cold = start();
    t0 = performance.now();
    cpu0 = process.cpuUsage();
    // The first run pays for the system; time it alone with a zero-step run of the same start.
    exactLinearRun(session, cold, { ...configOf(1), steps: 0 });
    const system = (performance.now() - t0) / 1000;
    exact = sweep((s, c) => exactLinearRun(session, s, c), cold);
    const total = (performance.now() - t0) / 1000;
    exactCpuSeconds = Math.min(exactCpuSeconds, cpuSeconds(cpu0));
    if (total < exactSeconds) {
      exactSeconds = total;
      systemSeconds = system;
    }
  }
  let agreement = 0;
  for (const [i, a] of exact.entries()) {
    const b = defined(stepped[i], "the stepped run");
    if (a.phase !== b.phase || a.divergedAt !== b.divergedAt) agreement = Number.POSITIVE_INFINITY;
    const pairs: [number, number][] = [[a.finalTrainLoss, b.finalTrainLoss]];
    if (a.bestTestLoss !== null && b.bestTestLoss !== null) pairs.push([a.bestTestLoss, b.bestTestLoss]);
    for (const [x, y] of pairs) agreement = Math.max(agreement, Math.abs(x - y) / Math.abs(y));
  }
  session.kernels.dispose();
  return {
    model: MODEL,
    set: SET,
    data: DATA,
    steps: STEPS,
    evalEvery: EVAL_EVERY,
    rates: RATES,
    steppedSeconds,
    exactSeconds,
    systemSeconds,
    steppedCpuSeconds,
    exactCpuSeconds,
    speedup: steppedSeconds / exactSeconds,
    cpuSpeedup: steppedCpuSeconds / exactCpuSeconds,
    agreement,
    repeats,
  };
}

/** The section's lines for the bench's report. */
export function linearSweepText(figures: LinearSweepFigures): string[] {
  return [
    `\nf_lin sweep, closed form vs gradient steps (${figures.model.replace("examples/", "")} m ${figures.set.m}, ${figures.data}, ${figures.rates.length} rates ${figures.rates[0]}x…${figures.rates.at(-1)}x, ${figures.steps} steps, eval every ${figures.evalEvery}; one thread; closed form best of ${figures.repeats}):`,
    `    stepped ${figures.steppedSeconds.toFixed(2)} s wall, ${figures.steppedCpuSeconds.toFixed(2)} s CPU; closed form ${figures.exactSeconds.toFixed(3)} s wall (K, K(X_test, X) and eigendecomposition ${figures.systemSeconds.toFixed(3)} s), ${figures.exactCpuSeconds.toFixed(3)} s CPU`,
    `    ratio ${figures.speedup.toFixed(1)}× wall, ${figures.cpuSpeedup.toFixed(1)}× CPU; largest relative difference of final and best test losses ${figures.agreement.toExponential(1)}`,
  ];
}
