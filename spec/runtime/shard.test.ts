/**
 * Sharded sweeps (`--shard I/N`) and `nqm sweep merge` (runtime/sweep-merge.ts): the shards
 * 1/3, 2/3 and 3/3 cover the sweep once, and merged they give the unsharded sweep's runs.jsonl
 * and summary.csv byte for byte; folders of other sweeps, foreign records and damaged identity
 * files are refused; a run found twice is kept once; missing runs are listed.
 */
import assert from "node:assert/strict";
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { NqmError } from "../../foundation/diagnostics.ts";
import { parseShard, runSweep, shardJobs, sweepJobs, type SweepSpec } from "../../runtime/sweep.ts";
import { mergeSweepFolders } from "../../runtime/sweep-merge.ts";
import { nth } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
const WORK = mkdtempSync(join(tmpdir(), "nqm-shard-"));
after(() => rmSync(WORK, { recursive: true, force: true }));

/** uv on one example, three regimes, two seeds: 18 quick runs. */
const SPEC: SweepSpec = {
  file: join(ROOT, "examples/uv.nqm"),
  source: readFileSync(join(ROOT, "examples/uv.nqm"), "utf8"),
  set: { m: 200 },
  data: "single:x=1,y=1",
  dataSeed: 0,
  models: ["f", "lin", "quad"],
  lrMultiples: [0.75, 1.5, 2.25],
  seeds: [0, 1],
  steps: 100,
  loss: "sum",
  evalEvery: 10,
  eigs: 1,
  divergenceFactor: 1e10,
  cacheDir: join(WORK, "cache"),
};

const read = (dir: string, name = "runs.jsonl") => readFileSync(join(dir, name), "utf8");
const lineCount = (text: string) => text.split("\n").filter((l) => l !== "").length;

function throwsNqm(run: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof NqmError, String(error));
    assert.equal(nth(error.diagnostics, 0).code, code);
    assert.match(nth(error.diagnostics, 0).message, pattern);
    return true;
  });
}

test("parseShard takes I/N with 1 ≤ I ≤ N, and refuses the rest (NQM3007)", () => {
  assert.deepEqual(parseShard("2/8"), { index: 2, count: 8 });
  assert.deepEqual(parseShard(" 1 / 1 "), { index: 1, count: 1 });
  for (const bad of ["0/3", "4/3", "1/0", "3", "a/b", "1.5/3", "-1/3", ""])
    throwsNqm(() => parseShard(bad), "NQM3007", /--shard: expected I\/N/);
});

test("the N shards cover every job exactly once, in job order, evenly, and mix the models", () => {
  const jobs = sweepJobs(SPEC);
  for (const count of [1, 2, 3, 4, 7, 18, 40]) {
    const slices = Array.from({ length: count }, (_, i) => shardJobs(jobs, { index: i + 1, count }));
    const seen = slices.flat().map((job) => job.index);
    assert.deepEqual(
      [...seen].sort((a, b) => a - b),
      jobs.map((job) => job.index),
      `${count} shards`,
    );
    const sizes = slices.map((slice) => slice.length);
    assert.ok(Math.max(...sizes) - Math.min(...sizes) <= 1, `even sizes for ${count}: ${sizes}`);
    for (const slice of slices)
      assert.deepEqual(
        slice.map((job) => job.index),
        [...slice.map((job) => job.index)].sort((a, b) => a - b),
      );
  }
  // Three models, three shards: striding would give each shard one model.
  for (const index of [1, 2, 3])
    assert.ok(new Set(shardJobs(jobs, { index, count: 3 }).map((job) => job.kind)).size > 1, `shard ${index}/3`);
  assert.deepEqual(shardJobs(jobs, { index: 2, count: 3 }), shardJobs(jobs, { index: 2, count: 3 }), "deterministic");
});

describe("shards 1/3, 2/3, 3/3 merged", () => {
  const WHOLE = join(WORK, "whole");
  const SHARDS = [1, 2, 3].map((index) => join(WORK, `shard-${index}`));

  before(async () => {
    await runSweep(SPEC, { outDir: WHOLE, workers: 2 });
    for (const [i, dir] of SHARDS.entries())
      await runSweep(SPEC, { outDir: dir, workers: 1, shard: { index: i + 1, count: 3 } });
  });

  test("each shard's folder holds its slice only", () => {
    for (const dir of SHARDS) assert.equal(lineCount(read(dir)), 6);
  });

  test("equal the unsharded sweep, byte for byte", () => {
    const out = join(WORK, "merged");
    const result = mergeSweepFolders(SHARDS, out);
    assert.equal(result.runs.length, 18);
    assert.deepEqual(result.missing, []);
    assert.equal(result.duplicates, 0);
    assert.equal(read(out), read(WHOLE));
    assert.equal(read(out, "summary.csv"), read(WHOLE, "summary.csv"));
    assert.equal(JSON.parse(read(out, "sweep.json")).hash, JSON.parse(read(WHOLE, "sweep.json")).hash);
  });

  test("a shard given twice, or merged into one of the shards, counts each run once", () => {
    const out = join(WORK, "merged-twice");
    const result = mergeSweepFolders([...SHARDS, nth(SHARDS, 0)], out);
    assert.equal(result.duplicates, 6);
    assert.equal(read(out), read(WHOLE));
    const into = join(WORK, "into-first");
    cpSync(nth(SHARDS, 0), into, { recursive: true });
    mergeSweepFolders([into, nth(SHARDS, 1), nth(SHARDS, 2)], into);
    assert.equal(read(into), read(WHOLE));
  });

  test("missing shards are listed; the runs present are merged", () => {
    const out = join(WORK, "partial");
    const result = mergeSweepFolders([nth(SHARDS, 0), nth(SHARDS, 2)], out);
    assert.equal(result.runs.length, 12);
    const expected = shardJobs(sweepJobs(SPEC), { index: 2, count: 3 }).map(
      (j) => `${j.kind}|${j.lrMultiple}|${j.seed}`,
    );
    assert.deepEqual(result.missing, expected);
  });

  test("a folder of another sweep is refused (NQM4007 naming both)", async () => {
    const other = join(WORK, "other");
    await runSweep({ ...SPEC, lrMultiples: [0.75], seeds: [0] }, { outDir: other, workers: 1 });
    throwsNqm(
      () => mergeSweepFolders([nth(SHARDS, 0), other], join(WORK, "refused")),
      "NQM4007",
      /other holds sweep [0-9a-f]{16}, but .*shard-1 holds sweep [0-9a-f]{16}: only the shards of one sweep merge/,
    );
  });

  test("a record of another sweep in a shard's runs.jsonl is refused", () => {
    const dir = join(WORK, "foreign");
    cpSync(nth(SHARDS, 1), dir, { recursive: true });
    const [line] = read(dir).split("\n");
    const foreign = { ...JSON.parse(line ?? "{}"), sweep: "0123456789abcdef" };
    writeFileSync(join(dir, "runs.jsonl"), `${read(dir)}${JSON.stringify(foreign)}\n`);
    throwsNqm(
      () => mergeSweepFolders([nth(SHARDS, 0), dir], join(WORK, "refused-2")),
      "NQM4007",
      /holds run \S+ of sweep 0123456789abcdef, not of sweep [0-9a-f]{16}/,
    );
  });

  test("a sweep.json whose identity was edited (or that is no sweep's) is refused", () => {
    const dir = join(WORK, "edited");
    cpSync(nth(SHARDS, 2), dir, { recursive: true });
    const file = JSON.parse(read(dir, "sweep.json"));
    const identity = JSON.parse(file.identity);
    writeFileSync(
      join(dir, "sweep.json"),
      JSON.stringify({ ...file, identity: JSON.stringify({ ...identity, steps: 99 }) }),
    );
    throwsNqm(
      () => mergeSweepFolders([dir], join(WORK, "refused-3")),
      "NQM4007",
      /names sweep [0-9a-f]{16}, but its identity is another sweep's/,
    );
    const empty = join(WORK, "not-a-sweep");
    mkdirSync(empty, { recursive: true });
    writeFileSync(join(empty, "sweep.json"), "{}");
    throwsNqm(() => mergeSweepFolders([empty], join(WORK, "refused-4")), "NQM4007", /is damaged/);
    throwsNqm(() => mergeSweepFolders([join(WORK, "nowhere")], join(WORK, "refused-5")), "NQM3006", /sweep\.json/);
  });
});
