/**
 * Every example of examples/ trains: at its small sizes, on a data set written here in the
 * model's own input shape (a .npy file, so image-shaped inputs keep their shape). Below η_crit the
 * loss of f_lin (least squares) falls at every step: 8 steps at 0.5 η_crit. f and f_quad at these
 * tiny widths are far from their linear models (myrtle5 with 2 channels leaves the lazy regime
 * at 0.5 η_crit), so for them only the first-order decrease is certain: 4 steps at 0.02 η_crit.
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { loadModel } from "../../compiler/frontend.ts";
import { sizeOf } from "../../foundation/shape.ts";
import { criticalRate, initialParameters, openSession, topEigenvalues } from "../../runtime/session.ts";
import { trainRun } from "../../runtime/train.ts";
import type { ModelKind } from "../../runtime/run-record.ts";
import { Rng } from "../../runtime/rng.ts";
import { npy, put, tempFolder } from "../support/data-files.ts";
import { examples } from "../support/examples.ts";
import { nth } from "../support/entries.ts";

const DIR = tempFolder("examples-train");

const N = 6;
/** Per model, the learning rate as a multiple of η_crit and the steps. */
const SCHEDULE: readonly [ModelKind, number, number][] = [
  ["lin", 0.5, 8],
  ["f", 0.02, 4],
  ["quad", 0.02, 4],
];

describe("every example trains", () => {
  for (const example of examples()) {
    test(`${example.file}: f_lin descends at 0.5 η_crit, f and f_quad at 0.02 η_crit`, async () => {
      const { model } = loadModel(example.source, { set: example.set });
      const input = nth(model.inputs, 0);
      const outputs = sizeOf(model.outputShape);
      const rng = new Rng(7);
      const x = Array.from({ length: N * sizeOf(input.shape) }, () => rng.normal());
      // Cross-entropy takes classes: one-hot rows (±1 for one output); squared loss any targets.
      const y =
        model.loss === "cross_entropy"
          ? Array.from({ length: N }, (_, j) =>
              outputs === 1
                ? [j % 2 === 0 ? 1 : -1]
                : Array.from({ length: outputs }, (_, k) => (k === j % outputs ? 1 : 0)),
            ).flat()
          : Array.from({ length: N * outputs }, () => rng.normal());
      const name = example.file.replace(/\.nqm$/, "");
      const xPath = put(DIR, `${name}-x.npy`, npy("<f8", [N, ...input.shape], x));
      const yPath = put(DIR, `${name}-y.npy`, npy("<f8", outputs === 1 ? [N] : [N, outputs], y));
      const session = await openSession({
        file: example.path,
        source: example.source,
        set: example.set,
        data: `npy:${xPath},${yPath}`,
        dataSeed: 0,
        cacheDir: join(DIR, "cache"),
      });
      const w0 = initialParameters(session, 3);
      const top = topEigenvalues(session, w0, 1);
      const lambda0 = nth(top.values, 0);
      for (const [kind, multiple, steps] of SCHEDULE) {
        const lr = multiple * criticalRate(lambda0, "sum", N);
        const run = trainRun(
          session,
          { w0, lambda0, eigenvector0: nth(top.vectors, 0) },
          { kind, lr, steps, loss: "sum", evalEvery: steps, eigs: 1, seed: 3, divergenceFactor: 1e10 },
        );
        assert.equal(run.trainLoss.length, steps + 1, `${kind}: one loss per step`);
        // Never up (a least-squares fit may reach its floor and stay there), and down overall.
        run.trainLoss.slice(1).forEach((loss, t) => {
          const before = nth(run.trainLoss, t);
          assert.ok(Number.isFinite(loss) && loss <= before, `${kind}: loss ${before} → ${loss} at step ${t + 1}`);
        });
        assert.ok(run.finalTrainLoss < nth(run.trainLoss, 0), `${kind}: the loss did not fall`);
      }
    });
  }
});
