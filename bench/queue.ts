/**
 * `npm run bench:queue` (issue 15): what a sweep on the queue costs and gains, on this machine.
 *
 *   1. The wall time of one small sweep (two_layer_relu, m = 500, 64 points, 27 runs of 300 steps)
 *      run by one `nqm worker` and by three, and locally by `nqm sweep --workers 1` for reference.
 *   2. The queue's overhead per job: a sweep of 120 runs of one step each (training time next to
 *      nothing) through the queue with one worker, against the same sweep run locally.
 *
 * Starts its own redis-server (no persistence) on a free port, and the bundled CLI built into a
 * temporary folder. Workers are started and idle before the coordinator is timed, as on a cluster
 * whose workers wait for sweeps. Writes bench/queue-results.json with the load average.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { cpus, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { buildCli } from "../scripts/build.mjs";
import { startRedis } from "../spec/support/redis.ts";
import { scratchFolder } from "../spec/support/scratch.ts";

const ROOT = join(import.meta.dirname, "..");
const WORK = mkdtempSync(join(tmpdir(), "nqm-bench-queue-"));
const BUNDLE = scratchFolder("bench-queue");
const CLI = join(BUNDLE, "nqm.js");
const ENV = { ...process.env, NQM_CACHE: join(WORK, "cache") };

const SWEEP = [
  "examples/two_layer_relu.nqm",
  "--data",
  "gauss1d:n=64",
  "--set",
  "m=500",
  "--lrs",
  "0.5x:2.5x:0.25x",
  "--steps",
  "300",
  "--eval-every",
  "10",
  "--no-report",
];
const TINY = [
  "examples/uv.nqm",
  "--data",
  "single:x=1,y=1",
  "--set",
  "m=100",
  "--lrs",
  "0.05x:2x:0.05x",
  "--steps",
  "1",
  "--eval-every",
  "1",
  "--no-report",
];

/** Starts the CLI; resolves when its stderr matches `ready` (if given) and exposes its exit. */
function start(
  args: readonly string[],
  ready?: RegExp,
): { child: ChildProcess; ready: Promise<void>; exited: Promise<number | null> } {
  const child = spawn(process.execPath, [CLI, ...args], { cwd: ROOT, env: ENV, stdio: ["ignore", "ignore", "pipe"] });
  let text = "";
  const isReady = new Promise<void>((resolve) => {
    child.stderr?.on("data", (chunk: Buffer) => {
      text += chunk.toString();
      if (ready === undefined || ready.test(text)) resolve();
    });
    if (ready === undefined) resolve();
  });
  const exited = new Promise<number | null>((resolve) =>
    child.on("exit", (code) => {
      if (code !== 0 && code !== null) process.stderr.write(text);
      resolve(code);
    }),
  );
  return { child, ready: isReady, exited };
}

/** Seconds a command takes from start to exit. */
async function timed(args: readonly string[]): Promise<number> {
  const started = performance.now();
  const code = await start(args).exited;
  if (code !== 0) throw new Error(`nqm ${args.join(" ")} exited with ${code}`);
  return (performance.now() - started) / 1000;
}

/** The sweep's time through the queue with `workers` idle workers waiting for it. */
async function queued(url: string, args: readonly string[], workers: number, out: string): Promise<number> {
  const procs = Array.from({ length: workers }, () => start(["worker", "--queue", url], /waiting for runs/));
  await Promise.all(procs.map((p) => p.ready));
  const seconds = await timed(["sweep", ...args, "--queue", url, "--out", out]);
  for (const p of procs) p.child.kill("SIGTERM");
  await Promise.all(procs.map((p) => p.exited));
  return seconds;
}

const redis = await startRedis();
try {
  await buildCli(BUNDLE);
  const loadStart = loadavg();
  // Warm the compile cache so that no variant pays for the first compile.
  await timed(["sweep", ...SWEEP, "--out", join(WORK, "warm"), "--workers", "1"]);
  await timed(["sweep", ...TINY, "--out", join(WORK, "warm-tiny"), "--workers", "1"]);
  const local1 = await timed(["sweep", ...SWEEP, "--out", join(WORK, "local-1"), "--workers", "1"]);
  const queue1 = await queued(redis.url, SWEEP, 1, join(WORK, "queue-1"));
  const queue3 = await queued(redis.url, SWEEP, 3, join(WORK, "queue-3"));
  const tinyLocal = await timed(["sweep", ...TINY, "--out", join(WORK, "tiny-local"), "--workers", "1"]);
  const tinyQueue = await queued(redis.url, TINY, 1, join(WORK, "tiny-queue"));
  const tinyRuns = 40 * 3;
  const results = {
    date: new Date().toISOString(),
    node: process.version,
    cpu: cpus()[0]?.model ?? "unknown",
    cores: cpus().length,
    loadAverage: { start: loadStart, end: loadavg() },
    sweep: { runs: 27, localOneThread: local1, queueOneWorker: queue1, queueThreeWorkers: queue3 },
    overhead: {
      runs: tinyRuns,
      local: tinyLocal,
      queue: tinyQueue,
      perJobMs: ((tinyQueue - tinyLocal) / tinyRuns) * 1000,
    },
  };
  writeFileSync(join(ROOT, "bench/queue-results.json"), `${JSON.stringify(results, null, 2)}\n`);
  const s = (x: number) => `${x.toFixed(1)} s`;
  const lines = [
    `sweep of 27 runs: local (1 thread) ${s(local1)}, queue with 1 worker ${s(queue1)}, with 3 workers ${s(queue3)} (×${(queue1 / queue3).toFixed(2)})`,
    `queue overhead: ${tinyRuns} one-step runs in ${s(tinyQueue)} through the queue vs ${s(tinyLocal)} locally: ${results.overhead.perJobMs.toFixed(1)} ms per job`,
    `load average ${loadStart.map((x) => x.toFixed(1)).join(" ")} → ${results.loadAverage.end.map((x) => x.toFixed(1)).join(" ")} on ${results.cores} cores`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
} finally {
  await redis.stop();
  rmSync(WORK, { recursive: true, force: true });
}
