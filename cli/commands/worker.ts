/** `nqm worker`: trains the runs of sweeps queued on Redis, on this machine. */
import { parseQueueUrl } from "../../runtime/queue/connection.ts";
import { startQueueWorker } from "../../runtime/queue/worker.ts";

/** The options of `nqm worker`. */
export interface WorkerOptions {
  queue: string;
  concurrency: number;
  stallInterval: number;
  exitWhenIdle?: number;
}

/** Runs a worker until it is stopped (Ctrl-C, SIGTERM) or, with --exit-when-idle, the queue stays empty. */
export async function workerCommand(options: WorkerOptions): Promise<number> {
  const address = parseQueueUrl(options.queue);
  const worker = await startQueueWorker({
    address,
    concurrency: options.concurrency,
    stallSeconds: options.stallInterval,
    ...(options.exitWhenIdle !== undefined ? { idleExitSeconds: options.exitWhenIdle } : {}),
  });
  let signals = 0;
  const onSignal = (signal: NodeJS.Signals) => {
    signals++;
    if (signals === 1) {
      process.stderr.write(
        `nqm worker: ${signal}: finishing the runs in progress (again to stop now; their jobs then go to other workers after the stall interval)\n`,
      );
      void worker.stop();
    } else process.exit(130);
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  try {
    await worker.done;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
  return 0;
}
