/**
 * runtime/linear-exact: f_lin's gradient descent in closed form against gradient steps on the
 * compiled f_lin kernels (the same record, field by field, to 1e-9 relative), against the
 * single-example formulas worked by hand, and its fallback to stepping.
 *
 * Both sides compute r_t = (I − ηK)^t r_0 exactly in exact arithmetic; they differ only by
 * rounding. Stepping adds ~1e-16 relative per operation, amplified by at most max|1 − ηλ| ≤ 1.4
 * per step for the rates here, before divergence stops the run; the loss floors (the components
 * along small eigenvalues) stay far above the rounding of f − y, so the loss is compared
 * relative to itself. 1e-9 leaves a margin of thousands over the measured ~1e-13 while any wrong
 * factor (η vs η/n, a missing ½, t vs t+1) is off by far more.
 */
import { after, before, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { initialParameters, openSession, topEigenvalues, type Session } from "../../runtime/session.ts";
import { trainRun, type RunConfig, type RunStart } from "../../runtime/train.ts";
import {
  EXACT_MAX_ROWS,
  exactLinearRefusal,
  exactLinearRun,
  linearSystem,
  runTraining,
} from "../../runtime/linear-exact.ts";
import { RUN_RECORD, type RunRecord } from "../../runtime/run-record.ts";
import { nth, present } from "../support/entries.ts";
import { formatBytes } from "../../foundation/format.ts";

const ROOT = join(import.meta.dirname, "../..");
const CACHE = mkdtempSync(join(tmpdir(), "nqm-linexact-cache-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

function open(example: string, set: Record<string, number>, data: string, dataSeed = 0): Promise<Session> {
  const file = join(ROOT, "examples", `${example}.nqm`);
  return openSession({ file, source: readFileSync(file, "utf8"), set, data, dataSeed, cacheDir: CACHE });
}

function startOf(session: Session, seed: number): RunStart {
  const w0 = initialParameters(session, seed);
  const top = topEigenvalues(session, w0, 1);
  return { w0, lambda0: nth(top.values, 0), eigenvector0: nth(top.vectors, 0) };
}

function config(lr: number, extra: Partial<RunConfig> = {}): RunConfig {
  return {
    kind: "lin",
    lr,
    steps: 200,
    loss: "sum",
    evalEvery: 1,
    eigs: 1,
    seed: 0,
    divergenceFactor: 1e10,
    ...extra,
  };
}

const TOL = 1e-9;

/** The largest |a_i − b_i|/|b_i| (0/0 counts as 0). */
function worstRelative(a: readonly number[], b: readonly number[]): number {
  assert.equal(a.length, b.length);
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const [x, y] = [nth(a, i), nth(b, i)];
    if (x === y) continue;
    worst = Math.max(worst, Math.abs(x - y) / Math.abs(y));
  }
  return worst;
}

/** Asserts that the exact record is the stepped one up to TOL, field by field. */
function assertSameRun(exact: RunRecord, stepped: RunRecord, label: string): void {
  assert.equal(exact.dynamics, "exact", label);
  assert.equal(stepped.dynamics, undefined, `${label}: trainRun itself does not mark its records`);
  assert.equal(exact.id, stepped.id, label);
  assert.equal(exact.phase, stepped.phase, label);
  assert.equal(exact.steps, stepped.steps, label);
  assert.equal(exact.divergedAt, stepped.divergedAt, label);
  assert.deepEqual(exact.evalSteps, stepped.evalSteps, label);
  assert.deepEqual(exact.lossSteps, stepped.lossSteps, label);
  assert.equal(exact.etaCrit, stepped.etaCrit, label);
  // ‖∇L(w_T)‖/‖∇L(w0)‖, which decides convergence: a ratio at most about 1, and at the rounding
  // floor (≈1e-14) once the residual is outside the kernel's range, so compared absolutely.
  assert.equal(exact.gradientRatio === undefined, stepped.gradientRatio === undefined, label);
  assert.ok(
    Math.abs((exact.gradientRatio ?? 0) - (stepped.gradientRatio ?? 0)) <= TOL,
    `${label}: gradient ratio ${exact.gradientRatio} vs ${stepped.gradientRatio}`,
  );
  const fields = [
    ["train loss", exact.trainLoss, stepped.trainLoss],
    ["test loss", exact.testLoss, stepped.testLoss],
    // ‖w_0 − w0‖ = 0 on both sides; from step 1 on it is compared relative to itself.
    ["distance", exact.distance, stepped.distance],
    ["λ_max", exact.lambdaMax, stepped.lambdaMax],
  ] as const;
  for (const [name, a, b] of fields) {
    const error = worstRelative(a, b);
    assert.ok(error < TOL, `${label}: ${name} differs by ${error} relative`);
  }
  assert.ok(
    Math.abs(present(exact.bestTestLoss ?? 0) - present(stepped.bestTestLoss ?? 0)) <=
      TOL * Math.abs(stepped.bestTestLoss ?? 0),
  );
}

interface Case {
  readonly name: string;
  readonly example: string;
  readonly set: Record<string, number>;
  readonly data: string;
  readonly loss?: "sum" | "mean";
  readonly multiples: readonly number[];
}

const CASES: readonly Case[] = [
  // Rank-2 kernel (d = 1 ReLU): 0.5x puts ηλ1 = 1, so the top component vanishes at step 1.
  {
    name: "two_layer_relu",
    example: "two_layer_relu",
    set: { m: 500 },
    data: "gauss1d:n=16,test=40",
    multiples: [0.5, 1, 1.2],
  },
  // A full spectrum (tanh), with the mean loss (η′ = η/n) as well as the sum.
  {
    name: "two_layer_tanh",
    example: "two_layer_tanh",
    set: { m: 256 },
    data: "gauss1d:n=24,test=30",
    multiples: [0.7, 1, 1.1],
  },
  {
    name: "two_layer_tanh, mean loss",
    example: "two_layer_tanh",
    set: { m: 256 },
    data: "gauss1d:n=24,test=30",
    loss: "mean",
    multiples: [0.9, 1.05],
  },
  // Three outputs (one-hot MNIST classes): K is (n·3)×(n·3).
  {
    name: "mnist_multiclass, 3 outputs",
    example: "mnist_multiclass",
    set: { m: 32, k: 3 },
    data: "mnist:classes=0+1+2,n=9,test=12",
    multiples: [0.8, 1, 1.3],
  },
];

for (const c of CASES) {
  describe(`closed form = gradient steps on f_lin: ${c.name}`, () => {
    let session: Session;
    let start: RunStart;
    before(async () => {
      session = await open(c.example, c.set, c.data);
      start = startOf(session, 0);
    });
    for (const multiple of c.multiples) {
      test(`η = ${multiple} η_crit, 200 steps`, () => {
        const loss = c.loss ?? "sum";
        const n = session.data.train.n;
        const etaCrit = (2 / start.lambda0) * (loss === "mean" ? n : 1);
        const settings = config(multiple * etaCrit, { loss, lrMultiple: multiple });
        const exact = exactLinearRun(session, start, settings);
        const stepped = trainRun(session, start, settings);
        assertSameRun(exact, stepped, `${c.name} at ${multiple}x`);
        if (multiple > 1) {
          assert.equal(exact.phase, "divergent", "above η_crit f_lin diverges");
          assert.ok(present(exact.divergedAt) > 5, "the comparison covers the growth before divergence");
        } else assert.notEqual(exact.phase, "divergent");
      });
    }
  });
}

describe("closed form, by hand: one example (uv, x = 1, y = 1)", () => {
  let session: Session;
  let start: RunStart;
  let r0: number;
  before(async () => {
    session = await open("uv", { m: 200 }, "single:x=1,y=1");
    start = startOf(session, 1);
    const out = new Float64Array(1);
    session.kernels.f(start.w0, session.trainX, 1, out);
    r0 = nth(out, 0) - 1;
  });

  test("K = λ0: L_t = ½r0²(1 − ηλ0)^{2t} and ‖w_t − w0‖ = |r0|·|1 − (1 − ηλ0)^t|/√λ0", () => {
    for (const ratio of [0.3, 1, 1.9, 2, 2.2]) {
      const lr = ratio / start.lambda0;
      const run = exactLinearRun(session, start, config(lr, { steps: 200, evalEvery: 3 }));
      const decay = 1 - ratio;
      for (let t = 0; t <= run.steps; t++) {
        const expected = 0.5 * r0 * r0 * decay ** (2 * t);
        const actual = nth(run.trainLoss, t);
        // At ηλ0 = 1 the loss is exactly 0 from step 1 on.
        if (expected === 0) assert.equal(actual, 0, `ηλ0 = ${ratio}, step ${t}`);
        else assert.ok(Math.abs(actual / expected - 1) < 1e-12, `ηλ0 = ${ratio}, step ${t}: ${actual} vs ${expected}`);
      }
      for (const [i, t] of run.evalSteps.entries()) {
        const expected = (Math.abs(r0) * Math.abs(1 - decay ** t)) / Math.sqrt(start.lambda0);
        const actual = nth(run.distance, i);
        assert.ok(
          Math.abs(actual - expected) <= 1e-12 * expected,
          `ηλ0 = ${ratio}, step ${t}: distance ${actual} vs ${expected}`,
        );
      }
      // The divergence step follows from |1 − ηλ0| alone: the first t with (1 − ηλ0)^{2t} L0 > 1e10·max(L0, ½).
      const initial = 0.5 * r0 * r0;
      if (Math.abs(decay) > 1)
        assert.equal(
          run.divergedAt,
          Math.ceil(Math.log((1e10 * Math.max(initial, 0.5)) / initial) / Math.log(decay * decay)),
        );
      else assert.equal(run.divergedAt, undefined);
    }
  });

  test("the eigensystem of a single example is λ0 = ‖∇f(w0)‖² with c = ±r0", () => {
    const system = linearSystem(session, start.w0);
    assert.equal(system.rows, 1);
    assert.ok(Math.abs(nth(system.values, 0) / start.lambda0 - 1) < 1e-12);
    assert.ok(Math.abs(Math.abs(nth(system.coefficients, 0)) - Math.abs(r0)) <= 1e-15 * Math.abs(r0));
  });
});

describe("when the closed form applies", () => {
  test("f_lin full-batch: it applies; SGD, f and f_quad, --lin stepped and too many rows: a reason, and runTraining steps", async () => {
    const session = await open("two_layer_relu", { m: 64 }, "gauss1d:n=16,test=0");
    const start = startOf(session, 0);
    assert.equal(exactLinearRefusal(session, { kind: "lin" }), undefined);
    assert.equal(exactLinearRefusal(session, { kind: "lin", batch: 16 }), undefined, "a batch of all n is full batch");
    assert.match(present(exactLinearRefusal(session, { kind: "lin", batch: 4 })), /mini-batch/);
    assert.match(present(exactLinearRefusal(session, { kind: "quad" })), /only f_lin/);
    assert.match(present(exactLinearRefusal(session, { kind: "lin" }, "stepped")), /--lin stepped/);
    const lr = 1 / start.lambda0;
    assert.equal(runTraining(session, start, config(lr, { steps: 5 })).dynamics, "exact");
    assert.equal(runTraining(session, start, config(lr, { steps: 5 }), { lin: "stepped" }).dynamics, "stepped");
    const sgd = runTraining(session, start, config(lr, { steps: 5, batch: 4 }));
    assert.equal(sgd.dynamics, "stepped");
    assert.equal(runTraining(session, start, config(lr, { steps: 5, kind: "quad" })).dynamics, undefined);

    const big = await open("two_layer_relu", { m: 4 }, `gauss1d:n=${EXACT_MAX_ROWS + 1},test=0`);
    assert.match(present(exactLinearRefusal(big, { kind: "lin" })), new RegExp(`${EXACT_MAX_ROWS + 1} rows`));
  });

  test("a Jacobian past the memory limit is refused with its size", async () => {
    const session = await open("two_layer_relu", { m: 4000 }, "gauss1d:n=64,test=0");
    // J is 64 rows × 8000 parameters × 8 bytes, over a budget that leaves 1 MB beyond the kernels.
    const tight = {
      ...session,
      memory: { limit: session.memory.kernelBytes + 1e6, kernelBytes: session.memory.kernelBytes },
    };
    assert.match(
      present(exactLinearRefusal(tight, { kind: "lin" })),
      new RegExp(`Jacobian J\\(w0\\) would need ${formatBytes(64 * 8000 * 8)}`),
    );
    assert.equal(exactLinearRefusal(session, { kind: "lin" }), undefined);
  });

  test("records with dynamics and directions read back through the runs.jsonl schema", async () => {
    const session = await open("two_layer_relu", { m: 64 }, "gauss1d:n=16,test=8");
    const start = startOf(session, 0);
    const run = runTraining(session, start, config(1.5 / start.lambda0, { steps: 20, directions: 2 }));
    const back = RUN_RECORD.parse(JSON.parse(JSON.stringify(run)));
    assert.equal(back.dynamics, "exact");
    assert.deepEqual(back.directions, run.directions);
    // The components sum to the training loss (½‖r‖² split along orthonormal directions).
    for (const [i, t] of run.evalSteps.entries()) {
      const parts = nth(present(run.directions), i);
      assert.equal(parts.length, 3);
      const sum = parts.reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - nth(run.trainLoss, t)) <= 1e-12 * nth(run.trainLoss, t), `step ${t}`);
    }
  });
});
