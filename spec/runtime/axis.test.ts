/**
 * Sweeps along a dim or const: the --set list syntax, the summaries across values (largest
 * convergent rate, kernel change and its log–log fit) and the kernel change itself, against
 * values worked by hand.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after } from "node:test";
import { collectSetValues } from "../../cli/options.ts";
import { NqmError } from "../../foundation/diagnostics.ts";
import { kernelChanges, largestConverged, logLogFit, writeAxisReport } from "../../runtime/plot/axis.ts";
import type { Phase, RunRecord } from "../../runtime/run-record.ts";
import { initialParameters, openSession } from "../../runtime/session.ts";
import { relativeKernelChange } from "../../runtime/linear-exact.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
const CACHE = mkdtempSync(join(tmpdir(), "nqm-axis-cache-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

test("collectSetValues: NAME=V1,V2 is an axis, other names stay single, repeats add up; bad values are NQM3002/NQM3003", () => {
  assert.deepEqual(collectSetValues("m=500,1000,2000"), { m: [500, 1000, 2000] });
  assert.deepEqual(collectSetValues("gamma=1e-4,1e-3,d=64"), { gamma: [1e-4, 1e-3], d: [64] });
  assert.deepEqual(collectSetValues("d=2", { m: [1, 2] }), { m: [1, 2], d: [2] });
  const code = (f: () => unknown) => {
    try {
      f();
    } catch (error) {
      return error instanceof NqmError ? nth(error.diagnostics, 0).code : "other";
    }
    return "none";
  };
  assert.equal(
    code(() => collectSetValues("500")),
    "NQM3002",
    "a bare value needs a name before it",
  );
  assert.equal(
    code(() => collectSetValues("m=500,abc")),
    "NQM3003",
  );
  assert.equal(
    code(() => collectSetValues("m=500,500")),
    "NQM3003",
    "a value given twice",
  );
});

test("logLogFit: exact power laws give their exponent and prefactor; fewer than two x values give none", () => {
  const fit = present(logLogFit([100, 1000, 10000].map((m) => [m, 3 / m] as const)));
  assert.ok(Math.abs(fit.slope + 1) < 1e-12 && Math.abs(10 ** fit.intercept - 3) < 1e-10, JSON.stringify(fit));
  const half = present(logLogFit([4, 16, 64].map((m) => [m, 2 * m ** -0.5] as const)));
  assert.ok(Math.abs(half.slope + 0.5) < 1e-12);
  assert.equal(logLogFit([[10, 1]]), undefined);
  assert.equal(
    logLogFit([
      [10, 1],
      [10, 2],
      [20, 0],
    ]),
    undefined,
    "zero and repeated x leave one usable x",
  );
});

/** A record with only what the axis summaries read. */
function record(model: "f" | "quad", lrMultiple: number, phase: Phase, seed: number, kernelChange?: number): RunRecord {
  return {
    id: `${model}|${lrMultiple}|${seed}`,
    model,
    lr: lrMultiple,
    lrMultiple,
    etaCrit: 1,
    seed,
    phase,
    steps: 1,
    trainLoss: [1, 0.5],
    evalSteps: [0, 1],
    testLoss: [],
    lambdaMax: [],
    distance: [0, 1],
    bestTestLoss: null,
    finalTrainLoss: 0.5,
    ...(kernelChange !== undefined ? { kernelChange } : {}),
  };
}

test("largestConverged and kernelChanges: every seed must converge; changes of lazy f runs, averaged over seeds, fitted per rate", async () => {
  const runsAt = (m: number) => [
    record("f", 0.5, "lazy", 0, 2 / m),
    record("f", 0.5, "lazy", 1, 4 / m),
    record("f", 1.5, "catapult", 0, 0.5),
    record("f", 1.5, "catapult", 1, 0.5),
    record("f", 2.5, "divergent", 0),
    record("f", 2.5, "catapult", 1),
    record("quad", 1.5, "catapult", 0),
    record("quad", 1.5, "divergent", 1),
  ];
  const points = [100, 1000].map((value) => ({ value, runs: runsAt(value) }));
  assert.equal(largestConverged(runsAt(100), "f"), 1.5, "2.5x has a divergent seed");
  assert.equal(largestConverged(runsAt(100), "quad"), undefined);
  const { rows, fits } = kernelChanges(points);
  assert.deepEqual(rows, [
    { value: 100, multiple: 0.5, change: 0.03 },
    { value: 1000, multiple: 0.5, change: 0.003 },
  ]);
  assert.equal(fits.length, 1);
  assert.ok(Math.abs(nth(fits, 0).slope + 1) < 1e-12);
  const dir = mkdtempSync(join(tmpdir(), "nqm-axis-report-"));
  const written = await writeAxisReport(dir, "m", points);
  assert.equal(written.length, 7);
  const md = readFileSync(join(dir, "report.md"), "utf8");
  assert.match(md, /\| 100 \| 1\.5 \| 0 \| \[report\]\(m=100\/report\.md\) \|/);
  assert.match(md, /0\.5×: -1\.000/);
  for (const name of ["m-largest-converged", "m-kernel-change", "m-final-loss"])
    assert.match(readFileSync(join(dir, `${name}.svg`), "utf8"), /^<svg/);
});

test("relativeKernelChange on uv with one example: K = x²(‖u‖² + ‖v‖²)/m, so w = 1.1·w0 changes it by 0.21", async () => {
  const file = join(ROOT, "examples", "uv.nqm");
  const session = await openSession({
    file,
    source: readFileSync(file, "utf8"),
    set: { m: 50 },
    data: "single:x=1,y=1",
    dataSeed: 0,
    cacheDir: CACHE,
  });
  const w0 = initialParameters(session, 0);
  assert.equal(relativeKernelChange(session, w0, w0), 0);
  const scaled = w0.map((v) => 1.1 * v);
  assert.ok(Math.abs(relativeKernelChange(session, w0, scaled) - 0.21) < 1e-12);
  assert.ok(
    Number.isNaN(
      relativeKernelChange(
        session,
        w0,
        scaled.map(() => Number.NaN),
      ),
    ),
  );
});
