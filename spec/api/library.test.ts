/**
 * The library (api/, issue 13) in process: its results are plain records (a JSON round trip
 * keeps them, typed arrays aside), options may be written as on the command line or as
 * JavaScript values with the same result, a bad option is an NqmError with the CLI's
 * diagnostic, and sweep writes the folder the command writes.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { compile, initialize, loadModel, NqmError, sweep, train } from "../../api/index.ts";
import { parseSeeds } from "../../api/training.ts";
import { layoutOf } from "../../compiler/codegen/layout.ts";
import { loadModel as checkModel } from "../../compiler/frontend.ts";
import { initializeFlat } from "../../runtime/init.ts";

const ROOT = join(import.meta.dirname, "../..");
const UV = join(ROOT, "examples/uv.nqm");
const WORK = mkdtempSync(join(tmpdir(), "nqm-api-"));
process.env.NQM_CACHE = join(WORK, "cache");
after(() => rmSync(WORK, { recursive: true, force: true }));

/** A user error's code, or undefined when `run` does not throw one. */
async function codeOf(run: () => unknown): Promise<string | undefined> {
  try {
    await run();
  } catch (error) {
    assert.ok(error instanceof NqmError, `not an NqmError: ${String(error)}`);
    return error.diagnostics[0]?.code;
  }
  return undefined;
}

describe("the library", () => {
  test("loadModel: the record of `nqm check --json`, plain (a JSON round trip keeps it)", () => {
    const info = loadModel(UV, { set: { m: 7 } });
    assert.deepEqual(JSON.parse(JSON.stringify(info)), info);
    assert.equal(info.name, "uv");
    assert.equal(info.parameterCount, 14);
    assert.deepEqual(
      info.params.map((p) => [p.name, p.shape]),
      [
        ["u", [7, 1]],
        ["v", [7]],
      ],
    );
    assert.deepEqual(info.params[0]?.init, { kind: "normal", args: [0, 1] });
  });

  test("initialize: the runtime's w0 for the seed, flat and by tensor", () => {
    const drawn = initialize(UV, { set: { m: 5 }, seed: 3 });
    const { model } = checkModel(readFileSync(UV, "utf8"), { set: { m: 5 } });
    const expected = initializeFlat(model, layoutOf(model), 3);
    assert.deepEqual([...drawn.w], [...expected.w]);
    assert.deepEqual([...(drawn.tensors.v ?? [])], [...expected.w.subarray(5, 10)]);
  });

  test("bad options are NqmErrors with the CLI's codes, before any work", async () => {
    const data = "single:x=1,y=1";
    assert.equal(await codeOf(() => train(UV, { data, lr: "fast" })), "NQM3007");
    assert.equal(await codeOf(() => train(UV, { data, lr: "1x", steps: 0 })), "NQM3007");
    assert.equal(await codeOf(() => train(UV, { data, lr: "1x", model: "f,linear" })), "NQM3007");
    assert.equal(await codeOf(() => loadModel(UV, { block: "nope" })), "NQM3004");
    assert.equal(await codeOf(() => loadModel(join(WORK, "missing.nqm"))), "NQM3006");
    // A syntax error of the given source (1xxx), not of the file on disk.
    assert.match((await codeOf(() => compile(UV, { source: "model {" }))) ?? "", /^NQM1\d{3}$/);
  });

  test("--seeds: a count, or a comma list (several seeds are a list, as --lrs and --model take)", async () => {
    assert.deepEqual(parseSeeds("3"), [0, 1, 2]);
    assert.deepEqual(parseSeeds(2), [0, 1]);
    assert.deepEqual(parseSeeds("0,3, 7"), [0, 3, 7]);
    assert.deepEqual(parseSeeds([5]), [5]);
    for (const bad of ["0,0", "a", "-1,2", "1.5,2", "0", ""])
      assert.equal(await codeOf(() => parseSeeds(bad)), "NQM3007", JSON.stringify(bad));
  });

  test("train: CLI spellings and JavaScript values give the same runs; records are plain", async () => {
    const common = { set: { m: 40 }, data: "single:x=1,y=1", steps: 30, evalEvery: 5 };
    const cli = await train(UV, { ...common, lr: "1.5x", model: "f,quad" });
    const js = await train(UV, { ...common, lr: cli.lr, model: ["f", "quad"] });
    assert.deepEqual(
      cli.runs.map((r) => r.model),
      ["f", "quad"],
    );
    assert.deepEqual(
      js.runs.map((r) => r.trainLoss),
      cli.runs.map((r) => r.trainLoss),
    );
    assert.equal(cli.runs[0]?.phase, "catapult", "1.5 η_crit on one example is a catapult of f");
    assert.deepEqual(JSON.parse(JSON.stringify(cli.runs[0]?.lambdaMax)), cli.runs[0]?.lambdaMax);
    assert.deepEqual(cli.boundDims, { d: 1 });
  });

  test("sweep: a folder of its own under outRoot, named from the sweep; the runs are runs.jsonl's", async () => {
    const outRoot = join(WORK, "sweeps");
    const result = await sweep(UV, {
      set: { m: 40 },
      data: "single:x=1,y=1",
      steps: 10,
      lrs: [0.5, 1.5],
      model: "lin",
      workers: 1,
      report: false,
      outRoot,
    });
    assert.deepEqual(readdirSync(outRoot), [`uv-${result.hash}`]);
    assert.equal(result.folder, join(outRoot, `uv-${result.hash}`));
    const written = readFileSync(join(result.folder, "runs.jsonl"), "utf8").trim().split("\n");
    assert.deepEqual(
      written.map((line) => (JSON.parse(line) as { id: string }).id),
      result.runs.map((r) => r.id),
    );
    assert.deepEqual(
      result.runs.map((r) => r.lrMultiple),
      [0.5, 1.5],
    );
    assert.deepEqual(result.report, []);
  });
});
