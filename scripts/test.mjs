// Runs every spec/**/*.test.ts with Node's built-in test runner (through tsx).
// Arguments narrow the run: `npm test -- spec/grammar` runs the files under that path.
import { readdirSync, statSync } from "node:fs";
import { join, resolve } from "node:path";
import { pathToFileURL } from "node:url";
import { spawnSync } from "node:child_process";

function collect(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? collect(path) : path.endsWith(".test.ts") ? [path] : [];
  });
}

const filters = process.argv.slice(2);
const files = collect("spec")
  .sort()
  .filter((f) => filters.length === 0 || filters.some((p) => f.startsWith(p)));
// Every file runs with one fast-check seed (spec/support/fast-check-seed.ts; NQM_PROPERTY_SEED).
// An absolute URL: processes the tests start in other folders inherit the flag.
const seed = ["--import", pathToFileURL(resolve("spec/support/fast-check-seed.mjs")).href];
const result = spawnSync(process.execPath, ["--import", "tsx", ...seed, "--test", "--test-concurrency=2", ...files], {
  stdio: "inherit",
});
process.exit(result.status ?? 1);
