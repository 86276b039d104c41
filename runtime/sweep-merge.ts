/**
 * `nqm sweep merge`: the folders of a sweep's shards (`--shard I/N`, each a sweep folder holding
 * some of the runs) joined into one sweep folder. Every folder must be the same sweep (its
 * sweep.json rebuilt and hashed to the same identity) and every record must carry that
 * identity; a run found twice is kept once. The merged runs.jsonl is in job order, so merging
 * all shards gives the file the unsharded sweep writes.
 */
import { join, resolve } from "node:path";
import { fail } from "../foundation/diagnostics.ts";
import { writeTextAtomic } from "./files.ts";
import type { RunRecord } from "./run-record.ts";
import {
  expectedId,
  openSweepFolder,
  readRunLines,
  type SweepFolder,
  sweepFromFolder,
  sweepJobs,
  writeSummary,
} from "./sweep.ts";
import type { SweepSpec } from "./sweep-types.ts";

export interface MergeResult {
  readonly spec: SweepSpec;
  /** Every run of the merged folder, in job order. */
  readonly runs: RunRecord[];
  /** The ids of the sweep's runs that no folder holds. */
  readonly missing: string[];
  /** Runs found in more than one folder (kept once). */
  readonly duplicates: number;
}

/** Merges the sweep folders `dirs` into `outDir` (which may hold runs of the same sweep already). */
export function mergeSweepFolders(dirs: readonly string[], outDir: string): MergeResult {
  if (dirs.length === 0) fail("NQM3007", { option: "merge", reason: "name the shards' folders to merge" });
  const sweeps = dirs.map((dir) => ({ dir, ...sweepFromFolder(dir) }));
  const first = sweeps[0];
  if (first === undefined) fail("NQM3007", { option: "merge", reason: "name the shards' folders to merge" });
  for (const other of sweeps)
    if (other.hash !== first.hash)
      fail("NQM4007", {
        reason: `${other.dir} holds sweep ${other.hash}, but ${first.dir} holds sweep ${first.hash}: only the shards of one sweep merge`,
      });
  const lines = new Map<string, { line: string; record: RunRecord }>();
  let duplicates = 0;
  const take = (path: string) => {
    for (const entry of readRunLines(path)) {
      if (entry.record.sweep !== first.hash)
        fail("NQM4007", {
          reason: `${path} holds run ${entry.record.id} of sweep ${entry.record.sweep ?? "(none)"}, not of sweep ${first.hash}`,
        });
      if (lines.has(entry.record.id)) duplicates++;
      else lines.set(entry.record.id, entry);
    }
  };
  for (const { dir } of sweeps) take(join(dir, "runs.jsonl"));
  const folder: SweepFolder = openSweepFolder(first.spec, outDir);
  try {
    // The output folder's own runs count too (it may be one of the shards, or a resumed merge).
    if (!sweeps.some(({ dir }) => resolve(dir) === resolve(outDir))) take(folder.runsPath);
    const ordered = sweepJobs(first.spec).map((job) => lines.get(expectedId(job)));
    const missing = sweepJobs(first.spec)
      .filter((_, i) => ordered[i] === undefined)
      .map((job) => expectedId(job));
    const present = ordered.filter((entry) => entry !== undefined);
    writeTextAtomic(folder.runsPath, present.map(({ line }) => `${line}\n`).join(""));
    const runs = present.map(({ record }) => record);
    writeSummary(outDir, runs);
    return { spec: first.spec, runs, missing, duplicates };
  } finally {
    folder.release();
  }
}
