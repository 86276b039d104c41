/** Running the bundled CLI (or any node script) as a subprocess, for the CLI tests. */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { buildCli } from "../../scripts/build.mjs";
import { scratchFolder } from "./scratch.ts";

export interface CliRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunOptions {
  readonly cwd: string;
  readonly env?: NodeJS.ProcessEnv;
  /** Milliseconds before the process is killed (default 60 s). */
  readonly timeout?: number;
}

/** Runs `node ...args` and resolves with its exit code and output (never rejects). */
export function runNode(args: readonly string[], options: RunOptions): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [...args],
      { cwd: options.cwd, env: options.env ?? process.env, timeout: options.timeout ?? 60_000, maxBuffer: 1 << 26 },
      (error, stdout, stderr) => {
        resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr });
      },
    );
  });
}

/**
 * A test file's own bundled CLI, built before its tests into a scratch folder (not dist/, which
 * other runs may be rebuilding), and a work folder for the files its tests write; both are
 * removed after the tests. Call it at the top level of the test file; a `before` hook of the
 * file that runs the CLI awaits `built()` first (hooks need not run one after the other).
 */
export function bundledCli(name: string): {
  readonly cli: string;
  readonly scratch: string;
  readonly work: string;
  readonly built: () => Promise<void>;
} {
  const scratch = scratchFolder(`spec-${name}`);
  const work = mkdtempSync(join(tmpdir(), `nqm-${name}-`));
  let building: Promise<void> | undefined;
  const built = () => {
    building ??= (async () => {
      mkdirSync(scratch, { recursive: true });
      await buildCli(scratch);
    })();
    return building;
  };
  before(built);
  after(() => {
    rmSync(scratch, { recursive: true, force: true });
    rmSync(work, { recursive: true, force: true });
  });
  return { cli: join(scratch, "nqm.js"), scratch, work, built };
}

/** A user error is a message, never a stack trace or an exception's name. */
export function assertNoStackTrace(run: CliRun): void {
  for (const stream of [run.stdout, run.stderr]) {
    assert.doesNotMatch(stream, /^\s+at /m, `a stack trace:\n${stream}`);
    assert.doesNotMatch(stream, /\w+Error\b(?!.*NQM)/, `an exception name:\n${stream}`);
  }
}
