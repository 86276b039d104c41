/** Reading model and point files: bounded, UTF-8, every failure one located NQM3006. */
import { closeSync, openSync, readSync } from "node:fs";
import { NqmError, diagnostic } from "../foundation/diagnostics.ts";

/** Source texts read so far, for rendering diagnostics with their lines. */
export const sources = new Map<string, string>();

/** Model files larger than this are refused (a model of thousands of lines is a few hundred KB). */
export const MAX_MODEL_FILE_BYTES = 1 << 20;

/** Point files may hold many examples; still bounded, so that a device like /dev/zero cannot fill memory. */
export const MAX_POINT_FILE_BYTES = 256 << 20;

const utf8 = new TextDecoder("utf-8", { fatal: true });

/**
 * Reads at most `limit` + 1 bytes of `file`, in chunks: a file that never ends (/dev/zero) or is
 * too large is refused without reading it whole.
 */
function readBounded(file: string, limit: number): Buffer {
  const fd = openSync(file, "r");
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.alloc(Math.min(1 << 16, limit + 1 - total));
      const read = readSync(fd, chunk, 0, chunk.length, null);
      if (read === 0) break;
      chunks.push(chunk.subarray(0, read));
      total += read;
      if (total > limit) break;
    }
    return Buffer.concat(chunks, total);
  } finally {
    closeSync(fd);
  }
}

/** The text of `bytes`, or the reason they are not a text file: too large, a NUL byte, invalid UTF-8. */
function decodeText(bytes: Buffer, limit: number): { text: string } | { reason: string } {
  if (bytes.length > limit)
    return { reason: `it is larger than ${formatLimit(limit)}, the limit for this kind of file` };
  const nul = bytes.indexOf(0);
  if (nul >= 0) return { reason: `it is not a text file (it holds a NUL byte at offset ${nul})` };
  try {
    return { text: utf8.decode(bytes) };
  } catch {
    return { reason: "it is not UTF-8 text" };
  }
}

const formatLimit = (bytes: number) => (bytes >= 1 << 20 ? `${bytes / (1 << 20)} MiB` : `${bytes} bytes`);

/**
 * Reads a UTF-8 text file of at most `limit` bytes, or throws one NQM3006 naming it and the
 * reason (missing, a directory, too large, not text).
 */
export function readSource(file: string, limit = MAX_MODEL_FILE_BYTES): string {
  let bytes: Buffer;
  try {
    bytes = readBounded(file, limit);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    const reason =
      code === "ENOENT" ? "no such file" : code === "EISDIR" ? "it is a directory" : (error as Error).message;
    throw new NqmError([diagnostic("NQM3006", { file, reason })]);
  }
  const decoded = decodeText(bytes, limit);
  if ("reason" in decoded) throw new NqmError([diagnostic("NQM3006", { file, reason: decoded.reason })]);
  sources.set(file, decoded.text);
  return decoded.text;
}
