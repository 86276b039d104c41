/** Parsing of shared command-line values (--set, numbers), reporting errors as diagnostics. */
import { fail } from "../foundation/diagnostics.ts";

/** A decimal number as the model language writes it, with an optional sign: no hex, no `Infinity`. */
const DECIMAL = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;

/** Commander collector for repeatable `--set NAME=VALUE[,NAME=VALUE]`. */
export function collectSet(value: string, previous: Record<string, number> = {}): Record<string, number> {
  const result = { ...previous };
  for (const item of value.split(",").filter((s) => s.trim() !== "")) {
    const match = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*=\s*(\S+)\s*$/.exec(item);
    const [, name, text] = match ?? [];
    if (name === undefined || text === undefined) fail("NQM3002", { text: item });
    const number = Number(text);
    if (!DECIMAL.test(text) || !Number.isFinite(number))
      fail("NQM3003", { name, value: text, reason: "the value is not a finite number" });
    Object.defineProperty(result, name, { value: number, enumerable: true, writable: true, configurable: true });
  }
  return result;
}

/**
 * Commander collector for `nqm sweep --set`: NAME=VALUE items as collectSet reads them, where a
 * bare value after an item adds another value of the same name (`m=500,1000,2000`: a sweep axis).
 */
export function collectSetValues(value: string, previous: Record<string, number[]> = {}): Record<string, number[]> {
  const result: Record<string, number[]> = { ...previous };
  let last: string | undefined;
  for (const item of value.split(",").filter((s) => s.trim() !== "")) {
    const bare = /^\s*(\S+)\s*$/.exec(item)?.[1];
    if (last !== undefined && bare !== undefined && !bare.includes("=")) {
      const number = Number(bare);
      if (!DECIMAL.test(bare) || !Number.isFinite(number))
        fail("NQM3003", { name: last, value: bare, reason: "the value is not a finite number" });
      const values = result[last] ?? [];
      if (values.includes(number))
        fail("NQM3003", { name: last, value: bare, reason: "the value is given twice (each value is one sweep)" });
      values.push(number);
      continue;
    }
    const [name, number] = Object.entries(collectSet(item))[0] ?? [];
    if (name === undefined || number === undefined) fail("NQM3002", { text: item });
    Object.defineProperty(result, name, { value: [number], enumerable: true, writable: true, configurable: true });
    last = name;
  }
  return result;
}

/** Parses an integer option such as --seed or --steps, within [min, max]. */
export function parseInteger(option: string, min: number, max = Number.MAX_SAFE_INTEGER): (value: string) => number {
  return (value: string) => {
    const number = Number(value);
    if (!DECIMAL.test(value.trim()) || !Number.isInteger(number) || number < min || number > max)
      fail("NQM3007", {
        option,
        reason: `expected an integer from ${min} to ${max === Number.MAX_SAFE_INTEGER ? "2^53 − 1" : max}, got \`${value}\``,
      });
    return number;
  };
}

/** Parses a positive number option such as --cap. */
export function parseFloatOption(option: string): (value: string) => number {
  return (value: string) => {
    const number = Number(value);
    if (!DECIMAL.test(value.trim()) || !Number.isFinite(number) || number <= 0)
      fail("NQM3007", { option, reason: `expected a positive number, got \`${value}\`` });
    return number;
  };
}

/** Parses an option with a fixed set of values; `aliases` maps deprecated spellings to their value. */
export function parseChoice<T extends string>(
  option: string,
  choices: readonly T[],
  aliases: Readonly<Record<string, { value: T; note: string }>> = {},
): (value: string) => T {
  return (value: string) => {
    if ((choices as readonly string[]).includes(value)) return value as T;
    const alias = Object.hasOwn(aliases, value) ? aliases[value] : undefined;
    if (alias) {
      process.stderr.write(`nqm: ${option} ${value} is deprecated: ${alias.note}\n`);
      return alias.value;
    }
    return fail("NQM3007", { option, reason: `expected one of ${choices.join(", ")}, got \`${value}\`` });
  };
}

/** A parser for an old option spelling: notes the new one on stderr, then keeps the value. */
export function deprecated(option: string, replacement: string): (value: string) => string {
  return (value: string) => {
    process.stderr.write(`nqm: ${option} is deprecated: use ${replacement}\n`);
    return value;
  };
}
