/**
 * The malformed-program table: every file in spec/fixtures/errors holds a small program and, in
 * its leading comments, the diagnostics it must produce:
 *
 *   # set m=2.5                                       (a --set override for the check)
 *   # expect NQM2006 at 7:11 "[3] and [2]" "axis 0"   (code, 1-based line:column, message parts)
 *   # expect warning NQM2012 at 4:9                   (severity, when not an error)
 *   # expect NQM3001 "..."                            (no `at`: the diagnostic has no span)
 *
 * The expected diagnostics are the complete list: nothing more may be reported.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { checkSource } from "../../compiler/frontend.ts";
import { MESSAGES, type Severity } from "../../foundation/diagnostics.ts";
import { positionOf } from "../../cli/render.ts";
import { nth, present } from "../support/entries.ts";

const FIXTURES = join(import.meta.dirname, "../fixtures/errors");

interface Expectation {
  readonly severity: Severity;
  readonly code: string;
  readonly at?: { readonly line: number; readonly column: number };
  readonly messageParts: readonly string[];
}

interface Fixture {
  readonly name: string;
  readonly source: string;
  readonly set: Record<string, number>;
  readonly expected: readonly Expectation[];
}

const EXPECT = /^# expect (?:(error|warning) )?(NQM\d{4})(?: at (\d+):(\d+))?((?: "[^"]*")*)\s*$/;
const SET = /^# set ([A-Za-z_]\w*)=(\S+)\s*$/;

function readFixture(name: string): Fixture {
  const source = readFileSync(join(FIXTURES, name), "utf8");
  const set: Record<string, number> = {};
  const expected: Expectation[] = [];
  for (const line of source.split("\n")) {
    if (!line.startsWith("# expect") && !line.startsWith("# set")) break;
    const expect = EXPECT.exec(line);
    const setting = SET.exec(line);
    if (expect) {
      const [, severity, code, lineText, columnText, parts] = expect;
      expected.push({
        severity: (severity ?? "error") as Severity,
        code: present(code),
        ...(lineText ? { at: { line: Number(lineText), column: Number(columnText) } } : {}),
        messageParts: [...present(parts).matchAll(/"([^"]*)"/g)].map((m) => nth(m, 1)),
      });
    } else if (setting) {
      set[nth(setting, 1)] = Number(setting[2]);
    } else {
      throw new Error(`${name}: malformed header line: ${line}`);
    }
  }
  if (expected.length === 0) throw new Error(`${name}: no \`# expect\` line`);
  return { name, source, set, expected };
}

const fixtures = readdirSync(FIXTURES)
  .filter((f) => f.endsWith(".nqm"))
  .sort()
  .map(readFixture);

function describe(e: { severity: string; code: string; at?: { line: number; column: number } }): string {
  return `${e.severity} ${e.code}${e.at ? ` at ${e.at.line}:${e.at.column}` : ""}`;
}

test("the table holds at least 35 malformed programs, each expecting an error or a warning", () => {
  assert.ok(fixtures.length >= 35, `only ${fixtures.length} fixtures`);
  test("every syntax and checker code (1xxx, 2xxx) has a fixture", () => {
    // NQM1007 (nesting too deep) needs over 100 nested levels: spec/grammar/nesting.test.ts covers it.
    const elsewhere = new Set(["NQM1007"]);
    const covered = new Set(fixtures.flatMap((f) => f.expected.map((e) => e.code)));
    const missing = Object.keys(MESSAGES).filter(
      (code) => /^NQM[12]/.test(code) && !covered.has(code) && !elsewhere.has(code),
    );
    assert.deepEqual(missing, []);
  });

  for (const fixture of fixtures) {
    for (const e of fixture.expected)
      assert.ok(Object.hasOwn(MESSAGES, e.code), `${fixture.name}: ${e.code} is not in the message table`);
  }
});

for (const fixture of fixtures) {
  test(`errors/${fixture.name}`, () => {
    const result = checkSource(fixture.source, { file: fixture.name, set: fixture.set });
    const actual = result.diagnostics.map((d) => ({
      severity: d.severity,
      code: d.code,
      ...(d.span ? { at: positionOf(fixture.source, d.span.start) } : {}),
      message: d.message,
    }));
    const order = (a: { at?: { line: number; column: number }; code: string }, b: typeof a) =>
      (a.at?.line ?? Infinity) - (b.at?.line ?? Infinity) ||
      (a.at?.column ?? 0) - (b.at?.column ?? 0) ||
      a.code.localeCompare(b.code);
    const listing = actual.map((d) => `  ${describe(d)}: ${d.message}`).join("\n");
    assert.deepEqual(
      [...actual].sort(order).map(describe),
      [...fixture.expected].sort(order).map(describe),
      `diagnostics of ${fixture.name}:\n${listing}`,
    );
    const sorted = [...actual].sort(order);
    [...fixture.expected].sort(order).forEach((e, i) => {
      for (const part of e.messageParts)
        assert.ok(
          nth(sorted, i).message.includes(part),
          `${describe(e)}: message "${nth(sorted, i).message}" lacks "${part}"`,
        );
    });
    for (const d of result.diagnostics) {
      if (d.span)
        assert.ok(
          0 <= d.span.start && d.span.start <= d.span.end && d.span.end <= fixture.source.length,
          `span ${JSON.stringify(d.span)} outside the source`,
        );
      assert.equal(d.file, d.span ? fixture.name : d.file, "a located diagnostic names its file");
    }
    const errors = fixture.expected.some((e) => e.severity === "error");
    assert.equal(
      result.models !== undefined,
      !errors,
      errors ? "a file with errors yields no checked model" : "warnings alone must not stop the check",
    );
  });
}
