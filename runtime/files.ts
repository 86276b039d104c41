/**
 * Writing output files (sweep folders, reports): every failure becomes NQM3009 naming the path
 * and the cause in words, never an uncaught EROFS/EACCES/ENOSPC with a stack trace.
 */
import { accessSync, appendFileSync, constants, statSync } from "node:fs";
import { dirname, resolve } from "node:path";
import writeFileAtomic from "write-file-atomic";
import { fail } from "../foundation/diagnostics.ts";
import { makeFolders } from "../foundation/folders.ts";

/** The cause of a file-system error in words, e.g. "the disk is full (ENOSPC)". */
export function ioReason(error: unknown): string {
  const code = (error as NodeJS.ErrnoException | undefined)?.code;
  const words: Record<string, string> = {
    EROFS: "the file system is read-only",
    EACCES: "permission denied",
    EPERM: "operation not permitted",
    ENOSPC: "no space left on the device",
    EDQUOT: "the disk quota is exceeded",
    ENOTDIR: "a part of the path is a file, not a folder",
    EISDIR: "it is a folder",
    ENOENT: "no such file or folder",
    EEXIST: "a file is in the way",
    ENAMETOOLONG: "the name is too long",
    EMFILE: "too many open files",
    EIO: "an input/output error of the device",
  };
  if (code !== undefined && words[code] !== undefined) return `${words[code]} (${code})`;
  return error instanceof Error ? error.message : String(error);
}

/** Throws NQM3009 for a failed write of `path`. */
export function writeFailed(path: string, error: unknown): never {
  fail("NQM3009", { path, reason: ioReason(error) });
}

/** Creates `folder` (and its parents) and checks that files can be written in it. */
export function ensureWritableFolder(folder: string): void {
  try {
    makeFolders(folder);
    if (!statSync(folder).isDirectory()) throw Object.assign(new Error("not a folder"), { code: "ENOTDIR" });
    accessSync(folder, constants.W_OK | constants.X_OK);
  } catch (error) {
    writeFailed(folder, error);
  }
}

/**
 * Checks, without creating anything, that `folder` could be created and written: its nearest
 * existing ancestor is a writable folder (NQM3009 naming `folder` and the cause otherwise).
 */
export function checkWritableFolder(folder: string): void {
  let path = resolve(folder);
  for (;;) {
    try {
      if (!statSync(path).isDirectory()) throw Object.assign(new Error("not a folder"), { code: "ENOTDIR" });
      accessSync(path, constants.W_OK | constants.X_OK);
      return;
    } catch (error) {
      const parent = dirname(path);
      if ((error as NodeJS.ErrnoException).code !== "ENOENT" || parent === path) writeFailed(folder, error);
      path = parent;
    }
  }
}

/**
 * Replaces `path` with `text` atomically: readers (and a process killed mid-write) see the old
 * file or the new one, never an empty or truncated one.
 */
export function writeTextAtomic(path: string, text: string): void {
  try {
    writeFileAtomic.sync(path, text);
  } catch (error) {
    writeFailed(path, error);
  }
}

/** Appends `text` to `path`. */
export function appendText(path: string, text: string): void {
  try {
    appendFileSync(path, text);
  } catch (error) {
    writeFailed(path, error);
  }
}
