/**
 * The compile cache and the memory refusal (issue 4): a second compile of the same model loads
 * from the cache; a different size, source or batch misses; a truncated, edited or missing
 * entry (or its metadata) is recompiled, never trusted; concurrent compiles of one model all
 * succeed and leave one valid entry; NQM_CACHE (then XDG_CACHE_HOME) choose the folder, and a
 * folder that cannot be written costs the cache, not the compile. A model whose buffers exceed
 * the limit is refused with NQM3008, the estimate and the model's location, before anything is
 * allocated or written, from the cache too. The key includes a hash of the compiler's own source
 * (issue 11): one changed byte anywhere under compiler/ or grammar/ changes it, and the next
 * compile misses.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import {
  copyFileSync,
  cpSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  truncateSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import {
  cacheFileName,
  compileModel,
  defaultCacheDir,
  generateChecked,
  type CompileResult,
} from "../../compiler/codegen/compile.ts";
import type { CompiledKernels } from "../../compiler/codegen/api.ts";
import { NqmError } from "../../foundation/diagnostics.ts";
import { formatBytes } from "../../foundation/format.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { COMPILER_SOURCE_DIRS, COMPILER_VERSION, compilerHash, hashCompilerSources } from "../../compiler/version.ts";
import { buildCli } from "../../scripts/build.mjs";
import { EXAMPLES_DIR } from "../support/examples.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = mkdtempSync(join(tmpdir(), "nqm-codegen-cache-"));
after(() => rmSync(ROOT, { recursive: true, force: true }));
let folders = 0;
/** A fresh cache folder (a path no module was imported from yet: Node caches imports by URL). */
const freshDir = () => mkdtempSync(join(ROOT, `c${folders++}-`));

const SOURCE = readFileSync(join(EXAMPLES_DIR, "two_layer_tanh.nqm"), "utf8");
const SET = { d: 2, m: 5 };
const model = (set: Record<string, number> = SET, source = SOURCE) => loadModel(source, { set }).model;
const compile = (
  cacheDir: string,
  options: { set?: Record<string, number>; source?: string; maxBatch?: number; memoryLimit?: number } = {},
) =>
  compileModel(model(options.set ?? SET, options.source ?? SOURCE), {
    source: options.source ?? SOURCE,
    maxBatch: options.maxBatch ?? 3,
    cacheDir,
    // The estimates below come from generateChecked's JavaScript module: compile the same one.
    backend: "js",
    ...(options.memoryLimit === undefined ? {} : { memoryLimit: options.memoryLimit }),
  });

/** f at a fixed point: what every kernel set compiled from SOURCE/SET must give. */
function valuesOf(kernels: CompiledKernels): number[] {
  const w = Float64Array.from({ length: kernels.layout.paramCount }, (_, i) => Math.cos(i));
  const x = [Float64Array.of(0.5, -1, 2, 0.25, -0.75, 1.5)];
  const out = new Float64Array(3);
  kernels.f(w, x, 3, out);
  const grad = new Float64Array(kernels.layout.paramCount);
  const loss = kernels.lossAndGrad(w, x, Float64Array.of(1, 0, -1), 3, grad, false);
  return [...out, loss, ...grad];
}

const entries = (dir: string) => readdirSync(dir).sort();

describe("the compile cache", () => {
  let reference: number[] = [];
  let firstDir = "";
  let first: CompileResult;

  test("a second compile of the same model loads from the cache", async () => {
    firstDir = freshDir();
    first = await compile(firstDir);
    assert.equal(first.fromCache, false);
    assert.ok(first.typescript?.includes("export function createKernels"));
    reference = valuesOf(first.kernels);
    assert.ok(reference.every(Number.isFinite));
    const files = entries(firstDir);
    assert.equal(files.length, 2, files.join(", "));
    assert.match(nth(files, 0), /^two_layer_tanh-[0-9a-f]{32}\.json$/);
    assert.match(nth(files, 1), /^two_layer_tanh-[0-9a-f]{32}\.mjs$/);
    const second = await compile(firstDir);
    assert.equal(second.fromCache, true);
    assert.equal(second.typescript, undefined);
    assert.equal(second.javascriptPath, first.javascriptPath);
    assert.deepEqual(valuesOf(second.kernels), reference);
    // Each compile creates its own buffers.
    assert.notEqual(second.kernels, first.kernels);
    assert.notEqual(second.kernels.outputs, first.kernels.outputs);
  });

  test("a different size, const, source or batch misses", async () => {
    const variants = [
      { set: { d: 2, m: 6 } },
      { set: { d: 3, m: 5 } },
      { source: SOURCE.replace("# Two-layer", "# A two-layer") },
      { source: SOURCE.replace("output dot(v, tanh(", "output dot(v, sigmoid(") },
      { maxBatch: 4 },
    ];
    const paths = new Set([first.javascriptPath]);
    for (const variant of variants) {
      const result = await compile(firstDir, variant);
      assert.equal(result.fromCache, false, JSON.stringify(variant));
      paths.add(result.javascriptPath);
    }
    assert.equal(paths.size, variants.length + 1);
    const constSource =
      "model c {\n  const a = 2\n  input x: [1]\n  param w: [1] ~ normal(0, 1)\n  output a * dot(w, x)\n}\n";
    const dir = freshDir();
    const two = await compileModel(loadModel(constSource).model, { source: constSource, maxBatch: 1, cacheDir: dir });
    const three = await compileModel(loadModel(constSource, { set: { a: 3 } }).model, {
      source: constSource,
      maxBatch: 1,
      cacheDir: dir,
    });
    assert.equal(three.fromCache, false);
    const out = new Float64Array(1);
    three.kernels.f(Float64Array.of(1), [Float64Array.of(1)], 1, out);
    assert.equal(out[0], 3);
    two.kernels.f(Float64Array.of(1), [Float64Array.of(1)], 1, out);
    assert.equal(out[0], 2);
  });

  /** A copy of the first entry in a fresh folder, damaged by `damage`. */
  async function damaged(damage: (paths: { mjs: string; json: string }) => void): Promise<CompileResult> {
    const dir = freshDir();
    const [json, mjs] = entries(firstDir).filter(
      (f) => f.startsWith("two_layer_tanh-") && first.javascriptPath.endsWith(f.replace(/\.json$/, ".mjs")),
    );
    assert.ok(json && mjs);
    copyFileSync(join(firstDir, json), join(dir, json));
    copyFileSync(join(firstDir, mjs), join(dir, mjs));
    // Undamaged, the copy is a hit (so a miss below is the damage's doing).
    const paths = { mjs: join(dir, mjs), json: join(dir, json) };
    damage(paths);
    const result = await compile(dir);
    // The recompiled entry is whole again: the next compile is a hit.
    const again = await compile(dir);
    assert.equal(again.fromCache, true, "the recompiled entry was not written back");
    return result;
  }

  test("an undamaged copy of an entry is a hit", async () => {
    const result = await damaged(() => {});
    assert.equal(result.fromCache, true);
    assert.deepEqual(valuesOf(result.kernels), reference);
  });

  const damages: Record<string, (paths: { mjs: string; json: string }) => void> = {
    "a truncated module": ({ mjs }) => truncateSync(mjs, Math.floor(readFileSync(mjs).length / 2)),
    "an empty module": ({ mjs }) => truncateSync(mjs, 0),
    "one changed byte that keeps the module valid JavaScript": ({ mjs }) => {
      const text = readFileSync(mjs, "utf8");
      const at = text.indexOf("Math.tanh(");
      assert.ok(at > 0);
      writeFileSync(mjs, `${text.slice(0, at)}Math.sinh(${text.slice(at + "Math.tanh(".length)}`);
    },
    "a missing module": ({ mjs }) => rmSync(mjs),
    "metadata that is not JSON": ({ json }) => writeFileSync(json, "{ not json"),
    "metadata with another hash": ({ json }) =>
      writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, "utf8")), sha256: "0".repeat(64) })),
    "metadata of another compiler version": ({ json }) =>
      writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, "utf8")), version: "0.0.0-other" })),
    "metadata of another compiler build": ({ json }) =>
      writeFileSync(json, JSON.stringify({ ...JSON.parse(readFileSync(json, "utf8")), compiler: "0".repeat(64) })),
    "metadata of the wrong type": ({ json }) => writeFileSync(json, "null"),
    "missing metadata": ({ json }) => rmSync(json),
  };
  for (const [name, damage] of Object.entries(damages)) {
    test(`${name} is recompiled, not trusted`, async () => {
      const result = await damaged(damage);
      assert.equal(result.fromCache, false);
      assert.deepEqual(valuesOf(result.kernels), reference);
    });
  }

  test("two entries with both their files swapped: each model gets its own kernels, recompiled", async () => {
    const dir = freshDir();
    const other = { d: 2, m: 7 };
    const ownReference = valuesOf((await compile(dir)).kernels);
    const otherReference = valuesOf((await compile(dir, { set: other })).kernels);
    const names = entries(dir);
    assert.equal(names.length, 4, names.join(", "));
    const [a, b] = [names.slice(0, 2), names.slice(2, 4)] as [string[], string[]];
    // Move A's module and metadata to B's names and B's to A's (each pair stays self-consistent).
    for (const [i, from] of a.entries()) renameSync(join(dir, from), join(dir, `${b[i]}.swap`));
    for (const [i, from] of b.entries()) renameSync(join(dir, from), join(dir, nth(a, i)));
    for (const name of b) renameSync(join(dir, `${name}.swap`), join(dir, name));
    const first = await compile(dir);
    assert.equal(first.fromCache, false);
    assert.deepEqual(valuesOf(first.kernels), ownReference);
    const second = await compile(dir, { set: other });
    assert.equal(second.fromCache, false);
    assert.deepEqual(valuesOf(second.kernels), otherReference);
  });

  test("concurrent compiles of one model all succeed and leave one valid entry", async () => {
    const dir = freshDir();
    const results = await Promise.all(Array.from({ length: 6 }, () => compile(dir)));
    for (const result of results) assert.deepEqual(valuesOf(result.kernels), reference);
    assert.deepEqual(
      entries(dir).map((f) => f.replace(/-[0-9a-f]{32}/, "")),
      ["two_layer_tanh.json", "two_layer_tanh.mjs"],
      "temporary files left behind",
    );
    assert.equal((await compile(dir)).fromCache, true);
  });

  test("a cache folder that cannot be written costs the cache, not the compile", async () => {
    const blocker = join(freshDir(), "a-file");
    writeFileSync(blocker, "in the way");
    for (const cacheDir of [join(blocker, "cache"), blocker]) {
      const result = await compile(cacheDir);
      assert.equal(result.fromCache, false);
      assert.equal(result.javascriptPath, "");
      assert.deepEqual(valuesOf(result.kernels), reference);
    }
    assert.equal(readFileSync(blocker, "utf8"), "in the way");
  });

  test("NQM_CACHE overrides the cache folder, then XDG_CACHE_HOME", async () => {
    const saved = { NQM_CACHE: process.env.NQM_CACHE, XDG_CACHE_HOME: process.env.XDG_CACHE_HOME };
    try {
      const dir = join(freshDir(), "nested", "cache");
      process.env.NQM_CACHE = dir;
      assert.equal(defaultCacheDir(), dir);
      const result = await compileModel(model(), { source: SOURCE, maxBatch: 3 });
      assert.equal(result.fromCache, false);
      assert.ok(result.javascriptPath.startsWith(`${dir}/`), result.javascriptPath);
      assert.equal(entries(dir).length, 2);
      assert.equal((await compileModel(model(), { source: SOURCE, maxBatch: 3 })).fromCache, true);
      delete process.env.NQM_CACHE;
      const xdg = freshDir();
      process.env.XDG_CACHE_HOME = xdg;
      assert.equal(defaultCacheDir(), join(xdg, "nqm"));
    } finally {
      for (const [key, value] of Object.entries(saved)) {
        if (value === undefined) delete process.env[key];
        else process.env[key] = value;
      }
    }
  });
});

test("cache folders are created owner-only (0700) and entries written 0600, whatever the umask (issue 10)", {
  skip: process.platform === "win32" ? "POSIX permissions" : false,
}, async () => {
  // The most permissive umask: the modes must come from nqm, not from the environment.
  const umask = process.umask(0);
  try {
    const base = freshDir();
    const dir = join(base, "nested", "cache");
    const result = await compile(dir);
    assert.equal(result.fromCache, false);
    for (const folder of [join(base, "nested"), dir])
      assert.equal((statSync(folder).mode & 0o777).toString(8), "700", folder);
    const files = entries(dir);
    assert.equal(files.length, 2, files.join(", "));
    for (const file of files) assert.equal((statSync(join(dir, file)).mode & 0o777).toString(8), "600", file);
  } finally {
    process.umask(umask);
  }
});

describe("the compiler hash in the cache key", () => {
  const repo = fileURLToPath(new URL("../..", import.meta.url));
  /** A copy of the compiler's source tree (with the packages it imports) in a fresh folder. */
  function copyOfCompiler(): string {
    const copy = freshDir();
    for (const dir of COMPILER_SOURCE_DIRS) cpSync(join(repo, dir), join(copy, dir), { recursive: true });
    symlinkSync(join(repo, "node_modules"), join(copy, "node_modules"));
    writeFileSync(join(copy, "package.json"), '{ "type": "module" }\n');
    return copy;
  }
  /** Replaces the first "a" of the first doc comment in `file` of the tree at `root` with a "b": code unchanged. */
  function changeOneByte(root: string, file: string): void {
    const path = join(root, file);
    const text = readFileSync(path, "utf8");
    const comment = text.indexOf("/** ");
    const at = text.indexOf("a", comment);
    assert.ok(comment >= 0 && at > comment && at < text.indexOf("*/", comment), `no doc comment in ${file}`);
    writeFileSync(path, `${text.slice(0, at)}b${text.slice(at + 1)}`);
  }

  test("is a SHA-256 over the source that one changed byte, a new file or a rename changes", () => {
    const hash = compilerHash();
    assert.match(hash, /^[0-9a-f]{64}$/);
    const copy = copyOfCompiler();
    assert.equal(hashCompilerSources(copy), hash, "an identical copy hashes differently");
    const seen = new Set([hash]);
    changeOneByte(copy, "compiler/codegen/kernel.ts");
    seen.add(hashCompilerSources(copy));
    changeOneByte(copy, "grammar/parser.ts");
    seen.add(hashCompilerSources(copy));
    writeFileSync(join(copy, "compiler/codegen/extra.ts"), "");
    seen.add(hashCompilerSources(copy));
    cpSync(join(copy, "compiler/codegen/extra.ts"), join(copy, "compiler/codegen/other.ts"));
    rmSync(join(copy, "compiler/codegen/extra.ts"));
    seen.add(hashCompilerSources(copy));
    assert.equal(seen.size, 5);
  });

  test("the dist bundle carries the hash computed at build time; `nqm --version` shows its short form", async () => {
    // Under the repository, so that the bundle's external packages resolve from its node_modules.
    const out = join(repo, ".scratch", `spec-cache-${process.pid}`);
    try {
      await buildCli(out);
      const bundle = readdirSync(out)
        .filter((f) => f.endsWith(".js"))
        .map((f) => readFileSync(join(out, f), "utf8"))
        .join("\n");
      assert.ok(bundle.includes(`"${compilerHash()}"`), "the bundle does not carry the compiler hash");
      const version = execFileSync(process.execPath, [join(out, "nqm.js"), "--version"], { encoding: "utf8" });
      assert.equal(version.trim(), `${COMPILER_VERSION} (compiler ${compilerHash().slice(0, 12)})`);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  });

  test("a compile by a compiler with one changed byte misses the cache", async () => {
    const dir = freshDir();
    assert.equal((await compile(dir)).fromCache, false);
    const copy = copyOfCompiler();
    // Compiles SOURCE/SET in `dir` with the compiler of the tree at `root`; prints whether it hit.
    const script = join(copy, "compile-once.ts");
    writeFileSync(
      script,
      [
        `import { compileModel } from "./compiler/codegen/compile.ts";`,
        `import { loadModel } from "./compiler/frontend.ts";`,
        `const source = ${JSON.stringify(SOURCE)};`,
        `const model = loadModel(source, { set: ${JSON.stringify(SET)} }).model;`,
        `const result = await compileModel(model, { source, maxBatch: 3, cacheDir: ${JSON.stringify(dir)}, backend: "js" });`,
        "console.log(JSON.stringify(result.fromCache));",
      ].join("\n"),
    );
    const fromCache = () =>
      JSON.parse(execFileSync(process.execPath, ["--import", "tsx", script], { cwd: copy, encoding: "utf8" }));
    // The unchanged copy is the same compiler: a hit (so the miss below is the changed byte's doing).
    assert.equal(fromCache(), true);
    changeOneByte(copy, "compiler/codegen/kernel.ts");
    assert.equal(fromCache(), false);
    // The changed compiler's entry sits beside this compiler's, which is still served.
    assert.equal(entries(dir).length, 4, entries(dir).join(", "));
    assert.equal((await compile(dir)).fromCache, true);
  });
});

describe("the memory refusal (NQM3008)", () => {
  const refusal = async (run: () => Promise<unknown>) => {
    try {
      await run();
    } catch (error) {
      assert.ok(error instanceof NqmError, String(error));
      assert.equal(nth(error.diagnostics, 0).code, "NQM3008");
      return nth(error.diagnostics, 0).message;
    }
    assert.fail("not refused");
  };

  test("a huge model is refused with the estimate, before anything is allocated or written", async () => {
    const source = readFileSync(join(EXAMPLES_DIR, "two_layer_relu.nqm"), "utf8");
    const huge = loadModel(source, { set: { m: 1_000_000, d: 1 } }).model;
    // The estimate, computed without a limit (generation allocates nothing of the sizes).
    const estimate = (await generateChecked(huge, { source, maxBatch: 10_000, backend: "js" }, Infinity))
      .workspaceBytes;
    assert.ok(estimate > 1e11, `${estimate}`);
    const dir = freshDir();
    const rssBefore = process.memoryUsage().rss;
    const message = await refusal(() => compileModel(huge, { source, maxBatch: 10_000, cacheDir: dir, backend: "js" }));
    assert.ok(message.includes(formatBytes(estimate)), `${message} (expected ${formatBytes(estimate)})`);
    assert.match(message, /GiB/);
    assert.ok(process.memoryUsage().rss - rssBefore < 500e6, "memory grew by half a gigabyte");
    assert.deepEqual(entries(dir), [], "refused, yet something was written");
  });

  test("the refusal is located at the model in its file", async () => {
    const small = model();
    try {
      await compileModel(small, {
        source: SOURCE,
        file: "models/tanh.nqm",
        maxBatch: 3,
        cacheDir: freshDir(),
        memoryLimit: 8,
      });
      assert.fail("not refused");
    } catch (error) {
      assert.ok(error instanceof NqmError);
      const [d] = error.diagnostics;
      assert.equal(present(d).file, "models/tanh.nqm");
      assert.equal(SOURCE.slice(present(present(d).span).start).split("\n")[0], "model two_layer_tanh {");
    }
  });

  test("memoryLimit: the limit itself is accepted, one byte less is refused", async () => {
    const small = model();
    const bytes = (await generateChecked(small, { source: SOURCE, maxBatch: 3, backend: "js" }, Infinity))
      .workspaceBytes;
    const message = await refusal(() => compile(freshDir(), { memoryLimit: bytes - 1 }));
    assert.ok(message.includes(formatBytes(bytes)) && message.includes(formatBytes(bytes - 1)), message);
    const accepted = await compile(freshDir(), { memoryLimit: bytes });
    assert.deepEqual(valuesOf(accepted.kernels), valuesOf((await compile(freshDir())).kernels));
  });

  test("a cached entry is refused too when its buffers exceed the limit", async () => {
    const dir = freshDir();
    const small = model();
    const bytes = (await generateChecked(small, { source: SOURCE, maxBatch: 3, backend: "js" }, Infinity))
      .workspaceBytes;
    await compile(dir);
    await refusal(() => compile(dir, { memoryLimit: bytes - 1 }));
  });
});

test("a model name of 300 characters compiles and caches under a shortened file name (no ENAMETOOLONG)", async () => {
  const name = `m${"x".repeat(299)}`;
  const source = SOURCE.replace(/^model \w+/m, `model ${name}`);
  assert.ok(source.includes(name));
  const dir = freshDir();
  const first = await compile(dir, { source });
  assert.equal(first.fromCache, false);
  assert.ok(first.javascriptPath !== "", "the entry was written");
  const files = entries(dir);
  assert.equal(files.length, 2);
  for (const file of files) assert.ok(file.length < 100, file);
  assert.ok(nth(files, 0).startsWith(name.slice(0, 48)));
  const second = await compile(dir, { source });
  assert.equal(second.fromCache, true);
  assert.deepEqual(valuesOf(second.kernels), valuesOf(first.kernels));
  assert.equal(cacheFileName("short", "k"), "short-k");
});
