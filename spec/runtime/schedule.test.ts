import { test } from "node:test";
import assert from "node:assert/strict";
import { earlyEvaluationSteps, evaluationSchedule, evaluationSteps } from "../../runtime/schedule.ts";

test("the default interval (10): every step up to 10, then 13, 16, 20, 24, 31, 38, then every 10", () => {
  assert.deepEqual(earlyEvaluationSteps(10), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 20, 24, 31, 38]);
  assert.deepEqual(
    evaluationSteps(100, 10),
    [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16, 20, 24, 30, 31, 38, 40, 50, 60, 70, 80, 90, 100],
  );
});

test("a sparse interval keeps a geometric grid of about ten steps per decade until it reaches the interval", () => {
  const early = earlyEvaluationSteps(100);
  assert.deepEqual(early.slice(0, 12), [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 16]);
  assert.equal(early.at(-1), 355); // 10·1.25^k rounded, while below 4·100
  for (let i = 11; i < early.length; i++) {
    const ratio = (early[i] ?? Number.NaN) / (early[i - 1] ?? Number.NaN);
    assert.ok(ratio > 1.1 && ratio < 1.4, `${early[i - 1]} → ${early[i]}`);
  }
  const steps = evaluationSteps(1000, 100);
  for (const t of [0, 1, 2, 5, 10, 20, 100, 200, 1000]) assert.ok(steps.includes(t), `step ${t}`);
});

test("every step when the interval is 1; the last step always; nothing past the run", () => {
  assert.deepEqual(earlyEvaluationSteps(1), [1, 2, 3]);
  assert.deepEqual(evaluationSteps(6, 1), [0, 1, 2, 3, 4, 5, 6]);
  assert.deepEqual(evaluationSteps(7, 50), [0, 1, 2, 3, 4, 5, 6, 7]);
  assert.deepEqual(evaluationSteps(23, 5), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 13, 15, 16, 20, 23]);
});

test("has(t) agrees with the list, for every step of a run", () => {
  for (const [steps, every] of [
    [400, 10],
    [97, 7],
    [1000, 64],
  ] as const) {
    const schedule = evaluationSchedule(steps, every);
    const listed = new Set(evaluationSteps(steps, every));
    for (let t = 0; t <= steps; t++)
      assert.equal(schedule.has(t), listed.has(t), `step ${t} of ${steps}, every ${every}`);
  }
});
