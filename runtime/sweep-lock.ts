/**
 * The exclusive lock of a sweep folder: `DIR/sweep.lock`, created with O_EXCL and holding its
 * owner (process id, host, start time), so that a second sweep can say who holds the folder.
 * A lock whose owner was killed is taken over at once: on the same host its process no longer
 * exists. (Why not proper-lockfile: see docs/architecture.md, "Libraries, and what we kept".)
 */
import { closeSync, openSync, readFileSync, rmSync, statSync, writeSync } from "node:fs";
import { hostname } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { fail } from "../foundation/diagnostics.ts";
import { writeFailed } from "./files.ts";

const LockOwner = z.object({ pid: z.number().int(), host: z.string(), started: z.string() });
type LockOwner = z.infer<typeof LockOwner>;

/** A lock file left empty by a process killed between creating and filling it counts as stale after this. */
const EMPTY_LOCK_GRACE_MS = 10_000;

/** True when a process with this id exists on this host (EPERM: it exists but is not ours). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** The holder of an existing lock, or "stale" when its owner is gone. */
function holder(path: string): LockOwner | "stale" | "unknown" {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return "stale"; // released meanwhile
    return "unknown";
  }
  let owner: LockOwner;
  try {
    owner = LockOwner.parse(JSON.parse(text));
  } catch {
    try {
      return Date.now() - statSync(path).mtimeMs > EMPTY_LOCK_GRACE_MS ? "stale" : "unknown";
    } catch {
      return "stale";
    }
  }
  if (owner.host === hostname() && !processExists(owner.pid)) return "stale";
  return owner;
}

/**
 * Takes the lock of `folder` (which must exist) for this process and returns its release; a
 * folder held by a live sweep is NQM4008 naming the holder. The lock is released on exit too.
 */
export function lockSweepFolder(folder: string): () => void {
  const path = join(folder, "sweep.lock");
  const owner: LockOwner = { pid: process.pid, host: hostname(), started: new Date().toISOString() };
  const text = `${JSON.stringify(owner)}\n`;
  for (let attempt = 0; ; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, "wx");
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== "EEXIST") writeFailed(path, error);
      const current = holder(path);
      if (current === "stale" && attempt < 3) {
        rmSync(path, { force: true });
        continue;
      }
      const who =
        typeof current === "object"
          ? `process ${current.pid} on ${current.host}, started ${current.started}`
          : "a process that did not record itself";
      fail("NQM4008", { folder, owner: who, lock: path });
    }
    try {
      writeSync(fd, text);
    } catch (error) {
      closeSync(fd);
      rmSync(path, { force: true });
      writeFailed(path, error);
    }
    closeSync(fd);
    break;
  }
  let released = false;
  const release = (): void => {
    if (released) return;
    released = true;
    process.off("exit", release);
    try {
      // Only our own lock: after a takeover (we were presumed dead) the file is another's.
      if (readFileSync(path, "utf8") === text) rmSync(path, { force: true });
    } catch {
      // Already gone.
    }
  };
  process.on("exit", release);
  return release;
}
