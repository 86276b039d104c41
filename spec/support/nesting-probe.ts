/**
 * Run as a subprocess by spec/grammar/nesting.test.ts: parses `WARMUP` other files first (so that
 * the JIT has optimized the parser, which shrinks its stack frames), then each nesting case at
 * and just past the limit, and prints the diagnostic codes of each as JSON.
 */
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { MAX_NESTING, parseSource } from "../../grammar/build-ast.ts";

const warmup = Number(process.argv[2] ?? 0);
const examplesDir = join(import.meta.dirname, "../../examples");
const examples = readdirSync(examplesDir)
  .filter((f) => f.endsWith(".nqm"))
  .map((f) => readFileSync(join(examplesDir, f), "utf8"));
for (let i = 0; i < warmup; i++) parseSource(examples[i % examples.length] ?? "");

const wrap = (expr: string) => `model m {\n  input x: []\n  param w: []\n  output w * ${expr}\n}\n`;
const shapes: Record<string, (n: number) => string> = {
  parentheses: (n) => `${"(".repeat(n)}x${")".repeat(n)}`,
  calls: (n) => `${"tanh(".repeat(n)}x${")".repeat(n)}`,
  minus: (n) => `${"-".repeat(n)}x`,
  powers: (n) => `x${"^1".repeat(n)}`,
  "minus and parentheses": (n) => `${"-(".repeat(n / 2)}x${")".repeat(n / 2)}`,
};
const result: Record<string, string[]> = {};
for (const [name, make] of Object.entries(shapes))
  for (const n of [MAX_NESTING, MAX_NESTING + 2, 999])
    result[`${name} ${n}`] = parseSource(wrap(make(n))).diagnostics.map((d) => d.code);
process.stdout.write(JSON.stringify(result));
