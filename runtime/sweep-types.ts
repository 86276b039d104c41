/** What a sweep and its workers share: the spec, the jobs and a job's outcome. */
import type { ModelKind, RunRecord } from "./run-record.ts";
import type { LossNormalization, SessionOptions } from "./session.ts";
import type { ScheduleKind } from "./schedule.ts";

/** A sweep: the session it trains in, and the runs and settings it sweeps over. */
export interface SweepSpec extends SessionOptions {
  readonly models: readonly ModelKind[];
  readonly lrMultiples: readonly number[];
  readonly seeds: readonly number[];
  readonly steps: number;
  readonly loss: LossNormalization;
  readonly evalEvery: number;
  /** The measurement schedule (default `dense-early`; part of the sweep's identity). */
  readonly evalSchedule?: ScheduleKind;
  readonly eigs: number;
  readonly batch?: number;
  readonly divergenceFactor: number;
  /**
   * The content hash of the data the sweep was planned on (runtime/data/content-hash.ts): a
   * worker on another machine refuses to train on data that differs (NQM4014). Not part of the
   * identity: the data spec is.
   */
  readonly dataHash?: string;
  /** f_lin in closed form (default) or by steps. */
  readonly lin?: "exact" | "stepped";
  /** Record the loss along the top-k eigenvectors of K(w0) (0 or absent: none). */
  readonly directions?: number;
}

/** One run of a sweep, by its place in the sweep's fixed order. */
export interface Job {
  readonly index: number;
  readonly kind: ModelKind;
  readonly lrMultiple: number;
  readonly seed: number;
}

/** What a worker returns for a job: the record, or the user-facing diagnostics of its failure. */
export type JobOutcome =
  | { readonly ok: true; readonly record: RunRecord }
  | { readonly ok: false; readonly diagnostics: readonly unknown[] };
