/**
 * Parsing of data set specs, `KIND` or `KIND:key=value,key=value`, and typed reading of their
 * options. Every user error is NQM4003 with a message naming the offending part.
 */
import { fail } from "../../foundation/diagnostics.ts";
import { didYouMean } from "../../foundation/suggest.ts";

/** A spec split into its kind, its bare (key-less) items and its key=value options, in order. */
interface ParsedSpec {
  kind: string;
  bare: string[];
  options: Map<string, string>;
}

/** Splits `KIND:a=1,b=2` into its parts; a repeated key or an empty item is an error. */
export function parseSpec(spec: string): ParsedSpec {
  const text = spec.trim();
  if (text === "") fail("NQM4003", { reason: "the data set spec is empty" });
  const colon = text.indexOf(":");
  const kind = (colon < 0 ? text : text.slice(0, colon)).trim();
  const rest = colon < 0 ? "" : text.slice(colon + 1);
  const bare: string[] = [];
  const options = new Map<string, string>();
  if (colon >= 0) {
    for (const rawItem of rest.split(",")) {
      const item = rawItem.trim();
      if (item === "") fail("NQM4003", { reason: `empty option in \`${spec}\`; write KIND:key=value,key=value` });
      const eq = item.indexOf("=");
      if (eq < 0) {
        bare.push(item);
        continue;
      }
      const key = item.slice(0, eq).trim();
      const value = item.slice(eq + 1).trim();
      if (key === "") fail("NQM4003", { reason: `option \`${item}\` has no name` });
      if (value === "") fail("NQM4003", { reason: `option \`${key}\` has no value` });
      if (options.has(key)) fail("NQM4003", { reason: `option \`${key}\` is given twice` });
      options.set(key, value);
    }
  }
  return { kind, bare, options };
}

/** Reads the options of one kind, rejecting unknown keys and badly formed values. */
export class OptionReader {
  constructor(
    private readonly kind: string,
    private readonly options: Map<string, string>,
    readonly known: readonly string[],
    /** Alternative names: alias → canonical key. */
    private readonly aliases: Readonly<Record<string, string>> = {},
  ) {
    for (const [alias, canonical] of Object.entries(aliases)) {
      if (options.has(alias) && options.has(canonical)) {
        fail("NQM4003", { reason: `${kind}: \`${alias}\` and \`${canonical}\` are the same option; give one` });
      }
    }
    for (const key of options.keys()) {
      if (!known.includes(key)) {
        const accepted =
          known.length === 0 ? "it takes no options" : `it takes ${known.map((k) => `\`${k}\``).join(", ")}`;
        fail("NQM4003", { reason: `${kind} has no option \`${key}\`${didYouMean(key, known)} (${accepted})` });
      }
    }
  }

  /** The raw text of `key` (or of an alias of it), if given. */
  raw(key: string): string | undefined {
    const direct = this.options.get(key);
    if (direct !== undefined) return direct;
    for (const [alias, canonical] of Object.entries(this.aliases)) {
      if (canonical === key && this.options.has(alias)) return this.options.get(alias);
    }
    return undefined;
  }

  /** An integer option with a lower bound. */
  int(key: string, fallback: number, min: number): number {
    const text = this.raw(key);
    if (text === undefined) return fallback;
    const value = parseNumber(text);
    if (value === undefined || !Number.isInteger(value)) {
      fail("NQM4003", { reason: `${this.kind}: ${key}=${text} is not an integer` });
    }
    if (value < min) fail("NQM4003", { reason: `${this.kind}: ${key}=${text} must be at least ${min}` });
    return value;
  }

  /** A finite number option, optionally required to be positive. */
  number(key: string, fallback: number, options: { positive?: boolean } = {}): number {
    const text = this.raw(key);
    if (text === undefined) return fallback;
    const value = parseNumber(text);
    if (value === undefined) fail("NQM4003", { reason: `${this.kind}: ${key}=${text} is not a number` });
    this.bounded(key, text, value);
    if (options.positive === true && !(value > 0))
      fail("NQM4003", { reason: `${this.kind}: ${key}=${text} must be positive` });
    return value;
  }

  /** Data values must stay within ±DATA_MAGNITUDE_LIMIT. */
  private bounded(key: string, text: string, value: number): void {
    if (Math.abs(value) > DATA_MAGNITUDE_LIMIT)
      fail("NQM4003", {
        reason: `${this.kind}: ${key}: \`${text}\` is beyond ±${DATA_MAGNITUDE_LIMIT}, where squared losses overflow`,
      });
  }

  /** A `true`/`false` option (also `1`/`0`, `yes`/`no`). */
  bool(key: string, fallback: boolean): boolean {
    const text = this.raw(key);
    if (text === undefined) return fallback;
    const lower = text.toLowerCase();
    if (["true", "1", "yes"].includes(lower)) return true;
    if (["false", "0", "no"].includes(lower)) return false;
    fail("NQM4003", { reason: `${this.kind}: ${key}=${text} must be true or false` });
  }

  /** A `/`-separated list of numbers (the separator is shell-friendly and free of commas). */
  numbers(key: string, fallback: number[]): number[] {
    const text = this.raw(key);
    if (text === undefined) return fallback;
    return text.split("/").map((part) => {
      const value = parseNumber(part.trim());
      if (value === undefined)
        fail("NQM4003", { reason: `${this.kind}: \`${part}\` in ${key}=${text} is not a number` });
      this.bounded(key, part, value);
      return value;
    });
  }
}

/** The largest magnitude of a data value (feature or label): its square, summed over examples, stays finite. */
export const DATA_MAGNITUDE_LIMIT = 1e150;

const DECIMAL = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;

/** A finite decimal number, or undefined for anything else (hex, empty text, NaN, Infinity). */
export function parseNumber(text: string): number | undefined {
  if (!DECIMAL.test(text)) return undefined;
  const value = Number(text);
  return Number.isFinite(value) ? value : undefined;
}

/** True for the spellings of a non-finite number that a CSV file or option may contain. */
export function isNonFiniteSpelling(text: string): boolean {
  return /^[+-]?(nan|inf|infinity)$/i.test(text);
}
