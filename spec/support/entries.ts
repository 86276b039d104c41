/**
 * Checked access for tests: with noUncheckedIndexedAccess an entry may be missing, and a test
 * should fail on it with an assertion that says which, not with a TypeError further on.
 */
import assert from "node:assert/strict";

/** `items[index]`, failing the test where there is no such entry. */
export function nth<T>(items: ArrayLike<T>, index: number): T;
/** `record[key]`, failing the test where there is no such entry. */
export function nth<T>(record: { readonly [key: string]: T | undefined }, key: string): T;
export function nth<T>(items: ArrayLike<T> | { readonly [key: string]: T | undefined }, key: number | string): T {
  const value = (items as Record<string | number, T | undefined>)[key];
  // The message only on failure: tests call this in loops over whole matrices.
  if (value === undefined) assert.fail(`no entry ${JSON.stringify(key)} (of ${describe(items)})`);
  return value;
}

/** `value`, failing the test where it is undefined or null. */
export function present<T>(value: T | undefined | null, what = "a value"): T {
  if (value === undefined || value === null) assert.fail(`${what} is missing`);
  return value;
}

function describe(items: object): string {
  return "length" in items && typeof items.length === "number"
    ? `${items.length} entries`
    : `keys ${Object.keys(items).slice(0, 10).join(", ")}`;
}
