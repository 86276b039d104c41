/**
 * What travels through the queue: one BullMQ job per run of a sweep, carrying everything that
 * decides the run (model source, data spec and its content hash, settings, the nqm that planned
 * it), so a worker needs no shared file system; its result is the run's record. Job ids are the
 * sweep's identity hash and the run's id, so enqueuing a sweep twice adds nothing.
 */
import type { Job as BullJob } from "bullmq";
import { COMPILER_VERSION, compilerHash } from "../../compiler/version.ts";
import { diagnostic, NqmError } from "../../foundation/diagnostics.ts";
import type { RunRecord } from "../run-record.ts";
import type { Job, SweepSpec } from "../sweep-types.ts";
import { runId } from "../train.ts";

/** The one BullMQ queue every nqm coordinator and worker on a Redis database shares. */
export const QUEUE_NAME = "nqm-sweep-runs";

/** The name of every job (BullMQ groups jobs by it; ours are all runs). */
export const JOB_NAME = "run";

/** How many times a job is tried before it is reported as failed. */
export const DEFAULT_ATTEMPTS = 3;

/** The nqm that made or runs a job: its release and compiler hash (as `nqm --version` shows them). */
export interface NqmVersion {
  readonly release: string;
  readonly compilerHash: string;
}

/** The data of one job. */
export interface QueueJobData {
  /** The sweep's identity hash (the `sweep` of its records). */
  readonly sweep: string;
  /** The sweep, less what only the coordinator's machine knows (its folders, memory, threads). */
  readonly spec: SweepSpec;
  readonly job: Job;
  readonly nqm: NqmVersion;
}

/** A run's BullMQ job: its data, the run's record as its result. */
export type RunJob = BullJob<QueueJobData, RunRecord, typeof JOB_NAME>;

/** The nqm running here. */
export function thisVersion(): NqmVersion {
  return { release: COMPILER_VERSION, compilerHash: compilerHash() };
}

/** A version as people read it: `0.1.0 (compiler 0123456789ab)`. */
export function versionText(version: NqmVersion): string {
  return `${version.release} (compiler ${version.compilerHash.slice(0, 12)})`;
}

/** The deterministic id of a run's job: `SWEEPHASH|model|η/η_crit|seed` (BullMQ ids may not hold `:`). */
export function queueJobId(sweep: string, job: Job): string {
  return `${sweep}|${runId(job.kind, job.lrMultiple, job.seed)}`;
}

/** The job data for one run of `spec`: machine-local settings are dropped, the data's hash is kept. */
export function jobData(spec: SweepSpec, sweep: string, job: Job): QueueJobData {
  const { cwd: _cwd, cacheDir: _cacheDir, memoryLimit: _memoryLimit, threads: _threads, ...portable } = spec;
  return { sweep, spec: portable, job, nqm: thisVersion() };
}

/** NQM4013 when a job was planned by another nqm than this worker's: the two would train differently. */
export function checkVersion(jobId: string, data: QueueJobData): void {
  const ours = thisVersion();
  if (data.nqm.compilerHash !== ours.compilerHash || data.nqm.release !== ours.release)
    throw new NqmError([diagnostic("NQM4013", { job: jobId, theirs: versionText(data.nqm), ours: versionText(ours) })]);
}
