import assert from "node:assert/strict";
import { test } from "node:test";
import { closest, didYouMean, editDistance, MAX_SUGGESTED_LENGTH } from "../../foundation/suggest.ts";

test("editDistance: insertions, deletions, substitutions and swaps of neighbours cost 1 each", () => {
  assert.equal(editDistance("kitten", "sitting"), 3);
  assert.equal(editDistance("", "abc"), 3);
  assert.equal(editDistance("abc", ""), 3);
  assert.equal(editDistance("weight", "wieght"), 1, "a swap of two neighbours is one edit");
  assert.equal(editDistance("ca", "abc"), 3, "optimal string alignment: no edit of a swapped pair");
  assert.equal(editDistance("same", "same"), 0);
});

test("editDistance with a bound stops early but never reports less than the bound for a far pair", () => {
  assert.ok(editDistance("aaaaaaaa", "bbbbbbbb", 2) >= 2);
  assert.equal(editDistance("weight", "wieght", 2), 1);
});

test("closest: the nearest plausible typo, case-insensitively; nothing when too far", () => {
  assert.equal(closest("wieght", ["bias", "weight", "width"]), "weight");
  assert.equal(closest("RELU", ["relu", "tanh"]), "relu");
  assert.equal(closest("x", ["y"]), undefined, "one letter of one: no plausible typo");
  assert.equal(closest("hidden", ["output"]), undefined);
  assert.equal(didYouMean("sigmod", ["sigmoid", "sign"]), "; did you mean `sigmoid`?");
  assert.equal(didYouMean("zzz", ["sigmoid"]), "");
});

test("closest: names longer than the cap get no suggestion; candidates of far lengths are skipped", () => {
  const long = "a".repeat(MAX_SUGGESTED_LENGTH);
  assert.equal(closest(`${long.slice(1)}b`, [long]), long, "a name at the cap still gets one");
  assert.equal(closest(`${long}b`, [`${long}c`]), undefined, "one over the cap gets none");
  const huge = "w".repeat(50_000);
  assert.equal(closest(`${huge}a`, [`${huge}b`]), undefined);
  assert.equal(closest("abcdef", ["abcdef".repeat(1000), "abcdeg"]), "abcdeg");
});
