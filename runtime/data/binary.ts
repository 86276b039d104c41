/**
 * Reading binary data files (NumPy, IDX, CIFAR): whole-file reads held to the memory budget,
 * gzip undone with its output bounded, and the two located errors of a bad file: NQM4009 for a
 * malformed one ("byte 16: header says …"), NQM4010 for a well-formed one in a variant nqm does
 * not read (Fortran order, big-endian, complex numbers).
 */
import { readFileSync, statSync } from "node:fs";
import { resolve } from "node:path";
import { constants as bufferConstants } from "node:buffer";
import { gunzipSync } from "node:zlib";
import { fail, NqmError } from "../../foundation/diagnostics.ts";
import { ioReason } from "../files.ts";
import { refuseMemory } from "../memory.ts";

/** Throws NQM4009: `path` is malformed, `reason` says where and how. */
export function malformed(path: string, reason: string): never {
  fail("NQM4009", { path, reason });
}

/** Throws NQM4010: `path` is well-formed but in a variant nqm does not read. */
export function unsupported(path: string, reason: string): never {
  fail("NQM4010", { path, reason });
}

/** A number of bytes with thousands separators, as in "47,040,000 bytes". */
export function bytesText(count: number): string {
  return `${count.toLocaleString("en-US")} byte${count === 1 ? "" : "s"}`;
}

/** The size of `path` (relative to `cwd`) in bytes, or NQM4003 when it cannot be read. */
export function fileSize(path: string, cwd: string): number {
  try {
    const stats = statSync(resolve(cwd, path));
    if (stats.isDirectory()) fail("NQM4003", { reason: `${path} is a folder, not a file` });
    return stats.size;
  } catch (error) {
    if (error instanceof NqmError) throw error;
    fail("NQM4003", { reason: `${path}: cannot read the file: ${ioReason(error)}` });
  }
}

/**
 * The bytes of `path`, un-gzipped when they start with gzip's magic bytes. `held` is what the
 * data set already holds, so the budget covers all its files together; the gzip trailer's size
 * gives the estimate before inflating, and the inflation itself stops at the budget (a damaged
 * trailer must not let a small file grow without bound).
 */
export function readDataFile(path: string, cwd: string, memoryLimit: number, held = 0): Buffer {
  const size = fileSize(path, cwd);
  const what = `the data file ${path}`;
  if (held + size > memoryLimit) refuseMemory(what, held + size, memoryLimit, "use a smaller file");
  let bytes: Buffer;
  try {
    bytes = readFileSync(resolve(cwd, path));
  } catch (error) {
    fail("NQM4003", { reason: `${path}: cannot read the file: ${ioReason(error)}` });
  }
  if (!(bytes.length >= 2 && bytes[0] === 0x1f && bytes[1] === 0x8b)) return bytes;
  // The last 4 bytes hold the uncompressed size modulo 2^32.
  const stated = bytes.length >= 18 ? bytes.readUInt32LE(bytes.length - 4) : 0;
  if (held + size + stated > memoryLimit) refuseMemory(what, held + size + stated, memoryLimit, "use a smaller file");
  try {
    return gunzipSync(bytes, { maxOutputLength: outputLimit(memoryLimit - held - size) });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ERR_BUFFER_TOO_LARGE")
      refuseMemory(`${what} (un-gzipped)`, memoryLimit + 1, memoryLimit, "use a smaller file");
    const message = error instanceof Error ? error.message : String(error);
    malformed(path, `the gzip data is damaged or cut short (${message})`);
  }
}

/** A zlib output bound: at least 1 byte (zlib's minimum), at most the largest Buffer. */
export function outputLimit(bytes: number): number {
  return Math.max(1, Math.min(bufferConstants.MAX_LENGTH, Math.floor(bytes)));
}
