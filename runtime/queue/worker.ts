/**
 * A queue worker (`nqm worker --queue URL`): takes run jobs from the queue, any sweep's, and
 * trains each on a thread of a pool per sweep (the sweep's own worker module, so a run trains
 * exactly as in a local sweep). Training stays off the main thread, whose event loop must keep
 * renewing the jobs' locks: a worker that stops renewing (killed, frozen) loses its jobs to
 * others after the stall interval.
 */
import { Worker } from "bullmq";
import { Piscina } from "piscina";
import type { Diagnostic, NqmError } from "../../foundation/diagnostics.ts";
import { defaultMemoryLimit } from "../memory.ts";
import { expectedId, workerFile } from "../sweep.ts";
import type { Job, JobOutcome, SweepSpec } from "../sweep-types.ts";
import { checkQueueReachable, outageReporter, type QueueAddress, queueConnection } from "./connection.ts";
import { checkVersion, type JOB_NAME, QUEUE_NAME, type QueueJobData, thisVersion, versionText } from "./protocol.ts";
import type { RunRecord } from "../run-record.ts";

export interface QueueWorkerOptions {
  readonly address: QueueAddress;
  /** Runs trained at once (default 1). */
  readonly concurrency?: number;
  /** Seconds after which the job of a worker that stopped renewing its lock goes to another (default 30). */
  readonly stallSeconds?: number;
  /** Stop after this many seconds without a job (default: never). */
  readonly idleExitSeconds?: number;
  /** Where the worker says what it does (default: stderr). */
  readonly log?: (line: string) => void;
}

/** A running worker: `stop` finishes the running jobs and ends it; `done` settles when it has ended. */
export interface QueueWorker {
  readonly stop: () => Promise<void>;
  readonly done: Promise<void>;
}

/** The message of a job's failure: its diagnostics, code first, as the coordinator will show them. */
function failureMessage(diagnostics: readonly Diagnostic[]): string {
  return diagnostics.map((d) => `${d.code}: ${d.message}`).join("; ");
}

/** Starts a worker on the queue at `address` (NQM4011 when nothing answers there). */
export async function startQueueWorker(options: QueueWorkerOptions): Promise<QueueWorker> {
  const { address } = options;
  const log = options.log ?? ((line: string) => process.stderr.write(line));
  const concurrency = options.concurrency ?? 1;
  const stallMs = (options.stallSeconds ?? 30) * 1000;
  await checkQueueReachable(address);
  const pools = new Map<string, Piscina<Job, JobOutcome>>();
  const poolFor = (sweep: string, spec: SweepSpec) => {
    let pool = pools.get(sweep);
    if (pool === undefined) {
      const local: SweepSpec = {
        ...spec,
        // Data files are found from where the worker was started; the sweep's data hash checks them.
        cwd: process.cwd(),
        threads: 1,
        memoryLimit: Math.floor(defaultMemoryLimit() / concurrency),
      };
      pool = new Piscina<Job, JobOutcome>({
        filename: workerFile(),
        workerData: local,
        minThreads: 0,
        maxThreads: concurrency,
        concurrentTasksPerWorker: 1,
        // A thread keeps its session (compiled kernels, data) between runs of its sweep for a while.
        idleTimeout: 60_000,
      });
      pools.set(sweep, pool);
    }
    return pool;
  };
  const outage = outageReporter("worker", address, log);
  let running = 0;
  let lastActive = Date.now();

  const worker = new Worker<QueueJobData, RunRecord, typeof JOB_NAME>(
    QUEUE_NAME,
    async (job) => {
      running++;
      outage.recovered();
      const { data } = job;
      const id = expectedId(data.job);
      const what = `run ${id} of sweep ${data.sweep} (${data.spec.file} on ${data.spec.data}), attempt ${job.attemptsMade + 1}`;
      const started = performance.now();
      try {
        try {
          checkVersion(job.id ?? id, data);
        } catch (error) {
          const message = failureMessage((error as NqmError).diagnostics);
          log(`nqm worker: refused ${what}: ${message}\n`);
          throw new Error(message);
        }
        log(`nqm worker: running ${what}\n`);
        let outcome: JobOutcome;
        try {
          outcome = await poolFor(data.sweep, data.spec).run(data.job);
        } catch (error) {
          // The thread died (out of memory, a bug): the job fails and is retried.
          const message = error instanceof Error ? error.message : String(error);
          log(`nqm worker: ${id} failed: ${message}\n`);
          throw new Error(message);
        }
        if (!outcome.ok) {
          const message = failureMessage(outcome.diagnostics as Diagnostic[]);
          log(`nqm worker: ${id} failed: ${message}\n`);
          throw new Error(message);
        }
        log(
          `nqm worker: finished ${id} (${outcome.record.phase}) in ${((performance.now() - started) / 1000).toFixed(1)} s\n`,
        );
        return outcome.record;
      } finally {
        running--;
        lastActive = Date.now();
      }
    },
    {
      connection: queueConnection(address),
      concurrency,
      lockDuration: stallMs,
      stalledInterval: stallMs,
      // A job whose worker died twice is probably killing its workers (memory): it fails instead.
      maxStalledCount: 2,
    },
  );
  worker.on("error", outage.error);
  log(
    `nqm worker: waiting for runs on ${address.label} (nqm ${versionText(thisVersion())}, ${concurrency} at a time)\n`,
  );

  let stopping: Promise<void> | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  const stop = () => {
    stopping ??= (async () => {
      if (idleTimer !== undefined) clearInterval(idleTimer);
      await worker.close();
      await Promise.all([...pools.values()].map((pool) => pool.destroy()));
    })();
    return stopping;
  };
  const idle = options.idleExitSeconds;
  let ended: () => void = () => {};
  const done = new Promise<void>((resolve) => {
    ended = resolve;
  });
  if (idle !== undefined) {
    idleTimer = setInterval(() => {
      if (running === 0 && Date.now() - lastActive >= idle * 1000) {
        log(`nqm worker: no runs for ${idle} s; stopping\n`);
        void stop().then(ended);
      }
    }, 250);
  }
  return { stop: () => stop().then(ended), done };
}
