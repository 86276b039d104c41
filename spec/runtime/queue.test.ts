/**
 * Sweeps on a queue (runtime/queue, issue 15), end to end with the bundled CLI and a private
 * redis-server: three workers give the records of a local sweep; a worker killed with SIGKILL
 * mid-run loses nothing and duplicates nothing; a coordinator killed and restarted writes the
 * results that finished meanwhile; a job of another nqm is refused naming both versions; a
 * worker with other data fails its jobs, which are reported; Redis going away makes coordinator
 * and worker wait and carry on; a wrong URL is a clear error.
 */
import assert from "node:assert/strict";
import { type ChildProcess, spawn } from "node:child_process";
import { copyFileSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { Queue } from "bullmq";
import { NqmError } from "../../foundation/diagnostics.ts";
import { parseQueueUrl, queueConnection } from "../../runtime/queue/connection.ts";
import { JOB_NAME, jobData, QUEUE_NAME, type RunJob } from "../../runtime/queue/protocol.ts";
import { assertNoStackTrace, bundledCli, runNode } from "../support/cli.ts";
import { nth } from "../support/entries.ts";
import { freePort, startRedis, type TestRedis } from "../support/redis.ts";

const ROOT = join(import.meta.dirname, "../..");
const { cli: CLI, work: WORK, built } = bundledCli("queue");
const ENV = { ...process.env, NQM_CACHE: join(WORK, "cache") };

/** uv with one example in its three regimes: 9 quick runs. */
const FAST = [
  "examples/uv.nqm",
  "--data",
  "single:x=1,y=1",
  "--set",
  "m=1000",
  "--lrs",
  "0.75x,1.5x,2.25x",
  "--models",
  "f,lin,quad",
  "--steps",
  "200",
  "--eval-every",
  "10",
  "--no-report",
];
const FAST_IDS = ["0.75", "1.5", "2.25"].flatMap((lr) => ["f", "lin", "quad"].map((kind) => `${kind}|${lr}|0`));
/** Two runs long enough (3000 steps, most of a second each with the session's start) to be interrupted in the middle. */
const SLOW = [
  "examples/uv.nqm",
  "--data",
  "single:x=1,y=1",
  "--set",
  "m=1000",
  "--lrs",
  "0.75x",
  "--models",
  "f,lin",
  "--steps",
  "3000",
  "--eval-every",
  "300",
  "--no-report",
];

/** A CLI process of a test, with its stderr as it comes. */
interface Proc {
  readonly child: ChildProcess;
  readonly stderr: () => string;
  readonly exited: Promise<number | null>;
  /** Resolves once stderr matches `pattern` (with the match), or rejects after `ms`. */
  readonly waitFor: (pattern: RegExp, ms?: number) => Promise<RegExpMatchArray>;
}

const procs: Proc[] = [];

function startCli(args: readonly string[], cwd = ROOT): Proc {
  const child = spawn(process.execPath, [CLI, ...args], { cwd, env: ENV, stdio: ["ignore", "ignore", "pipe"] });
  let text = "";
  const listeners = new Set<() => void>();
  child.stderr?.on("data", (chunk: Buffer) => {
    text += chunk.toString();
    for (const listener of listeners) listener();
  });
  const exited = new Promise<number | null>((resolve) => child.on("exit", (code) => resolve(code)));
  const waitFor = (pattern: RegExp, ms = 30_000) =>
    new Promise<RegExpMatchArray>((resolve, reject) => {
      const check = () => {
        const match = pattern.exec(text);
        if (match) {
          listeners.delete(check);
          clearTimeout(timer);
          resolve(match);
        }
      };
      const timer = setTimeout(() => {
        listeners.delete(check);
        reject(new Error(`no ${pattern} within ${ms} ms in:\n${text}`));
      }, ms);
      listeners.add(check);
      check();
    });
  const proc = { child, stderr: () => text, exited, waitFor };
  procs.push(proc);
  return proc;
}

/** Stops worker processes the way a user does (SIGTERM: finish what runs, then exit) and waits. */
async function stopAll(...list: Proc[]): Promise<void> {
  for (const proc of list) proc.child.kill("SIGTERM");
  await Promise.all(list.map((proc) => proc.exited));
}

const runLines = (dir: string) =>
  readFileSync(join(dir, "runs.jsonl"), "utf8")
    .split("\n")
    .filter((line) => line !== "");
const ids = (dir: string) => runLines(dir).map((line) => (JSON.parse(line) as { id: string }).id);
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

let redis: TestRedis;
let queue: Queue<RunJob>;
/** The jobs in Redis now, by state. */
async function counts(): Promise<Record<"wait" | "active" | "delayed" | "completed" | "failed", number>> {
  const found = await queue.getJobCounts("wait", "active", "delayed", "completed", "failed");
  const get = (state: string) => found[state] ?? 0;
  return {
    wait: get("wait"),
    active: get("active"),
    delayed: get("delayed"),
    completed: get("completed"),
    failed: get("failed"),
  };
}
/** Polls until `condition` holds, or fails after `ms`. */
async function until(what: string, condition: () => Promise<boolean>, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await condition())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

before(async () => {
  redis = await startRedis();
  queue = new Queue<RunJob>(QUEUE_NAME, { connection: queueConnection(parseQueueUrl(redis.url)) });
  // While the test's server is down (on purpose), the test's own client retries quietly.
  queue.on("error", () => {});
});
after(async () => {
  for (const proc of procs) proc.child.kill("SIGKILL");
  await queue?.close();
  await redis?.stop();
});

/** The same sweep run locally: the reference for the queue and the shards. */
const LOCAL = join(WORK, "local");
before(async () => {
  await built();
  const local = await runNode([CLI, "sweep", ...FAST, "--out", LOCAL], { cwd: ROOT, env: ENV });
  assert.equal(local.code, 0, local.stderr);
});

describe("a sweep on the queue", () => {
  // The default stall interval (30 s): a loaded machine's late lock renewal does not hand a run to a
  // second worker. Only the test of a killed worker shortens it.
  const worker = (...extra: string[]) => startCli(["worker", "--queue", redis.url, ...extra], ROOT);
  const coordinator = (out: string, args = FAST, extra: string[] = []) =>
    startCli(["sweep", ...args, "--queue", redis.url, "--out", out, ...extra]);

  test("three workers give the local sweep's runs.jsonl, each run trained once", async () => {
    const workers = [worker(), worker(), worker()];
    const out = join(WORK, "three");
    const sweep = coordinator(out);
    assert.equal(await sweep.exited, 0, sweep.stderr());
    await stopAll(...workers);
    assert.deepEqual([...ids(out)].sort(), [...FAST_IDS].sort());
    // Same values, and (rewritten in job order at the end) the same bytes.
    assert.equal(readFileSync(join(out, "runs.jsonl"), "utf8"), readFileSync(join(LOCAL, "runs.jsonl"), "utf8"));
    assert.equal(readFileSync(join(out, "summary.csv"), "utf8"), readFileSync(join(LOCAL, "summary.csv"), "utf8"));
    const finished = workers.flatMap((w) => [...w.stderr().matchAll(/finished (\S+) /g)].map((m) => m[1]));
    assert.deepEqual(finished.sort(), [...FAST_IDS].sort(), "every run trained by exactly one worker");
    const left = await counts();
    assert.equal(left.completed + left.wait + left.active + left.failed, 0, "every job acknowledged and removed");
  });

  test("a worker killed with SIGKILL mid-run: its run goes to another after the stall interval, recorded once", async () => {
    const victim = worker("--stall-interval", "1");
    await victim.waitFor(/waiting for runs/);
    const out = join(WORK, "killed-worker");
    const sweep = coordinator(out, SLOW);
    const [, killedRun] = await victim.waitFor(/running run (\S+) /);
    victim.child.kill("SIGKILL");
    await victim.exited;
    assert.doesNotMatch(victim.stderr(), /finished/, "killed in the middle of its run");
    const rescuer = worker("--stall-interval", "1");
    assert.equal(await sweep.exited, 0, sweep.stderr());
    await stopAll(rescuer);
    assert.deepEqual([...ids(out)].sort(), ["f|0.75|0", "lin|0.75|0"]);
    assert.match(rescuer.stderr(), new RegExp(`finished ${(killedRun ?? "").replaceAll("|", "\\|")} `));
  });

  test("a coordinator killed and restarted writes what finished meanwhile; it enqueues only what runs.jsonl lacks", async () => {
    const out = join(WORK, "restarted");
    mkdirSync(out, { recursive: true });
    // Three runs were written before an earlier kill: only the six others are enqueued.
    writeFileSync(join(out, "runs.jsonl"), `${runLines(LOCAL).slice(0, 3).join("\n")}\n`);
    copyFileSync(join(LOCAL, "sweep.json"), join(out, "sweep.json"));
    const first = coordinator(out);
    await until("the six missing runs to be enqueued", async () => (await counts()).wait === 6);
    first.child.kill("SIGKILL");
    await first.exited;
    // While no coordinator runs, workers finish everything; the results wait in Redis.
    const late = worker();
    await until("the runs to finish", async () => (await counts()).completed === 6);
    await stopAll(late);
    const second = coordinator(out);
    assert.equal(await second.exited, 0, second.stderr());
    assert.equal(readFileSync(join(out, "runs.jsonl"), "utf8"), readFileSync(join(LOCAL, "runs.jsonl"), "utf8"));
    assert.equal((await counts()).completed, 0, "written results are acknowledged");
    // A finished sweep rerun enqueues nothing and changes nothing.
    const third = coordinator(out);
    assert.equal(await third.exited, 0, third.stderr());
    assert.equal((await counts()).wait, 0);
    assert.equal(readFileSync(join(out, "runs.jsonl"), "utf8"), readFileSync(join(LOCAL, "runs.jsonl"), "utf8"));
  });

  test("a job of another nqm version is refused, naming both versions", async () => {
    const data = jobData(
      {
        file: "examples/uv.nqm",
        source: readFileSync(join(ROOT, "examples/uv.nqm"), "utf8"),
        set: {},
        data: "single:x=1,y=1",
        dataSeed: 0,
        models: ["f"],
        lrMultiples: [1],
        seeds: [0],
        steps: 10,
        loss: "sum",
        evalEvery: 10,
        eigs: 1,
        divergenceFactor: 1e10,
      },
      "othersweep",
      { index: 0, kind: "f", lrMultiple: 1, seed: 0 },
    );
    const job = await queue.add(
      JOB_NAME,
      { ...data, nqm: { release: "0.0.9", compilerHash: "f".repeat(64) } },
      { jobId: "othersweep|f|1|0", attempts: 1 },
    );
    const refuser = worker();
    await until("the job to fail", async () => (await job.getState()) === "failed");
    await stopAll(refuser);
    const failed = await queue.getJob("othersweep|f|1|0");
    const pattern =
      /NQM4013: job othersweep\|f\|1\|0 was enqueued by nqm 0\.0\.9 \(compiler ffffffffffff\), but this worker is nqm 0\.1\.0 \(compiler [0-9a-f]{12}\)/;
    assert.match(failed?.failedReason ?? "", pattern);
    assert.match(refuser.stderr(), pattern);
    await failed?.remove();
  });

  test("a worker whose data file differs fails the run a bounded number of times; the coordinator reports it", async () => {
    const here = join(WORK, "data-here");
    const there = join(WORK, "data-there");
    mkdirSync(here, { recursive: true });
    mkdirSync(there, { recursive: true });
    writeFileSync(join(here, "d.csv"), "x,y\n1,1\n");
    writeFileSync(join(there, "d.csv"), "x,y\n1,2\n");
    copyFileSync(join(ROOT, "examples/uv.nqm"), join(here, "uv.nqm"));
    const elsewhere = startCli(["worker", "--queue", redis.url], there);
    const out = join(here, "out");
    const args = ["uv.nqm", "--data", "csv:d.csv", "--models", "f", "--lrs", "1x", "--steps", "10", "--no-report"];
    const sweep = startCli(["sweep", ...args, "--queue", redis.url, "--out", out, "--attempts", "2"], here);
    assert.equal(await sweep.exited, 1, sweep.stderr());
    await stopAll(elsewhere);
    assert.match(
      sweep.stderr(),
      /NQM4012: run f\|1\|0 failed on the queue after 2 attempts: NQM4014: the data set csv:d\.csv on this machine is not the coordinator's \(content hash [0-9a-f]{16} here, [0-9a-f]{16} there\)/,
    );
    assert.match(sweep.stderr(), /1 of 1 runs failed; rerun the same command/);
    assertNoStackTrace({ code: 1, stdout: "", stderr: sweep.stderr() });
    assert.equal(runLines(out).length, 0);
    assert.equal((elsewhere.stderr().match(/failed: NQM4014/g) ?? []).length, 2, "tried twice, then reported");
    for (const job of await queue.getJobs(["failed"])) await job.remove();
  });

  test("Redis going away: coordinator and worker wait, say so, and finish the sweep once it is back", async () => {
    const w = worker();
    await w.waitFor(/waiting for runs/);
    const out = join(WORK, "outage");
    const sweep = coordinator(out, SLOW);
    await w.waitFor(/running run/);
    await redis.kill();
    await sweep.waitFor(/lost the queue at redis:\/\/127\.0\.0\.1:\d+ \(.*\); waiting for it to come back/);
    await w.waitFor(/lost the queue at redis:\/\/127\.0\.0\.1:\d+ \(.*\); waiting for it to come back/);
    await sleep(1_500);
    assert.equal(sweep.child.exitCode, null, "the coordinator waits");
    assert.equal(w.child.exitCode, null, "the worker waits");
    // Back, but empty (no persistence): the coordinator enqueues the unfinished runs again.
    await redis.restart();
    await sweep.waitFor(/lost its jobs \(restarted\?\); enqueuing the \d unfinished runs again/);
    assert.equal(await sweep.exited, 0, sweep.stderr());
    await stopAll(w);
    assert.deepEqual([...ids(out)].sort(), ["f|0.75|0", "lin|0.75|0"]);
  });
});

describe("wrong queue URLs are clear errors", () => {
  test("nothing listening: NQM4011 naming the address, within seconds, from sweep and worker", async () => {
    const url = `redis://127.0.0.1:${await freePort()}`;
    const out = join(WORK, "unreachable");
    const sweep = await runNode([CLI, "sweep", ...FAST, "--queue", url, "--out", out], { cwd: ROOT, env: ENV });
    assert.equal(sweep.code, 1);
    assert.match(sweep.stderr, new RegExp(`NQM4011: cannot reach the queue at ${url}: connection refused`));
    assertNoStackTrace(sweep);
    assert.ok(!existsSync(join(out, "sweep.lock")), "the folder is released");
    const worker = await runNode([CLI, "worker", "--queue", url], { cwd: ROOT, env: ENV });
    assert.equal(worker.code, 1);
    assert.match(worker.stderr, /NQM4011/);
    assertNoStackTrace(worker);
  });

  test("a URL that is not a Redis address is NQM3007 saying what is wrong", async () => {
    for (const [url, reason] of [
      ["localhost:6379", /is not a Redis URL: it must start with redis:\/\//],
      ["redis://127.0.0.1:6379/x", /`x` is not a database number/],
      ["http://127.0.0.1:6379", /is not a Redis URL/],
      ["redis://:6379", /is not a URL|names no host/],
      ["redis://127.0.0.1:6379?db=1", /takes no \?query/],
    ] as const)
      assert.throws(
        () => parseQueueUrl(url),
        (error: unknown) =>
          error instanceof NqmError &&
          nth(error.diagnostics, 0).code === "NQM3007" &&
          reason.test(nth(error.diagnostics, 0).message),
        url,
      );
    assert.deepEqual(parseQueueUrl("redis://user:p%40ss@example.org:6380/2"), {
      label: "redis://example.org:6380/2",
      host: "example.org",
      port: 6380,
      db: 2,
      username: "user",
      password: "p@ss",
      tls: false,
    });
    assert.equal(parseQueueUrl("rediss://h").port, 6379);
    assert.equal(parseQueueUrl("rediss://h").tls, true);
    // The command line says so too, with no stack trace.
    const run = await runNode([CLI, "worker", "--queue", "localhost:6379"], { cwd: ROOT, env: ENV });
    assert.equal(run.code, 1);
    assert.match(run.stderr, /NQM3007: invalid option --queue: `localhost:6379` is not a Redis URL/);
    assertNoStackTrace(run);
  });
});

test("`nqm sweep --shard 1/2` and `2/2`, then `nqm sweep merge`: the local sweep's files", async () => {
  const shards = [join(WORK, "cli-shard-1"), join(WORK, "cli-shard-2")];
  for (const [i, dir] of shards.entries()) {
    const run = await runNode([CLI, "sweep", ...FAST, "--shard", `${i + 1}/2`, "--out", dir], { cwd: ROOT, env: ENV });
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stderr, new RegExp(`shard ${i + 1} of 2`));
    assert.equal(JSON.parse(readFileSync(join(dir, "sweep.json"), "utf8")).shard, `${i + 1}/2`);
  }
  assert.equal(runLines(nth(shards, 0)).length + runLines(nth(shards, 1)).length, FAST_IDS.length);
  const merged = join(WORK, "cli-merged");
  const merge = await runNode([CLI, "sweep", "merge", ...shards, "--out", merged, "--no-report"], {
    cwd: ROOT,
    env: ENV,
  });
  assert.equal(merge.code, 0, merge.stderr);
  assert.match(merge.stdout, /merged 2 folders into .*runs\.jsonl: 9 runs/);
  assert.equal(readFileSync(join(merged, "runs.jsonl"), "utf8"), readFileSync(join(LOCAL, "runs.jsonl"), "utf8"));
  assert.equal(readFileSync(join(merged, "summary.csv"), "utf8"), readFileSync(join(LOCAL, "summary.csv"), "utf8"));
  const both = await runNode([CLI, "sweep", ...FAST, "--shard", "1/2", "--queue", "redis://127.0.0.1:1"], {
    cwd: ROOT,
    env: ENV,
  });
  assert.equal(both.code, 1);
  assert.match(both.stderr, /NQM3007: invalid option --shard: a sweep on a queue is shared by its workers already/);
});
