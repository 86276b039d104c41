import { test } from "node:test";
import assert from "node:assert/strict";
import fc from "fast-check";
import { diagnosticToJson, positionOf, renderDiagnostic } from "../../cli/render.ts";
import { diagnostic } from "../../foundation/diagnostics.ts";
import { propertyRuns } from "../support/runs.ts";

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

test("property: positionOf agrees with splitting the text at newlines", () => {
  fc.assert(
    fc.property(fc.string({ unit: fc.constantFrom("a", " ", "\n", "\t", "\r") }), fc.nat(), (source, n) => {
      const offset = n % (source.length + 1);
      const before = source.slice(0, offset).split("\n");
      assert.deepEqual(positionOf(source, offset), { line: before.length, column: before.at(-1)!.length + 1 });
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
