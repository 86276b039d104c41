import { test } from "node:test";
import assert from "node:assert/strict";
import { collectSet, parseInteger } from "../../cli/options.ts";
import { NqmError } from "../../foundation/diagnostics.ts";
import { nth } from "../support/entries.ts";

function codeOf(run: () => unknown): string | undefined {
  try {
    run();
  } catch (error) {
    assert.ok(error instanceof NqmError, `not an NqmError: ${String(error)}`);
    assert.equal(error.diagnostics.length, 1);
    assert.equal(nth(error.diagnostics, 0).span, undefined, "a command-line error has no source span");
    return nth(error.diagnostics, 0).code;
  }
  return undefined;
}

test("--set: NAME=VALUE, repeatable, comma-separated, later values win", () => {
  assert.deepEqual(collectSet("m=2048"), { m: 2048 });
  assert.deepEqual(collectSet("m=1,d=3", { gamma: 0.5 }), { gamma: 0.5, m: 1, d: 3 });
  assert.deepEqual(collectSet("m=2", { m: 1 }), { m: 2 });
  assert.deepEqual(collectSet(" lr = 1e-3 , c=-0.5,"), { lr: 1e-3, c: -0.5 });
  assert.deepEqual(collectSet("d=2.5"), { d: 2.5 }, "whether a dim may be 2.5 is the checker's call (NQM3003)");
});

test("--set: a malformed item is NQM3002, a value that is not a decimal number NQM3003", () => {
  for (const text of ["m", "=3", "m=", "2m=3", "m=1 2"])
    assert.equal(
      codeOf(() => collectSet(text)),
      "NQM3002",
      text,
    );
  for (const text of ["m=abc", "m=Infinity", "m=NaN", "m=0x10", "m=1e999", "m=1_000"])
    assert.equal(
      codeOf(() => collectSet(text)),
      "NQM3003",
      text,
    );
});

test("integer options: decimal integers at least the minimum, else NQM3007", () => {
  const steps = parseInteger("--steps", 1);
  assert.equal(steps("100"), 100);
  assert.equal(steps("1e3"), 1000);
  for (const text of ["0", "-1", "2.5", "", " ", "0x10", "ten"])
    assert.equal(
      codeOf(() => steps(text)),
      "NQM3007",
      JSON.stringify(text),
    );
  assert.equal(parseInteger("--seed", 0)("0"), 0);
});
