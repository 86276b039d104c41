import { test } from "node:test";
import assert from "node:assert/strict";
import { MAX_EXPRESSION_DEPTH, parseSource } from "../../grammar/build-ast.ts";
import { withoutSpans, type Expr } from "../../grammar/ast.ts";
import { lexer } from "../../grammar/tokens.ts";
import { positionOf } from "../../cli/render.ts";
import { nth, present } from "../support/entries.ts";

function outputOf(text: string): Expr {
  const result = parseSource(`model m { output ${text} }`);
  assert.deepEqual(result.diagnostics, []);
  const decl = nth(nth(present(result.ast).models, 0).decls, 0);
  return decl.kind === "output" ? decl.expr : assert.fail("not an output");
}

/** A compact prefix form of an expression tree: (op left right), (neg x), f(args). */
function tree(expr: Expr): string {
  switch (expr.kind) {
    case "number":
      return String(expr.value);
    case "name":
      return expr.name;
    case "negate":
      return `(neg ${tree(expr.operand)})`;
    case "binary":
      return `(${expr.op} ${tree(expr.left)} ${tree(expr.right)})`;
    case "call":
      return `${expr.callee}(${expr.args.map(tree).join(" ")})`;
    case "list":
      return `[${expr.items.map(tree).join(" ")}]`;
    case "string":
      return `"${expr.value}"`;
    case "index": {
      const bound = (e: Expr | undefined) => (e ? tree(e) : "");
      const indices = expr.indices.map((i) => (i.kind === "at" ? tree(i.index) : `${bound(i.start)}:${bound(i.end)}`));
      return `(index ${tree(expr.subject)} ${indices.join(" ")})`;
    }
  }
}

test("precedence, lowest to highest: + -; * / @; unary -; ^; calls and parentheses", () => {
  const cases: [string, string][] = [
    ["a + b * c", "(+ a (* b c))"],
    ["a * b + c", "(+ (* a b) c)"],
    ["a - b - c", "(- (- a b) c)"],
    ["a / b / c", "(/ (/ a b) c)"],
    ["a @ b * c", "(* (@ a b) c)"],
    ["a * b @ c", "(@ (* a b) c)"],
    ["-a * b", "(* (neg a) b)"],
    ["-a ^ 2", "(neg (^ a 2))"],
    ["a ^ b ^ c", "(^ a (^ b c))"],
    ["a ^ -b ^ c", "(^ a (neg (^ b c)))"],
    ["2 ^ 3 * 4", "(* (^ 2 3) 4)"],
    ["(a + b) * c", "(* (+ a b) c)"],
    ["f(a, b + c) ^ 2", "(^ f(a (+ b c)) 2)"],
    ["--a", "(neg (neg a))"],
    ["a - -b", "(- a (neg b))"],
    ["g()", "g()"],
  ];
  for (const [text, expected] of cases) assert.equal(tree(outputOf(text)), expected, text);
});

test("number literals: integers, decimals, leading and trailing dots, exponents", () => {
  const cases: [string, number][] = [
    ["12", 12],
    ["0.5", 0.5],
    [".5", 0.5],
    ["5.", 5],
    ["1e-7", 1e-7],
    ["2.5E+4", 25000],
    ["1e3", 1000],
  ];
  for (const [text, value] of cases) assert.deepEqual(withoutSpans(outputOf(text)), { kind: "number", value }, text);
});

test("keywords are whole words: `models`, `dim2`, `input_x` and `letter` are names", () => {
  const images = lexer.tokenize("models dim2 input_x letter let").tokens.map((t) => [t.tokenType.name, t.image]);
  assert.deepEqual(images, [
    ["Identifier", "models"],
    ["Identifier", "dim2"],
    ["Identifier", "input_x"],
    ["Identifier", "letter"],
    ["Kw_let", "let"],
  ]);
});

test("newlines are not significant and `#` comments run to the end of the line", () => {
  const a = parseSource(
    "model m {\n  input x: [2]   # the input\n  param w: [2]\n  output dot(w,\n    x)  # done\n}\n",
  );
  const b = parseSource("model m { input x: [2] param w: [2] output dot(w, x) }");
  assert.deepEqual(a.diagnostics, []);
  assert.deepEqual(withoutSpans({ ...present(a.ast), comments: undefined }), withoutSpans(b.ast));
  assert.deepEqual(withoutSpans(present(a.ast).comments), [
    { text: "# the input", ownLine: false },
    { text: "# done", ownLine: false },
  ]);
  assert.equal(present(b.ast).comments, undefined, "no comments, no field");
});

test("spans: each node covers its source text", () => {
  const source = "model net {\n  dim d = -3\n  param w: [d, 2] ~ normal(0, 1)\n  let z = -w @ f(x, 2) ^ 2\n}\n";
  const ast = present(parseSource(source).ast);
  const text = (span: { start: number; end: number }) => source.slice(span.start, span.end);
  const model = nth(ast.models, 0);
  assert.equal(text(model.span), source.trimEnd());
  assert.equal(text(model.nameSpan), "net");
  const [dim, param, letDecl] = model.decls;
  assert.ok(dim && param && letDecl);
  assert.equal(text(dim.span), "dim d = -3");
  assert.ok(dim.kind === "dim" && dim.value && text(dim.value.span) === "-3");
  assert.ok(param.kind === "param");
  assert.equal(text(param.span), "param w: [d, 2] ~ normal(0, 1)");
  assert.equal(text(param.shape.span), "[d, 2]");
  assert.equal(text(present(param.init).span), "normal(0, 1)");
  assert.equal(text(present(param.init).nameSpan), "normal");
  assert.ok(letDecl.kind === "let");
  assert.equal(text(letDecl.expr.span), "-w @ f(x, 2) ^ 2");
  const product = letDecl.expr;
  assert.ok(product.kind === "binary" && product.op === "@");
  assert.equal(text(product.left.span), "-w");
  assert.equal(text(product.right.span), "f(x, 2) ^ 2");
  assert.ok(product.right.kind === "binary" && product.right.left.kind === "call");
  assert.equal(text(product.right.left.calleeSpan), "f");
  assert.equal(positionOf(source, letDecl.nameSpan.start).line, 4);
});

test("recovery: one run reports every syntax error, each at its own token, in source order", () => {
  // Each line has one mistake; recovery must get past every one of them.
  const source = [
    "model m {", //           1
    "  input x [2]", //       2: missing `:`, col 11
    "  param w: [2", //       3: missing `]`, reported at `let` (4:3)
    "  let z = w * * x", //   4: `*` where an operand belongs, col 15
    "  let y = z $ 2", //     5: bad character, col 13, then a stray `2` at col 15
    "  output sum(y", //      6: missing `)`, reported at `}` (7:1)
    "}",
  ].join("\n");
  const result = parseSource(source);
  const found = result.diagnostics.map((d) => {
    const { line, column } = positionOf(source, present(d.span).start);
    return `${d.code} ${line}:${column}`;
  });
  assert.deepEqual(found, [
    "NQM1002 2:11",
    "NQM1002 4:3",
    "NQM1003 4:15",
    "NQM1001 5:13",
    "NQM1002 5:15",
    "NQM1002 7:1",
  ]);
  assert.equal(result.ast, undefined);
});

test("recovery reaches a second model after errors in the first", () => {
  const source = "model a {\n  input x: [2\n}\nmodel b {\n  output (1\n}\n";
  const lines = parseSource(source).diagnostics.map((d) => positionOf(source, present(d.span).start).line);
  assert.deepEqual(lines, [3, 6]);
});

test("a keyword where a name belongs is named as such, without cascading errors", () => {
  const source = "model m {\n  let output = 1\n  input input: [2]\n  output 1\n}";
  const result = parseSource(source);
  assert.deepEqual(
    result.diagnostics.map((d) => [d.code, positionOf(source, present(d.span).start), d.message]),
    [
      ["NQM1006", { line: 2, column: 7 }, "`output` is a keyword and cannot be used as a name"],
      ["NQM1006", { line: 3, column: 9 }, "`input` is a keyword and cannot be used as a name"],
    ],
  );
});

test("a missing name is 'expected a name', never a suggestion to write a keyword", () => {
  const [error] = parseSource("model m {\n  let = 1\n}").diagnostics;
  assert.equal(error?.message, "expected a name but found `=`");
});

// ---------------------------------------------------------------- nesting depth

const wrap = (expr: string) => `model m {\n  input x: []\n  param w: []\n  output w * ${expr}\n}\n`;

test("deep but reasonable nesting parses: 50 parentheses, 50 minus signs, 900 terms", () => {
  for (const expr of [`${"(".repeat(50)}x${")".repeat(50)}`, `${"-".repeat(50)}x`, Array(900).fill("x").join(" + ")]) {
    assert.deepEqual(parseSource(wrap(expr)).diagnostics, []);
  }
});

test("nesting that would exhaust the stack is a diagnostic (NQM1007), not a crash, and the parser still works after it", () => {
  const cases = [
    `${"(".repeat(5000)}x${")".repeat(5000)}`,
    `${"-".repeat(5000)}x`,
    Array(3000).fill("x").join(" ^ "),
    Array(MAX_EXPRESSION_DEPTH + 500)
      .fill("x")
      .join(" + "),
  ];
  for (const expr of cases) {
    const source = wrap(expr);
    const result = parseSource(source);
    assert.equal(result.ast, undefined);
    assert.deepEqual(
      result.diagnostics.map((d) => d.code),
      ["NQM1007"],
      expr.slice(0, 20),
    );
    const span = present(nth(result.diagnostics, 0).span);
    assert.ok(0 <= span.start && span.start <= span.end && span.end <= source.length);
    assert.equal(positionOf(source, span.start).line, 4);
  }
  assert.deepEqual(parseSource(wrap("(x)")).diagnostics, []);
});
