/**
 * The paper's Figure 2b, as `nqm demo` shows it: with a super-critical learning rate the
 * catapult lowers the best test loss of f and f_quad below that of a sub-critical one. A small
 * version of the demo's second sweep: its data (MNIST 3 vs 5, 128 training and 500 test
 * examples), width (m = 256), steps (300) and seed (0), at one rate on each side of η_crit.
 *
 * This is an empirical claim of the paper (its Figures 2b and 4), not a theorem. Across seeds 0–4
 * of this setting the lowest super-critical best test loss was below the lowest sub-critical
 * one for every seed: by 5–9% for f, by 0.5–4% for f_quad (docs/training.md, `nqm demo`). On
 * 1-D data the effect cannot appear (every model is a·x for x > 0 and b·x for x < 0).
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { criticalRate, initialParameters, openSession, topEigenvalues } from "../../runtime/session.ts";
import { trainRun } from "../../runtime/train.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
const CACHE = mkdtempSync(join(tmpdir(), "nqm-figure-2b-cache-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

test("MNIST 3 vs 5: f and f_quad reach a lower best test loss at 1.25 η_crit than at 0.9 η_crit", async () => {
  const file = join(ROOT, "examples", "two_layer_relu.nqm");
  const session = await openSession({
    file,
    source: readFileSync(file, "utf8"),
    set: { m: 256 },
    data: "mnist:classes=3+5,n=128,test=500",
    dataSeed: 0,
    cacheDir: CACHE,
  });
  const w0 = initialParameters(session, 0);
  const top = topEigenvalues(session, w0, 1);
  const start = { w0, lambda0: nth(top.values, 0), eigenvector0: nth(top.vectors, 0) };
  const etaCrit = criticalRate(start.lambda0, "sum", session.data.train.n);
  const best = (kind: "f" | "quad", multiple: number) => {
    const run = trainRun(session, start, {
      kind,
      lr: multiple * etaCrit,
      lrMultiple: multiple,
      steps: 300,
      loss: "sum",
      evalEvery: 10,
      eigs: 0,
      seed: 0,
      divergenceFactor: 1e10,
    });
    assert.notEqual(run.phase, "divergent", run.id);
    return {
      loss: present(run.bestTestLoss, `${run.id}'s best test loss`),
      rose: present(run.peakTrainLoss) > nth(run.trainLoss, 0),
    };
  };
  for (const kind of ["f", "quad"] as const) {
    const below = best(kind, 0.9);
    const above = best(kind, 1.25);
    assert.ok(above.rose, `${kind}: the super-critical run's loss rises above L0 (a catapult)`);
    assert.ok(
      above.loss < below.loss,
      `${kind}: best test loss ${above.loss} at 1.25 η_crit, not below ${below.loss} at 0.9 η_crit`,
    );
  }
});
