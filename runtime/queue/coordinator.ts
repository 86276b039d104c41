/**
 * The coordinator of a sweep on a queue (`nqm sweep … --queue URL`): it enqueues one job per
 * run that runs.jsonl does not hold yet, under the run's deterministic id, and appends each
 * result to runs.jsonl as workers finish it. A result stays in Redis until it is in the file
 * (only then is its job removed), so a coordinator killed and restarted loses nothing: what
 * finished meanwhile is waiting for it, and what it had written is not enqueued again. Jobs
 * that failed all their attempts are reported, never dropped; a rerun tries them again.
 */
import { Queue } from "bullmq";
import { defined } from "../../foundation/defined.ts";
import { appendText } from "../files.ts";
import { RUN_RECORD, type RunRecord } from "../run-record.ts";
import { expectedId, type SweepFolder, reorderRunsFile, sweepJobs, writeSummary } from "../sweep.ts";
import type { Job, SweepSpec } from "../sweep-types.ts";
import { outageReporter, type QueueAddress, queueConnection } from "./connection.ts";
import { DEFAULT_ATTEMPTS, JOB_NAME, jobData, QUEUE_NAME, queueJobId, type RunJob } from "./protocol.ts";

/** Where the sweep stands, after each look at the queue. */
export interface QueueProgress {
  readonly total: number;
  /** Runs in runs.jsonl (from earlier sweeps too). */
  readonly done: number;
  /** Runs a worker holds now. */
  readonly running: number;
  /** Runs that failed every attempt. */
  readonly failed: number;
  /** The run just written, if any. */
  readonly last?: RunRecord;
}

/** A run that failed all its attempts, with the last error a worker gave. */
export interface QueueFailure {
  readonly id: string;
  readonly attempts: number;
  readonly reason: string;
}

export interface QueueSweepOptions {
  readonly address: QueueAddress;
  /** The opened (locked, checked) sweep folder. */
  readonly folder: SweepFolder;
  /** Tries per job before it counts as failed (default 3). */
  readonly attempts?: number;
  /** Milliseconds between looks at the queue (default 250). */
  readonly pollMs?: number;
  readonly onProgress?: (progress: QueueProgress) => void;
  /** Where messages about the queue go (default: stderr). */
  readonly log?: (line: string) => void;
}

export interface QueueSweepResult {
  /** Every run in runs.jsonl, in job order. */
  readonly runs: RunRecord[];
  readonly failures: QueueFailure[];
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runs `spec` through the queue at `address` until every run is written or has failed. */
export async function runQueueSweep(spec: SweepSpec, options: QueueSweepOptions): Promise<QueueSweepResult> {
  const { folder } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(line));
  const attempts = options.attempts ?? DEFAULT_ATTEMPTS;
  const jobs = new Map<string, Job>(sweepJobs(spec).map((job) => [queueJobId(folder.hash, job), job]));
  const done = new Set(folder.previous.map((r) => r.id));
  const written: RunRecord[] = [...folder.previous];
  /** Job ids still to be written and not failed. */
  const pending = new Set([...jobs.keys()].filter((id) => !done.has(jobRunId(jobs, id))));
  const failures = new Map<string, QueueFailure>();
  /** The run written since the last progress report. */
  let last: RunRecord | undefined;
  const queue = new Queue<RunJob>(QUEUE_NAME, { connection: queueConnection(options.address) });
  const outage = outageReporter("sweep", options.address, log);
  queue.on("error", outage.error);

  const enqueue = async (ids: readonly string[]) => {
    // In slices: one addBulk is one Redis transaction, and a sweep may have thousands of runs.
    for (let i = 0; i < ids.length; i += 500)
      await queue.addBulk(
        ids.slice(i, i + 500).map((id) => ({
          name: JOB_NAME,
          data: jobData(spec, folder.hash, defined(jobs.get(id), "a job of the sweep")),
          opts: {
            jobId: id,
            attempts,
            backoff: { type: "fixed", delay: 1_000 },
            // Kept until the coordinator has written them (completed) or reported them (failed).
            removeOnComplete: false,
            removeOnFail: false,
          },
        })),
      );
  };
  const ours = (job: RunJob | undefined): job is RunJob => job?.id !== undefined && jobs.has(job.id);

  const record = async (job: RunJob) => {
    const id = defined(job.id, "a job's id");
    if (pending.has(id)) {
      // The line as the worker's record reads (a local sweep writes the same text); checked on the way in.
      const line = JSON.stringify({ sweep: folder.hash, ...job.returnvalue });
      const parsed = RUN_RECORD.safeParse(JSON.parse(line));
      if (!parsed.success || parsed.data.id !== jobRunId(jobs, id)) {
        failures.set(id, {
          id: jobRunId(jobs, id),
          attempts: job.attemptsMade,
          reason: "the worker's result is not a run record",
        });
        pending.delete(id);
        return;
      }
      appendText(folder.runsPath, `${line}\n`);
      written.push(parsed.data);
      done.add(parsed.data.id);
      pending.delete(id);
      last = parsed.data;
    }
    // Acknowledged only now that it is in runs.jsonl (or was there already).
    await job.remove();
  };

  try {
    // Left by an earlier coordinator: results it did not write yet are written below; jobs that
    // failed every attempt are removed so that this run tries them again.
    for (const job of (await queue.getJobs(["failed"])).filter(ours)) await job.remove();
    await enqueue([...pending]);
    let lastCheck = Date.now();
    for (;;) {
      const [completed, failed, active] = await Promise.all([
        queue.getJobs(["completed"]),
        queue.getJobs(["failed"]),
        queue.getJobs(["active"]),
      ]);
      outage.recovered();
      for (const job of completed.filter(ours)) await record(job);
      for (const job of failed.filter(ours)) {
        const id = defined(job.id, "a job's id");
        if (!pending.has(id)) continue;
        pending.delete(id);
        failures.set(id, { id: jobRunId(jobs, id), attempts: job.attemptsMade, reason: job.failedReason });
      }
      const running = active.filter((job) => ours(job) && pending.has(job.id ?? "")).length;
      options.onProgress?.({
        total: jobs.size,
        done: done.size,
        running,
        failed: failures.size,
        ...(last !== undefined ? { last } : {}),
      });
      last = undefined;
      if (pending.size === 0) break;
      // A Redis restarted without its data has lost our jobs: a pending job is never missing
      // otherwise (jobs leave Redis only once written), so one missing means enqueue them again.
      if (Date.now() - lastCheck > 2_000) {
        lastCheck = Date.now();
        const probe = defined(pending.values().next().value, "a pending job");
        if ((await queue.getJobState(probe)) === "unknown") {
          log(
            `nqm sweep: the queue at ${options.address.label} lost its jobs (restarted?); enqueuing the ${pending.size} unfinished runs again\n`,
          );
          await enqueue([...pending]);
        }
      }
      await sleep(options.pollMs ?? 250);
    }
  } finally {
    await queue.close();
  }
  // The runs arrived in the order workers finished them; the file ends in the order a local sweep writes.
  const runs = reorderRunsFile(spec, folder.runsPath, written);
  writeSummary(folder.outDir, runs);
  return { runs, failures: [...failures.values()] };
}

/** The run id of one of the sweep's job ids. */
function jobRunId(jobs: ReadonlyMap<string, Job>, jobId: string): string {
  return expectedId(defined(jobs.get(jobId), "a job of the sweep"));
}
