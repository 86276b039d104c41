/** foundation/folders.ts: mkdir -p without Node 20's recursive-mkdir hang. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import { makeFolders } from "../../foundation/folders.ts";

test("makeFolders creates every missing component with the mode, and again does nothing", {
  skip: process.platform === "win32",
}, () => {
  const root = mkdtempSync(join(tmpdir(), "nqm-folders-"));
  try {
    const deep = join(root, "a", "b", "c");
    makeFolders(deep, 0o700);
    for (const path of [join(root, "a"), join(root, "a", "b"), deep]) {
      assert.ok(statSync(path).isDirectory(), path);
      assert.equal(statSync(path).mode & 0o777, 0o700, path);
    }
    makeFolders(deep, 0o700);
    assert.ok(existsSync(deep));
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("a folder under /proc is an ENOENT error, not a hang (Node 20's recursive mkdirSync never returns there)", {
  skip: !existsSync("/proc/self"),
}, () => {
  // In a subprocess with a time limit, as a guard against the hang.
  const module = pathToFileURL(join(import.meta.dirname, "../../foundation/folders.ts")).href;
  const script = `import { makeFolders } from ${JSON.stringify(module)};
try { makeFolders("/proc/nqm-folders-test/x"); console.log("created"); } catch (error) { console.log(error.code); }`;
  const run = spawnSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], {
    encoding: "utf8",
    timeout: 30_000,
  });
  assert.equal(run.signal, null, "the subprocess hung and was killed");
  assert.equal(run.stdout.trim(), "ENOENT", run.stderr);
});
