/**
 * The compiler's identity. The release version is set by hand; the compiler hash is a SHA-256 over
 * the compiler's own source (every file under foundation/, grammar/ and compiler/), so that any change to the
 * code that generates kernels changes every cache key. The dist bundle carries the hash computed
 * at build time (scripts/build.mjs defines __NQM_COMPILER_HASH__); running from source, it is
 * computed once, at first use, from the files beside this one.
 */
import { createHash } from "node:crypto";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The compiler's release version: part of every cache key and shown by `nqm --version`. */
export const COMPILER_VERSION = "0.1.0";

/** The folders, relative to the repository root, whose files make up the compiler. */
export const COMPILER_SOURCE_DIRS = ["foundation", "grammar", "compiler"] as const;

// Replaced by a string literal in the dist bundle; undeclared (so `typeof` is "undefined") from source.
declare const __NQM_COMPILER_HASH__: string | undefined;

/** Every file under `dir`, as paths relative to `root` with forward slashes. */
function filesUnder(root: string, dir: string): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(join(root, dir), { withFileTypes: true })) {
    const relative = `${dir}/${entry.name}`;
    if (entry.isDirectory()) files.push(...filesUnder(root, relative));
    else if (entry.isFile()) files.push(relative);
  }
  return files;
}

/**
 * SHA-256 (hex) over the compiler's source files under `root`: each file's relative path and
 * content, in sorted path order, so that a renamed, added, removed or edited file changes it.
 */
export function hashCompilerSources(root: string): string {
  const hash = createHash("sha256");
  const files = COMPILER_SOURCE_DIRS.flatMap((dir) => filesUnder(root, dir)).sort();
  for (const file of files) {
    const content = readFileSync(join(root, file));
    // Lengths delimit path and content, so no two different trees feed the hash the same bytes.
    hash.update(`${file.length}:${file}\n${content.length}:`);
    hash.update(content);
  }
  return hash.digest("hex");
}

let fromSource: string | undefined;

/** The compiler hash: built in (dist bundle) or computed once from the source tree. */
export function compilerHash(): string {
  if (typeof __NQM_COMPILER_HASH__ === "string") return __NQM_COMPILER_HASH__;
  fromSource ??= hashCompilerSources(fileURLToPath(new URL("..", import.meta.url)));
  return fromSource;
}

/** The version as `nqm --version` shows it: the release and the compiler hash's first 12 digits. */
export function versionLabel(): string {
  return `${COMPILER_VERSION} (compiler ${compilerHash().slice(0, 12)})`;
}
