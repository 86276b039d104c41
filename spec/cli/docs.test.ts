/**
 * The documentation's examples run as written (issue 13). Every code block of README.md and
 * docs/*.md marked `runnable` (```sh runnable) is run by bash, in a fresh folder per document
 * holding the document's `file=NAME` blocks, `examples/` and `node_modules/nqm` (this checkout's
 * package, built), with `nqm` on the PATH as the bundled CLI. A block passes when every command
 * in it exits 0 (bash -e, pipefail) without a stack trace.
 */
import { before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, readdirSync, readFileSync, symlinkSync, writeFileSync, chmodSync } from "node:fs";
import { dirname, join } from "node:path";
import { assertNoStackTrace, bundledCli, type CliRun } from "../support/cli.ts";
import { execFile } from "node:child_process";
import { codeBlocks } from "../support/docs.ts";

const ROOT = join(import.meta.dirname, "../..");
const { cli: CLI, work: WORK, built } = bundledCli("cli-docs");

const DOCUMENTS = [
  "README.md",
  ...readdirSync(join(ROOT, "docs"))
    .filter((f) => f.endsWith(".md"))
    .map((f) => `docs/${f}`),
];

/** The documents that must keep runnable examples (so that removing a mark fails this test). */
const MUST_RUN = [
  "docs/api.md",
  "docs/eval.md",
  "docs/codegen.md",
  "docs/training.md",
  "docs/verify.md",
  "docs/language.md",
];

/** A folder with `nqm` (the bundle), for the PATH. */
const BIN = join(WORK, "bin");
/** The package as installed: package.json with its exports, dist/ as built. */
const PACKAGE = join(WORK, "package");

before(async () => {
  await built();
  mkdirSync(BIN);
  writeFileSync(join(BIN, "nqm"), `#!/bin/sh\nexec "${process.execPath}" "${CLI}" "$@"\n`);
  chmodSync(join(BIN, "nqm"), 0o755);
  mkdirSync(PACKAGE);
  writeFileSync(join(PACKAGE, "package.json"), readFileSync(join(ROOT, "package.json")));
  symlinkSync(dirname(CLI), join(PACKAGE, "dist"), "dir");
});

/** Runs a runnable block with bash in `cwd`. */
function bash(script: string, cwd: string): Promise<CliRun> {
  return new Promise((resolve) => {
    execFile(
      "bash",
      ["-e", "-o", "pipefail", "-c", script],
      {
        cwd,
        timeout: 300_000,
        maxBuffer: 1 << 26,
        env: { ...process.env, PATH: `${BIN}:${process.env.PATH ?? ""}`, NQM_CACHE: join(WORK, "cache") },
      },
      (error, stdout, stderr) =>
        resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

test("the documents that show commands mark runnable examples", () => {
  for (const document of MUST_RUN) {
    const blocks = codeBlocks(readFileSync(join(ROOT, document), "utf8"));
    assert.ok(
      blocks.some((b) => b.runnable),
      `${document} has no runnable block`,
    );
  }
});

describe("runnable examples in the documentation", () => {
  for (const document of DOCUMENTS) {
    const blocks = codeBlocks(readFileSync(join(ROOT, document), "utf8"));
    const runnable = blocks.filter((b) => b.runnable);
    if (runnable.length === 0) continue;
    test(document, async () => {
      const folder = join(WORK, document.replaceAll("/", "_"));
      mkdirSync(join(folder, "node_modules"), { recursive: true });
      symlinkSync(join(ROOT, "examples"), join(folder, "examples"), "dir");
      symlinkSync(PACKAGE, join(folder, "node_modules", "nqm"), "dir");
      for (const block of blocks) if (block.file) writeFileSync(join(folder, block.file), block.text);
      for (const block of runnable) {
        assert.equal(block.lang, "sh", `${document}:${block.line}: a runnable block is a sh block`);
        const run = await bash(block.text, folder);
        const where = `${document}:${block.line}`;
        assert.equal(run.code, 0, `${where} exited ${run.code}:\n${block.text}\n${run.stdout}\n${run.stderr}`);
        assertNoStackTrace(run);
        assert.notEqual(run.stdout.trim(), "", `${where} printed nothing`);
      }
    });
  }
});
