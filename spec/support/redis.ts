/**
 * A private redis-server for the queue tests: on a free port of 127.0.0.1, without persistence
 * (`--save "" --appendonly no`, so a restart comes back empty, as a lost server would), stopped
 * after the tests. Debian's redis-server must be on PATH (.ci/run installs it).
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";

/** A port no one listens on now (the OS's choice for a throwaway listener). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A running test server: its URL, and how to stop it (as a crash would) and start it again, empty. */
export interface TestRedis {
  readonly port: number;
  readonly url: string;
  /** Kills the server (SIGKILL: no goodbye to its clients). */
  readonly kill: () => Promise<void>;
  /** Starts a new, empty server on the same port. */
  readonly restart: () => Promise<void>;
  /** Stops the server for good. */
  readonly stop: () => Promise<void>;
}

function requireRedisServer(): void {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0)
    throw new Error(
      "the queue tests need Debian's redis-server on PATH: apt-get install -y redis-server (.ci/run installs it)",
    );
}

/** Starts redis-server on `port` and resolves once it accepts connections. */
function launch(port: number): Promise<ChildProcess> {
  return new Promise((resolve, reject) => {
    const child = spawn(
      "redis-server",
      ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--protected-mode", "yes"],
      { stdio: ["ignore", "pipe", "pipe"] },
    );
    let output = "";
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`redis-server did not start on port ${port}:\n${output}`));
    }, 10_000);
    child.stdout?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
      if (output.includes("Ready to accept connections")) {
        clearTimeout(timer);
        resolve(child);
      }
    });
    child.stderr?.on("data", (chunk: Buffer) => {
      output += chunk.toString();
    });
    child.on("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited (${code}) on port ${port}:\n${output}`));
    });
  });
}

/** Waits for a child process to end (at once when it has). */
function ended(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

/** Starts a private redis-server for a test file. */
export async function startRedis(): Promise<TestRedis> {
  requireRedisServer();
  const port = await freePort();
  let child = await launch(port);
  const kill = async () => {
    child.kill("SIGKILL");
    await ended(child);
  };
  return {
    port,
    url: `redis://127.0.0.1:${port}`,
    kill,
    restart: async () => {
      child = await launch(port);
    },
    stop: kill,
  };
}
