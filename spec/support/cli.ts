/** Running the bundled CLI (or any node script) as a subprocess, for the CLI tests. */
import { execFile } from "node:child_process";

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
