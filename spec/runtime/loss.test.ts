/**
 * runtime/loss, objective and sharpness: the losses' values against closed forms, their
 * derivatives and Hessian products against finite differences; the gradients training takes
 * (f, and the shifted-label trick of f_lin and f_quad) against finite differences of the loss;
 * the sharpness against the top eigenvalue of the dense Hessian by finite differences; labels
 * and accuracy; and cross-entropy runs end to end.
 */
import { after, describe, test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { loadModel } from "../../compiler/frontend.ts";
import { compileModel } from "../../compiler/codegen/compile.ts";
import type { CompiledKernels } from "../../compiler/codegen/api.ts";
import { NqmError } from "../../foundation/diagnostics.ts";
import { initializeFlat } from "../../runtime/init.ts";
import { symmetricEigen } from "../../runtime/linalg/index.ts";
import { accuracyRule, countCorrect, labelsForLoss, type Loss, lossFor } from "../../runtime/loss.ts";
import { objectiveFor } from "../../runtime/objective.ts";
import { lossSharpness, sharpnessSteps } from "../../runtime/sharpness.ts";
import { criticalRate, openSession, startingPoint } from "../../runtime/session.ts";
import { trainRun } from "../../runtime/train.ts";
import type { Dataset } from "../../runtime/data/types.ts";
import { nth, present } from "../support/entries.ts";
import { propertyRuns } from "../support/runs.ts";
import { Rng } from "../../runtime/rng.ts";

const CACHE = mkdtempSync(join(tmpdir(), "nqm-loss-cache-"));
after(() => rmSync(CACHE, { recursive: true, force: true }));

const relative = (a: number, b: number) => Math.abs(a - b) / Math.max(Math.abs(a), Math.abs(b), 1e-300);

// ---------------------------------------------------------------- the losses themselves

describe("loss values against closed forms", () => {
  test("squared: ½ Σ (f − y)²", () => {
    const loss = lossFor("squared", 2);
    assert.equal(loss.value(Float64Array.of(1, 2, 3, 4), Float64Array.of(0, 0, 1, 1), 2), 0.5 * (1 + 4 + 4 + 9));
  });
  test("softmax cross-entropy at f = 0 is log K per example, whatever the class", () => {
    const loss = lossFor("cross_entropy", 4);
    const y = Float64Array.of(0, 1, 0, 0, 0, 0, 0, 1, 1, 0, 0, 0);
    assert.ok(relative(loss.value(new Float64Array(12), y, 3), 3 * Math.log(4)) < 1e-15);
  });
  test("softmax cross-entropy stays finite and exact for huge logits: [1000, 0, 0] against class 1 costs 1000", () => {
    const loss = lossFor("cross_entropy", 3);
    assert.equal(loss.value(Float64Array.of(1000, 0, 0), Float64Array.of(0, 1, 0), 1), 1000);
    assert.equal(loss.value(Float64Array.of(1000, 0, 0), Float64Array.of(1, 0, 0), 1), 2 * Math.exp(-1000));
  });
  test("logistic: log 2 at f = 0; exp(−y f) to full precision for a large margin; −y f for a large wrong one", () => {
    const loss = lossFor("cross_entropy", 1);
    assert.ok(relative(loss.value(Float64Array.of(0, 0), Float64Array.of(1, -1), 2), 2 * Math.log(2)) < 1e-15);
    assert.ok(relative(loss.value(Float64Array.of(40), Float64Array.of(1), 1), Math.exp(-40)) < 1e-15);
    assert.equal(loss.value(Float64Array.of(800), Float64Array.of(-1), 1), 800);
  });
});

/** Outputs in [−4, 4] and labels for K outputs: ±1 for one output, one-hot for more. */
function examplesArbitrary(K: number, n: number) {
  return fc.record({
    f: fc.array(fc.double({ min: -4, max: 4, noNaN: true }), { minLength: n * K, maxLength: n * K }),
    classes: fc.array(fc.integer({ min: 0, max: Math.max(K - 1, 1) }), { minLength: n, maxLength: n }),
    u: fc.array(fc.double({ min: -1, max: 1, noNaN: true }), { minLength: n * K, maxLength: n * K }),
  });
}

function labels(K: number, classes: readonly number[]): Float64Array {
  const y = new Float64Array(classes.length * K);
  classes.forEach((c, j) => {
    if (K === 1) y[j] = c === 0 ? -1 : 1;
    else y[j * K + c] = 1;
  });
  return y;
}

for (const [name, K] of [
  ["squared, 2 outputs", 2],
  ["logistic (cross-entropy, 1 output)", 1],
  ["softmax cross-entropy, 3 outputs", 3],
] as const) {
  const loss: Loss = lossFor(name.startsWith("squared") ? "squared" : "cross_entropy", K);
  const n = 3;
  test(`property: ${name}: the derivative and the Hessian product match central differences`, () => {
    fc.assert(
      fc.property(examplesArbitrary(K, n), ({ f: values, classes, u: direction }) => {
        const f = Float64Array.from(values);
        const y = labels(K, classes);
        const u = Float64Array.from(direction);
        const c = new Float64Array(n * K);
        loss.derivative(f, y, n, c);
        const h = 1e-5;
        for (let i = 0; i < n * K; i++) {
          const plus = Float64Array.from(f);
          const minus = Float64Array.from(f);
          plus[i] = nth(f, i) + h;
          minus[i] = nth(f, i) - h;
          const difference = (loss.value(plus, y, n) - loss.value(minus, y, n)) / (2 * h);
          assert.ok(Math.abs(difference - nth(c, i)) < 1e-8, `∂ℓ/∂f_${i}: ${nth(c, i)} vs ${difference}`);
        }
        const hu = new Float64Array(n * K);
        loss.hessianProduct(f, y, n, u, hu);
        const cPlus = new Float64Array(n * K);
        const cMinus = new Float64Array(n * K);
        loss.derivative(
          f.map((v, i) => v + h * nth(u, i)),
          y,
          n,
          cPlus,
        );
        loss.derivative(
          f.map((v, i) => v - h * nth(u, i)),
          y,
          n,
          cMinus,
        );
        for (let i = 0; i < n * K; i++) {
          const difference = (nth(cPlus, i) - nth(cMinus, i)) / (2 * h);
          assert.ok(Math.abs(difference - nth(hu, i)) < 1e-8, `(H u)_${i}: ${nth(hu, i)} vs ${difference}`);
        }
      }),
      { numRuns: propertyRuns(50) },
    );
  });
}

// ---------------------------------------------------------------- labels and accuracy

describe("accuracy", () => {
  test("the rule follows the labels: ±1 with one output is sign, one-hot is argmax, anything else none", () => {
    assert.equal(accuracyRule(Float64Array.of(1, -1, 1), 3, 1), "sign");
    assert.equal(accuracyRule(Float64Array.of(1, 0.5), 2, 1), undefined);
    assert.equal(accuracyRule(Float64Array.of(0, 1, 0, 1, 0, 0), 2, 3), "argmax");
    assert.equal(accuracyRule(Float64Array.of(0, 1, 0, 1, 1, 0), 2, 3), undefined);
    assert.equal(accuracyRule(Float64Array.of(0.2, 0.8, 0, 1, 0, 0), 2, 3), undefined);
  });
  test("sign counts f and y of the same sign (f = 0 is never right); argmax takes the first maximal output", () => {
    const y = Float64Array.of(1, -1, 1, -1);
    assert.equal(countCorrect("sign", Float64Array.of(0.3, -2, 0, 5), y, 4, 1), 2);
    const oneHot = Float64Array.of(0, 1, 0, 1, 0, 0, 0, 0, 1);
    // Example 0: argmax 1 (right); example 1: a tie between 0 and 2 goes to 0 (right); example 2: argmax 0 (wrong).
    assert.equal(countCorrect("argmax", Float64Array.of(0, 3, 1, 2, 1, 2, 9, 0, 0), oneHot, 3, 3), 2);
  });
});

function dataset(K: number, train: number[], test?: number[]): Dataset {
  const split = (y: number[]) => ({ n: y.length / K, x: new Float64Array(y.length / K), y: Float64Array.from(y) });
  return {
    name: "t",
    description: "t",
    inputShape: [1],
    outputSize: K,
    train: split(train),
    ...(test ? { test: split(test) } : {}),
  };
}

function assertNqm(run: () => unknown, code: string, pattern: RegExp): void {
  assert.throws(run, (error: unknown) => {
    assert.ok(error instanceof NqmError);
    assert.equal(nth(error.diagnostics, 0).code, code);
    assert.match(nth(error.diagnostics, 0).message, pattern);
    return true;
  });
}

describe("labelsForLoss", () => {
  test("squared loss takes any labels, unchanged", () => {
    const data = dataset(1, [0.5, 3]);
    assert.equal(labelsForLoss(data, "squared", 1), data);
  });
  test("cross-entropy on K outputs turns integer classes into one-hot rows, test split too", () => {
    const data = labelsForLoss(dataset(1, [2, 0], [1]), "cross_entropy", 3);
    assert.equal(data.outputSize, 3);
    assert.deepEqual([...data.train.y], [0, 0, 1, 1, 0, 0]);
    assert.deepEqual([...present(data.test).y], [0, 1, 0]);
  });
  test("labels of another width than the model's outputs are left for the session to report (NQM4005)", () => {
    const data = dataset(2, [1, 0, 0, 1]);
    assert.equal(labelsForLoss(data, "cross_entropy", 3), data);
  });
  test("refused labels are NQM4003 naming the example and what the loss takes", () => {
    assertNqm(() => labelsForLoss(dataset(1, [1, 3]), "cross_entropy", 3), "NQM4003", /0\.\.2.*example 1 has 3/);
    assertNqm(() => labelsForLoss(dataset(1, [1, 0.5]), "cross_entropy", 3), "NQM4003", /example 1 has 0.5/);
    assertNqm(
      () => labelsForLoss(dataset(1, [1, -1], [0]), "cross_entropy", 1),
      "NQM4003",
      /logistic loss and takes labels ±1.*but test example 0 has 0/,
    );
    assertNqm(
      () => labelsForLoss(dataset(2, [1, 0, 0.5, 0.7]), "cross_entropy", 2),
      "NQM4003",
      /one-hot labels.*training example 1 has \[0.5, 0.7\]/,
    );
  });
});

// ---------------------------------------------------------------- kernels: gradients and sharpness

/** A smooth two-layer net (tanh: finite differences need no kink) with K outputs. */
function tanhNet(K: number): string {
  return K === 1
    ? "model t {\n  input x: [2]\n  param u: [4, 2]\n  param v: [4]\n  loss cross_entropy\n  output dot(v, tanh(u @ x)) / 2\n}\n"
    : `model t {\n  input x: [2]\n  param u: [4, 2]\n  param v: [${K}, 4]\n  loss cross_entropy\n  output v @ tanh(u @ x) / 2\n}\n`;
}

interface Tiny {
  kernels: CompiledKernels;
  w0: Float64Array;
  x: Float64Array;
  y: Float64Array;
  n: number;
  K: number;
  loss: Loss;
}

async function tiny(K: number, n: number, seed: number): Promise<Tiny> {
  const source = tanhNet(K);
  const { model } = loadModel(source, {});
  const { kernels } = await compileModel(model, { source, maxBatch: n, cacheDir: CACHE, backend: "js" });
  const { w, fixed } = initializeFlat(model, kernels.layout, seed);
  kernels.setFixed(fixed);
  const rng = new Rng(seed + 100);
  const x = Float64Array.from({ length: 2 * n }, () => rng.normal());
  const y = labels(
    K,
    Array.from({ length: n }, () => Math.floor(rng.uniform() * Math.max(K, 2))),
  );
  // Scale w up so that the loss is far from its value at f = 0 and its curvature term matters.
  return { kernels, w0: w.map((v) => 1.5 * v), x, y, n, K, loss: lossFor("cross_entropy", K) };
}

/** L(w) = Σ_j ℓ(f(w; x_j), y_j) with the f kernel. */
function lossAt(t: Tiny, w: Float64Array): number {
  const out = new Float64Array(t.n * t.K);
  t.kernels.f(w, [t.x], t.n, out);
  return t.loss.value(out, t.y, t.n);
}

for (const K of [1, 3]) {
  describe(`cross-entropy on ${K} output${K > 1 ? "s" : ""}: kernels`, () => {
    test("objective.f: the gradient (vjp of ∂ℓ/∂f) matches central differences of the loss; mean divides by n", async () => {
      const t = await tiny(K, 5, 1);
      const objective = objectiveFor(t.kernels, t.loss, K, t.n);
      const P = t.w0.length;
      const grad = new Float64Array(P);
      const value = objective.f(t.w0, [t.x], t.y, t.n, grad, false);
      assert.ok(relative(value, lossAt(t, t.w0)) < 1e-14);
      const h = 1e-6;
      for (let i = 0; i < P; i++) {
        const plus = Float64Array.from(t.w0);
        const minus = Float64Array.from(t.w0);
        plus[i] = nth(t.w0, i) + h;
        minus[i] = nth(t.w0, i) - h;
        const difference = (lossAt(t, plus) - lossAt(t, minus)) / (2 * h);
        assert.ok(Math.abs(difference - nth(grad, i)) < 1e-7, `∂L/∂w_${i}: ${nth(grad, i)} vs ${difference}`);
      }
      const meanGrad = new Float64Array(P);
      assert.ok(relative(objective.f(t.w0, [t.x], t.y, t.n, meanGrad, true), value / t.n) < 1e-15);
      for (let i = 0; i < P; i++) assert.ok(Math.abs(nth(meanGrad, i) - nth(grad, i) / t.n) < 1e-15);
    });

    for (const kind of ["lin", "quad"] as const) {
      test(`objective.${kind}: the shifted-label gradient matches central differences of the ${kind === "lin" ? "f_lin" : "f_quad"} loss`, async () => {
        const t = await tiny(K, 5, 2);
        const objective = objectiveFor(t.kernels, t.loss, K, t.n);
        const P = t.w0.length;
        const rng = new Rng(7);
        const dw = Float64Array.from({ length: P }, () => 0.3 * rng.normal());
        t.kernels.prepare(t.w0, [t.x], t.n);
        const grad = new Float64Array(P);
        const value = objective[kind](dw, t.y, grad, false);
        const out = new Float64Array(t.n * K);
        const modelLoss = (delta: Float64Array) => {
          (kind === "lin" ? t.kernels.fLin : t.kernels.fQuad)(t.w0, delta, [t.x], t.n, out);
          return t.loss.value(out, t.y, t.n);
        };
        assert.ok(relative(value, modelLoss(dw)) < 1e-13, `${value} vs ${modelLoss(dw)}`);
        const h = 1e-6;
        for (let i = 0; i < P; i++) {
          const plus = Float64Array.from(dw);
          const minus = Float64Array.from(dw);
          plus[i] = nth(dw, i) + h;
          minus[i] = nth(dw, i) - h;
          const difference = (modelLoss(plus) - modelLoss(minus)) / (2 * h);
          assert.ok(Math.abs(difference - nth(grad, i)) < 1e-7, `∂L/∂Δ_${i}: ${nth(grad, i)} vs ${difference}`);
        }
      });
    }

    test("the sharpness is the top eigenvalue of the dense loss Hessian (second differences of L)", async () => {
      const t = await tiny(K, 6, 3);
      const P = t.w0.length;
      const h = 1e-3;
      const hessian = new Float64Array(P * P);
      const at = (a: number, da: number, b: number, db: number) => {
        const w = Float64Array.from(t.w0);
        w[a] = nth(w, a) + da;
        w[b] = nth(w, b) + db;
        return lossAt(t, w);
      };
      for (let a = 0; a < P; a++)
        for (let b = a; b < P; b++) {
          const entry = (at(a, h, b, h) - at(a, h, b, -h) - at(a, -h, b, h) + at(a, -h, b, -h)) / (4 * h * h);
          hessian[a * P + b] = entry;
          hessian[b * P + a] = entry;
        }
      const dense = Math.max(...symmetricEigen(hessian, P).values);
      const sharpness = lossSharpness(t.kernels, t.loss, t.w0, { x: [t.x], y: t.y, n: t.n, outputSize: K });
      assert.ok(sharpness.result.converged);
      assert.ok(relative(sharpness.value, dense) < 1e-5, `Lanczos ${sharpness.value} vs dense ${dense}`);
      // The curvature term Σ ∂ℓ/∂f · H_f counts: the Gauss–Newton part alone (Jᵀ H_ℓ J) has another top eigenvalue.
      const rows = new Float64Array(t.n * K * P);
      t.kernels.jacobianRows(t.w0, [t.x], t.n, rows);
      const f = new Float64Array(t.n * K);
      t.kernels.f(t.w0, [t.x], t.n, f);
      const gaussNewton = new Float64Array(P * P);
      const column = new Float64Array(t.n * K);
      const curved = new Float64Array(t.n * K);
      for (let b = 0; b < P; b++) {
        for (let r = 0; r < t.n * K; r++) column[r] = nth(rows, r * P + b);
        t.loss.hessianProduct(f, t.y, t.n, column, curved);
        for (let a = 0; a < P; a++) {
          let s = 0;
          for (let r = 0; r < t.n * K; r++) s += nth(rows, r * P + a) * nth(curved, r);
          gaussNewton[a * P + b] = s;
        }
      }
      const gaussNewtonTop = Math.max(...symmetricEigen(gaussNewton, P).values);
      assert.ok(relative(gaussNewtonTop, dense) > 1e-3, `Gauss–Newton ${gaussNewtonTop} vs full ${dense}`);
    });
  });
}

test("sharpnessSteps: as many Lanczos vectors as the memory holds, from 20 to 100; fewer than 20 is NQM3010", () => {
  assert.equal(sharpnessSteps(1000, 8 * 1000 * 50), 50);
  assert.equal(sharpnessSteps(1000, 8 * 1000 * 50 + 7999), 50);
  assert.equal(sharpnessSteps(1000, 1e12), 100);
  assert.equal(sharpnessSteps(1000, 8 * 1000 * 20), 20);
  assertNqm(
    () => sharpnessSteps(1000, 8 * 1000 * 20 - 1),
    "NQM3010",
    /Lanczos basis \(20 vectors of 1000 parameters\)/,
  );
});

// ---------------------------------------------------------------- training end to end

describe("cross-entropy training runs", () => {
  const WORK = mkdtempSync(join(tmpdir(), "nqm-loss-runs-"));
  after(() => rmSync(WORK, { recursive: true, force: true }));
  /** Three well separated classes in the plane, labelled by an integer column. */
  const csv = (name: string, n: number, seed: number) => {
    const rng = new Rng(seed);
    const centers: [number, number][] = [
      [3, 0],
      [-2, 2.5],
      [-2, -2.5],
    ];
    const rows = Array.from({ length: n }, (_, j) => {
      const c = j % 3;
      const [cx, cy] = present(centers[c]);
      return `${cx + 0.5 * rng.normal()},${cy + 0.5 * rng.normal()},${c}`;
    });
    const path = join(WORK, name);
    writeFileSync(path, `a,b,label\n${rows.join("\n")}\n`);
    return path;
  };
  const source = [
    "# three classes in the plane",
    "model planes {",
    "  input x: [2]",
    "  param u: [16, 2]",
    "  param v: [3, 16]",
    "  loss cross_entropy",
    "  output v @ tanh(u @ x / sqrt(2)) / 4",
    "}",
  ].join("\n");

  test("η_crit = 2/sharpness, recorded with its origin; integer labels train; test accuracy is recorded and high", async () => {
    const train = csv("train.csv", 30, 1);
    const test = csv("test.csv", 60, 2);
    const session = await openSession({
      file: "planes.nqm",
      source,
      set: {},
      data: `csv:${train},test=${test}`,
      dataSeed: 0,
      cacheDir: CACHE,
      backend: "js",
    });
    assert.equal(session.data.outputSize, 3);
    const start = startingPoint(session, 0);
    const sharpness = present(start.sharpness0);
    const etaCrit = criticalRate(sharpness, "sum", 30);
    assert.equal(etaCrit, 2 / sharpness);
    for (const kind of ["f", "lin", "quad"] as const) {
      const run = trainRun(session, start, {
        kind,
        lr: 0.5 * etaCrit,
        steps: 60,
        loss: "sum",
        evalEvery: 10,
        eigs: 1,
        seed: 0,
        divergenceFactor: 1e6,
      });
      assert.equal(run.loss, "cross_entropy");
      assert.equal(run.etaCritFrom, "sharpness");
      assert.equal(run.sharpness0, sharpness);
      assert.equal(run.etaCrit, etaCrit);
      assert.equal(run.lrMultiple, 0.5);
      // Below η_crit the loss never rises above L0 (lazy, or unfinished: 60 steps need not converge it).
      assert.ok(run.phase === "lazy" || run.phase === "unfinished", `${kind}: ${run.phase}`);
      assert.ok(
        run.trainLoss.every((l) => l <= nth(run.trainLoss, 0)),
        `${kind}: the loss rose above L0`,
      );
      // The loss starts near 30·log 3 (small outputs at w0) and falls.
      assert.ok(Math.abs(nth(run.trainLoss, 0) - 30 * Math.log(3)) < 5, `${nth(run.trainLoss, 0)}`);
      assert.ok(run.finalTrainLoss < 0.5 * nth(run.trainLoss, 0), kind);
      const accuracy = present(run.testAccuracy);
      assert.equal(accuracy.length, run.evalSteps.length);
      for (const a of accuracy)
        assert.ok(Number.isInteger(Math.round(a * 60)) && Math.abs(a * 60 - Math.round(a * 60)) < 1e-9);
      assert.equal(run.bestTestAccuracy, Math.max(...accuracy));
      assert.ok(nth(accuracy, accuracy.length - 1) >= 0.9, `${kind}: final test accuracy ${accuracy.at(-1)}`);
    }
    // Mini-batches of 10 (the mean loss): each step's cotangent covers its batch's rows only, and training still converges.
    for (const kind of ["f", "lin", "quad"] as const) {
      const run = trainRun(session, start, {
        kind,
        lr: 0.5 * criticalRate(sharpness, "mean", 30),
        steps: 90,
        loss: "mean",
        evalEvery: 30,
        eigs: 0,
        batch: 10,
        seed: 0,
        divergenceFactor: 1e6,
      });
      assert.ok(
        run.finalTrainLoss < 0.5 * nth(run.trainLoss, 0),
        `${kind} SGD: ${run.trainLoss[0]} → ${run.finalTrainLoss}`,
      );
      assert.ok(nth(present(run.testAccuracy), 3) >= 0.9, `${kind} SGD: test accuracy ${run.testAccuracy}`);
    }
  });

  test("squared loss: η_crit from the kernel, no sharpness; labels that are not classes get no accuracy", async () => {
    const session = await openSession({
      file: "t.nqm",
      source: "model t {\n  input x: [1]\n  param w: [3]\n  output dot(w, w) * sum(x)\n}\n",
      set: {},
      data: "single:x=1,y=0.5",
      dataSeed: 0,
      cacheDir: CACHE,
      backend: "js",
    });
    const start = startingPoint(session, 0);
    assert.equal(start.sharpness0, undefined);
    const run = trainRun(session, start, {
      kind: "f",
      lr: 0.1,
      steps: 3,
      loss: "sum",
      evalEvery: 1,
      eigs: 1,
      seed: 0,
      divergenceFactor: 1e6,
    });
    assert.equal(run.etaCritFrom, "kernel");
    assert.equal(run.etaCrit, 2 / start.lambda0);
    assert.equal(run.loss, "squared");
    assert.equal(run.testAccuracy, undefined);
  });
});
