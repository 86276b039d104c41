/**
 * A sweep worker (a piscina task module): opens the session on its first job, then trains each
 * job it is given. The session and the seeds' starts stay in the worker between jobs.
 */
import { workerData } from "node:worker_threads";
import { NqmError } from "../foundation/diagnostics.ts";
import { criticalRate, initialParameters, openSession, startingPoint, type Session } from "./session.ts";
import type { Job, JobOutcome, SweepSpec } from "./sweep-types.ts";
import type { RunStart } from "./train.ts";
import { runTraining } from "./linear-exact.ts";

const spec = workerData as SweepSpec;
let session: Promise<Session> | undefined;
const starts = new Map<number, RunStart>();

/** w0 and λ_max(K(w0)) for a seed, computed once per worker. */
function startFor(opened: Session, seed: number): RunStart {
  let start = starts.get(seed);
  if (!start) {
    start = startingPoint(opened, seed);
    starts.set(seed, start);
  }
  initialParameters(opened, seed); // the fixed tensors of this seed
  return start;
}

/** Trains one job; user errors come back as diagnostics (an Error loses them crossing threads). */
export default async function runJob(job: Job): Promise<JobOutcome> {
  try {
    session ??= openSession(spec);
    const opened = await session;
    const start = startFor(opened, job.seed);
    const etaCrit = criticalRate(start.lambda0, spec.loss, opened.data.train.n);
    const record = runTraining(
      opened,
      start,
      {
        kind: job.kind,
        lr: job.lrMultiple * etaCrit,
        lrMultiple: job.lrMultiple,
        steps: spec.steps,
        loss: spec.loss,
        evalEvery: spec.evalEvery,
        eigs: spec.eigs,
        ...(spec.batch !== undefined ? { batch: spec.batch } : {}),
        seed: job.seed,
        divergenceFactor: spec.divergenceFactor,
        ...(spec.directions ? { directions: spec.directions } : {}),
      },
      spec.lin ? { lin: spec.lin } : {},
    );
    return { ok: true, record };
  } catch (error) {
    if (error instanceof NqmError) return { ok: false, diagnostics: error.diagnostics };
    throw error;
  }
}
