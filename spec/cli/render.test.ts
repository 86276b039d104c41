import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import {
  diagnosticToJson,
  limitPerFile,
  MAX_DIAGNOSTICS_PER_FILE,
  positionOf,
  renderDiagnostic,
  renderDiagnostics,
} from "../../cli/render.ts";
import { diagnostic } from "../../foundation/diagnostics.ts";
import { propertyRuns } from "../support/runs.ts";
import { present } from "../support/entries.ts";

test("positionOf: 1-based lines and columns; a newline ends its line", () => {
  const source = "ab\ncd\n\nef";
  assert.deepEqual(positionOf(source, 0), { line: 1, column: 1 });
  assert.deepEqual(positionOf(source, 2), { line: 1, column: 3 }); // the newline itself
  assert.deepEqual(positionOf(source, 3), { line: 2, column: 1 });
  assert.deepEqual(positionOf(source, 6), { line: 3, column: 1 });
  assert.deepEqual(positionOf(source, 8), { line: 4, column: 2 });
  assert.deepEqual(positionOf(source, source.length), { line: 4, column: 3 });
  assert.deepEqual(positionOf("a\r\nb", 3), { line: 2, column: 1 }, "CRLF counts as one line break");
});

test("positionOf: CR alone and CRLF end a line too (a file with old Mac line ends is not all on line 1)", () => {
  assert.deepEqual(positionOf("ab\rcd", 3), { line: 2, column: 1 });
  assert.deepEqual(positionOf("ab\rcd\r\ref", 8), { line: 4, column: 2 });
  assert.deepEqual(positionOf("ab\r\ncd", 3), { line: 1, column: 4 }, "the LF of a CRLF is still on the first line");
  assert.deepEqual(positionOf("ab\n\rcd", 4), { line: 3, column: 1 }, "LF then CR is two line ends");
});

test("property: positionOf agrees with splitting the text at CRLF, CR and LF", () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom("a", " ", "\n", "\t", "\r") }), fc.nat(), (source, n) => {
      const offset = n % (source.length + 1);
      let head = source.slice(0, offset);
      // An offset between the CR and the LF of a CRLF lies on the line that CRLF ends.
      if (head.endsWith("\r") && source[offset] === "\n") head = `${head.slice(0, -1)}a`;
      const before = head.split(/\r\n|\r|\n/);
      assert.deepEqual(positionOf(source, offset), { line: before.length, column: present(before.at(-1)).length + 1 });
    }),
    { numRuns: propertyRuns(200) },
  );
});

const SOURCE = "model a {\n  input x: [2]\n\tparam w: [3]\n  output sum(w + x)\n}\n";
const sources = new Map([["m.nqm", SOURCE]]);
const spanOf = (text: string) => ({ start: SOURCE.indexOf(text), end: SOURCE.indexOf(text) + text.length });

test("renderDiagnostic: location, message, the source line and a caret as wide as the span", () => {
  const d = diagnostic(
    "NQM2006",
    { op: "+", left: "[3]", right: "[2]", detail: "" },
    { file: "m.nqm", span: spanOf("w + x") },
  );
  assert.equal(
    renderDiagnostic(d, sources),
    [
      "m.nqm:4:14: error NQM2006: shape mismatch in `+`: [3] and [2]",
      "  |",
      "4 |   output sum(w + x)",
      "  |              ^^^^^",
    ].join("\n"),
  );
});

test("renderDiagnostic: a tab before the span is kept under it, so the caret lines up", () => {
  const d = diagnostic(
    "NQM2012",
    { kind: "param", name: "w" },
    { file: "m.nqm", span: { start: spanOf("w: [3]").start, end: spanOf("w: [3]").start + 1 } },
  );
  const lines = renderDiagnostic(d, sources).split("\n");
  assert.equal(lines[0], "m.nqm:3:8: warning NQM2012: param `w` is declared but never used");
  assert.equal(lines[2], "3 | \tparam w: [3]");
  assert.equal(lines[3], "  | \t      ^");
});

test("renderDiagnostic: an empty span at the end of the file still gets one caret; a related note is located", () => {
  const end = diagnostic(
    "NQM1002",
    { expected: "`}`", found: "end of file" },
    { file: "m.nqm", span: { start: SOURCE.length, end: SOURCE.length } },
  );
  assert.deepEqual(renderDiagnostic(end, sources).split("\n").slice(0, 4), [
    "m.nqm:6:1: error NQM1002: expected `}` but found end of file",
    "  |",
    "6 | ",
    "  | ^",
  ]);
  const redeclared = diagnostic(
    "NQM2002",
    { name: "x", model: "a" },
    { file: "m.nqm", span: spanOf("x)"), related: { message: "first declared here", span: spanOf("x:") } },
  );
  assert.equal(renderDiagnostic(redeclared, sources).split("\n").at(-1), "m.nqm:2:9: note: first declared here");
});

test("renderDiagnostic: a diagnostic of the command line has no location but the program's name", () => {
  const d = diagnostic("NQM3001", { name: "q", models: "model `a`", hint: "" });
  assert.equal(
    renderDiagnostic(d, sources),
    "nqm: error NQM3001: --set names `q`, which is not a dim or const of model `a`",
  );
});

test("diagnosticToJson: offsets and 1-based line/column of both ends", () => {
  const d = diagnostic(
    "NQM2006",
    { op: "+", left: "[3]", right: "[2]", detail: "" },
    { file: "m.nqm", span: spanOf("w + x") },
  );
  const { start, end } = spanOf("w + x");
  assert.deepEqual(diagnosticToJson(d, sources), {
    code: "NQM2006",
    severity: "error",
    message: "shape mismatch in `+`: [3] and [2]",
    file: "m.nqm",
    start,
    end,
    line: 4,
    column: 14,
    endLine: 4,
    endColumn: 19,
  });
});

test("renderDiagnostic: a file with CR line ends shows the right line and column", () => {
  const source = "model a {\r  input x: [2]\r  param w: [3]\r  output sum(w + x)\r}\r";
  const start = source.indexOf("w + x");
  const d = diagnostic(
    "NQM2006",
    { op: "+", left: "[3]", right: "[2]", detail: "" },
    { file: "cr.nqm", span: { start, end: start + 5 } },
  );
  assert.deepEqual(
    renderDiagnostic(d, new Map([["cr.nqm", source]]))
      .split("\n")
      .slice(0, 4),
    [
      "cr.nqm:4:14: error NQM2006: shape mismatch in `+`: [3] and [2]",
      "  |",
      "4 |   output sum(w + x)",
      "  |              ^^^^^",
    ],
  );
});

test("renderDiagnostic: a very long line is shown as a window around the span, the caret still under it", () => {
  const source = `let a = ${"x+".repeat(500)}qq\n`;
  const start = source.indexOf("qq");
  const d = diagnostic("NQM2001", { name: "qq", hint: "" }, { file: "long.nqm", span: { start, end: start + 2 } });
  const [, , text, caret] = renderDiagnostic(d, new Map([["long.nqm", source]])).split("\n");
  assert.ok(text !== undefined && caret !== undefined);
  assert.ok(text.length < 200, `line of ${text.length} characters`);
  assert.ok(text.startsWith("1 | …"));
  assert.equal(text.slice(caret.indexOf("^"), caret.lastIndexOf("^") + 1), "qq");
});

test("renderDiagnostics: at most MAX_DIAGNOSTICS_PER_FILE per file, then how many more", () => {
  const source = "x ".repeat(200);
  const at = (file: string, i: number) =>
    diagnostic("NQM2001", { name: "x", hint: "" }, { file, span: { start: 2 * i, end: 2 * i + 1 } });
  const many = [...Array.from({ length: 120 }, (_, i) => at("a.nqm", i)), at("b.nqm", 0), at("b.nqm", 1)];
  const { shown, omitted } = limitPerFile(many);
  assert.equal(MAX_DIAGNOSTICS_PER_FILE, 50);
  assert.equal(shown.length, 52);
  assert.deepEqual([...omitted], [["a.nqm", 70]]);
  const text = renderDiagnostics(
    many,
    new Map([
      ["a.nqm", source],
      ["b.nqm", source],
    ]),
  );
  assert.equal(text.match(/error NQM2001/g)?.length, 52);
  assert.ok(text.endsWith("a.nqm: and 70 more diagnostics (not shown)"));
  assert.match(text, /^a\.nqm:1:99: error/m, "the 50th diagnostic of a.nqm is shown");
  assert.doesNotMatch(text, /^a\.nqm:1:101: error/m, "the 51st is not");
});
