/**
 * Internal invariants the types cannot prove: an op's inputs (the op table fixes their number),
 * the attribute an op always carries. A failure here is a bug in nqm, never a user error, so it
 * throws a plain Error rather than a diagnostic.
 */

/** `value`, or an internal error naming `what` when it is undefined. */
export function defined<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`internal: ${what} is missing`);
  return value;
}

/** The first entry of `items`, which must have one. */
export function one<T>(items: readonly T[], what = "an operand"): T {
  return defined(items[0], what);
}

/** The first two entries of `items`, which must have two. */
export function two<T>(items: readonly T[], what = "an operand"): [T, T] {
  return [defined(items[0], what), defined(items[1], what)];
}

/** The value of `key` in `map`, which must be there (e.g. a node's input, visited before it). */
export function lookup<K, V>(map: ReadonlyMap<K, V>, key: K, what: string): V {
  return defined(map.get(key), what);
}
