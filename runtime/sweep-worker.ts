/** A sweep worker: opens the session once, then trains each job it is sent. */
import { parentPort, workerData } from "node:worker_threads";
import { NqmError } from "../foundation/diagnostics.ts";
import { criticalRate, initialParameters, openSession, topEigenvalues, type Session } from "./session.ts";
import type { Job, SweepSpec, WorkerMessage } from "./sweep.ts";
import { runId, trainRun, type RunStart } from "./train.ts";

const spec = workerData as SweepSpec;
const port = parentPort!;
const post = (message: WorkerMessage) => port.postMessage(message);

let session: Session;
const starts = new Map<number, RunStart>();

/** w0 and λ_max(K(w0)) for a seed, computed once per worker. */
function startFor(seed: number): RunStart {
  let start = starts.get(seed);
  if (!start) {
    const w0 = initialParameters(session, seed);
    const top = topEigenvalues(session, w0, 1);
    start = { w0, lambda0: top.values[0]!, eigenvector0: top.vectors[0]! };
    starts.set(seed, start);
  }
  initialParameters(session, seed); // the fixed tensors of this seed
  return start;
}

try {
  session = await openSession(spec);
  post({ type: "ready" });
} catch (error) {
  post({
    type: "failed",
    index: -1,
    error: (error as Error).message,
    ...(error instanceof NqmError ? { diagnostics: error.diagnostics } : {}),
  });
}

port.on("message", (job: Job) => {
  try {
    const start = startFor(job.seed);
    const etaCrit = criticalRate(start.lambda0, spec.loss, session.data.train.n);
    const record = trainRun(session, start, {
      kind: job.kind,
      lr: job.lrMultiple * etaCrit,
      steps: spec.steps,
      loss: spec.loss,
      evalEvery: spec.evalEvery,
      eigs: spec.eigs,
      ...(spec.batch !== undefined ? { batch: spec.batch } : {}),
      seed: job.seed,
      divergenceFactor: spec.divergenceFactor,
    });
    // The record's id must be the job's, not one recomputed from a rounded η.
    post({
      type: "done",
      index: job.index,
      record: { ...record, lrMultiple: job.lrMultiple, id: runId(job.kind, job.lrMultiple, job.seed) },
    });
  } catch (error) {
    post({
      type: "failed",
      index: job.index,
      error: (error as Error).stack ?? String(error),
      ...(error instanceof NqmError ? { diagnostics: error.diagnostics } : {}),
    });
  }
});
