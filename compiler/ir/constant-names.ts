/**
 * Names for the constants of a derived program. Lowering replaces dims and consts by their
 * values and the simplifier folds them (`x / sqrt(m)` becomes `0.0141421356237 * x`), so
 * `nqm derive` recognizes a folded value as a simple expression of the model's dims and consts
 * again: one or two of them, each to the power ±½ or ±1, times 1, 2, 4, ½ or ¼. Integers, ±1 and
 * values equal to a number literal of the model's expressions stay numbers (the literal may be
 * where they came from), and so does a value that two expressions of equal complexity match.
 */
import type { CheckedModel } from "../check/typed.ts";
import type { Precedence } from "./ops.ts";

/** A constant printed as an expression, with how tightly that expression binds. */
export interface SymbolicConstant {
  readonly text: string;
  readonly precedence: Precedence;
  /** When the constant is 1/D: D's text (an atom or in parentheses), so `c * x` prints as `x / D`. */
  readonly divisor?: string;
}

/** Finds the symbolic form of a constant's value, or undefined to print it as a number. */
export type ConstantNamer = (value: number) => SymbolicConstant | undefined;

/** Two values agree when they differ by at most this, relatively: folding rounds each operation once. */
const MATCH_TOLERANCE = 1e-10;

/** The powers a dim or const may appear with. */
const EXPONENTS = [1, 0.5, -0.5, -1] as const;

/** The factors a symbolic form may be scaled by, as printed. */
const SCALES: readonly [number, string][] = [
  [2, "2"],
  [4, "4"],
  [0.5, "0.5"],
  [0.25, "0.25"],
];

interface Candidate {
  readonly value: number;
  readonly form: SymbolicConstant;
}

/** `a * b` of factor texts, `sqrt(...)` around the half powers. */
function product(whole: readonly string[], halves: readonly string[]): { text: string; factors: number } {
  const parts = [...whole, ...(halves.length > 0 ? [`sqrt(${halves.join(" * ")})`] : [])];
  return { text: parts.join(" * "), factors: parts.length };
}

/** The symbolic form of Π name^exponent, scaled by `scale` (printed as `scaleText`). */
function form(terms: readonly [string, number][], scale: number, scaleText: string): SymbolicConstant {
  const pick = (test: (e: number) => boolean) => terms.filter(([, e]) => test(e)).map(([name]) => name);
  const top = product(
    pick((e) => e === 1),
    pick((e) => e === 0.5),
  );
  const bottom = product(
    pick((e) => e === -1),
    pick((e) => e === -0.5),
  );
  if (bottom.factors === 0) {
    if (scale === 1) return { text: top.text, precedence: top.factors === 1 ? 5 : 2 };
    return { text: `${scaleText} * ${top.text}`, precedence: 2 };
  }
  const divisor = bottom.factors === 1 ? bottom.text : `(${bottom.text})`;
  const numerator = top.factors === 0 ? scaleText : scale === 1 ? top.text : `${scaleText} * ${top.text}`;
  return {
    text: `${numerator} / ${divisor}`,
    precedence: 2,
    ...(top.factors === 0 && scale === 1 ? { divisor } : {}),
  };
}

/** Every candidate of one tier: the products of `count` distinct names, unscaled or scaled. */
function tier(names: readonly [string, number][], count: 1 | 2, scaled: boolean): Candidate[] {
  const products: { value: number; terms: [string, number][] }[] = [];
  for (const [i, [a, va]] of names.entries())
    for (const ea of EXPONENTS) {
      if (count === 1) products.push({ value: va ** ea, terms: [[a, ea]] });
      else
        for (const [b, vb] of names.slice(i + 1))
          for (const eb of EXPONENTS)
            products.push({
              value: va ** ea * vb ** eb,
              terms: [
                [a, ea],
                [b, eb],
              ],
            });
    }
  const scales: readonly [number, string][] = scaled ? SCALES : [[1, "1"]];
  return products.flatMap(({ value, terms }) =>
    scales.map(([scale, text]) => ({ value: value * scale, form: form(terms, scale, text) })),
  );
}

const agree = (a: number, b: number) => Math.abs(a - b) <= MATCH_TOLERANCE * Math.abs(b);

/**
 * The namer for a model's constants: its dims and consts (other than 0 and 1), and the number
 * literals of its expressions, which keep their numeric form.
 */
export function constantNamer(model: CheckedModel): ConstantNamer {
  const names = Object.entries({ ...model.dims, ...model.consts }).filter(([, v]) => v > 0 && v !== 1);
  const tiers = [tier(names, 1, false), tier(names, 1, true), tier(names, 2, false), tier(names, 2, true)];
  const literals = numberLiterals([...model.lets.map((l) => l.expr), model.output]);
  return (value) => {
    const magnitude = Math.abs(value);
    if (!Number.isFinite(value) || Number.isInteger(value) || magnitude === 1) return undefined;
    if (literals.some((literal) => agree(magnitude, Math.abs(literal)))) return undefined;
    for (const candidates of tiers) {
      const texts = new Set<string>();
      let found: SymbolicConstant | undefined;
      for (const candidate of candidates)
        if (agree(magnitude, candidate.value)) {
          found ??= candidate.form;
          texts.add(candidate.form.text);
        }
      if (texts.size > 1) return undefined; // d = m, say: which one it came from is unknown
      if (found === undefined) continue;
      if (value > 0) return found;
      return { text: `-${found.text}`, precedence: found.precedence === 5 ? 3 : 2 };
    }
    return undefined;
  };
}

/**
 * The number literals of typed expressions (constants without a name, and calls' constant
 * arguments), found by walking every nested object so that new expression kinds are walked too.
 */
function numberLiterals(roots: readonly unknown[]): number[] {
  const found: number[] = [];
  const stack: unknown[] = [...roots];
  while (stack.length > 0) {
    const item = stack.pop();
    if (Array.isArray(item)) stack.push(...item);
    else if (typeof item === "object" && item !== null) {
      const record = item as Record<string, unknown>;
      if (record.kind === "constant" && record.name === undefined && typeof record.value === "number")
        found.push(record.value);
      if (record.kind === "call" && Array.isArray(record.constants))
        for (const c of record.constants) if (typeof c === "number") found.push(c);
      for (const [key, value] of Object.entries(record)) if (key !== "span" && key !== "shape") stack.push(value);
    }
  }
  return found;
}
