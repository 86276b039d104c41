/**
 * The `nqm` command line as a user runs it: a subprocess of the bundled CLI. The bundle is built
 * once into a folder under the OS temp folder (not dist/, which other runs may be rebuilding at the same time).
 */
import { describe, test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { assertNoStackTrace, bundledCli, runNode, type CliRun } from "../support/cli.ts";
import { parseSource } from "../../grammar/build-ast.ts";
import { withoutSpans } from "../../grammar/ast.ts";
import { printFile } from "../../grammar/printer.ts";
import { nth, present } from "../support/entries.ts";

const ROOT = join(import.meta.dirname, "../..");
const { cli: CLI, work: WORK } = bundledCli("cli");

type Run = CliRun;

/** Runs `nqm ...args` from the repository root. */
function nqm(...args: string[]): Promise<Run> {
  return runNode([CLI, ...args], { cwd: ROOT, timeout: 30_000 });
}

/** Writes a model file into a scratch directory; returns its path. */
function modelFile(name: string, text: string): string {
  const path = join(WORK, name);
  writeFileSync(path, text);
  return path;
}

const BAD = [
  "model a {", //                 line 1
  "  dim m = 3", //               line 2
  "  input x: [2]", //            line 3
  "  param w: [m]", //            line 4
  "  output sum(w + x)", //       line 5: `w + x` starts at column 14 and is 5 wide
  "}",
  "",
].join("\n");

describe("nqm check", { concurrency: true }, () => {
  test("a good file: exit 0, the parameter count 2048·1 + 2048, nothing on stderr", async () => {
    const run = await nqm("check", "examples/two_layer_relu.nqm", "--set", "m=2048");
    assert.equal(run.code, 0, run.stderr);
    assert.equal(run.stderr, "");
    assert.match(run.stdout, /^model two_layer_relu \(d=1, m=2048\)$/m);
    assert.match(run.stdout, new RegExp(`trainable parameters: ${2048 * 1 + 2048}\\b`));
    assert.match(run.stdout, /^\s+param\s+u\s+\[2048, 1\]\s+normal\(0, 1\)$/m);
    assert.match(run.stdout, /^\s+param\s+v\s+\[2048\]\s+rademacher\(\)$/m);
    assert.match(run.stdout, /^\s+input\s+x\s+\[1\]$/m);
    assert.match(run.stdout, /^\s+output\s+\[\]\s+scalar$/m);
  });

  test("a bad file: exit 1; `file:line:col: error CODE: message`, the source line, a caret under the span", async () => {
    const path = modelFile("bad.nqm", BAD);
    const run = await nqm("check", path);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    const lines = run.stderr.split("\n");
    assert.equal(lines[0], `${path}:5:14: error NQM2006: shape mismatch in \`+\`: [3] and [2]; axis 0 differs: 3 vs 2`);
    assert.equal(lines[1], "  |");
    assert.equal(lines[2], "5 |   output sum(w + x)");
    assert.equal(lines[3], `  | ${" ".repeat(13)}^^^^^`);
    assertNoStackTrace(run);
  });

  test("every error and warning of a file is reported in one run, with its location", async () => {
    const path = modelFile(
      "several.nqm",
      "model a {\n  input x: [2]\n  input y: [2]\n  param w: [3]\n  let z = q * x\n  output dot(w, x)\n}\n",
    );
    const run = await nqm("check", path);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    const headers = run.stderr.split("\n").filter((l) => l.startsWith(path));
    assert.deepEqual(
      headers.map((h) =>
        h
          .slice(path.length + 1)
          .split(":")
          .slice(0, 3)
          .join(":"),
      ),
      ["3:9: warning NQM2012", "5:11: error NQM2001", "6:10: error NQM2006"],
    );
    assertNoStackTrace(run);
  });

  test("--json: parseable, with code, severity, line and column of every diagnostic", async () => {
    const path = modelFile("bad-json.nqm", BAD);
    const run = await nqm("check", path, "--json");
    assert.equal(run.code, 1);
    const result = JSON.parse(run.stdout) as { ok: boolean; diagnostics: Record<string, unknown>[] };
    assert.equal(result.ok, false);
    assert.equal(result.diagnostics.length, 1);
    assert.deepEqual(
      { ...result.diagnostics[0], message: undefined },
      {
        code: "NQM2006",
        severity: "error",
        message: undefined,
        file: path,
        start: BAD.indexOf("w + x"),
        end: BAD.indexOf("w + x") + 5,
        line: 5,
        column: 14,
        endLine: 5,
        endColumn: 19,
      },
    );
    assert.equal(run.stderr, "");
  });

  test("--json for a good file: the models with their parameter counts", async () => {
    const run = await nqm("check", "examples/two_layer_relu.nqm", "--set", "m=2048", "--json");
    assert.equal(run.code, 0);
    const result = JSON.parse(run.stdout) as {
      ok: boolean;
      models: { name: string; parameterCount: number; outputShape: number[] }[];
      diagnostics: unknown[];
    };
    assert.equal(result.ok, true);
    assert.deepEqual(result.diagnostics, []);
    assert.deepEqual(
      result.models.map((m) => [m.name, m.parameterCount, m.outputShape]),
      [["two_layer_relu", 4096, []]],
    );
  });

  test("--json for a command-line error: still JSON, the diagnostic without a location", async () => {
    const run = await nqm("check", "examples/uv.nqm", "--set", "widht=3", "--json");
    assert.equal(run.code, 1);
    const result = JSON.parse(run.stdout) as { diagnostics: Record<string, unknown>[] };
    assert.deepEqual(result.diagnostics, [
      { code: "NQM3001", severity: "error", message: "--set names `widht`, which is not a dim or const of model `uv`" },
    ]);
    assertNoStackTrace(run);
  });

  // Malformed --set items are covered in-process by spec/cli/options.test.ts.
  test("user errors never print a stack trace: a missing file, a dim set to 2.5, dims over 2^31 (issue 10)", async () => {
    const huge = modelFile(
      "huge-dim.nqm",
      "model a {\n  dim m = 1e308\n  input x: [m]\n  param w: [m]\n  output dot(w, x)\n}\n",
    );
    const product = modelFile(
      "huge-product.nqm",
      "model a {\n  dim m = 65536\n  input x: [m]\n  param w: [m, m]\n  output sum(w @ x)\n}\n",
    );
    const cases: [string[], string][] = [
      [["check", "no/such/file.nqm"], "nqm: error NQM3006: cannot read no/such/file.nqm: no such file"],
      [
        ["check", "examples/uv.nqm", "--set", "m=2.5"],
        "nqm: error NQM3003: --set m=2.5: a dim must be a positive integer, at most 2^31 (2147483648)",
      ],
      [
        ["check", "examples/uv.nqm", "--set", "m=1e308"],
        "nqm: error NQM3003: --set m=1e+308: a dim must be a positive integer, at most 2^31 (2147483648)",
      ],
      [
        ["check", "examples/uv.nqm", "--set", "m=4294967296"],
        "nqm: error NQM3003: --set m=4294967296: a dim must be a positive integer, at most 2^31 (2147483648)",
      ],
      [
        ["check", huge],
        `${huge}:2:11: error NQM2025: dim \`m\` is 1e+308, more than the limit of 2^31 (2147483648) on any size`,
      ],
      [
        ["check", product],
        `${product}:4:12: error NQM2026: \`w\` has shape [65536, 65536], 4294967296 entries: more than the limit of 2^31 (2147483648) per tensor`,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => nqm(...args)));
    runs.forEach((run, i) => {
      const [args, first] = nth(cases, i);
      assert.equal(run.code, 1, args.join(" "));
      assert.equal(run.stderr.split("\n")[0], first, args.join(" "));
      assertNoStackTrace(run);
    });
  });

  test("a usage error: exit 2 with a hint, no stack trace", async () => {
    const run = await nqm("chek", "x.nqm");
    assert.equal(run.code, 2);
    assert.match(run.stderr, /check/);
    assert.match(run.stderr, /nqm --help/);
    assertNoStackTrace(run);
  });
});

describe("nqm --help and nqm fmt", { concurrency: true }, () => {
  test("--help lists check and fmt", async () => {
    const run = await nqm("--help");
    assert.equal(run.code, 0);
    assert.match(run.stdout, /^Usage: nqm/m);
    assert.match(run.stdout, /^\s+check\b.*<file>/m);
    assert.match(run.stdout, /^\s+fmt\b.*<file>/m);
  });

  // One example through the CLI; the printer's own tests cover every example in-process.
  test("fmt examples/general_quadratic.nqm: the output re-parses to the same AST, comments included, and is canonical", async () => {
    const file = "general_quadratic.nqm";
    const run = await nqm("fmt", `examples/${file}`);
    assert.equal(run.code, 0, run.stderr);
    const original = parseSource(readFileSync(join(ROOT, "examples", file), "utf8"));
    const formatted = parseSource(run.stdout);
    assert.deepEqual(formatted.diagnostics, []);
    assert.ok(original.ast?.comments && original.ast.comments.length > 0);
    assert.deepEqual(withoutSpans(formatted.ast), withoutSpans(original.ast));
    assert.equal(printFile(present(formatted.ast), run.stdout), run.stdout);
    assert.match(run.stdout, /\n {2}const gamma = 1e-3\n/, "numbers as written");
  });

  test("fmt keeps numbers as written; --check exits 1 naming unformatted files; --write rewrites them in place", async () => {
    const messy = modelFile(
      "fmt-messy.nqm",
      "model a {\n  const g = 1e-3\n  input x: [2]\n  param w: [2]\n  output .5*dot(w, x)*g\n}\n",
    );
    const canonical = "model a {\n  const g = 1e-3\n  input x: [2]\n  param w: [2]\n  output .5 * dot(w, x) * g\n}\n";
    const tidy = modelFile("fmt-tidy.nqm", canonical);
    const printed = await nqm("fmt", messy);
    assert.equal(printed.code, 0, printed.stderr);
    assert.equal(printed.stdout, canonical);
    const check = await nqm("fmt", "--check", tidy, messy);
    assert.equal(check.code, 1);
    assert.equal(check.stdout, "");
    assert.equal(check.stderr, `${messy}: not formatted (nqm fmt --write ${messy})\n`);
    assert.equal(
      readFileSync(messy, "utf8"),
      "model a {\n  const g = 1e-3\n  input x: [2]\n  param w: [2]\n  output .5*dot(w, x)*g\n}\n",
    );
    assert.equal((await nqm("fmt", "--check", tidy)).code, 0);
    const write = await nqm("fmt", "--write", tidy, messy);
    assert.equal(write.code, 0, write.stderr);
    assert.equal(write.stderr, `formatted ${messy}\n`);
    assert.equal(readFileSync(messy, "utf8"), canonical);
    assert.equal((await nqm("fmt", "--check", messy, tidy)).code, 0);
  });

  test("fmt: --write with --check, or several files without either, is refused (NQM3007)", async () => {
    const tidy = modelFile("fmt-tidy2.nqm", "model a {\n  input x: [2]\n  param w: [2]\n  output dot(w, x)\n}\n");
    for (const args of [
      ["--write", "--check", tidy],
      [tidy, tidy],
    ]) {
      const run = await nqm("fmt", ...args);
      assert.equal(run.code, 1, args.join(" "));
      assert.match(run.stderr, /error NQM3007/);
      assertNoStackTrace(run);
    }
  });

  test("fmt of a file with a syntax error: exit 1, the located error, no output", async () => {
    const path = modelFile("fmt-bad.nqm", "model a {\n  input x: [2\n}\n");
    const run = await nqm("fmt", path);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, "");
    assert.equal(run.stderr.split("\n")[0], `${path}:3:1: error NQM1002: expected \`]\` but found \`}\``);
    assertNoStackTrace(run);
  });
});
