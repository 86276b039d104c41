/**
 * nqm as a package (issue 13): `npm pack` of the package as package.json's `files` and `exports`
 * lay it out, installed with `npm ci --offline` in a new project in a temp folder (from npm's cache, by
 * a lockfile), where docs/api.md's worked example runs as written and a TypeScript file that uses
 * the API type-checks against the shipped declarations. The package is staged in a temp folder
 * (package.json, README, examples and a fresh build), so dist/ of the repository is not touched.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { createHash } from "node:crypto";
import { buildCli, buildTypes } from "../../scripts/build.mjs";
import { codeBlocks } from "../support/docs.ts";

const ROOT = join(import.meta.dirname, "../..");
const WORK = mkdtempSync(join(tmpdir(), "nqm-package-"));
after(() => rmSync(WORK, { recursive: true, force: true }));

interface Run {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** Runs a program in `cwd` (never rejects). */
function run(program: string, args: readonly string[], cwd: string, timeout = 300_000): Promise<Run> {
  return new Promise((resolve) => {
    // npm's own settings of an enclosing `npm test` must not leak into the scratch project's npm.
    const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !/^npm_/i.test(key)));
    execFile(program, [...args], { cwd, env, timeout, maxBuffer: 1 << 26 }, (error, stdout, stderr) =>
      resolve({ code: error ? (typeof error.code === "number" ? error.code : -1) : 0, stdout, stderr }),
    );
  });
}

/**
 * A project that depends on the tarball, with a lockfile: `npm install --offline` needs the
 * registry's metadata of every dependency, which npm's cache need not hold, while a lockfile of
 * exact versions and integrities installs from the cached tarballs alone. The lock is the
 * repository's (its production entries, as a user's install would resolve them) plus the tarball.
 */
function writeScratchProject(project: string, tarball: string): void {
  const lock = JSON.parse(readFileSync(join(ROOT, "package-lock.json"), "utf8")) as {
    packages: Record<string, { dev?: boolean }>;
  };
  const nqm = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8")) as Record<string, unknown>;
  const spec = `file:${relative(project, tarball)}`;
  const integrity = `sha512-${createHash("sha512").update(readFileSync(tarball)).digest("base64")}`;
  const packages: Record<string, unknown> = {
    "": { name: "uses-nqm", dependencies: { nqm: spec } },
    "node_modules/nqm": {
      version: nqm.version,
      resolved: spec,
      integrity,
      license: nqm.license,
      dependencies: nqm.dependencies,
      bin: nqm.bin,
      engines: nqm.engines,
    },
  };
  for (const [path, entry] of Object.entries(lock.packages))
    if (path.startsWith("node_modules/") && entry.dev !== true) packages[path] = entry;
  const manifest = { name: "uses-nqm", private: true, type: "module", dependencies: { nqm: spec } };
  writeFileSync(join(project, "package.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  writeFileSync(
    join(project, "package-lock.json"),
    `${JSON.stringify({ name: "uses-nqm", lockfileVersion: 3, requires: true, packages }, null, 2)}\n`,
  );
}

/** The TypeScript a user might write against the package; `@ts-expect-error` lines prove the types are real, not `any`. */
const USE_TYPES = `import { loadModel, train, NqmError, type ModelInfo, type TrainResult } from "nqm";

const info: ModelInfo = loadModel("m.nqm", { source: "model m {\\n  input x: [2]\\n  param w: [2]\\n  output dot(w, x)\\n}\\n", set: { d: 2 } });
const count: number = info.parameterCount;
// @ts-expect-error: parameterCount is a number
const wrong: string = info.parameterCount;
// @ts-expect-error: an option the API does not have
loadModel("m.nqm", { colour: "red" });
async function run(): Promise<number> {
  const result: TrainResult = await train("m.nqm", { data: "single", lr: "1x", model: ["f", "quad"] });
  // @ts-expect-error: lr is required
  await train("m.nqm", { data: "single" });
  return result.runs.length + count + (wrong === "" ? 0 : 1) + (new NqmError([]).diagnostics.length);
}
void run;
`;

test("npm pack, installed in a scratch project: docs/api.md's example runs there and the types check", {
  timeout: 900_000,
}, async () => {
  // The package as npm would publish it.
  const stage = join(WORK, "stage");
  mkdirSync(stage);
  for (const name of ["package.json", "README.md"]) cpSync(join(ROOT, name), join(stage, name));
  cpSync(join(ROOT, "examples"), join(stage, "examples"), { recursive: true });
  await buildCli(join(stage, "dist"));
  await buildTypes(join(stage, "dist", "types"));
  const packed = await run("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", WORK], stage);
  assert.equal(packed.code, 0, packed.stderr);
  const [manifest] = JSON.parse(packed.stdout) as { filename: string; files: { path: string }[] }[];
  assert.ok(manifest);
  const files = manifest.files.map((f) => f.path);
  for (const needed of ["dist/index.js", "dist/nqm.js", "dist/sweep-worker.js", "dist/types/api/index.d.ts"])
    assert.ok(files.includes(needed), `${needed} is not in the package`);
  assert.ok(!files.some((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), "no TypeScript sources in the package");

  // A new project that installs the tarball, offline, from npm's cache.
  const project = join(WORK, "project");
  mkdirSync(project);
  writeScratchProject(project, join(WORK, manifest.filename));
  const installed = await run("npm", ["ci", "--offline", "--no-audit", "--no-fund"], project, 600_000);
  assert.equal(installed.code, 0, `npm ci --offline:\n${installed.stderr}`);
  assert.ok(existsSync(join(project, "node_modules", "nqm", "dist", "index.js")));

  // The documented example, as written.
  const example = codeBlocks(readFileSync(join(ROOT, "docs/api.md"), "utf8")).find((b) => b.file === "example.mjs");
  assert.ok(example, "docs/api.md has its example.mjs block");
  writeFileSync(join(project, "example.mjs"), example.text);
  const ran = await run(process.execPath, ["example.mjs"], project);
  assert.equal(ran.code, 0, `example.mjs:\n${ran.stdout}\n${ran.stderr}`);
  assert.match(ran.stdout, /^uv: 400 parameters$/m);
  assert.match(ran.stdout, /^f: catapult$/m);
  assert.match(ran.stdout, /^lin: divergent$/m);
  assert.match(ran.stdout, /^NQM3007: invalid option --lr/m);

  // The declarations: what a TypeScript user imports resolves to real types.
  writeFileSync(join(project, "use.ts"), USE_TYPES);
  const tsc = join(ROOT, "node_modules", "typescript", "bin", "tsc");
  const checked = await run(
    process.execPath,
    [tsc, "--noEmit", "--strict", "--skipLibCheck", "--target", "es2022", "--module", "nodenext", "use.ts"],
    project,
  );
  assert.equal(checked.code, 0, `tsc:\n${checked.stdout}${checked.stderr}`);
});
