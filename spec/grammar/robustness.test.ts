/**
 * Robustness: whatever the input, parseSource and checkSource return diagnostics; they never
 * throw, never hang, and every diagnostic they return is well formed and points into the source.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parseSource } from "../../grammar/build-ast.ts";
import { printFile } from "../../grammar/printer.ts";
import { withoutSpans, type FileAst } from "../../grammar/ast.ts";
import { lexer } from "../../grammar/tokens.ts";
import { checkSource } from "../../compiler/frontend.ts";
import { MESSAGES, type Diagnostic } from "../../foundation/diagnostics.ts";
import { propertyRuns } from "../support/runs.ts";
import { nth, present } from "../support/entries.ts";

// Show the assertion that failed, not only the counterexample.
fc.configureGlobal({ includeErrorInReport: true });

const EXAMPLES = join(import.meta.dirname, "../../examples");
const examples = readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".nqm"))
  .sort()
  .map((f) => readFileSync(join(EXAMPLES, f), "utf8"));

/** Generous: a case takes a few milliseconds; this only catches a hang or a blow-up. */
const MAX_MILLISECONDS_PER_CASE = 1000;

function assertWellFormed(diagnostics: readonly Diagnostic[], source: string): void {
  for (const d of diagnostics) {
    assert.ok(Object.hasOwn(MESSAGES, d.code), `unknown code ${d.code}`);
    assert.equal(d.severity, MESSAGES[d.code][0]);
    assert.ok(d.message.length > 0 && !/\{\w+\}/.test(d.message), `unfilled placeholder: ${d.message}`);
    assert.ok(d.span, `${d.code} has no span`);
    assert.ok(
      0 <= d.span.start && d.span.start <= d.span.end && d.span.end <= source.length,
      `${d.code} span ${JSON.stringify(d.span)} outside [0, ${source.length}]`,
    );
  }
}

/** Parses and checks `source`; asserts the results are consistent and well formed. */
function frontEndSurvives(source: string): void {
  const started = performance.now();
  const parsed = parseSource(source, "fuzz.nqm");
  const checked = checkSource(source, { file: "fuzz.nqm" });
  const elapsed = performance.now() - started;
  assert.ok(elapsed < MAX_MILLISECONDS_PER_CASE, `took ${elapsed.toFixed(0)} ms`);
  assertWellFormed(parsed.diagnostics, source);
  assertWellFormed(checked.diagnostics, source);
  assert.equal(parsed.ast === undefined, parsed.diagnostics.length > 0, "an AST exactly when there is no syntax error");
  const errors = checked.diagnostics.some((d) => d.severity === "error");
  assert.equal(checked.models === undefined, errors, "checked models exactly when there is no error");
  if (checked.models)
    assert.equal(checked.models.length, parsed.ast?.models.length, "without an error, every model is checked");
  if (parsed.ast) {
    // Whatever parses also round-trips through the printer, comments and all (a comment may
    // move to its own line: see printer.ts).
    const reparsed = parseSource(printFile(parsed.ast));
    assert.deepEqual(reparsed.diagnostics, []);
    const comparable = (ast: FileAst) => withoutSpans({ ...ast, comments: ast.comments?.map((c) => c.text) });
    assert.deepEqual(comparable(present(reparsed.ast)), comparable(parsed.ast));
  }
}

// ---------------------------------------------------------------- character-level mutations

const ALPHABET = [
  ..."{}()[],:~=+-*/@^#\n\t\r .0123456789eE_abxyzdm$%;!?\"'\\γ∑é\u0000\u2028",
  "model",
  "output",
  "let",
  "dim",
  "1e",
  "1e-",
  "..",
];

type Edit =
  | { readonly kind: "delete"; readonly at: number; readonly length: number }
  | { readonly kind: "insert"; readonly at: number; readonly text: string }
  | { readonly kind: "replace"; readonly at: number; readonly text: string };

const editArbitrary: fc.Arbitrary<Edit> = fc.oneof(
  fc.record({ kind: fc.constant("delete" as const), at: fc.nat(), length: fc.integer({ min: 1, max: 12 }) }),
  fc.record({
    kind: fc.constant("insert" as const),
    at: fc.nat(),
    text: fc.oneof(fc.constantFrom(...ALPHABET), fc.string({ maxLength: 4 })),
  }),
  fc.record({ kind: fc.constant("replace" as const), at: fc.nat(), text: fc.constantFrom(...ALPHABET) }),
);

function applyEdit(source: string, edit: Edit): string {
  const at = source.length === 0 ? 0 : edit.at % (source.length + 1);
  switch (edit.kind) {
    case "delete":
      return source.slice(0, at) + source.slice(at + edit.length);
    case "insert":
      return source.slice(0, at) + edit.text + source.slice(at);
    case "replace":
      return source.slice(0, at) + edit.text + source.slice(at + 1);
  }
}

test("property: examples with random characters deleted, inserted or replaced give diagnostics, never an exception", () => {
  fc.assert(
    fc.property(
      fc.constantFrom(...examples),
      fc.array(editArbitrary, { minLength: 1, maxLength: 6 }),
      (example, edits) => {
        frontEndSurvives(edits.reduce(applyEdit, example));
      },
    ),
    { numRuns: propertyRuns(400) },
  );
});

// ---------------------------------------------------------------- token-level mutations

const TOKEN_TEXTS = [
  "model",
  "dim",
  "const",
  "input",
  "param",
  "fixed",
  "let",
  "output",
  "x",
  "w",
  "m",
  "d",
  "relu",
  "dot",
  "outer",
  "sum",
  "normal",
  "rademacher",
  "leaky_relu",
  "transpose",
  "sqrt",
  "0",
  "1",
  "2",
  "0.5",
  "1e-7",
  "1e999",
  "-3",
  "{",
  "}",
  "(",
  ")",
  "[",
  "]",
  ",",
  ":",
  "~",
  "=",
  "+",
  "-",
  "*",
  "/",
  "@",
  "^",
];

function tokensOf(source: string): string[] {
  return lexer.tokenize(source).tokens.map((t) => t.image);
}

type TokenEdit =
  | { readonly kind: "delete" | "duplicate" | "swap"; readonly at: number }
  | { readonly kind: "insert" | "replace"; readonly at: number; readonly token: string }
  /** Replaces a name by another name of the same file: uses before definition, self references, shape clashes. */
  | { readonly kind: "rename"; readonly at: number; readonly pick: number };

const KEYWORDS = new Set(["model", "dim", "const", "input", "param", "fixed", "let", "output", "loss"]);
const isName = (token: string) => /^[A-Za-z_]/.test(token) && !KEYWORDS.has(token);

const tokenEditArbitrary: fc.Arbitrary<TokenEdit> = fc.oneof(
  fc.record({ kind: fc.constantFrom("delete" as const, "duplicate" as const, "swap" as const), at: fc.nat() }),
  fc.record({
    kind: fc.constantFrom("insert" as const, "replace" as const),
    at: fc.nat(),
    token: fc.constantFrom(...TOKEN_TEXTS),
  }),
  fc.record({ kind: fc.constant("rename" as const), at: fc.nat(), pick: fc.nat() }),
);

function applyTokenEdit(tokens: readonly string[], edit: TokenEdit): string[] {
  const result = [...tokens];
  const at = result.length === 0 ? 0 : edit.at % result.length;
  switch (edit.kind) {
    case "delete":
      result.splice(at, 1);
      break;
    case "duplicate":
      if (result.length > 0) result.splice(at, 0, nth(result, at));
      break;
    case "swap":
      if (at + 1 < result.length) [result[at], result[at + 1]] = [nth(result, at + 1), nth(result, at)];
      break;
    case "insert":
      result.splice(at, 0, edit.token);
      break;
    case "replace":
      result.splice(at, 1, edit.token);
      break;
    case "rename": {
      const names = result.flatMap((token, i) => (isName(token) ? [i] : []));
      if (names.length > 0)
        result[nth(names, edit.at % names.length)] = nth(result, nth(names, edit.pick % names.length));
      break;
    }
  }
  return result;
}

test("property: examples with tokens deleted, duplicated, swapped, inserted or replaced give diagnostics, never an exception", () => {
  const tokenized = examples.map(tokensOf);
  fc.assert(
    fc.property(
      fc.constantFrom(...tokenized),
      fc.array(tokenEditArbitrary, { minLength: 1, maxLength: 6 }),
      fc.constantFrom(" ", "\n"),
      (tokens, edits, separator) => {
        frontEndSurvives(edits.reduce(applyTokenEdit, tokens).join(separator));
      },
    ),
    { numRuns: propertyRuns(400) },
  );
});

// ---------------------------------------------------------------- random token sequences

test("property: random token sequences, bare or inside a model, give diagnostics, never an exception", () => {
  const sequence = fc.array(fc.constantFrom(...TOKEN_TEXTS), { maxLength: 60 }).map((tokens) => tokens.join(" "));
  fc.assert(
    fc.property(sequence, fc.boolean(), (text, wrapped) => {
      frontEndSurvives(wrapped ? `model r {\n  input x: [2]\n  param w: [2]\n  ${text}\n}\n` : text);
    }),
    { numRuns: propertyRuns(400) },
  );
});

test("property: arbitrary strings give diagnostics, never an exception", () => {
  fc.assert(
    fc.property(fc.string({ unit: "binary", maxLength: 200 }), (text) => frontEndSurvives(text)),
    { numRuns: propertyRuns(200) },
  );
});

test("the checker, too, survives declarations in any order: every permutation-like shuffle of an example's lines", () => {
  fc.assert(
    fc.property(fc.constantFrom(...examples), fc.infiniteStream(fc.nat()), (example, randoms) => {
      const lines = example.split("\n");
      const body = lines.slice(lines.findIndex((l) => l.startsWith("model")) + 1, lines.lastIndexOf("}"));
      for (let i = body.length - 1; i > 0; i--) {
        const j = randoms.next().value % (i + 1);
        [body[i], body[j]] = [nth(body, j), nth(body, i)];
      }
      frontEndSurvives(`model shuffled {\n${body.join("\n")}\n}\n`);
    }),
    { numRuns: propertyRuns(200) },
  );
});

// ---------------------------------------------------------------- inputs that used to exhaust the process (issue 10)

/** Like frontEndSurvives, with a bound for large inputs (a guard against quadratic blow-ups, not a benchmark). */
function largeInputSurvives(source: string): void {
  const started = performance.now();
  const checked = checkSource(source, { file: "fuzz.nqm" });
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 20_000, `took ${elapsed.toFixed(0)} ms`);
  assertWellFormed(checked.diagnostics, source);
}

test("property: long identifiers with a typo (up to 60,000 characters) get a diagnostic, never a blow-up", () => {
  fc.assert(
    fc.property(fc.integer({ min: 60, max: 60_000 }), fc.constantFrom("a", "b", "_"), (length, typo) => {
      const name = "w".repeat(length);
      const source = `model a {\n  input x: [2]\n  param ${name}: [2]\n  output dot(${name}${typo}, x)\n}\n`;
      largeInputSurvives(source);
      const codes = checkSource(source).diagnostics.map((d) => d.code);
      assert.ok(codes.includes("NQM2001"), codes.join(","));
    }),
    { numRuns: propertyRuns(8) },
  );
});

test("property: 256 KB of junk gives diagnostics in bounded time", () => {
  const junkUnit = fc.constantFrom(...ALPHABET, ...TOKEN_TEXTS.map((t) => ` ${t} `));
  fc.assert(
    fc.property(fc.array(junkUnit, { minLength: 64, maxLength: 64 }), fc.nat(), (units, seed) => {
      let text = "";
      let state = seed + 1;
      while (text.length < 256 * 1024) {
        state = (state * 1103515245 + 12345) % 2147483648;
        text += units[state % units.length];
      }
      largeInputSurvives(text);
    }),
    { numRuns: propertyRuns(3) },
  );
});

test("property: deep nesting of every kind is parsed or refused with NQM1007, never a crash", () => {
  const level = fc.constantFrom(["(", ")"], ["tanh(", ")"], ["-", ""], ["-(", ")"], ["sum(", ")"]);
  fc.assert(
    fc.property(fc.array(level, { minLength: 1, maxLength: 3000 }), fc.boolean(), (levels, powers) => {
      const open = levels.map(([o]) => o).join("");
      const close = levels
        .map(([, c]) => c)
        .reverse()
        .join("");
      const expr = `${open}x${powers ? "^1".repeat(levels.length) : ""}${close}`;
      const source = `model m {\n  input x: []\n  param w: []\n  output w * ${expr}\n}\n`;
      largeInputSurvives(source);
    }),
    { numRuns: propertyRuns(30) },
  );
});
