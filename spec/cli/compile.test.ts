/**
 * `nqm compile`, `nqm verify` and `nqm eval --backend compiled` as a user runs them: the bundled
 * CLI (built once into a folder under the OS temp folder, code-split like dist/) in subprocesses, with NQM_CACHE set to
 * a temporary folder (never the user's cache).
 *   - `nqm compile -o DIR` writes a standalone module: its .js, copied to a folder with no
 *     node_modules anywhere above it, runs from a separate small program and gives the
 *     interpreter's f and lossAndGrad; a model with `*` `/` in a comment compiles too;
 *   - a model too big for memory exits 1 with NQM3008, located, the estimate, no stack trace,
 *     and writes nothing;
 *   - `nqm verify` passes on every example and prints its table, the kink line and each
 *     property's worst case; `--json` gives one record per property; on wrong kernels (planted
 *     in the cache) it exits 1 with FAIL and the shrunk counterexample, and on kernels that throw
 *     it exits 2 with ERROR and the message (an internal error is not a failed property);
 *   - `nqm eval --backend compiled` prints what `--backend interpreter` prints (1e-12 relative),
 *     on every example and on models whose tensors are called class, constructor, __proto__…
 * Subprocesses run two at a time (each costs a second or more of CPU; the budget is two cores).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { copyFileSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, parse } from "node:path";
import { createHash } from "node:crypto";
import { assertNoStackTrace, bundledCli, runNode, type CliRun } from "../support/cli.ts";
import { compileModel } from "../../compiler/codegen/compile.ts";
import type { CheckedModel } from "../../compiler/check/typed.ts";
import { deriveModel } from "../../compiler/diff/programs.ts";
import { loadModel } from "../../compiler/frontend.ts";
import { interpret } from "../../compiler/ir/interpret.ts";
import { tensor, type Tensor } from "../../compiler/ir/tensor.ts";
import { evaluateWithInterpreter } from "../../runtime/evaluate.ts";
import { PROPERTY_NAMES } from "../../runtime/verify.ts";
import { defaultRuns } from "../../cli/commands/compile.ts";
import { initializeTensor } from "../../runtime/init.ts";
import { parsePointJson, resolvePoint } from "../../runtime/point.ts";
import { assertNestedClose, pack, packExamples, withinTolerance } from "../support/kernel-check.ts";
import { examples, setArguments } from "../support/examples.ts";
import { DATA_MODEL, PARAMS_MODEL } from "../support/names.ts";
import { sizeOf } from "../../foundation/shape.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
const { cli: CLI, work: WORK } = bundledCli("cli-compile");
const CACHE = join(WORK, "cache");

type Run = CliRun;

// At most two subprocesses at a time, across all tests of the file.
let running = 0;
const waiting: (() => void)[] = [];
async function slot<T>(task: () => Promise<T>): Promise<T> {
  if (running >= 2) await new Promise<void>((resolve) => waiting.push(resolve));
  running++;
  try {
    return await task();
  } finally {
    running--;
    waiting.shift()?.();
  }
}

function spawnNode(args: readonly string[], cwd: string, cache = CACHE): Promise<Run> {
  return slot(() => runNode(args, { cwd, env: { ...process.env, NQM_CACHE: cache }, timeout: 120_000 }));
}

/** Runs `nqm ...args` from the repository root. */
const nqm = (...args: string[]) => spawnNode([CLI, ...args], ROOT);
/** Runs `nqm ...args` with its own cache folder. */
const nqmWithCache = (cache: string, ...args: string[]) => spawnNode([CLI, ...args], ROOT, cache);

function writeModel(name: string, text: string): string {
  const path = join(WORK, name);
  writeFileSync(path, text);
  return path;
}

/** Deterministic numbers in (−1, 1). */
const numbers = (count: number, seed: number) =>
  Array.from({ length: count }, (_, i) => Math.sin(seed * 97.13 + i * 12.9898));

/** Nested JSON arrays of a shape from flat numbers. */
function nested(shape: readonly number[], data: readonly number[]): unknown {
  if (shape.length === 0) return data[0];
  if (shape.length === 1) return [...data];
  const inner = sizeOf(shape.slice(1));
  return Array.from({ length: nth(shape, 0) }, (_, i) =>
    nested(shape.slice(1), data.slice(i * inner, (i + 1) * inner)),
  );
}

// ---------------------------------------------------------------- nqm compile: a standalone module

/** The program a user writes against compiled modules: for each (module, case) prints f and lossAndGrad. */
const RUNNER = `
import { readFileSync } from "node:fs";
const results = [];
for (let a = 2; a < process.argv.length; a += 2) {
  const { createKernels, LAYOUT, MAX_BATCH } = await import(process.argv[a]);
  const input = JSON.parse(readFileSync(process.argv[a + 1], "utf8"));
  const k = createKernels();
  const w = Float64Array.from(input.w);
  const x = input.x.map((a) => Float64Array.from(a));
  k.setFixed(Float64Array.from(input.fixed));
  const f = new Float64Array(input.n * LAYOUT.outputSize);
  k.f(w, x, input.n, f);
  const result = { maxBatch: MAX_BATCH, f: Array.from(f) };
  for (const mean of [false, true]) {
    const grad = new Float64Array(LAYOUT.paramCount);
    const loss = k.lossAndGrad(w, x, Float64Array.from(input.y), input.n, grad, mean);
    result[mean ? "mean" : "sum"] = { loss, grad: Array.from(grad) };
  }
  results.push(result);
}
process.stdout.write(JSON.stringify(results));
`;

interface StandaloneCase {
  readonly n: number;
  readonly w: number[];
  readonly x: number[][];
  readonly fixed: number[];
  readonly y: number[];
}

/** A case for `model` and what the interpreter says about it. */
function standaloneCase(model: CheckedModel, n: number) {
  const program = deriveModel(model);
  const K = sizeOf(model.outputShape);
  const params = Object.fromEntries(
    model.params.map((p, i) => [p.name, tensor(p.shape, numbers(sizeOf(p.shape), i + 1))]),
  );
  const fixed = Object.fromEntries(model.fixed.map((t) => [t.name, tensor(t.shape, initializeTensor(t, 3))]));
  const inputs = Object.fromEntries(
    model.inputs.map((d, q) => [
      d.name,
      Array.from({ length: n }, (_, j) => tensor(d.shape, numbers(sizeOf(d.shape), 10 * q + j + 5))),
    ]),
  );
  const y = numbers(n * K, 42);
  const bindings = (cotangent: readonly number[]) => ({
    n,
    params,
    fixed,
    inputs,
    tangents: {},
    cotangent: Array.from({ length: n }, (_, j) => tensor(model.outputShape, cotangent.slice(j * K, (j + 1) * K))),
  });
  const flat = (value: Tensor | readonly Tensor[]) =>
    Array.isArray(value)
      ? (value as readonly Tensor[]).flatMap((t) => [...t.data])
      : Array.from({ length: n }, () => [...(value as Tensor).data]).flat();
  const f = flat(nth(interpret([program.f], bindings(new Array(n * K).fill(0))), 0));
  const expected = { f } as {
    f: number[];
    sum: { loss: number; grad: number[] };
    mean: { loss: number; grad: number[] };
  };
  for (const mean of [false, true]) {
    const scale = mean ? 1 / n : 1;
    const residual = f.map((v, q) => (v - nth(y, q)) * scale);
    const loss = 0.5 * scale * f.reduce((s, v, q) => s + (v - nth(y, q)) ** 2, 0);
    const grads = interpret(
      model.params.map((p) => nth(program.grad, p.name)),
      bindings(residual),
    ) as Tensor[];
    const grad: number[] = [];
    for (const g of grads) for (const v of g.data) grad.push(v);
    expected[mean ? "mean" : "sum"] = { loss, grad };
  }
  const slotsOf = <T extends { name: string; shape: readonly number[] }>(decls: readonly T[]) => {
    let offset = 0;
    return decls.map((d) => {
      const slot = { name: d.name, shape: d.shape, offset, size: sizeOf(d.shape) };
      offset += slot.size;
      return slot;
    });
  };
  const paramSlots = slotsOf(model.params);
  const fixedSlots = slotsOf(model.fixed);
  const input: StandaloneCase = {
    n,
    w: [
      ...pack(
        paramSlots,
        params,
        paramSlots.reduce((s, p) => s + p.size, 0),
      ),
    ],
    x: model.inputs.map((d) => [...packExamples(nth(inputs, d.name), sizeOf(d.shape))]),
    fixed: [
      ...pack(
        fixedSlots,
        fixed,
        fixedSlots.reduce((s, p) => s + p.size, 0),
      ),
    ],
    y,
  };
  return { input, expected };
}

function assertArrayClose(actual: readonly number[], expected: readonly number[], what: string): void {
  assert.equal(actual.length, expected.length, what);
  const scale = expected.reduce((m, v) => Math.max(m, Math.abs(v)), -Infinity);
  expected.forEach((e, i) =>
    assert.ok(withinTolerance(nth(actual, i), e, scale), `${what}[${i}]: module ${actual[i]}, interpreter ${e}`),
  );
}

describe("nqm compile", () => {
  const COMMENTED = `# kernels */ for a model whose comments hold comment terminators /* and */
model commented {
  dim d = 3
  input x: [d]          # */ throw new Error("out of the comment") /*
  param w: [2, d] ~ normal(0, 1)
  fixed s: [2] ~ uniform(-1, 1)
  output s * tanh(w @ x)
}
`;
  const models: { file: string; set: Record<string, number> }[] = [
    { file: join(ROOT, "examples/two_layer_relu.nqm"), set: { m: 8, d: 2 } },
    { file: join(ROOT, "examples/mnist_multiclass.nqm"), set: { d: 6, m: 5, k: 3 } },
    { file: writeModel("commented.nqm", COMMENTED), set: {} },
  ];

  test("-o DIR writes a standalone module that a separate program imports and runs", async () => {
    const out = join(WORK, "compiled");
    const runs = await Promise.all(
      models.map((m) => nqm("compile", m.file, ...setArguments(m.set), "--batch", "3", "-o", out)),
    );
    runs.forEach((run, i) => {
      assert.equal(run.code, 0, run.stderr);
      assert.equal(run.stderr, "");
      const name = parse(nth(models, i).file).name;
      assert.match(run.stdout, new RegExp(`compiled model ${name} in \\d+ ms`));
      assert.ok(
        run.stdout.includes(join(out, `${name}.ts`)) && run.stdout.includes(join(out, `${name}.js`)),
        run.stdout,
      );
      assert.match(run.stdout, /batches of up to 3 examples/);
    });
    // A folder with no node_modules above it, and nothing but the modules and the program.
    const alone = mkdtempSync(join(tmpdir(), "nqm-standalone-"));
    try {
      for (let dir = alone; dir !== dirname(dir); dir = dirname(dir))
        assert.ok(!existsSync(join(dir, "node_modules")), `node_modules above ${alone}`);
      writeFileSync(join(alone, "run.mjs"), RUNNER);
      const cases = models.map((m, i) => {
        const name = parse(m.file).name;
        const js = readFileSync(join(out, `${name}.js`), "utf8");
        const ts = readFileSync(join(out, `${name}.ts`), "utf8");
        // Nothing imported: not nqm, not a package, not even node: modules. (The thread pool's
        // worker script, a string each worker evaluates, reaches Node's worker_threads: nothing else.)
        for (const text of [js, ts])
          assert.doesNotMatch(
            text.replaceAll('require("node:worker_threads")', ""),
            /^\s*import\s|\brequire\(|\bimport\(/m,
            name,
          );
        copyFileSync(join(out, `${name}.js`), join(alone, `${name}.js`));
        const { model } = loadModel(readFileSync(m.file, "utf8"), { set: m.set });
        const { input, expected } = standaloneCase(model, 3);
        writeFileSync(join(alone, `case${i}.json`), JSON.stringify(input));
        return { name, expected };
      });
      assert.deepEqual(readdirSync(alone).sort(), [
        "case0.json",
        "case1.json",
        "case2.json",
        "commented.js",
        "mnist_multiclass.js",
        "run.mjs",
        "two_layer_relu.js",
      ]);
      const run = await spawnNode(["run.mjs", ...cases.flatMap((c, i) => [`./${c.name}.js`, `case${i}.json`])], alone);
      assert.equal(run.code, 0, run.stderr);
      const outputs = JSON.parse(run.stdout) as unknown[];
      assert.equal(outputs.length, cases.length);
      outputs.forEach((output, i) => {
        const { name, expected } = nth(cases, i);
        const got = output as typeof expected & { maxBatch: number };
        assert.equal(got.maxBatch, 3);
        assertArrayClose(got.f, expected.f, `${name} f`);
        for (const kind of ["sum", "mean"] as const) {
          assertArrayClose([got[kind].loss], [expected[kind].loss], `${name} ${kind} loss`);
          assertArrayClose(got[kind].grad, expected[kind].grad, `${name} ${kind} grad`);
        }
      });
    } finally {
      rmSync(alone, { recursive: true, force: true });
    }
  });

  /** A compile refused for memory (m = 1e6, batch 1e4), but only once its kernels are generated. */
  const TOO_BIG = ["compile", "examples/two_layer_relu.nqm", "--set", "m=1000000", "--batch", "10000"];

  test("-o under a file: exit 1, NQM3009 naming the folder and the cause, before compiling, no stack trace", async () => {
    const blocker = join(WORK, "blocker");
    writeFileSync(blocker, "");
    const out = join(blocker, "out");
    // TOO_BIG would be refused for memory after generation: the folder is checked first.
    const run = await nqm(...TOO_BIG, "-o", out);
    assert.equal(run.code, 1, run.stderr);
    assert.equal(run.stdout, "");
    assert.ok(
      run.stderr.includes(`error NQM3009: cannot write ${out}: a part of the path is a file, not a folder (ENOTDIR)`),
      run.stderr,
    );
    assertNoStackTrace(run);
  });

  test("a model too big for memory: exit 1, NQM3008 located with the estimate, no stack trace, nothing written", async () => {
    const out = join(WORK, "never");
    const run = await nqm(...TOO_BIG, "-o", out);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.match(
      run.stderr,
      /^examples\/two_layer_relu\.nqm:\d+:1: error NQM3008: the compiled kernels would need about \d+(\.\d)? GiB of memory, more than the limit of [\d.]+ [KMGT]?i?B/m,
    );
    assert.match(run.stderr, /\| model two_layer_relu \{/);
    assertNoStackTrace(run);
    assert.ok(!existsSync(out), "the output folder was created");
  });
});

// ---------------------------------------------------------------- nqm verify

describe("nqm verify", { concurrency: true }, () => {
  for (const example of examples()) {
    test(`${example.file} passes and prints the table`, async () => {
      const run = await nqm(
        "verify",
        `examples/${example.file}`,
        ...setArguments(example.set),
        "--runs",
        "6",
        "--seed",
        "3",
      );
      assert.equal(run.code, 0, `${run.stdout}\n${run.stderr}`);
      assertNoStackTrace(run);
      const lines = run.stdout.trimEnd().split("\n");
      assert.match(nth(lines, 0), /^verify \w+ \(seed 3, 6 runs per property\)$/);
      assert.match(nth(lines, 1), /^property\s+cases\s+worst case\s+result$/);
      const rows = lines.slice(2, 2 + PROPERTY_NAMES.length);
      assert.deepEqual(
        rows.map((r) => r.split(/\s{2,}/)[0]),
        [...PROPERTY_NAMES],
      );
      for (const row of rows) assert.match(row, /\s6\s+(diff \S+, bound \S+|slope \d\.\d\d|exact)\s+pass$/, row);
      assert.match(nth(lines, 2 + PROPERTY_NAMES.length), /^points moved away from a kink: \d+ of 6$/);
      // Each property's worst case: its seed and number of examples, then the comparison and its bound.
      for (const property of PROPERTY_NAMES)
        assert.match(
          run.stdout,
          new RegExp(`^  ${escapeRegExp(property)}: \\{"seed":\\d+,"n":[1-4]\\}: \\S.*`, "m"),
          property,
        );
      assert.equal(lines.at(-1), "all properties hold");
    });
  }
});

const escapeRegExp = (text: string) => text.replace(/[()^$.*+?[\]{}|\\]/g, "\\$&");

/** Plants edited kernels for `example` in `cache`: its cache entry, rewritten by `edit`, with a matching recorded hash. */
async function plantKernels(cache: string, file: string, edit: (javascript: string) => string) {
  const example = present(examples().find((e) => e.file === file));
  const { model } = loadModel(example.source, { set: example.set });
  // The js backend: its kernels are all text (the wasm backend computes tanh in its WebAssembly bytes).
  const compiled = await compileModel(model, { source: example.source, maxBatch: 4, cacheDir: cache, backend: "js" });
  const wrong = edit(readFileSync(compiled.javascriptPath, "utf8"));
  writeFileSync(compiled.javascriptPath, wrong);
  const metaPath = compiled.javascriptPath.replace(/\.mjs$/, ".json");
  writeFileSync(
    metaPath,
    JSON.stringify({
      ...(JSON.parse(readFileSync(metaPath, "utf8")) as object),
      sha256: createHash("sha256").update(wrong).digest("hex"),
    }),
  );
  return example;
}

/** `nqm verify --runs <runs>` of two_layer_tanh on its kernels planted in WORK/<folder>, edited by `edit`. */
async function verifyPlanted(folder: string, runs: number, edit: (javascript: string) => string): Promise<Run> {
  const cache = join(WORK, folder);
  const example = await plantKernels(cache, "two_layer_tanh.nqm", edit);
  return nqmWithCache(
    cache,
    "verify",
    `examples/${example.file}`,
    ...setArguments(example.set),
    "--runs",
    `${runs}`,
    "--backend",
    "js",
  );
}

test("nqm verify's default --runs: 50, fewer above 2^17 params (50·2^17/P), never below 10", () => {
  assert.equal(defaultRuns(15), 50);
  assert.equal(defaultRuns(2 ** 17), 50);
  assert.equal(defaultRuns(262_657), 25); // three_layer_relu: 6 553 600 / 262 657 = 24.95
  assert.equal(defaultRuns(813_056), 10); // mnist_multiclass: 8.06, raised to 10
});

test("nqm verify --json: one record per property with its figures", async () => {
  const example = present(examples().find((e) => e.file === "two_layer_relu.nqm"));
  const run = await nqm("verify", `examples/${example.file}`, ...setArguments(example.set), "--runs", "4", "--json");
  assert.equal(run.code, 0, run.stderr);
  const report = JSON.parse(run.stdout) as {
    model: string;
    status: string;
    passed: boolean;
    moved: number;
    properties: { property: string; status: string; cases: number; seconds: number; worst: Record<string, unknown> }[];
  };
  assert.equal(report.model, "two_layer_relu");
  assert.equal(report.status, "passed");
  assert.equal(report.passed, true);
  assert.equal(typeof report.moved, "number");
  assert.deepEqual(
    report.properties.map((p) => p.property),
    [...PROPERTY_NAMES],
  );
  for (const p of report.properties) {
    assert.equal(p.status, "passed");
    assert.equal(p.cases, 4);
    assert.ok(p.seconds >= 0);
    for (const key of ["seed", "n", "left", "right", "bound", "ratio", "detail"]) assert.ok(key in p.worst, key);
    assert.ok((p.worst.ratio as number) <= 1);
  }
});

test("nqm verify on kernels that throw: exit 2, ERROR with the message, not FAIL", async () => {
  const run = await verifyPlanted("planted-throw", 3, (js) =>
    js.replace(/(\n\s*hvp\(w, dw, x, c, n, out\) \{)/, '$1 throw new RangeError("planted: hvp exploded");'),
  );
  assert.equal(run.code, 2, run.stdout);
  assertNoStackTrace(run);
  const rows = run.stdout.split("\n").filter((line) => /\s(pass|FAIL|ERROR)$/.test(line));
  assert.deepEqual(
    rows.filter((r) => r.endsWith("ERROR")).map((r) => r.split(/\s{2,}/)[0]),
    ["hvp vs finite differences of jvp", "hvp symmetry uᵀ(HΔ) = Δᵀ(Hu)", "compiled vs interpreter"],
  );
  assert.equal(rows.filter((r) => r.endsWith("FAIL")).length, 0, run.stdout);
  assert.match(
    run.stdout,
    /^internal error in "compiled vs interpreter": case \{"seed":\d+,"n":\d\}: planted: hvp exploded$/m,
  );
  assert.match(run.stdout, /^internal error in 3 properties$/m);
});

test("nqm verify on wrong kernels: exit 1, FAIL in the table, the shrunk counterexample", async () => {
  // Wrong kernels, planted as a cache entry whose recorded hash matches (the cache guards
  // against damage, not against a deliberate edit): tanh computed as sinh everywhere, while
  // its derivative stays 1 − tanh², now 1 − sinh².
  const run = await verifyPlanted("planted", 4, (js) => js.replaceAll("Math.tanh(", "Math.sinh("));
  assert.equal(run.code, 1, run.stdout);
  assertNoStackTrace(run);
  const rows = run.stdout.split("\n").filter((line) => /\s(pass|FAIL)$/.test(line));
  assert.equal(rows.length, PROPERTY_NAMES.length, run.stdout);
  const failing = rows.filter((r) => r.endsWith("FAIL")).map((r) => nth(r.split(/\s{2,}/), 0));
  for (const property of ["gradient vs finite differences", "compiled vs interpreter"])
    assert.ok(failing.includes(property), `${property} did not fail:\n${run.stdout}`);
  // Each failure has its counterexample: the shrunk case and what went wrong.
  for (const property of failing)
    assert.match(
      run.stdout,
      new RegExp(`^counterexample for "${escapeRegExp(property)}": \\{"seed":\\d+,"n":[1-4]\\}: \\S`, "m"),
      property,
    );
  assert.match(
    run.stdout,
    /^counterexample for "compiled vs interpreter": .*: kernel \S+ vs interpreter \S+, \|difference\| \S+, bound \S+$/m,
  );
  assert.match(run.stdout, new RegExp(`^${failing.length} properties failed$`, "m"));
});

// ---------------------------------------------------------------- nqm eval --backend compiled

/**
 * A point file for `model`: 4 examples (kernels for a batch of 4 are what nqm verify compiled
 * and cached before), a direction for every param, a cotangent; params drawn by the seed.
 */
function pointFile(name: string, model: CheckedModel): string {
  const n = 4;
  const point = {
    inputs: Object.fromEntries(
      model.inputs.map((d, q) => [
        d.name,
        Array.from({ length: n }, (_, j) => nested(d.shape, numbers(sizeOf(d.shape), 7 * q + j + 1))),
      ]),
    ),
    direction: Object.fromEntries(
      model.params.map((p, i) => [p.name, nested(p.shape, numbers(sizeOf(p.shape), 50 + i))]),
    ),
    cotangent: Array.from({ length: n }, (_, j) =>
      nested(model.outputShape, numbers(sizeOf(model.outputShape), 90 + j)),
    ),
  };
  const path = join(WORK, `${name}.point.json`);
  writeFileSync(path, JSON.stringify(point));
  return path;
}

describe("nqm eval --backend compiled", { concurrency: true }, () => {
  const cases = [
    ...examples().map((e) => ({
      label: e.file,
      file: `examples/${e.file}`,
      source: e.source,
      set: e.set,
      viaCli: false,
    })),
    {
      label: "params named class, constructor, __proto__, toString, prototype",
      file: writeModel("names-params.nqm", PARAMS_MODEL),
      source: PARAMS_MODEL,
      set: {},
      viaCli: true,
    },
    {
      label: "inputs and fixed named class, __proto__, constructor, prototype, toString",
      file: writeModel("names-data.nqm", DATA_MODEL),
      source: DATA_MODEL,
      set: {},
      viaCli: true,
    },
  ];
  for (const c of cases) {
    // For the examples the interpreter's JSON is computed in-process: spec/runtime/eval checks
    // that the CLI prints exactly that (and each subprocess costs a second of CPU).
    test(`${c.label}: the same JSON as --backend interpreter${c.viaCli ? " (both through the CLI)" : ""}`, async () => {
      const { model } = loadModel(c.source, { set: c.set });
      const point = pointFile(parse(c.file).name, model);
      const args = ["eval", c.file, ...setArguments(c.set), "--point", point, "--seed", "5"];
      const [compiled, interpreter] = await Promise.all([
        nqm(...args, "--backend", "compiled"),
        c.viaCli ? nqm(...args, "--backend", "interpreter") : undefined,
      ]);
      for (const run of [compiled, interpreter]) {
        if (!run) continue;
        assert.equal(run.code, 0, run.stderr);
        assertNoStackTrace(run);
      }
      const expected = interpreter
        ? (JSON.parse(interpreter.stdout) as unknown)
        : (JSON.parse(
            JSON.stringify(
              evaluateWithInterpreter(
                deriveModel(model),
                resolvePoint(parsePointJson(readFileSync(point, "utf8")), model, 5),
              ),
            ),
          ) as unknown);
      const actual = JSON.parse(compiled.stdout) as unknown;
      assertNestedClose(actual, expected);
      // Every param appears under its own name, `__proto__` included.
      for (const key of ["grad", "hvp"] as const) {
        assert.deepEqual(
          Object.keys(nth(actual as Record<string, object>, key)),
          model.params.map((p) => p.name),
        );
      }
    });
  }
});
