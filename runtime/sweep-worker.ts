/**
 * A sweep worker (a piscina task module): opens the session on its first job, then trains each
 * job it is given. The session and the seeds' starts stay in the worker between jobs.
 */
import { workerData } from "node:worker_threads";
import { fail, NqmError } from "../foundation/diagnostics.ts";
import { datasetHash } from "./data/content-hash.ts";
import {
  criticalCurvature,
  criticalRate,
  initialParameters,
  openSession,
  startingPoint,
  type Session,
} from "./session.ts";
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

/** The session, once its data is known to be what the sweep was planned on (when the spec says). */
function checkData(opened: Session): Session {
  if (spec.dataHash === undefined) return opened;
  const here = datasetHash(opened.data);
  if (here !== spec.dataHash)
    fail("NQM4014", {
      data: spec.data,
      ours: here,
      theirs: spec.dataHash,
      advice: "give this machine the same file (or the same nqm release, for the bundled data sets)",
    });
  return opened;
}

/** Trains one job; user errors come back as diagnostics (an Error loses them crossing threads). */
export default async function runJob(job: Job): Promise<JobOutcome> {
  try {
    session ??= openSession(spec).then(checkData);
    const opened = await session;
    const start = startFor(opened, job.seed);
    const etaCrit = criticalRate(criticalCurvature(start).value, spec.loss, opened.data.train.n);
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
        ...(spec.evalSchedule !== undefined ? { evalSchedule: spec.evalSchedule } : {}),
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
