import { test } from "node:test";
import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import fc from "fast-check";
import { parseSource } from "../../grammar/build-ast.ts";
import { printExpr, printFile } from "../../grammar/printer.ts";
import { withoutSpans, type Expr, type FileAst } from "../../grammar/ast.ts";
import { exprArbitrary, fileArbitrary } from "./arbitrary-ast.ts";
import { propertyRuns } from "../support/runs.ts";
import { nth, present } from "../support/entries.ts";

// Show the assertion that failed, not only the counterexample.
fc.configureGlobal({ includeErrorInReport: true });

const EXAMPLES = join(import.meta.dirname, "../../examples");

function parse(source: string): FileAst {
  const result = parseSource(source);
  assert.deepEqual(result.diagnostics, [], `does not parse:\n${source}`);
  return present(result.ast);
}

/** The expression of `output EXPR` in a one-model file. */
function parseExpr(text: string): Expr {
  const decl = nth(nth(parse(`model m { output ${text} }`).models, 0).decls, 0);
  assert.equal(decl.kind, "output");
  return decl.kind === "output" ? decl.expr : assert.fail();
}

for (const file of readdirSync(EXAMPLES)
  .filter((f) => f.endsWith(".nqm"))
  .sort()) {
  test(`examples/${file}: parse(print(ast)) equals ast, and printing is idempotent`, () => {
    const ast = parse(readFileSync(join(EXAMPLES, file), "utf8"));
    const printed = printFile(ast);
    assert.deepEqual(withoutSpans(parse(printed)), withoutSpans(ast));
    assert.equal(printFile(parse(printed)), printed);
  });
}

test("property: parse(print(ast)) equals ast for generated files", () => {
  fc.assert(
    fc.property(fileArbitrary, (ast) => {
      assert.deepEqual(withoutSpans(parse(printFile(ast))), withoutSpans(ast));
    }),
    { numRuns: propertyRuns(300) },
  );
});

test("property: print is idempotent: print(parse(print(x))) === print(x)", () => {
  fc.assert(
    fc.property(fileArbitrary, (ast) => {
      const printed = printFile(ast);
      assert.equal(printFile(parse(printed)), printed);
    }),
    { numRuns: propertyRuns(200) },
  );
});

/** The [open, close] offsets of each grouping pair of parentheses (not a call's) in printed text. */
function groupingPairs(text: string): [number, number][] {
  const pairs: [number, number][] = [];
  const open: (number | undefined)[] = [];
  for (let i = 0; i < text.length; i++) {
    if (text[i] === "(") open.push(/[A-Za-z0-9_]/.test(text[i - 1] ?? "") ? undefined : i);
    if (text[i] === ")") {
      const start = open.pop();
      if (start !== undefined) pairs.push([start, i]);
    }
  }
  return pairs;
}

test("property: an expression prints with the fewest parentheses: dropping any grouping pair changes its tree", () => {
  fc.assert(
    fc.property(exprArbitrary, (expr) => {
      const text = printExpr(expr);
      const tree = withoutSpans(expr);
      assert.deepEqual(withoutSpans(parseExpr(text)), tree);
      for (const [open, close] of groupingPairs(text)) {
        const dropped = text.slice(0, open) + text.slice(open + 1, close) + text.slice(close + 1);
        const result = parseSource(`model m { output ${dropped} }`);
        const decl = result.ast?.models[0]?.decls[0];
        if (decl?.kind === "output")
          assert.notDeepEqual(withoutSpans(decl.expr), tree, `${text}: the parentheses at ${open} are not needed`);
      }
    }),
    { numRuns: propertyRuns(300) },
  );
});

test("canonical forms: minimal parentheses, right-associative ^, unary minus under ^", () => {
  const cases: [string, string][] = [
    ["((a)) + (b * c)", "a + b * c"],
    ["(a + b) * c", "(a + b) * c"],
    ["a - (b - c)", "a - (b - c)"],
    ["(a - b) - c", "a - b - c"],
    ["a / (b * c)", "a / (b * c)"],
    ["a ^ (b ^ c)", "a^b^c"],
    ["(a ^ b) ^ c", "(a^b)^c"],
    ["-(a ^ 2)", "-a^2"],
    ["(-a) ^ 2", "(-a)^2"],
    ["a ^ -b", "a^-b"],
    ["- - a", "--a"],
    ["a * -b", "a * -b"],
    ["(a @ b) @ c", "a @ b @ c"],
    ["a @ (b @ c)", "a @ (b @ c)"],
    ["f(a,b , (c))", "f(a, b, c)"],
    ["g()", "g()"],
    [".5 + 1e-7 + 2.5E+4 + 1.", "0.5 + 1e-7 + 25000 + 1"],
  ];
  for (const [input, canonical] of cases) assert.equal(printExpr(parseExpr(input)), canonical, input);
});

test("a whole file: canonical layout, models separated by a blank line", () => {
  const source =
    "model a{dim d=2 const c=-1.5 # comment\ninput x:[d] param w:[d,2]~normal(0,1) fixed s:[] let z=w@x output sum(z)*c}\nmodel b{dim m input y:[] param v:[]~zeros() output v*y}";
  assert.equal(
    printFile(parse(source)),
    [
      "model a {",
      "  dim d = 2",
      "  const c = -1.5 # comment",
      "  input x: [d]",
      "  param w: [d, 2] ~ normal(0, 1)",
      "  fixed s: []",
      "  let z = w @ x",
      "  output sum(z) * c",
      "}",
      "",
      "model b {",
      "  dim m",
      "  input y: []",
      "  param v: [] ~ zeros()",
      "  output v * y",
      "}",
      "",
    ].join("\n"),
  );
});

test("comments are kept: on their own line before what followed them, or ending the line of what they followed", () => {
  const source = [
    "# header",
    "",
    "model a { # about a",
    "  # the sizes",
    "  dim d = 2   # input size",
    "  dim m=3 # width",
    "  input x: [d]",
    "  param w: [m, d]     # trainable",
    "  output sum(w @ x) # out",
    "     # a closing remark",
    "} # end of a",
    "# between",
    "model b { input y: [] param v: [] output v * y }",
    "# the end",
  ].join("\n");
  const expected = [
    "# header",
    "model a { # about a",
    "  # the sizes",
    "  dim d = 2 # input size",
    "  dim m = 3 # width",
    "  input x: [d]",
    "  param w: [m, d]   # trainable",
    "  output sum(w @ x) # out",
    "  # a closing remark",
    "} # end of a",
    "",
    "# between",
    "model b {",
    "  input y: []",
    "  param v: []",
    "  output v * y",
    "}",
    "",
    "# the end",
    "",
  ].join("\n");
  const printed = printFile(parse(source));
  assert.equal(printed, expected);
  assert.deepEqual(withoutSpans(parse(printed)), withoutSpans(parse(source)));
  assert.equal(printFile(parse(printed)), printed);
});

test("comments inside a multi-line declaration end its printed line; a second one gets its own line", () => {
  const source = "model a {\n  input x: [2]\n  param w: [2]\n  output dot(w, # first\n    x) # second\n}\n";
  const printed = printFile(parse(source));
  assert.equal(printed, "model a {\n  input x: [2]\n  param w: [2]\n  output dot(w, x) # first\n  # second\n}\n");
  assert.equal(printFile(parse(printed)), printed);
});

test("given the source, numbers print as written (1e-3 stays 1e-3); without it, by value", () => {
  const source = [
    "model a {",
    "  dim d = 0003",
    "  const g = 1e-3",
    "  const h = -2.50E+1",
    "  const k = - .5",
    "  input x: [d]",
    "  param w: [d] ~ normal(0, 1e-2)",
    "  fixed s: [2, 1.0e1]",
    "  output .5 * dot(w, x) * g + 1. + -2e0",
    "}",
    "",
  ].join("\n");
  const ast = parse(source);
  const written = printFile(ast, source);
  assert.deepEqual(written.split("\n"), [
    "model a {",
    "  dim d = 0003",
    "  const g = 1e-3",
    "  const h = -2.50E+1",
    "  const k = -.5",
    "  input x: [d]",
    "  param w: [d] ~ normal(0, 1e-2)",
    "  fixed s: [2, 1.0e1]",
    "  output .5 * dot(w, x) * g + 1. + -2e0",
    "}",
    "",
  ]);
  assert.deepEqual(withoutSpans(parse(written)), withoutSpans(ast));
  assert.equal(printFile(parse(written), written), written, "idempotent");
  // Without the source (a generated AST), the shortest text that reads back as the same double.
  assert.match(printFile(ast), /const g = 0\.001\n/);
  assert.match(printFile(ast), /output 0\.5 \* dot\(w, x\) \* g \+ 1 \+ -2\n/);
});
