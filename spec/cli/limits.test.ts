/**
 * Inputs that used to exhaust a process (issue 10): each runs `nqm check` as a subprocess, since
 * the defects were process-level (a hang, an out-of-memory abort, megabytes of output). Time
 * limits are generous guards against a hang, not benchmarks.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildCli } from "../../scripts/build.mjs";
import { runNode } from "../support/cli.ts";

const ROOT = join(import.meta.dirname, "../..");
const WORK = mkdtempSync(join(tmpdir(), "nqm-limits-"));
const CLI = join(WORK, "nqm.js");
before(async () => {
  // The bundle keeps its packages external: give it the repository's node_modules.
  symlinkSync(join(ROOT, "node_modules"), join(WORK, "node_modules"), "dir");
  await buildCli(WORK);
});
after(() => rmSync(WORK, { recursive: true, force: true }));

/** `nqm check FILE` with the bundled CLI and a small heap, so that a blow-up fails fast. */
function check(path: string) {
  return runNode(["--max-old-space-size=256", CLI, "check", path], {
    cwd: ROOT,
    timeout: 60_000,
  });
}

function file(name: string, content: string | Buffer): string {
  const path = join(WORK, name);
  writeFileSync(path, content);
  return path;
}

test("a file that never ends (/dev/zero) is refused with one diagnostic, not read forever", async () => {
  const run = await check("/dev/zero");
  assert.equal(run.code, 1, run.stderr);
  assert.equal(
    run.stderr.trim(),
    "nqm: error NQM3006: cannot read /dev/zero: it is larger than 1 MiB, the limit for this kind of file",
  );
});

test("a model file over 1 MiB is refused with one diagnostic", async () => {
  const run = await check(file("big.nqm", `# ${"x".repeat(1 << 20)}\nmodel a {}\n`));
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /^nqm: error NQM3006: cannot read .*big\.nqm: it is larger than 1 MiB/);
  assert.equal(run.stderr.trim().split("\n").length, 1);
});

test("a file with a NUL byte or invalid UTF-8 is refused as not text, with one diagnostic", async () => {
  const nul = await check(file("nul.nqm", Buffer.from("model a {\0}\n")));
  assert.equal(nul.code, 1);
  assert.match(
    nul.stderr.trim(),
    /^nqm: error NQM3006: cannot read .*nul\.nqm: it is not a text file \(it holds a NUL byte at offset 9\)$/,
  );
  const latin1 = await check(
    file("latin1.nqm", Buffer.from([...Buffer.from("model caf"), 0xe9, ...Buffer.from(" {}\n")])),
  );
  assert.equal(latin1.code, 1);
  assert.match(latin1.stderr.trim(), /^nqm: error NQM3006: cannot read .*latin1\.nqm: it is not UTF-8 text$/);
});

test("256 KB of junk: at most 50 diagnostics shown, then how many more, in bounded output", async () => {
  const alphabet = "{}()[],:~=+-*/@^#\n\t .0123456789eE_abxyzdm$%;!?\"'\\γ∑é";
  let junk = "";
  let state = 1;
  while (junk.length < 256 * 1024) {
    state = (state * 1103515245 + 12345) % 2147483648;
    junk += alphabet[state % alphabet.length];
  }
  const run = await check(file("junk.nqm", junk));
  assert.equal(run.code, 1);
  assert.equal(run.stderr.match(/^\S+junk\.nqm:\d+:\d+: error NQM/gm)?.length, 50);
  assert.match(run.stderr, /junk\.nqm: and \d+ more diagnostics \(not shown\)\n$/);
  assert.ok(run.stderr.length < 100_000, `${run.stderr.length} characters of diagnostics`);
});

test("a 50,000-character name with a typo: NQM2001 without a suggestion, no out-of-memory", async () => {
  const name = "w".repeat(50_000);
  const model = `model a {\n  input x: [2]\n  param ${name}a: [2]\n  output dot(${name}b, x)\n}\n`;
  const run = await check(file("long-name.nqm", model));
  assert.equal(run.code, 1, run.stderr.slice(0, 500));
  assert.match(run.stderr, /error NQM2001: unknown name `w+b`\n/);
  assert.doesNotMatch(run.stderr, /did you mean|heap/);
});
