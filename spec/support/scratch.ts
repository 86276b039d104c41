/**
 * A scratch folder for a test's bundled CLI, under the OS temp folder (not the repository). The
 * bundle keeps its packages external, so the folder links the repository's node_modules, marks
 * its .js files as ES modules, and links examples/ beside the bundle, where `nqm demo` looks.
 * The folder is removed when the test process exits.
 */
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const ROOT = join(import.meta.dirname, "../..");

/** A fresh folder for the bundle (scripts/build.mjs's buildCli), laid out as an installed nqm. */
export function scratchFolder(name: string): string {
  const root = mkdtempSync(join(tmpdir(), `nqm-${name}-`));
  process.once("exit", () => rmSync(root, { recursive: true, force: true }));
  symlinkSync(join(ROOT, "node_modules"), join(root, "node_modules"), "dir");
  symlinkSync(join(ROOT, "examples"), join(root, "examples"), "dir");
  writeFileSync(join(root, "package.json"), `${JSON.stringify({ type: "module" })}\n`);
  const bundle = join(root, "dist");
  mkdirSync(bundle);
  return bundle;
}
