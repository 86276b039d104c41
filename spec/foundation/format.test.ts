import assert from "node:assert/strict";
import { test } from "node:test";
import { formatBytes } from "../../foundation/format.ts";

test("formatBytes: whole bytes below 1 KiB, one decimal in the largest binary unit above", () => {
  assert.equal(formatBytes(0), "0 B");
  assert.equal(formatBytes(1023), "1023 B");
  assert.equal(formatBytes(1024), "1.0 KiB");
  assert.equal(formatBytes(1536), "1.5 KiB");
  assert.equal(formatBytes(5 * 1024 ** 3), "5.0 GiB");
  // TiB is the largest unit: 2048 TiB stays in TiB.
  assert.equal(formatBytes(2048 * 1024 ** 4), "2048.0 TiB");
});
